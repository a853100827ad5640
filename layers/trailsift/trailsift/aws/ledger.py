"""Decide which messages an invocation may send, with DynamoDB conditional writes, so retries send each once.

The ledger behind :func:`trailsift.sinks.once.send_once` for the sinks whose service cannot deduplicate
(the alert topic, the event bus). Before sending, an invocation *claims* each message, sends only what it
claimed, then marks it *sent* (or *releases* what failed to send: its claim turns stale, so a retry may
claim it at once). Ledger items live in the index table, one per message kind (``kind``, "ALERT" for
alerts, "BUS" for bus events): ``pk = "<kind>#<event_key>"``, ``sk = "<kind>"``, with ``state``
("claimed" | "sent"), ``claimed_at``, ``owner`` (the claiming invocation's request id), ``sent_at`` and the
TTL ``expires_at``. They carry no GSI key attribute, so no index query ever returns them, and their pk is
not an event's.

How long an item lives: a claim expires with the index retention (``retention_days``), so the claim of
an invocation that died is cleaned up. A *sent* mark of an alert (kind "ALERT", :data:`KEEP_SENT_KINDS`)
never expires: ``mark_sent`` removes its ``expires_at``. A backfill may read log files older than the
retention (``trailsift backfill --alerts send``), and an alert the live path sent then must be found sent,
not paged again. Alerts are rare (people act on each one), and one mark is about 150 bytes: a million
alerts keep 150 MB. Event bus marks (kind "BUS", one per match of an eventbus rule, as many as index
rows) keep the retention. Marks written before this rule carry their old ``expires_at`` until a later
``mark_sent`` of the same alert (none: a sent alert is not sent again), so they still expire.

A claim older than ``lease_seconds`` is taken to belong to a dead invocation and may be claimed again.
Known limit: messages the service accepted but that :meth:`DeliveryLedger.mark_sent` never recorded (the
function died in between, or DynamoDB stayed unavailable through every retry of the mark) are sent again
by a later attempt once the lease expires (at once if a retry reuses the owner id). The sinks mark each
batch's messages as soon as the service answers, so the window is one batch of at most ten. Messages are
at-least-once there and exactly-once otherwise; they carry their event ID so subscribers can drop the
duplicate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from trailsift.errors import TrailsiftError
from trailsift.index import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from trailsift.sinks.once import Claim, Keyed

K = TypeVar("K", bound=Keyed)

KIND = re.compile(r"[A-Z]{1,16}")  # a ledger item kind: ALERT, BUS
KEEP_SENT_KINDS = frozenset({"ALERT"})
"""Kinds whose sent marks never expire (see the module docstring): an alert is paged once, however old."""
CLAIMED, SENT = "claimed", "sent"
CLAIM_TRIES = 3  # conditional puts of one claim whose refusing item then vanished, before giving up
CONDITION_FAILED = "ConditionalCheckFailedException"
# Ours to take: nobody holds it, its claim is stale, or it is our own claim (our retried call re-claims it).
CLAIM_CONDITION = "attribute_not_exists(#pk) OR (#state = :claimed AND (#claimed_at < :stale OR #owner = :me))"


class LedgerError(TrailsiftError, RuntimeError):
    """A ledger call failed for good or after its retries; the invocation should fail and be retried."""


class _ConditionFailed(TrailsiftError):
    """A conditional write was refused; ``item`` is the item as it stood (typed JSON), if DynamoDB said."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


def _number(value: float) -> dict[str, str]:
    """A DynamoDB number attribute, to the millisecond ("1704067200", "1704067200.25")."""
    return {"N": f"{value:.3f}".rstrip("0").rstrip(".")}


