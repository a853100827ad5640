"""Turn any event that invokes the processor into the S3 objects it names, trusting none of its content.

The processor is reached five ways: S3 event notifications, the same notifications (or CloudTrail's
own per-delivery message) through SQS or SNS, EventBridge "Object Created" events and S3 Batch
Operations. :func:`parse_trigger` reduces each to one :class:`Trigger`: the objects to read, the
parts that need no action (test and validation messages, other event types) and the parts that are
malformed, each with the SQS message or Batch task that carried it. Only an event with no shape we
know raises (:class:`UnknownTrigger`); a bad part never spoils the rest of the event.

Keys are URL-encoded (``+`` for a space) in S3 notifications and Batch Operations tasks, and
verbatim in EventBridge events and CloudTrail's SNS message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeGuard
from urllib.parse import quote_plus, unquote_plus

from trailsift.errors import TrailsiftError
from trailsift.text import escape, one_line

MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes."""
RESULT_CODES = ("Succeeded", "TemporaryFailure", "PermanentFailure")
"""The answers S3 Batch Operations accepts for one task."""
CLOUDTRAIL_VALIDATION = "CloudTrail validation message"
"""How CloudTrail's test message to a newly configured SNS topic starts (plain text, not JSON)."""

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_ARN = re.compile(r"arn:aws[a-z-]*:s3:::([^/:]+)")
_TOKEN = re.compile(r"[!-~]{1,1024}")  # ids, version ids, ETags: printable ASCII, no spaces
_SNS_OTHER_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
_SHOWN_CHARS = 64


