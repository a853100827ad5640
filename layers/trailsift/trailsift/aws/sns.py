"""Publish alerts to an SNS topic with PublishBatch, resending the entries SNS says may succeed later.

The boto3 client is passed in (never created at import), so tests can hand over a moto client or a
wrapper that injects failures. Whole calls are retried by the client's botocore retry mode only (see
:mod:`trailsift.aws.clients`); a call that still raises is not retried here. Entries SNS answers as
failed on its side are resent, alone, with exponential backoff and jitter
(:func:`~trailsift.aws.retry.retry_failed_entries`); entries refused as the sender's fault are
permanent. Whatever is not published (refused, still failing when the resends stop at their bound or
the invocation's deadline, or in a call that raised, or never sent because a batch before it still
failed) is raised as :class:`PublishFailed` naming each alert, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trailsift.alerts import MAX_MESSAGE_BYTES, Alert
from trailsift.aws.errors import FailedEntry, PublishFailed
from trailsift.aws.retry import NOT_SENT, BatchPublisher, EntryFailure, pack

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

__all__ = ["AlertPublisher", "FailedEntry", "NOT_SENT", "PublishFailed", "batches"]

MAX_BATCH_ENTRIES = 10  # SNS PublishBatch: entries per call
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES  # SNS PublishBatch: all entries of one call together


def batches(alerts: Sequence[Alert]) -> Iterator[list[Alert]]:
    """Pack alerts greedily, in order, into calls of at most 10 entries and 256 KB."""
    return pack(alerts, max_entries=MAX_BATCH_ENTRIES, max_bytes=MAX_BATCH_BYTES)


def _entry(index: int, alert: Alert) -> PublishBatchRequestEntryTypeDef:
    """One PublishBatch entry; with ``MessageStructure`` ``json`` when protocols get messages of their own."""
    entry: PublishBatchRequestEntryTypeDef = {
        "Id": str(index),
        "Message": alert.sns_message(),
        "Subject": alert.subject,
        "MessageAttributes": alert.attributes,  # type: ignore[typeddict-item]
    }
    if alert.message_structure is not None:
        entry["MessageStructure"] = alert.message_structure
    return entry


class AlertPublisher(BatchPublisher[Alert]):
    """Sends alerts to one topic (``target``, its ARN) with PublishBatch."""

    MAX_BATCH_ENTRIES = MAX_BATCH_ENTRIES
    MAX_BATCH_BYTES = MAX_BATCH_BYTES
    NOUN = "alert"

    def _send_batch(
        self, batch: list[Alert], on_sent: Callable[[list[Alert]], Any] | None
    ) -> list[EntryFailure[Alert]]:
        """One PublishBatch call: tells ``on_sent`` what SNS accepted, and answers the alerts it did not."""
        entries = [_entry(index, alert) for index, alert in enumerate(batch)]
        response = self.client.publish_batch(TopicArn=self.target, PublishBatchRequestEntries=entries)
        succeeded = {entry.get("Id") for entry in response.get("Successful", [])}
        accepted = [alert for index, alert in enumerate(batch) if str(index) in succeeded]
        if accepted and on_sent is not None:
            on_sent(accepted)
        answered = {entry.get("Id"): entry for entry in response.get("Failed", [])}
        failures: list[EntryFailure[Alert]] = []
        for index, alert in enumerate(batch):
            if str(index) in succeeded:
                continue
            entry = answered.get(str(index))
            if entry is None:  # neither listed as sent nor as failed: send it again
                failures.append(EntryFailure(alert, "NoResult", "entry missing from the PublishBatch answer"))
            else:
                code, message = str(entry.get("Code", "Unknown")), str(entry.get("Message", ""))
                failures.append(EntryFailure(alert, code, message, retryable=not entry.get("SenderFault")))
        return failures