class DeliveryLedger(Generic[K]):
    """Claims, marks sent and releases one kind of message in the index table for one invocation (``owner``)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        kind: str,
        owner: str,
        retention_days: int,
        lease_seconds: int = 90,
        clock: Callable[[], float] = time.time,
        keep_sent: bool | None = None,
    ) -> None:
        if not KIND.fullmatch(kind):
            raise ValueError(f"kind must be 1 to 16 capital letters, got {kind!r}")
        if not owner:
            raise ValueError("owner must be a non-empty id (the invocation's request id)")
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {retention_days}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        self.client = client
        self.table_name = table_name
        self.kind = kind
        self.owner = owner
        self.retention_days = retention_days
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.keep_sent = kind in KEEP_SENT_KINDS if keep_sent is None else keep_sent
        """Whether a sent mark outlives the retention (its ``expires_at`` removed): by default, for alerts."""

    def claim(self, items: Sequence[K]) -> Claim[K]:
        """Claim each message (one conditional PutItem each; a repeated event_key counts once, the first kept)."""
        claim: Claim[K] = Claim()
        seen: set[str] = set()
        for item in items:
            if item.event_key in seen:
                continue
            seen.add(item.event_key)
            self._claim_one(item, claim)
        return claim

    def _claim_one(self, message: K, claim: Claim[K]) -> None:
        """Claim one message and file it under the list of ``claim`` its ledger item calls for."""
        for _ in range(CLAIM_TRIES):
            now = self.clock()
            ledger_item = {
                **self._key(message),
                "state": {"S": CLAIMED},
                "claimed_at": _number(now),
                "owner": {"S": self.owner},
                TTL_ATTRIBUTE: {"N": str(int(now) + self.retention_days * 86400)},
            }
            try:
                self._call(
                    "put_item",
                    message,
                    Item=ledger_item,
                    ConditionExpression=CLAIM_CONDITION,
                    ExpressionAttributeNames={
                        "#pk": PARTITION_KEY, "#state": "state", "#claimed_at": "claimed_at", "#owner": "owner",
                    },
                    ExpressionAttributeValues={
                        ":claimed": {"S": CLAIMED}, ":stale": _number(now - self.lease_seconds), ":me": {"S": self.owner},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except _ConditionFailed as refused:
                current = refused.item if refused.item is not None else self._get(message)
                if current is None:  # deleted (released) since the check: try again
                    continue
                state = current.get("state", {}).get("S")
                if state == SENT:
                    claim.already_sent.append(message)
                elif state == CLAIMED:
                    claim.held_elsewhere.append(message)
                else:
                    raise LedgerError(
                        f"ledger item {self.kind}#{message.event_key} in {self.table_name} has unknown state {state!r}"
                    ) from None
                return
            claim.to_send.append(message)
            return
        raise LedgerError(
            f"could not claim {self.kind}#{message.event_key} in {self.table_name}: "
            f"its item kept vanishing after {CLAIM_TRIES} attempts"
        )

    def _key(self, item: K) -> dict[str, dict[str, str]]:
        return {PARTITION_KEY: {"S": f"{self.kind}#{item.event_key}"}, SORT_KEY: {"S": self.kind}}

    def _get(self, item: K) -> dict[str, Any] | None:
        """The ledger item as it stands (a strongly consistent read), or ``None``."""
        answer = self._call("get_item", item, Key=self._key(item), ConsistentRead=True)
        return answer.get("Item")

    def mark_sent(self, items: Sequence[K]) -> None:
        """Record our claimed messages as sent; an item someone else re-claimed after our lease is left alone.

        The mark expires with the retention, or never (``keep_sent``: its ``expires_at`` is removed).
        """
        if self.keep_sent:
            update = "SET #state = :sent, #sent_at = :now REMOVE #expires"
        else:
            update = "SET #state = :sent, #sent_at = :now, #expires = :expires"
        seen: set[str] = set()
        for item in items:
            if item.event_key in seen:
                continue
            seen.add(item.event_key)
            now = self.clock()
            attribute_values = {":sent": {"S": SENT}, ":now": _number(now), ":me": {"S": self.owner}}
            if not self.keep_sent:
                attribute_values[":expires"] = {"N": str(int(now) + self.retention_days * 86400)}
            try:
                self._call(
                    "update_item",
                    item,
                    Key=self._key(item),
                    UpdateExpression=update,
                    ConditionExpression="#owner = :me OR #state = :sent",
                    ExpressionAttributeNames={
                        "#state": "state", "#sent_at": "sent_at", "#expires": TTL_ATTRIBUTE, "#owner": "owner",
                    },
                    ExpressionAttributeValues=attribute_values,
                )
            except _ConditionFailed:
                pass  # another invocation holds it now (our lease ran out) or it is gone: not ours to mark

    def release(self, items: Sequence[K]) -> None:
        """Make our unsent claims (their send failed) stale at once, so a retry can claim them right away.

        An UpdateItem setting ``claimed_at`` to 0 rather than a DeleteItem: the role needs no new permission.
        """
        seen: set[str] = set()
        for item in items:
            if item.event_key in seen:
                continue
            seen.add(item.event_key)
            try:
                self._call(
                    "update_item",
                    item,
                    Key=self._key(item),
                    UpdateExpression="SET #claimed_at = :released",
                    ConditionExpression="#owner = :me AND #state = :claimed",
                    ExpressionAttributeNames={"#claimed_at": "claimed_at", "#owner": "owner", "#state": "state"},
                    ExpressionAttributeValues={
                        ":released": {"N": "0"}, ":me": {"S": self.owner}, ":claimed": {"S": CLAIMED},
                    },
                )
            except _ConditionFailed:
                pass  # not our claim any more (sent, or taken over): nothing to undo

    def _call(self, operation: str, item: K, **params: Any) -> dict[str, Any]:
        """One DynamoDB call; raises :class:`_ConditionFailed` or :class:`LedgerError`.

        Throttling and server faults are retried by the client's botocore retry mode (see
        :mod:`trailsift.aws.clients`), never again here. Its retry of a write whose first try may have
        landed (a timeout) is safe: every condition accepts our own result.
        """
        try:
            answer: dict[str, Any] = getattr(self.client, operation)(TableName=self.table_name, **params)
            return answer
        except Exception as error:  # noqa: BLE001 - classified below, never swallowed
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                old = error.response.get("Item")  # DynamoDB's, with ReturnValuesOnConditionCheckFailure=ALL_OLD
                raise _ConditionFailed(old if isinstance(old, dict) else None) from None
            where = f"{self.kind}#{item.event_key} in {self.table_name}"
            raise LedgerError(f"{operation} of {where} failed: {error}") from error