class TriggerShape(str, Enum):
    """How the processor was invoked, which decides how it must answer."""

    S3 = "s3"  # S3 event notification {"Records":[{"eventSource":"aws:s3",...}]}
    SQS = "sqs"  # SQS batch whose bodies are S3 notifications, SNS envelopes or CloudTrail SNS messages
    SNS = "sns"  # SNS batch {"Records":[{"EventSource":"aws:sns","Sns":{"Message": ...}}]}
    EVENTBRIDGE = "eventbridge"  # {"source":"aws.s3","detail-type":"Object Created","detail":{...}}
    BATCH = "s3-batch"  # S3 Batch Operations schema 1.0 and 2.0


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object named by a trigger, key decoded, with the message or task that named it."""

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    origin: str | None = None  # the SQS messageId or Batch taskId that named this object, else None

    @property
    def location(self) -> str:
        """``s3://bucket/key[?versionId=...]`` for alerts and index rows, with anything that could forge text escaped.

        Control and invisible format characters (newlines, bidi overrides, ...) show as ``\\n``,
        ``\\x1b``, ``\\u202e``; a backslash as ``\\\\`` and a ``?`` in the key as ``\\x3f``, so no
        key can pass for another object or version: distinct objects always have distinct locations.
        """
        text = f"s3://{escape(self.bucket)}/{escape(self.key, also='?')}"
        if self.version_id:
            text += f"?versionId={escape(self.version_id)}"
        return text


@dataclass(frozen=True)
class Rejected:
    """A part of the event that names no object we can read; permanent, since its content will not change."""

    origin: str | None  # SQS messageId / SNS MessageId / Batch taskId, or None
    reason: str  # why this part of the event names no object we can read


@dataclass(frozen=True)
class BatchJob:
    """What an S3 Batch Operations answer must echo: the schema, the invocation and every task to answer."""

    schema_version: str
    invocation_id: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class Trigger:
    """Everything one invocation event says: objects to read, parts needing no action, malformed parts."""

    shape: TriggerShape
    objects: tuple[ObjectRef, ...]
    notices: tuple[str, ...] = ()  # parts that carry no object and need no action
    rejected: tuple[Rejected, ...] = ()  # parts that are malformed
    batch: BatchJob | None = None
    duplicates: tuple[tuple[str, str], ...] = ()
    """``(origin, kept origin)`` for each message or task whose object was already named by another one,
    so an SQS failure or a Batch result can be reported for both."""


class UnknownTrigger(TrailsiftError, ValueError):
    """The whole event has no shape we know; the message names what was seen, never a value."""


def parse_trigger(event: object) -> Trigger:
    """The objects ``event`` names, whatever its shape; raises :class:`UnknownTrigger` and nothing else."""
    if not isinstance(event, Mapping):
        raise UnknownTrigger(f"unrecognized trigger: the event is {_kind(event)}, not a JSON object")
    if "Records" in event:
        return _parse_record_batch(event)
    if event.get("Event") == "s3:TestEvent":
        out = _Collector()
        _test_event(event, out)
        return out.trigger(TriggerShape.S3)
    if event.get("source") == "aws.s3" and "detail-type" in event:
        out = _Collector()
        _eventbridge(event, out, origin=None, part=None, where="")
        return out.trigger(TriggerShape.EVENTBRIDGE)
    if "invocationSchemaVersion" in event and "tasks" in event:
        return _parse_batch(event)
    if event.get("source") is not None and "detail-type" in event:
        raise UnknownTrigger("unrecognized trigger: an EventBridge event whose source is not aws.s3")
    raise UnknownTrigger(f"unrecognized trigger: {_describe_keys(event)}")


def batch_response(job: BatchJob, results: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """S3 Batch Operations answer; results maps taskId -> (resultCode, resultString).

    resultCode is one of Succeeded, TemporaryFailure (S3 retries the task) and PermanentFailure;
    every task of the job must be answered, and only those: anything else raises ValueError.
    """
    missing = [task_id for task_id in job.task_ids if task_id not in results]
    if missing:
        raise ValueError(f"{len(missing)} task(s) of invocation {job.invocation_id} have no result: {missing[:5]}")
    unknown = sorted(set(results) - set(job.task_ids))
    if unknown:
        raise ValueError(f"results for task(s) that are not in the job: {unknown[:5]}")
    answers = []
    for task_id in job.task_ids:
        answer = results[task_id]
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise ValueError(f"result of task {task_id} must be a (resultCode, resultString) pair")
        code, text = answer
        if code not in RESULT_CODES:
            raise ValueError(f"result of task {task_id}: resultCode must be one of {', '.join(RESULT_CODES)}")
        if not isinstance(text, str):
            raise ValueError(f"result of task {task_id}: resultString must be a string")
        answers.append({"taskId": task_id, "resultCode": code, "resultString": text})
    return {
        "invocationSchemaVersion": job.schema_version,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": job.invocation_id,
        "results": answers,
    }


# --- collecting results -------------------------------------------------------------------------


def s3_notification(refs: Sequence[ObjectRef], *, region: str = "us-east-1") -> dict[str, Any]:
    """The S3 event notification S3 would send for ``refs`` (keys URL-encoded): how a single object is
    replayed (dead letters, redrive, the local run); :func:`parse_trigger` reads it back to the same refs."""
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
                "eventSource": "aws:s3",
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


class _Malformed(TrailsiftError):
    """One entry is unusable; caught where the entry is parsed and turned into a :class:`Rejected`."""


class _Collector:
    """Accumulates a trigger's parts in order, collapsing repeated objects and notices."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None], ObjectRef] = {}
        self.notices: dict[str, None] = {}
        self.rejected: list[Rejected] = []
        self.duplicates: dict[tuple[str, str], None] = {}

    def add(self, ref: ObjectRef) -> None:
        identity = (ref.bucket, ref.key, ref.version_id)
        kept = self.objects.get(identity)
        if kept is None:
            self.objects[identity] = ref
        elif ref.origin is not None and kept.origin is not None and ref.origin != kept.origin:
            self.duplicates[(ref.origin, kept.origin)] = None

    def notice(self, text: str) -> None:
        self.notices[text] = None

    def reject(self, part: str | None, reason: str) -> None:
        self.rejected.append(Rejected(part, reason))

    def trigger(self, shape: TriggerShape, batch: BatchJob | None = None) -> Trigger:
        return Trigger(
            shape,
            tuple(self.objects.values()),
            tuple(self.notices),
            tuple(self.rejected),
            batch,
            tuple(self.duplicates),
        )


# --- the shapes ---------------------------------------------------------------------------------


def _record_source(record: object) -> TriggerShape | None:
    if not isinstance(record, Mapping):
        return None
    source = record.get("eventSource", record.get("EventSource"))
    return {"aws:s3": TriggerShape.S3, "aws:sqs": TriggerShape.SQS, "aws:sns": TriggerShape.SNS}.get(
        source if isinstance(source, str) else ""
    )


