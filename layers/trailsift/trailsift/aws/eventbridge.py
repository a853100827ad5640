"""Put match events on an EventBridge bus with PutEvents, resending the entries EventBridge failed.

As :mod:`trailsift.aws.sns` does for alerts: the client is passed in; whole calls are retried by the
client's botocore retry mode only (:mod:`trailsift.aws.clients`); entries a PutEvents answer fails
(``ErrorCode`` in ``Entries``, which the call's own retries never see) are resent, alone, with backoff
(:func:`~trailsift.aws.retry.retry_failed_entries`), except the ones no resend can mend (a malformed
detail, a refused source); whatever is not put is raised as :class:`PublishFailed` naming each event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from trailsift.aws.errors import PublishFailed
from trailsift.aws.retry import MAX_ROUNDS, Backoff, EntryFailure, check_rounds, publish_batches
from trailsift.deadline import Deadline
from trailsift.sinks.eventbus import MAX_ENTRY_BYTES, BusEvent

__all__ = ["EventPublisher", "PublishFailed", "RETRYABLE_CODES"]

MAX_BATCH_ENTRIES = 10  # PutEvents: entries per call
MAX_BATCH_BYTES = MAX_ENTRY_BYTES  # PutEvents: the entries of one call together
MAX_DELAY = 20.0
# Entry errors that may pass on a resend; any other (MalformedDetail, NotAuthorizedForSourceException,
# AccessDeniedException, ...) is the sender's and is failed at once.
RETRYABLE_CODES = frozenset({"InternalException", "InternalFailure", "ThrottlingException", "ServiceUnavailable"})


class EventPublisher:
    """Puts events on one bus (a name or an ARN); ``publish`` returns how many were put or raises naming the rest."""

    def __init__(
        self,
        client: Any,
        event_bus: str,
        *,
        max_rounds: int = MAX_ROUNDS,
        base_delay: float = 0.2,
        sleep: Callable[[float], object] = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self.client = client
        self.event_bus = event_bus
        self.max_rounds = check_rounds(max_rounds)
        self._backoff = Backoff(base_delay, MAX_DELAY, sleep, deadline)

    def publish(self, events: Sequence[BusEvent], on_sent: Callable[[list[BusEvent]], object] | None = None) -> int:
        """Put every event once; raise :class:`PublishFailed` if any is still not put.

        ``on_sent`` is called after every PutEvents answer with the events EventBridge accepted in it.
        """

        def send(batch: list[BusEvent]) -> list[EntryFailure[BusEvent]]:
            return self._put_batch(batch, on_sent)

        return publish_batches(
            events,
            send,
            max_entries=MAX_BATCH_ENTRIES,
            max_bytes=MAX_BATCH_BYTES,
            max_rounds=self.max_rounds,
            backoff=self._backoff,
            noun="event",
        )

    def _put_batch(
        self, batch: list[BusEvent], on_sent: Callable[[list[BusEvent]], object] | None
    ) -> list[EntryFailure[BusEvent]]:
        """One PutEvents call: tells ``on_sent`` what EventBridge accepted, and answers the events it did not.

        The answer's ``Entries`` are in the request's order, one per entry: an ``EventId`` or an ``ErrorCode``.
        """
        entries = [{**event.entry, "EventBusName": self.event_bus} for event in batch]
        response = self.client.put_events(Entries=entries)
        answered = list(response.get("Entries") or [])
        accepted: list[BusEvent] = []
        failures: list[EntryFailure[BusEvent]] = []
        for position, event in enumerate(batch):
            result = answered[position] if position < len(answered) else {}
            if result.get("EventId") and not result.get("ErrorCode"):
                accepted.append(event)
            elif not result:  # the answer is shorter than the request: send it again
                failures.append(EntryFailure(event, "NoResult", "entry missing from the PutEvents answer"))
            else:
                code = str(result.get("ErrorCode") or "Unknown")
                failures.append(
                    EntryFailure(event, code, str(result.get("ErrorMessage", "")), retryable=code in RETRYABLE_CODES)
                )
        if accepted and on_sent is not None:
            on_sent(accepted)
        return failures
