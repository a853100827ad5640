"""Send dead letters to the failure queue: SendMessageBatch (10 a call), failed entries resent, the rest raised.

Whole calls are retried by the client's botocore retry mode only (see :mod:`trailsift.aws.clients`);
the entries SQS answers as failed on its side are resent, alone, with backoff
(:func:`~trailsift.aws.retry.retry_failed_entries`), until their bound or until the invocation's deadline
leaves no time for the next backoff sleep. What is still unsent is raised, so the invocation fails and
Lambda keeps the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from trailsift.aws.errors import BatchWriteError
from trailsift.aws.retry import BatchAdapter, BatchCallFailed, EntryFailure, retry_failed_entries

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

BATCH_SIZE = 10
MAX_DELAY = 5.0
Record = dict[str, Any]


class DeadLetterError(BatchWriteError[Record]):
    """Some dead letters could not be queued (``failed`` holds those records); the invocation must fail so
    that Lambda keeps the event."""


class DeadLetterQueue(BatchAdapter):
    """The failure queue (``target``: its URL), through a boto3 SQS client."""

    BASE_DELAY = 0.1
    MAX_DELAY = MAX_DELAY
    client: SQSClient

    def send(self, records: Sequence[Record]) -> int:
        """Queue every record; raise :class:`DeadLetterError` naming what is still unsent after the resends."""
        batches = [list(records[start : start + BATCH_SIZE]) for start in range(0, len(records), BATCH_SIZE)]
        try:
            result = retry_failed_entries(self._send_batch, batches, max_rounds=self.max_rounds, backoff=self._backoff)
        except BatchCallFailed as stopped:
            unsent = [failure.entry for failure in stopped.result.failed] + stopped.result.unsent
            message = f"{len(unsent)} dead letter(s) not queued: {stopped.error}"
            raise DeadLetterError(message, unsent) from stopped.error
        unsent = [failure.entry for failure in result.failed] + result.unsent
        refused = [failure for failure in result.failed if not failure.retryable]
        if refused:
            raise DeadLetterError(f"failure queue refused {len(refused)} record(s): {refused[0].message}", unsent)
        if unsent:
            raise DeadLetterError(
                f"{len(unsent)} dead letter(s) still unsent after {result.rounds} round(s)", unsent
            )
        return result.accepted

    def _send_batch(self, batch: list[Record]) -> list[EntryFailure[Record]]:
        """One SendMessageBatch call; answers the records SQS did not accept."""
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": orjson.dumps(record).decode()} for index, record in enumerate(batch)
        ]
        answer = self.client.send_message_batch(QueueUrl=self.target, Entries=entries)
        return [
            EntryFailure(
                batch[int(entry["Id"])],
                str(entry.get("Code", "Unknown")),
                str(entry.get("Message", "")),
                retryable=not entry.get("SenderFault"),
            )
            for entry in answer.get("Failed", [])
        ]