def _parse_record_batch(event: Mapping[str, Any]) -> Trigger:
    """``{"Records": [...]}``: an S3 notification, an SQS batch or an SNS batch, told apart by eventSource."""
    records = event["Records"]
    if not isinstance(records, list):
        raise UnknownTrigger(f"unrecognized trigger: 'Records' is {_kind(records)}, expected a list")
    if not records:
        return Trigger(TriggerShape.S3, ())
    sources = [_record_source(record) for record in records]
    shape = next((source for source in sources if source is not None), None)
    if shape is None:
        raise UnknownTrigger(
            "unrecognized trigger: no entry of 'Records' comes from aws:s3, aws:sqs or aws:sns "
            f"(first entry: {_describe_keys(records[0])})"
        )
    out = _Collector()
    for index, (record, source) in enumerate(zip(records, sources, strict=True)):
        where = f"Records[{index}]"
        if source is not shape:
            out.reject(None, f"{where}: not an {shape.value.upper()} record like the rest of the batch")
        elif shape is TriggerShape.S3:
            _s3_record(record, out, origin=None, part=None, where=where)
        elif shape is TriggerShape.SQS:
            _sqs_record(record, out, where)
        else:
            _sns_record(record, out, where)
    return out.trigger(shape)


def _sqs_record(record: Mapping[str, Any], out: _Collector, where: str) -> None:
    message_id = record.get("messageId")
    if not _is_token(message_id):
        out.reject(None, f"{where}.messageId: {_problem(message_id, 'a non-empty printable string')}")
        return
    _inner(record.get("body"), out, origin=message_id, part=message_id, where=f"{where}.body", sns_allowed=True)


def _sns_record(record: Mapping[str, Any], out: _Collector, where: str) -> None:
    sns = record.get("Sns")
    if not isinstance(sns, Mapping):
        out.reject(None, f"{where}.Sns: {_problem(sns, 'an object')}")
        return
    message_id = sns.get("MessageId")
    part = message_id if _is_token(message_id) else None
    _inner(sns.get("Message"), out, origin=None, part=part, where=f"{where}.Sns.Message", sns_allowed=False)


def _inner(
    text: object, out: _Collector, *, origin: str | None, part: str | None, where: str, sns_allowed: bool
) -> None:
    """An SQS body or SNS Message: JSON text of an S3 notification, a CloudTrail message, an SNS envelope, ..."""
    if not isinstance(text, str):
        out.reject(part, f"{where}: {_problem(text, 'JSON text')}")
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
        out.reject(part, f"{where}: JSON {_kind(document)}, expected an object")
        return
    if "Records" in document:
        records = document["Records"]
        if not isinstance(records, list):
            out.reject(part, f"{where}: 'Records' is {_kind(records)}, expected a list")
            return
        for index, record in enumerate(records):
            if _record_source(record) is TriggerShape.S3:
                _s3_record(record, out, origin=origin, part=part, where=f"{where}: Records[{index}]")
            else:
                out.reject(part, f"{where}: Records[{index}] is not an S3 event notification record")
    elif document.get("Event") == "s3:TestEvent":
        _test_event(document, out)
    elif "s3Bucket" in document or "s3ObjectKey" in document:
        _cloudtrail_message(document, out, origin=origin, part=part, where=where)
    elif document.get("source") == "aws.s3" and "detail-type" in document:
        _eventbridge(document, out, origin=origin, part=part, where=f"{where}: ")
    elif sns_allowed and document.get("Type") == "Notification" and "Message" in document:
        _inner(document["Message"], out, origin=origin, part=part, where=f"{where}: Message", sns_allowed=False)
    elif sns_allowed and document.get("Type") in _SNS_OTHER_TYPES:
        out.notice(f"SNS {document['Type']} message (no object; confirm or remove the subscription)")
    else:
        out.reject(part, f"{where}: unknown message shape ({_describe_keys(document)})")


def _test_event(document: Mapping[str, Any], out: _Collector) -> None:
    bucket = document.get("Bucket")
    out.notice(f"s3:TestEvent for bucket {bucket}" if _is_bucket(bucket) else "s3:TestEvent")


