"""Put match events on an EventBridge bus with PutEvents, resending the entries EventBridge failed.

As :mod:`trailsift.aws.sns` does for alerts: the client is passed in; whole calls are retried by the
client's botocore retry mode only (:mod:`trailsift.aws.clients`); entries a PutEvents answer fails
(``ErrorCode`` in ``Entries``, which the call's own retries never see) are resent, alone, with backoff
(:func:`~trailsift.aws.retry.retry_failed_entries`), except the ones no resend can mend (a malformed
detail, a refused source); whatever is not put is raised as :class:`PublishFailed` naming each event.
"""

from __future__ import annotations

from collections.abc import Callable

from trailsift.aws.errors import PublishFailed
from trailsift.aws.retry import BatchPublisher, EntryFailure
from trailsift.sinks.eventbus import MAX_ENTRY_BYTES, BusEvent

__all__ = ["EventPublisher", "PublishFailed", "RETRYABLE_CODES"]

MAX_BATCH_ENTRIES = 10  # PutEvents: entries per call
# Entry errors that may pass on a resend; any other (MalformedDetail, NotAuthorizedForSourceException,
# AccessDeniedException, ...) is the sender's and is failed at once.
RETRYABLE_CODES = frozenset({"InternalException", "InternalFailure", "ThrottlingException", "ServiceUnavailable"})


class EventPublisher(BatchPublisher[BusEvent]):
    """Puts events on one bus (``target``: its name or ARN) with PutEvents."""

    MAX_BATCH_ENTRIES = MAX_BATCH_ENTRIES
    MAX_BATCH_BYTES = MAX_ENTRY_BYTES  # PutEvents: the entries of one call together
    NOUN = "event"

    def _send_batch(
        self, batch: list[BusEvent], on_sent: Callable[[list[BusEvent]], object] | None
    ) -> list[EntryFailure[BusEvent]]:
        """One PutEvents call: tells ``on_sent`` what EventBridge accepted, and answers the events it did not.

        The answer's ``Entries`` are in the request's order, one per entry: an ``EventId`` or an ``ErrorCode``.
        """
        entries = [{**event.entry, "EventBusName": self.target} for event in batch]
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
