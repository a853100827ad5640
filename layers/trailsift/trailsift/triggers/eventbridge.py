"""EventBridge events from S3: ``{"source": "aws.s3", "detail-type": "Object Created", "detail": {...}}``.

EventBridge invokes the function asynchronously, so there is no answer: a failure raises and Lambda
retries the event (:func:`~trailsift.triggers.base.retry_whole_event`). "Object Created" names one
object, its key verbatim (not URL-encoded); other S3 detail types are notices. A rule may also
target an SQS queue, whose bodies are then read with :func:`parse_eventbridge`.
"""

from __future__ import annotations

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
    object_key,
    object_size,
    optional_token,
    problem,
    retry_whole_event,
    shorten,
)

SOURCE = "aws.s3"
"""The ``source`` of EventBridge events sent by S3."""
OBJECT_CREATED = "Object Created"


def is_s3_event(event: JsonObject) -> bool:
    """Whether ``event`` is an EventBridge event sent by S3."""
    return event.get("source") == SOURCE and "detail-type" in event


def is_other_event(event: JsonObject) -> bool:
    """Whether ``event`` looks like an EventBridge event (a ``source`` and a ``detail-type``) from anything
    but S3: a rule that matches too much, which the registry names as such."""
    return event.get("source") is not None and "detail-type" in event and not is_s3_event(event)


def parse_eventbridge(
    event: JsonObject, out: Collector, *, origin: str | None, part: str | None, where: str
) -> None:
    """An EventBridge event from S3: "Object Created" names one object (key verbatim), others are notices."""
    detail_type = event.get("detail-type")
    try:
        if not isinstance(detail_type, str):
            raise Malformed(f"{where}detail-type: {problem(detail_type, 'a string')}")
        detail = as_object(event.get("detail"), f"{where}detail")
        bucket_info = as_object(detail.get("bucket"), f"{where}detail.bucket")
        bucket = bucket_name(bucket_info.get("name"), f"{where}detail.bucket.name")
        obj = as_object(detail.get("object"), f"{where}detail.object")
        key = object_key(obj.get("key"), f"{where}detail.object.key", encoded=False)
        version_id = optional_token(obj.get("version-id"), f"{where}detail.object.version-id")
        if detail_type != OBJECT_CREATED:
            out.notice(f"ignored EventBridge {shorten(detail_type)} for {ObjectRef(bucket, key, version_id).location}")
            return
        size = object_size(obj.get("size"), f"{where}detail.object.size")
        etag = optional_token(obj.get("etag"), f"{where}detail.object.etag")
        out.add(ObjectRef(bucket, key, version_id=version_id, size=size, etag=etag, origin=origin))
    except Malformed as exc:
        if isinstance(detail_type, str) and detail_type != OBJECT_CREATED:
            out.notice(f"ignored EventBridge {shorten(detail_type)} event")
        else:
            out.reject(part, str(exc))


def _parse(event: JsonObject) -> Trigger:
    out = Collector()
    parse_eventbridge(event, out, origin=None, part=None, where="")
    return out.trigger(TriggerShape.EVENTBRIDGE)


SHAPE = Shape(
    TriggerShape.EVENTBRIDGE,
    answer=retry_whole_event,
    asynchronous=True,
    recognises=is_s3_event,
    parse=_parse,
)
"""EventBridge "Object Created" events, answered by raising when anything failed."""