def _s3_record(record: Mapping[str, Any], out: _Collector, *, origin: str | None, part: str | None, where: str) -> None:
    """One record of an S3 event notification; only ``ObjectCreated:*`` names an object to read."""
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        out.reject(part, f"{where}.eventName: {_problem(name, 'a non-empty string')}")
        return
    created = name.removeprefix("s3:").startswith("ObjectCreated:")
    try:
        s3 = _mapping(record.get("s3"), f"{where}.s3")
        bucket = _bucket(_mapping(s3.get("bucket"), f"{where}.s3.bucket").get("name"), f"{where}.s3.bucket.name")
        obj = _mapping(s3.get("object"), f"{where}.s3.object")
        key = _key(obj.get("key"), f"{where}.s3.object.key", encoded=True)
        if not created:
            ignored = ObjectRef(bucket, key, _optional_token(obj.get("versionId"), f"{where}.s3.object.versionId"))
            out.notice(f"ignored {_shorten(name)} for {ignored.location}")
            return
        out.add(
            ObjectRef(
                bucket,
                key,
                version_id=_optional_token(obj.get("versionId"), f"{where}.s3.object.versionId"),
                size=_size(obj.get("size"), f"{where}.s3.object.size"),
                etag=_optional_token(obj.get("eTag"), f"{where}.s3.object.eTag"),
                origin=origin,
            )
        )
    except _Malformed as exc:
        if not created:
            out.notice(f"ignored {_shorten(name)} event")  # nothing to read either way
        else:
            out.reject(part, str(exc))


def _eventbridge(
    event: Mapping[str, Any], out: _Collector, *, origin: str | None, part: str | None, where: str
) -> None:
    """An EventBridge event from S3: "Object Created" names one object (key verbatim), others are notices."""
    detail_type = event.get("detail-type")
    try:
        if not isinstance(detail_type, str):
            raise _Malformed(f"{where}detail-type: {_problem(detail_type, 'a string')}")
        detail = _mapping(event.get("detail"), f"{where}detail")
        bucket_info = _mapping(detail.get("bucket"), f"{where}detail.bucket")
        bucket = _bucket(bucket_info.get("name"), f"{where}detail.bucket.name")
        obj = _mapping(detail.get("object"), f"{where}detail.object")
        key = _key(obj.get("key"), f"{where}detail.object.key", encoded=False)
        version_id = _optional_token(obj.get("version-id"), f"{where}detail.object.version-id")
        if detail_type != "Object Created":
            out.notice(f"ignored EventBridge {_shorten(detail_type)} for {ObjectRef(bucket, key, version_id).location}")
            return
        size = _size(obj.get("size"), f"{where}detail.object.size")
        etag = _optional_token(obj.get("etag"), f"{where}detail.object.etag")
        out.add(ObjectRef(bucket, key, version_id=version_id, size=size, etag=etag, origin=origin))
    except _Malformed as exc:
        if isinstance(detail_type, str) and detail_type != "Object Created":
            out.notice(f"ignored EventBridge {_shorten(detail_type)} event")
        else:
            out.reject(part, str(exc))


def _cloudtrail_message(
    document: Mapping[str, Any], out: _Collector, *, origin: str | None, part: str | None, where: str
) -> None:
    """CloudTrail's own delivery notification: one bucket and a list (or, in the wild, a string) of keys."""
    keys = document.get("s3ObjectKey")
    if keys is None or keys == [] or keys == "":
        out.notice("CloudTrail SNS message naming no log file (validation message)")
        return
    try:
        bucket = _bucket(document.get("s3Bucket"), f"{where}: s3Bucket")
    except _Malformed as exc:
        out.reject(part, str(exc))
        return
    if isinstance(keys, str):
        keys, paths = [keys], [f"{where}: s3ObjectKey"]
    elif isinstance(keys, list):
        paths = [f"{where}: s3ObjectKey[{index}]" for index in range(len(keys))]
    else:
        out.reject(part, f"{where}: s3ObjectKey: {_problem(keys, 'a list of strings or a string')}")
        return
    for key, path in zip(keys, paths, strict=True):
        try:
            out.add(ObjectRef(bucket, _key(key, path, encoded=False), origin=origin))
        except _Malformed as exc:
            out.reject(part, str(exc))


