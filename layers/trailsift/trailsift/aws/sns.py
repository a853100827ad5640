"""Publish alerts to an SNS topic with PublishBatch, retrying what SNS says may succeed later.

The boto3 client is passed in (never created at import), so tests can hand over a moto client or a
wrapper that injects failures. Entries SNS rejects as the sender's fault are permanent; throttling,
server faults and entries failed on SNS's side are retried with exponential backoff and jitter.
Whatever still fails (retries run out, or the invocation's deadline leaves no time for the next
backoff sleep) is raised as :class:`AlertPublishError`, never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from trailsift.alerts import MAX_MESSAGE_BYTES, Alert
from trailsift.aws.retry import Backoff, attempts, error_code, is_retryable
from trailsift.deadline import Deadline

MAX_BATCH_ENTRIES = 10  # SNS PublishBatch: entries per call
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES  # SNS PublishBatch: all entries of one call together
MAX_DELAY = 20.0  # seconds; the longest single backoff sleep
Failure = tuple[str, str, str]  # (event_key, error code, error message)


class AlertPublishError(RuntimeError):
    """Some alerts could not be published; ``failed`` lists ``(event_key, code, message)`` for each."""

    def __init__(self, failed: Sequence[Failure], published: int = 0) -> None:
        self.failed = list(failed)
        self.published = published
        shown = "; ".join(f"{key} ({code}: {message})" for key, code, message in self.failed[:5])
        more = f"; and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
        super().__init__(
            f"{len(self.failed)} alert(s) not published ({published} published): {shown}{more}"
        )


def batches(alerts: Sequence[Alert]) -> Iterator[list[Alert]]:
    """Pack alerts greedily, in order, into calls of at most 10 entries and 256 KB."""
    batch: list[Alert] = []
    size = 0
    for alert in alerts:
        alert_size = alert.size()
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + alert_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(alert)
        size += alert_size
    if batch:
        yield batch


class AlertPublisher:
    """Sends alerts to one topic; ``publish`` returns how many went out or raises naming the rest."""

    def __init__(
        self,
        client: Any,
        topic_arn: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.2,
        sleep: Callable[[float], Any] = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.max_attempts = attempts(max_attempts)
        self._backoff = Backoff(base_delay, MAX_DELAY, sleep, deadline)

    def publish(self, alerts: Sequence[Alert], on_sent: Callable[[list[Alert]], Any] | None = None) -> int:
        """Publish every alert once; raise :class:`AlertPublishError` if any is still unpublished.

        ``on_sent`` is called after every PublishBatch answer with the alerts SNS accepted in it, so a
        caller can record them at once (the alert ledger does) instead of after the last batch.
        """
        published = 0
        failed: list[Failure] = []
        for alert in alerts:
            if alert.size() > MAX_BATCH_BYTES:
                failed.append((alert.event_key, "MessageTooLong", f"{alert.size()} bytes > {MAX_BATCH_BYTES}"))
        sendable = [alert for alert in alerts if alert.size() <= MAX_BATCH_BYTES]
        for batch in batches(sendable):
            count, lost = self._publish_batch(batch, on_sent)
            published += count
            failed += lost
        if failed:
            raise AlertPublishError(failed, published)
        return published

    def _publish_batch(
        self, batch: list[Alert], on_sent: Callable[[list[Alert]], Any] | None
    ) -> tuple[int, list[Failure]]:
        """One PublishBatch call and its retries: (published count, what failed for good)."""
        pending = batch
        permanent: list[Failure] = []
        last: dict[int, tuple[str, str]] = {}
        published = 0
        for attempt in range(1, self.max_attempts + 1):
            entries = [
                {
                    "Id": str(index),
                    "Message": alert.message,
                    "Subject": alert.subject,
                    "MessageAttributes": alert.attributes,
                }
                for index, alert in enumerate(pending)
            ]
            try:
                response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
            except Exception as error:  # noqa: BLE001 - classified, then re-reported, never swallowed
                code, message = error_code(error)
                if not is_retryable(error):
                    return published, permanent + [(alert.event_key, code, message) for alert in pending]
                last = {index: (code, message) for index in range(len(pending))}
                retry = pending
            else:
                succeeded = {entry.get("Id") for entry in response.get("Successful", [])}
                accepted = [alert for index, alert in enumerate(pending) if str(index) in succeeded]
                published += len(accepted)
                if accepted and on_sent is not None:
                    on_sent(accepted)
                failures = {entry.get("Id"): entry for entry in response.get("Failed", [])}
                retry, last = [], {}
                for index, alert in enumerate(pending):
                    if str(index) in succeeded:
                        continue
                    entry = failures.get(str(index))
                    if entry is None:  # neither listed as sent nor as failed: try again
                        code, message = "NoResult", "entry missing from the PublishBatch answer"
                    else:
                        code, message = str(entry.get("Code", "Unknown")), str(entry.get("Message", ""))
                        if entry.get("SenderFault"):
                            permanent.append((alert.event_key, code, message))
                            continue
                    last[len(retry)] = (code, message)
                    retry.append(alert)
            pending = retry
            if not pending or attempt == self.max_attempts or not self._backoff.wait(attempt):
                break
        permanent += [(alert.event_key, *last[index]) for index, alert in enumerate(pending)]
        return published, permanent
