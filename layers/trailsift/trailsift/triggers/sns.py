"""SNS batches ``{"Records": [{"EventSource": "aws:sns", "Sns": {"Message": ...}}]}``, and what a message says.

SNS invokes the function asynchronously, so there is no answer: a failure raises and Lambda retries
the event (:func:`~trailsift.triggers.base.retry_whole_event`).

An SNS ``Message`` (and, through SQS, a message body: :mod:`~trailsift.triggers.sqs`) is read by
:func:`parse_message`. It may hold an S3 event notification, S3's test event, an EventBridge event,
or CloudTrail's own delivery notification (``{"s3Bucket": ..., "s3ObjectKey": [...]}``, keys
verbatim) and its plain-text validation message sent when a topic is configured. An SQS body may
also be the SNS envelope of any of these (subscription without raw message delivery).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from trailsift.triggers.base import (
    Collector,
    JsonObject,
    Malformed,
    ObjectRef,
    Shape,
    TriggerShape,
    as_object,
    bucket_name,
    describe_keys,
    is_token,
    kind_of,
    object_key,
    problem,
    record_source,
    retry_whole_event,
)
from trailsift.triggers.eventbridge import is_s3_event, parse_eventbridge
from trailsift.triggers.s3_events import EVENT_SOURCE as S3_EVENT_SOURCE
from trailsift.triggers.s3_events import TEST_EVENT, parse_s3_record, parse_test_event

EVENT_SOURCE = "aws:sns"
"""The ``EventSource`` of an SNS record."""
CLOUDTRAIL_VALIDATION = "CloudTrail validation message"
"""How CloudTrail's test message to a newly configured SNS topic starts (plain text, not JSON)."""

_OTHER_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


def parse_message(
    text: object, out: Collector, *, origin: str | None, part: str | None, where: str, envelope_allowed: bool
) -> None:
    """An SNS Message or SQS body: JSON text of an S3 notification, a CloudTrail message, an SNS envelope, ...

    ``origin`` is given to the objects found (the SQS messageId), ``part`` to what is rejected;
    ``envelope_allowed`` says whether the text may be an SNS envelope, which is unwrapped once.
    """
    if not isinstance(text, str):
        out.reject(part, f"{where}: {problem(text, 'JSON text')}")
        return
    if text.strip().startswith(CLOUDTRAIL_VALIDATION):
        out.notice("CloudTrail SNS validation message")
        return
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        out.reject(part, f"{where}: not JSON")
        return
    if isinstance(document, str) and document.strip().startswith(CLOUDTRAIL_VALIDATION):
        out.notice("CloudTrail SNS validation message")
        return
    if not isinstance(document, Mapping):
        out.reject(part, f"{where}: JSON {kind_of(document)}, expected an object")
        return
    if "Records" in document:
        records = document["Records"]
        if not isinstance(records, list):
            out.reject(part, f"{where}: 'Records' is {kind_of(records)}, expected a list")
            return
        for index, record in enumerate(records):
            if record_source(record) == S3_EVENT_SOURCE:
                parse_s3_record(record, out, origin=origin, part=part, where=f"{where}: Records[{index}]")
            else:
                out.reject(part, f"{where}: Records[{index}] is not an S3 event notification record")
    elif document.get("Event") == TEST_EVENT:
        parse_test_event(document, out)
    elif "s3Bucket" in document or "s3ObjectKey" in document:
        _cloudtrail_message(document, out, origin=origin, part=part, where=where)
    elif is_s3_event(document):
        parse_eventbridge(document, out, origin=origin, part=part, where=f"{where}: ")
    elif envelope_allowed and document.get("Type") == "Notification" and "Message" in document:
        parse_message(
            document["Message"], out, origin=origin, part=part, where=f"{where}: Message", envelope_allowed=False
        )
    elif envelope_allowed and document.get("Type") in _OTHER_TYPES:
        out.notice(f"SNS {document['Type']} message (no object; confirm or remove the subscription)")
    else:
        out.reject(part, f"{where}: unknown message shape ({describe_keys(document)})")


def _cloudtrail_message(
    document: JsonObject, out: Collector, *, origin: str | None, part: str | None, where: str
) -> None:
    """CloudTrail's own delivery notification: one bucket and a list (or, in the wild, a string) of keys."""
    keys = document.get("s3ObjectKey")
    if keys is None or keys == [] or keys == "":
        out.notice("CloudTrail SNS message naming no log file (validation message)")
        return
    try:
        bucket = bucket_name(document.get("s3Bucket"), f"{where}: s3Bucket")
    except Malformed as exc:
        out.reject(part, str(exc))
        return
    named: list[object]
    if isinstance(keys, str):
        named, paths = [keys], [f"{where}: s3ObjectKey"]
    elif isinstance(keys, list):
        named, paths = keys, [f"{where}: s3ObjectKey[{index}]" for index in range(len(keys))]
    else:
        out.reject(part, f"{where}: s3ObjectKey: {problem(keys, 'a list of strings or a string')}")
        return
    for key, path in zip(named, paths, strict=True):
        try:
            out.add(ObjectRef(bucket, object_key(key, path, encoded=False), origin=origin))
        except Malformed as exc:
            out.reject(part, str(exc))


def _parse_record(record: JsonObject, out: Collector, where: str) -> None:
    """One SNS record: its Message is read; rejected parts are named by the SNS MessageId when it is usable."""
    try:
        sns = as_object(record.get("Sns"), f"{where}.Sns")
    except Malformed as exc:
        out.reject(None, str(exc))
        return
    message_id = sns.get("MessageId")
    part = message_id if is_token(message_id) else None
    parse_message(sns.get("Message"), out, origin=None, part=part, where=f"{where}.Sns.Message", envelope_allowed=False)


SHAPE = Shape(
    TriggerShape.SNS,
    answer=retry_whole_event,
    asynchronous=True,
    record_source=EVENT_SOURCE,
    parse_record=_parse_record,
)
"""SNS batches, answered by raising when anything failed."""