def _parse_batch(event: Mapping[str, Any]) -> Trigger:
    """An S3 Batch Operations invocation (schema 1.0: ``s3BucketArn``; 2.0: ``s3Bucket``); keys URL-encoded."""
    version = event.get("invocationSchemaVersion")
    if version not in ("1.0", "2.0"):
        raise UnknownTrigger("unrecognized trigger: S3 Batch Operations invocationSchemaVersion is not 1.0 or 2.0")
    invocation_id = event.get("invocationId")
    if not isinstance(invocation_id, str) or not invocation_id:
        raise UnknownTrigger("unrecognized trigger: S3 Batch Operations event without an invocationId string")
    tasks = event["tasks"]
    if not isinstance(tasks, list):
        raise UnknownTrigger(f"unrecognized trigger: S3 Batch Operations 'tasks' is {_kind(tasks)}, expected a list")
    out = _Collector()
    task_ids: dict[str, None] = {}
    for index, task in enumerate(tasks):
        where = f"tasks[{index}]"
        if not isinstance(task, Mapping):
            out.reject(None, f"{where}: {_problem(task, 'an object')}")
            continue
        task_id = task.get("taskId")
        if not _is_token(task_id):
            out.reject(None, f"{where}.taskId: {_problem(task_id, 'a non-empty printable string')}")
            continue
        if task_id in task_ids:
            out.notice(f"{where}: repeats an earlier taskId; answered once")
            continue
        task_ids[task_id] = None
        try:
            out.add(
                ObjectRef(
                    _task_bucket(task, where),
                    _key(task.get("s3Key"), f"{where}.s3Key", encoded=True),
                    version_id=_optional_token(task.get("s3VersionId"), f"{where}.s3VersionId"),
                    origin=task_id,
                )
            )
        except _Malformed as exc:
            out.reject(task_id, str(exc))
    return out.trigger(TriggerShape.BATCH, BatchJob(version, invocation_id, tuple(task_ids)))


def _task_bucket(task: Mapping[str, Any], where: str) -> str:
    name = task.get("s3Bucket")
    arn = task.get("s3BucketArn")
    from_arn = None
    if arn is not None:
        match = _BUCKET_ARN.fullmatch(arn) if isinstance(arn, str) else None
        if match is None:
            raise _Malformed(f"{where}.s3BucketArn: {_problem(arn, 'an S3 bucket ARN (arn:aws:s3:::bucket)')}")
        from_arn = _bucket(match.group(1), f"{where}.s3BucketArn")
    if name is None:
        if from_arn is None:
            raise _Malformed(f"{where}: neither s3Bucket nor s3BucketArn is present")
        return from_arn
    bucket = _bucket(name, f"{where}.s3Bucket")
    if from_arn is not None and from_arn != bucket:
        raise _Malformed(f"{where}: s3Bucket and s3BucketArn name different buckets")
    return bucket


# --- field checks -------------------------------------------------------------------------------


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Malformed(f"{where}: {_problem(value, 'an object')}")
    return value


def _is_bucket(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _BUCKET.fullmatch(value) is not None


def _bucket(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{where}: {_problem(value, 'a bucket name')}")
    if not _is_bucket(value):
        raise _Malformed(
            f"{where}: not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
        )
    return value


def _key(value: object, where: str, *, encoded: bool) -> str:
    """An object key, URL-decoded when the shape encodes it: non-empty, at most 1024 UTF-8 bytes, no NUL."""
    if not isinstance(value, str):
        raise _Malformed(f"{where}: {_problem(value, 'a string')}")
    key = value
    if encoded:
        try:
            key = unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            raise _Malformed(f"{where}: not valid UTF-8 once URL-decoded") from None
    if not key:
        raise _Malformed(f"{where}: empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Malformed(f"{where}: not valid Unicode (lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise _Malformed(f"{where}: {size} bytes, S3 keys are at most {MAX_KEY_BYTES}")
    if "\x00" in key:
        raise _Malformed(f"{where}: contains a NUL character")
    return key


def _size(value: object, where: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise _Malformed(f"{where}: {_problem(value, 'a non-negative integer')}")
    return value


def _is_token(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def _optional_token(value: object, where: str) -> str | None:
    """A version id or ETag: absent, null or empty mean none; otherwise printable ASCII without spaces."""
    if value is None or value == "":
        return None
    if not _is_token(value):
        raise _Malformed(f"{where}: {_problem(value, 'a printable ASCII string of at most 1024 characters')}")
    return value


# --- describing untrusted content without echoing it --------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _problem(value: object, expected: str) -> str:
    if value is None:
        return f"missing, expected {expected}"
    return f"invalid ({_kind(value)}), expected {expected}"


def _describe_keys(value: object) -> str:
    """The top-level keys of an object (at most 10, each shortened and escaped), or what it is instead."""
    if not isinstance(value, Mapping):
        return f"{_kind(value)}, not an object"
    names = list(value)
    if not names:
        return "an empty object"
    shown = ", ".join(f"'{_shorten(name)}'" if isinstance(name, str) else f"<{_kind(name)}>" for name in names[:10])
    more = f", ... ({len(names)} keys)" if len(names) > 10 else ""
    return f"top-level keys {shown}{more}"


def _shorten(text: str) -> str:
    """Untrusted text fit for a message: escaped, and cut to a few dozen characters."""
    return one_line(text, _SHOWN_CHARS)
