"""What a destination is: the :class:`Sink` protocol, what it is given and what it answers, and the registry.

A sink receives the matches of one log file that carry at least one rule naming its destination
(:class:`Routed`, in file order, with just those rules), sends them in whatever batches its service
takes, and answers how many went out and how many an earlier attempt had already sent
(:class:`Delivered`). It raises when anything was not sent: the file then fails as retryable and Lambda
tries it again, so a sink must be safe to call twice with the same matches. A sink is idempotent by
its keys (the index: the same item rewritten) or by a delivery ledger (the alert topic and the event
bus: :mod:`trailsift.sinks.once`).

A sink class registers itself with :func:`register`; :func:`build_sinks` makes, for one invocation,
every registered sink its settings configure. Adding a destination is one module here (its formatting
and its :class:`Sink`), its AWS adapter under :mod:`trailsift.aws`, a :class:`~trailsift.rules.Destination`
name, a setting, and its template resources.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from trailsift.deadline import Deadline
from trailsift.errors import TrailsiftError
from trailsift.rules import Destination, Rule
from trailsift.scan import Match
from trailsift.settings import Settings

__all__ = [
    "Delivered",
    "DeliveryPending",
    "Routed",
    "Sink",
    "SinkContext",
    "SinkFactory",
    "build_sinks",
    "register",
    "registered",
]


@dataclass(frozen=True)
class Routed:
    """One match on its way to one sink: the rules it matched that name the sink's destination, in rule order."""

    match: Match
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Delivered:
    """What one :meth:`Sink.deliver` achieved."""

    sent: int = 0  # messages, events or rows that went out in this call
    already_sent: int = 0  # skipped: an earlier attempt (or a duplicate delivery) had sent them


class DeliveryPending(TrailsiftError):
    """Some matches are claimed by another invocation that has not sent them yet: try again later (retryable)."""


class Sink(Protocol):
    """A destination for matches (see the module docstring for its contract)."""

    destination: ClassVar[Destination]
    metric: ClassVar[str]  # the CloudWatch metric counting what it sent, "AlertsPublished" for example
    notifies: ClassVar[bool]  # tells someone now (a page, a bus event), so a backfill withholds it unless asked

    def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
        """Send every match of ``routed`` (from the log file at ``log_location``), or raise naming what was not."""
        ...


@dataclass
class SinkContext:
    """What a sink is built from, per invocation: settings, AWS clients and the invocation's identity.

    ``client`` gives the (cached) boto3 client of a service; sinks call it on first use, so an invocation
    that matches nothing creates no client. ``owner`` (the request id) names the invocation's ledger
    claims; ``deadline`` stops retry waits before Lambda's timeout.
    """

    settings: Settings
    client: Callable[[str], Any]
    owner: str
    deadline: Deadline | None = None
    clock: Callable[[], float] = field(default=time.time)
    backfill: str | None = None
    """``None`` on the live path; for a backfill's batch, its alerts mode: ``none`` and ``digest`` leave the
    sinks that notify (the alert topic, the event bus) out, so a backfill tells nobody event by event;
    ``send`` keeps them and they mark what they send as a backfill's."""


class SinkFactory(Protocol):
    """A registered sink class: its destination, its metric, and how it is built when configured."""

    destination: ClassVar[Destination]
    metric: ClassVar[str]
    notifies: ClassVar[bool]

    @classmethod
    def from_context(cls, context: SinkContext) -> Sink | None:
        """The sink for this invocation, or ``None`` when the settings do not configure its destination."""
        ...


_REGISTRY: dict[Destination, SinkFactory] = {}


def register(factory: Any) -> Any:
    """Class decorator: make ``factory`` the sink of its destination (one per destination)."""
    destination = factory.destination
    if destination in _REGISTRY and _REGISTRY[destination] is not factory:
        raise ValueError(f"destination {destination.value!r} already has a sink: {_REGISTRY[destination]!r}")
    _REGISTRY[destination] = factory
    return factory


def registered() -> list[SinkFactory]:
    """Every registered sink class, in registration order (the order matches are delivered in)."""
    return list(_REGISTRY.values())


def build_sinks(context: SinkContext) -> list[Sink]:
    """The sinks ``context.settings`` configures, in registration order; a backfill's batch gets the sinks
    that notify only when its alerts mode is ``send``."""
    withheld = context.backfill is not None and context.backfill != "send"
    factories = [f for f in registered() if not (withheld and f.notifies)]
    built = (factory.from_context(context) for factory in factories)
    return [sink for sink in built if sink is not None]
