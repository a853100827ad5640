"""S3 event notifications: ``{"Records": [{"eventSource": "aws:s3", ...}]}`` and the ``s3:TestEvent``.

S3 invokes the function asynchronously, so there is no answer: a failure raises and Lambda retries
the whole event (:func:`~trailsift.triggers.base.retry_whole_event`). Only ``ObjectCreated:*``
records name an object to read; other event types are notices. Keys are URL-encoded (``+`` for a
space).

The same records arrive inside SQS bodies and SNS messages; :func:`parse_s3_record` and
:func:`parse_test_event` read them there too, with the message that carried them.
:func:`s3_notification` goes the other way: the notification S3 would send for some objects, which
is how one object is replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

from trailsift.triggers.base import (
    Collector,
    JsonObject,
    Malformed,
    ObjectRef,
    Shape,
    Trigger,
    TriggerShape,
    as_object,
    bucket_name,
    is_bucket,
    object_key,
    object_size,
    optional_token,
    problem,
    retry_whole_event,
    shorten,
)

EVENT_SOURCE = "aws:s3"
"""The ``eventSource`` of an S3 event notification record."""
TEST_EVENT = "s3:TestEvent"
"""The ``Event`` of the message S3 sends once when a notification is configured."""


def parse_s3_record(record: JsonObject, out: Collector, *, origin: str | None, part: str | None, where: str) -> None:
    """One record of an S3 event notification; only ``ObjectCreated:*`` names an object to read."""
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        out.reject(part, f"{where}.eventName: {problem(name, 'a non-empty string')}")
        return
    created = name.removeprefix("s3:").startswith("ObjectCreated:")
    try:
        s3 = as_object(record.get("s3"), f"{where}.s3")
        bucket = bucket_name(as_object(s3.get("bucket"), f"{where}.s3.bucket").get("name"), f"{where}.s3.bucket.name")
        obj = as_object(s3.get("object"), f"{where}.s3.object")
        key = object_key(obj.get("key"), f"{where}.s3.object.key", encoded=True)
        if not created:
            ignored = ObjectRef(bucket, key, optional_token(obj.get("versionId"), f"{where}.s3.object.versionId"))
            out.notice(f"ignored {shorten(name)} for {ignored.location}")
            return
        out.add(
            ObjectRef(
                bucket,
                key,
                version_id=optional_token(obj.get("versionId"), f"{where}.s3.object.versionId"),
                size=object_size(obj.get("size"), f"{where}.s3.object.size"),
                etag=optional_token(obj.get("eTag"), f"{where}.s3.object.eTag"),
                origin=origin,
            )
        )
    except Malformed as exc:
        if not created:
            out.notice(f"ignored {shorten(name)} event")  # nothing to read either way
        else:
            out.reject(part, str(exc))


def parse_test_event(document: JsonObject, out: Collector) -> None:
    """The ``s3:TestEvent`` message: a notice, naming the bucket only when it is a valid bucket name."""
    bucket = document.get("Bucket")
    out.notice(f"s3:TestEvent for bucket {bucket}" if is_bucket(bucket) else "s3:TestEvent")


def s3_notification(refs: Sequence[ObjectRef], *, region: str = "us-east-1") -> dict[str, Any]:
    """The S3 event notification S3 would send for ``refs`` (keys URL-encoded): how a single object is
    replayed (dead letters, redrive, the local run); :func:`~trailsift.triggers.parse_trigger` reads it
    back to the same refs."""
    records = []
    for ref in refs:
        obj: dict[str, Any] = {"key": quote_plus(ref.key, safe="/")}
        if ref.size is not None:
            obj["size"] = ref.size
        if ref.etag:
            obj["eTag"] = ref.etag
        if ref.version_id:
            obj["versionId"] = ref.version_id
        records.append(
            {
                "eventVersion": "2.1",
                "eventSource": EVENT_SOURCE,
                "awsRegion": region,
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": ref.bucket, "arn": f"arn:aws:s3:::{ref.bucket}"},
                    "object": obj,
                },
            }
        )
    return {"Records": records}


def _is_test_event(event: JsonObject) -> bool:
    return event.get("Event") == TEST_EVENT


def _parse_test_event(event: JsonObject) -> Trigger:
    out = Collector()
    parse_test_event(event, out)
    return out.trigger(TriggerShape.S3)


def _parse_record(record: JsonObject, out: Collector, where: str) -> None:
    parse_s3_record(record, out, origin=None, part=None, where=where)


SHAPE = Shape(
    TriggerShape.S3,
    answer=retry_whole_event,
    asynchronous=True,
    recognises=_is_test_event,
    parse=_parse_test_event,
    record_source=EVENT_SOURCE,
    parse_record=_parse_record,
)
"""S3 event notifications and S3's test event, answered by raising when anything failed."""
