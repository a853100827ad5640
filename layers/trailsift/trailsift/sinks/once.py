"""Send each message once through a service that cannot deduplicate (SNS standard topics, EventBridge).

S3 notifications and Lambda retries are at-least-once, so the same match can reach two invocations
or one invocation twice. Before sending, an invocation *claims* each message in a :class:`Ledger` by
its event key, sends only what it claimed, marks what the service accepted as *sent* after every
batch call (``on_sent``), and *releases* what the service refused so that a retry may claim it at
once. Messages another invocation holds are reported as :class:`~trailsift.sinks.base.DeliveryPending`
(retryable). The one window left: a batch the service accepted but whose ``mark_sent`` never happened
(the environment died in between) is sent again once its claim's lease runs out; it is one batch at
most, and every message carries its event ID so subscribers can drop the copy.

A message may be about several events (a grouped alert: :func:`send_covering`). Then the ledger still
claims each *event*, the messages are formed from the events this call claimed, and a message sent
marks every event it covers (:class:`Covering`), so each event is in exactly one sent message; a
refused message releases every event it covers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from trailsift.lazy import Lazy
from trailsift.sinks.base import Delivered, DeliveryPending, SinkContext

__all__ = [
    "Claim", "Covering", "EventKey", "Formed", "Keyed", "Ledger", "Publisher", "ledger_for", "send_covering", "send_once",
]


class Keyed(Protocol):
    """A message the ledger can name: by the event key of the record it is about."""

    @property
    def event_key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


class Covering(Keyed, Protocol):
    """A message about one or more events: named by ``event_key`` (the first event's, or its own), it settles
    the ledger items ``event_keys`` when it is sent."""

    @property
    def event_keys(self) -> tuple[str, ...]: ...


C = TypeVar("C", bound=Covering)


@dataclass(frozen=True)
class EventKey:
    """A ledger item named by its key alone (what :func:`send_covering` marks and releases)."""

    event_key: str


@dataclass
class Formed(Generic[C]):
    """The messages formed from the events one call claimed, and what becomes of the claims no message covers."""

    messages: list[C] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # claimed keys a message sent earlier covers: marked sent
    deferred: list[str] = field(default_factory=list)  # claimed keys handed back: released, the call ends pending


@dataclass
class Claim(Generic[K]):
    """How :meth:`Ledger.claim` sorted the messages: send, skip, or leave to the invocation holding them."""

    to_send: list[K] = field(default_factory=list)  # this invocation owns them now and must send them
    already_sent: list[K] = field(default_factory=list)  # sent before (an earlier attempt, a duplicate delivery)
    held_elsewhere: list[K] = field(default_factory=list)  # freshly claimed by another invocation: pending


class Ledger(Protocol[K]):
    """Decides which messages this invocation may send (see :class:`trailsift.aws.ledger.DeliveryLedger`)."""

    def claim(self, items: Sequence[K]) -> Claim[K]: ...
    def mark_sent(self, items: Sequence[K]) -> None: ...
    def release(self, items: Sequence[K]) -> None: ...


class Publisher(Protocol[K]):
    """Sends messages in batches, calling ``on_sent`` with each batch's accepted ones; raises
    :class:`~trailsift.aws.errors.PublishFailed` naming (by event key) those not sent."""

    def publish(self, items: Sequence[K], on_sent: Callable[[list[K]], object] | None = None) -> int: ...


def send_once(items: Sequence[K], publisher: Publisher[K], ledger: Ledger[K] | None, *, noun: str) -> Delivered:
    """Send ``items`` through ``publisher``; with a ``ledger``, only those no invocation sent before.

    Items a :class:`~trailsift.aws.errors.PublishFailed` names are released at once; any other failure
    (a ledger call that failed after its retries) leaves the claims to their lease. ``noun`` names the
    messages in the pending error ("alert", "event").
    """
    from trailsift.aws.errors import PublishFailed  # here: a cold start imports nothing of trailsift.aws

    if ledger is None:
        return Delivered(sent=publisher.publish(items))
    claim = ledger.claim(items)
    try:
        sent = publisher.publish(claim.to_send, on_sent=ledger.mark_sent) if claim.to_send else 0
    except PublishFailed as failed:
        failed_keys = {entry.event_key for entry in failed.failed}
        ledger.release([item for item in claim.to_send if item.event_key in failed_keys])
        raise
    if claim.held_elsewhere:
        raise DeliveryPending(
            f"{len(claim.held_elsewhere)} {noun}(s) claimed by another invocation and not yet sent; retry later"
        )
    return Delivered(sent=sent, already_sent=len(claim.already_sent))


def ledger_for(context: SinkContext, kind: str) -> Lazy | None:
    """The invocation's delivery ledger for one kind of message (kept in the index table), or ``None``
    without an index table (then that sink is at-least-once)."""
    settings = context.settings
    table = settings.index_table
    if table is None:
        return None

    def build() -> object:
        from trailsift.aws.ledger import DeliveryLedger

        return DeliveryLedger(
            context.client("dynamodb"),
            table,
            kind=kind,
            owner=context.owner,
            retention_days=settings.retention_days,
            clock=context.clock,
        )

    return Lazy(build)


def send_covering(
    items: Sequence[K],
    form: Callable[[list[K]], Formed[C]],
    publisher: Publisher[C],
    ledger: Ledger[Any] | None,
    *,
    noun: str,
) -> Delivered:
    """Claim each of ``items`` (one per event), ``form`` the messages from those this call claimed, send them,
    and mark every event a sent message covers; answer how many messages went out and how many events an
    earlier attempt had already sent.

    Every claimed event must be covered by exactly one formed message or listed in ``settled`` or
    ``deferred`` (checked: a ValueError otherwise, before anything is sent). A message a
    :class:`~trailsift.aws.errors.PublishFailed` names releases every event it covers; events claimed
    elsewhere, or ``deferred``, end the call in :class:`~trailsift.sinks.base.DeliveryPending` once the
    rest is sent. Without a ledger every item is formed and sent (at-least-once).
    """
    from trailsift.aws.errors import PublishFailed  # here: a cold start imports nothing of trailsift.aws

    if ledger is None:
        formed = form(list(items))
        return Delivered(sent=publisher.publish(formed.messages) if formed.messages else 0)
    claim = ledger.claim(items)
    formed = form(claim.to_send)
    claimed = {item.event_key for item in claim.to_send}
    covered = [key for message in formed.messages for key in message.event_keys]
    accounted = [key for key in covered + formed.settled + formed.deferred if key in claimed]
    if len(accounted) != len(claimed) or set(accounted) != claimed:
        raise ValueError(f"send_covering: the {noun}s formed do not cover each claimed event exactly once")
    if formed.settled:
        ledger.mark_sent([EventKey(key) for key in formed.settled])
    if formed.deferred:
        ledger.release([EventKey(key) for key in formed.deferred])

    def mark(messages: list[C]) -> None:
        ledger.mark_sent([EventKey(key) for message in messages for key in message.event_keys])

    try:
        sent = publisher.publish(formed.messages, on_sent=mark) if formed.messages else 0
    except PublishFailed as failed:
        failed_keys = {entry.event_key for entry in failed.failed}
        refused = [message for message in formed.messages if message.event_key in failed_keys]
        ledger.release([EventKey(key) for message in refused for key in message.event_keys])
        raise
    if claim.held_elsewhere or formed.deferred:
        waiting = len(claim.held_elsewhere) + len(formed.deferred)
        raise DeliveryPending(f"{waiting} event(s) of {noun}s claimed by another invocation and not yet sent; retry later")
    return Delivered(sent=sent, already_sent=len(claim.already_sent))
