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

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from trailsift.alerts import MAX_MESSAGE_BYTES, Alert
from trailsift.aws.errors import FailedEntry, PublishFailed
from trailsift.aws.retry import MAX_ROUNDS, NOT_SENT, Backoff, EntryFailure, check_rounds, pack, publish_batches
from trailsift.deadline import Deadline

__all__ = ["AlertPublisher", "FailedEntry", "NOT_SENT", "PublishFailed", "batches"]

MAX_BATCH_ENTRIES = 10  # SNS PublishBatch: entries per call
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES  # SNS PublishBatch: all entries of one call together
MAX_DELAY = 20.0  # seconds; the longest single backoff sleep


def batches(alerts: Sequence[Alert]) -> Iterator[list[Alert]]:
    """Pack alerts greedily, in order, into calls of at most 10 entries and 256 KB."""
    return pack(alerts, max_entries=MAX_BATCH_ENTRIES, max_bytes=MAX_BATCH_BYTES)


class AlertPublisher:
    """Sends alerts to one topic; ``publish`` returns how many went out or raises naming the rest."""

    def __init__(
        self,
        client: Any,
        topic_arn: str,
        *,
        max_rounds: int = MAX_ROUNDS,
        base_delay: float = 0.2,
        sleep: Callable[[float], Any] = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.max_rounds = check_rounds(max_rounds)
        self._backoff = Backoff(base_delay, MAX_DELAY, sleep, deadline)

    def publish(self, alerts: Sequence[Alert], on_sent: Callable[[list[Alert]], Any] | None = None) -> int:
        """Publish every alert once; raise :class:`PublishFailed` if any is still unpublished.

        ``on_sent`` is called after every PublishBatch answer with the alerts SNS accepted in it, so a
        caller can record them at once (the delivery ledger does) instead of after the last batch.
        """

        def send(batch: list[Alert]) -> list[EntryFailure[Alert]]:
            return self._publish_batch(batch, on_sent)

        return publish_batches(
            alerts,
            send,
            max_entries=MAX_BATCH_ENTRIES,
            max_bytes=MAX_BATCH_BYTES,
            max_rounds=self.max_rounds,
            backoff=self._backoff,
            noun="alert",
        )
    def _publish_batch(
        self, batch: list[Alert], on_sent: Callable[[list[Alert]], Any] | None
    ) -> list[EntryFailure[Alert]]:
        """One PublishBatch call: tells ``on_sent`` what SNS accepted, and answers the alerts it did not."""
        entries = [
            {
                "Id": str(index),
                "Message": alert.message,
                "Subject": alert.subject,
                "MessageAttributes": alert.attributes,
            }
            for index, alert in enumerate(batch)
        ]
        response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
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

