"""SQS batches ``{"Records": [{"eventSource": "aws:sqs", "messageId": ..., "body": ...}]}`` and their answer.

Each body is read as an SNS message is (:func:`~trailsift.triggers.sns.parse_message`), SNS
envelope allowed, and every object it names carries the ``messageId`` as its origin. The answer is
the partial batch response, ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}``: only
the messages listed are redelivered, so one bad file does not redeliver the whole batch (the event
source mapping must have ``ReportBatchItemFailures``).
"""

from __future__ import annotations

from collections.abc import Sequence

from trailsift.triggers.base import (
    Answer,
    Collector,
    JsonObject,
    ObjectResult,
    Shape,
    Trigger,
    TriggerShape,
    is_token,
    problem,
)
from trailsift.triggers.sns import parse_message

EVENT_SOURCE = "aws:sqs"
"""The ``eventSource`` of an SQS record."""


def batch_item_failures(trigger: Trigger, results: Sequence[ObjectResult]) -> Answer:
    """The messages to redeliver: those naming an object that failed, those whose object was named by a
    message that failed (same object, same fate), and those with a rejected part. A record without a
    usable messageId cannot be named, so it is left out (SQS deletes it with the batch)."""
    failed = {result.ref.origin for result in results if result.failed and result.ref.origin is not None}
    failed |= {origin for origin, kept in trigger.duplicates if kept in failed}
    failed |= {rejected.origin for rejected in trigger.rejected if rejected.origin is not None}
    return Answer({"batchItemFailures": [{"itemIdentifier": origin} for origin in sorted(failed)]})


def _parse_record(record: JsonObject, out: Collector, where: str) -> None:
    """One SQS message: its body is read with its messageId as the origin of every part."""
    message_id = record.get("messageId")
    if not is_token(message_id):
        out.reject(None, f"{where}.messageId: {problem(message_id, 'a non-empty printable string')}")
        return
    parse_message(
        record.get("body"), out, origin=message_id, part=message_id, where=f"{where}.body", envelope_allowed=True
    )


SHAPE = Shape(
    TriggerShape.SQS,
    answer=batch_item_failures,
    record_source=EVENT_SOURCE,
    parse_record=_parse_record,
)
"""SQS batches, answered with the messages to redeliver."""
