"""Bad input, end to end: every kind of broken trigger, key or log file, next to a good file, through the real handler.

The issue: "each case gets a clear log line (file, reason), a metric, and either a skip, a retry or a
dead letter as it deserves, while the rest of the batch is still processed". Each case of :data:`CASES`
runs ``functions/processor/app.py`` on moto (in-process) with ONE event that also names a real,
matching log file from ``events/logs``, and checks:

1. the good file's alerts and index rows are delivered (and those of the bad file when it is processed);
2. a log line names the bad file (its key as ``correlation_id``, its location in ``file``) and says why;
3. the right metric moves;
4. the disposition, through one helper (:func:`assert_disposition`): ``processed`` / ``skip`` (nothing
   about the case fails the invocation), ``retry`` (the invocation fails naming the file, so Lambda tries
   again) or ``dead-letter`` (the file goes straight to the failure queue; a bad trigger part, having no
   file, fails the invocation so that Lambda hands the event to the on-failure destination).

The decompression bombs run in a subprocess so that their peak memory (VmHWM, reset when the case starts) can be measured.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import pytest

from tests.conftest import FunctionStack, RecordingClient, create_function_stack, drain_queue, expect, index_rows
from trailsift.alerts import MAX_MESSAGE_BYTES
from trailsift.aws.clients import TOTAL_ATTEMPTS
from trailsift.reader import DEFAULT_MAX_RECORD_BYTES
from trailsift.cli.local import LambdaContext, load_handler
from trailsift.rules import default_rules, parse_rules
from trailsift.triggers import ObjectRef

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "functions" / "processor" / "app.py"
THIS_FILE = Path(__file__).resolve()
BUCKET = "trailsift-bad-123456789012-us-east-1"
OTHER_BUCKET = "someone-elses-trail-bucket"
TABLE = "trailsift-bad-index"
NAMESPACE = "TrailsiftBadInput"
ACCOUNT = "111122223333"

GOOD_FILE = REPO / (
    "events/logs/AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/19/"
    "111122223333_CloudTrail_us-east-1_20230719T2140Z_gP7Z3Z7jPPazCJYd.json.gz"
)  # one UpdateTrail: an alert and index rows
GOOD_KEY = GOOD_FILE.as_posix()[GOOD_FILE.as_posix().index("AWSLogs/") :]
BOMB_LIMIT_MIB = 64
BOMB_EXPANDED = 2 * 1024**3  # bytes of spaces inside {"Records":[ ... ]}
MAX_BOMB_RSS_MB = 400


# --- building bad input --------------------------------------------------------------------------


def log_key(tag: str, prefix: str = "", *, account: str = ACCOUNT, stamp: str = "20230719T2141Z") -> str:
    """A CloudTrail event file key (AWSLogs layout and file name agree) unique to ``tag``."""
    unique = hashlib.sha256(tag.encode()).hexdigest()[:16]
    return (
        f"{prefix}AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2023/07/19/"
        f"{account}_CloudTrail_us-east-1_{stamp}_{unique}.json.gz"
    )


_DROP = object()


def ct_record(event_id: str, **fields: Any) -> dict[str, Any]:
    """A CloudTrail StopLogging record (cloudtrail-changes: alert and index) with ``fields`` replaced or dropped."""
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/probe",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        },
        "eventTime": "2023-07-19T21:40:00Z",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "StopLogging",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.13.0",
        "requestParameters": {"name": "main-trail"},
        "responseElements": None,
        "requestID": "4d2c6a3e-0000-4000-8000-000000000000",
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    for name, value in fields.items():
        if value is _DROP:
            record.pop(name, None)
        else:
            record[name] = value
    return record


def root_record(event_id: str, **fields: Any) -> dict[str, Any]:
    """A record by the root user itself (root-account-use: alert and index), whatever its event name."""
    identity = {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}
    return ct_record(event_id, userIdentity=identity, eventSource="signin.amazonaws.com", **fields)


def doc(records: Any) -> bytes:
    return json.dumps({"Records": records} if isinstance(records, list) else records).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def nested(depth: int) -> str:
    """JSON text of an object nested ``depth`` levels deep."""
    return '{"a":' * depth + "1" + "}" * depth


def nested_record_file(event_id: str, depth: int) -> bytes:
    """A StopLogging record whose requestParameters hold an object nested ``depth`` levels deep."""
    record = json.dumps(ct_record(event_id, requestParameters="@@"))
    return gz(b'{"Records":[' + record.replace('"@@"', nested(depth)).encode() + b"]}")


def big_streamed_file(tag: str, *, corrupt: bool) -> bytes:
    """A file read streamed (over 2 MiB decompressed): an alerting record, then incompressible filler.

    ``corrupt``: an invalid record sits in the middle; else the gzip is cut at 60 %.
    """
    rng = random.Random(tag)
    parts = [json.dumps(ct_record(f"{tag}-alert"))]
    for index in range(180):
        blob = base64.b64encode(rng.randbytes(24_000)).decode()
        filler = ct_record(f"{tag}-{index}", eventSource="s3.amazonaws.com", eventName="GetObject", readOnly=True)
        filler["requestParameters"] = {"blob": blob}
        parts.append(json.dumps(filler))
        if corrupt and index == 90:
            parts.append('{"eventName": tru, "eventID": "broken"}')
    data = gz(("{\"Records\":[" + ",".join(parts) + "]}").encode())
    assert len(data) * 6 // 10 > DEFAULT_MAX_RECORD_BYTES  # the streamed path, even cut
    return data if corrupt else data[: len(data) * 6 // 10]


BOMBS = {  # asset name -> (prefix, filler byte, bytes of filler, suffix)
    "bomb": (b'{"Records":[', b" ", BOMB_EXPANDED, b"]}"),  # whitespace, where the reader looks for a record
    "string-bomb": (b'{"Records":[{"eventName":"', b"A", 1 << 30, b'"}]}'),  # one record, one huge string
}


def write_bomb(path: Path, prefix: bytes, filler: bytes, size: int, suffix: bytes) -> None:
    """gzip of ``prefix`` + ``size`` bytes of ``filler`` + ``suffix``, streamed to ``path`` (never held in memory)."""
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = filler * (1 << 20)
    with path.open("wb") as out:
        out.write(squeeze.compress(prefix))
        for _ in range(size // len(block)):
            out.write(squeeze.compress(block))
        out.write(squeeze.compress(suffix))
        out.write(squeeze.flush())
    assert path.stat().st_size > DEFAULT_MAX_RECORD_BYTES  # more than the streaming threshold even compressed


# Rules with one more index rule on readOnly (scoped to an event source no real file uses).
PROBE_SOURCE = "probe.trailsift.test"
PROBE_RULE = {
    "name": "probe-writes",
    "severity": "low",
    "destinations": ["index"],
    "selectors": [
        {
            "Name": "writes to the probe service",
            "FieldSelectors": [
                {"Field": "eventSource", "Equals": [PROBE_SOURCE]},
                {"Field": "readOnly", "Equals": ["false"]},
            ],
        }
    ],
}


def rules_with_probe() -> dict[str, Any]:
    document = json.loads(resources.files("trailsift").joinpath("rules", "default.json").read_bytes())
    document["rules"].append(PROBE_RULE)
    return document


def s3_notification_record(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    """One ``ObjectCreated:Put`` record as S3 sends it (the key URL-encoded, ``+`` for a space)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2023-07-19T21:41:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"')},
        },
    }


# --- the emulated stack --------------------------------------------------------------------------


@dataclass
class Stack(FunctionStack):
    """The function's resources, with what these tests do to them."""

    def upload(self, key: str, body: bytes, bucket: str = BUCKET) -> dict[str, Any]:
        """Put the object; the ObjectCreated:Put record S3 would send for it (key URL-encoded)."""
        etag = self.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        return s3_notification_record(bucket, key, len(body), etag)

    def alerts(self) -> list[dict[str, Any]]:
        """Drain the subscriber queue: the SNS envelopes received."""
        return drain_queue(self.sqs, self.subscriber_url)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Drain the failure queue: the records the function sent there."""
        return drain_queue(self.sqs, self.failure_url)

    def rows(self) -> list[tuple[str, str]]:
        return index_rows(self.dynamodb, TABLE)


def make_stack() -> Stack:
    """Bucket, other bucket, topic with a subscriber queue, failure queue, index table (moto must be active)."""
    made = create_function_stack([BUCKET, OTHER_BUCKET], TABLE)
    return Stack(**vars(made))


Calls = list[tuple[str, str, dict[str, Any]]]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _fault_hook(faults: dict[str, tuple[int, str]], attempts: Counter[str]) -> Callable[..., Any]:
    """A before-send hook answering GetObject of the keys in ``faults`` with (HTTP status, S3 error code)."""
    from botocore.awsrequest import AWSResponse

    def hook(request: Any, **_: Any) -> Any:
        path = unquote(urlsplit(request.url).path)
        for key, (status, code) in faults.items():
            if path.endswith("/" + key):
                attempts[key] += 1
                body = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                    f"<Message>injected {code}</Message><RequestId>TEST</RequestId></Error>"
                ).encode()
                return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))
        return None

    return hook


@dataclass
class Function:
    module: ModuleType
    calls: Calls
    attempts: Counter[str]  # GET attempts answered by an injected fault, by key

    def __call__(self, event: Any) -> Any:
        return self.module.handler(event, LambdaContext())


def load_function(
    stack: Stack,
    env: dict[str, str],
    faults: dict[str, tuple[int, str]],
    setenv: Callable[[str, str], None],
    delenv: Callable[[str], None],
) -> Function:
    """The handler module loaded fresh after the environment is set, its AWS calls recorded, faults injected."""
    for name in list(os.environ):
        if name.startswith(("TRAILSIFT_", "POWERTOOLS_")):
            delenv(name)
    settings = {
        "TRAILSIFT_ALERT_TOPIC_ARN": stack.topic_arn,
        "TRAILSIFT_INDEX_TABLE": TABLE,
        "TRAILSIFT_BUCKETS": BUCKET,
        "TRAILSIFT_FAILURE_QUEUE_URL": stack.failure_url,  # as the template sets it
        # a service name of its own: Powertools' logger binds to the stdout of the test that created it
        "POWERTOOLS_SERVICE_NAME": f"trailsift-bad-{uuid.uuid4().hex[:8]}",
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        "POWERTOOLS_TRACE_DISABLED": "true",
        **env,
    }
    for name, value in settings.items():
        setenv(name, value)
    module = load_handler(APP)
    calls: Calls = []
    attempts: Counter[str] = Counter()
    real = module.client
    if faults:
        real("s3").meta.events.register_first("before-send.s3.GetObject", _fault_hook(faults, attempts))
    module.client = lambda service: RecordingClient(real(service), service, calls)  # type: ignore[attr-defined]
    return Function(module, calls, attempts)


# --- what the function printed -------------------------------------------------------------------


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def counts(text: str) -> dict[str, float]:
    """The invocation's count metrics from its EMF documents (each must appear once)."""
    found: list[tuple[str, float]] = []
    for document in _json_lines(text):
        if "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for metric in directive["Metrics"]:
                if metric["Name"] != "Matches":
                    value = document[metric["Name"]]
                    found.append((metric["Name"], sum(value) if isinstance(value, list) else value))
    assert len({name for name, _ in found}) == len(found), found
    return dict(found)


def logs(text: str) -> list[dict[str, Any]]:
    return [line for line in _json_lines(text) if "_aws" not in line and "message" in line]


def file_logs(text: str) -> dict[str, dict[str, Any]]:
    """The per-file log line of each object, by its correlation id (the decoded key)."""
    lines = [line for line in logs(text) if line["message"] in ("file processed", "file skipped", "file failed")]
    by_key = {line["correlation_id"]: line for line in lines}
    assert len(by_key) == len(lines), lines
    return by_key


def _text(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False).lower()


# --- what the library predicts -------------------------------------------------------------------


# --- the cases -----------------------------------------------------------------------------------


@dataclass
class Bad:
    """What a case put in the bucket and in the event."""

    records: list[dict[str, Any]] = field(default_factory=list)  # added to the good file's S3 notification
    event: Callable[[dict[str, Any]], Any] | None = None  # or: the whole event, given the good file's record
    separate: bool = False  # the event cannot name the good file: it goes in the next invocation
    key: str | None = None  # the bad object (its log line is looked up by this correlation id)
    named: str | None = None  # a key the trigger names without asking for it to be read (no per-file line)
    bucket: str = BUCKET
    processed: dict[str, bytes] = field(default_factory=dict)  # bad objects whose alerts and rows must go out
    faults: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (HTTP status, S3 error code) on GET

    @property
    def location(self) -> str | None:
        return ObjectRef(self.bucket, self.key).location if self.key is not None else None


@dataclass
class Ctx:
    stack: Stack
    kind: str
    assets: dict[str, Path]

    def key(self, prefix: str = "") -> str:
        return log_key(self.kind, prefix)

    def put(self, body: bytes, key: str | None = None, *, processed: bool = False) -> Bad:
        """Upload ``body`` under ``key`` (default: an event key of its own) and name it in the notification."""
        key = key or self.key()
        record = self.stack.upload(key, body)
        return Bad(records=[record], key=key, processed={key: body} if processed else {})


@dataclass(frozen=True)
class Case:
    kind: str
    disposition: str  # "processed" | "skip" | "retry" | "dead-letter"
    reason: str | None  # a distinctive (case-insensitive) substring of the logged reason; None: nothing to explain
    metrics: dict[str, int]  # metric values of the invocation (FilesProcessed/Skipped/Failed... default to the good file's)
    build: Callable[[Ctx], Bad]
    get: bool | None = None  # whether the bad object is read (GET) at all; None: not checked
    env: dict[str, str] = field(default_factory=dict)
    rules: Callable[[], dict[str, Any]] | None = None  # a rules document (uploaded to S3) instead of the default pack
    check: Callable[[Run, Bad], None] | None = None
    subprocess: bool = False  # run in a child process (the decompression bomb: its peak memory is measured)


def _file(body: Callable[[Ctx], bytes], *, processed: bool = False) -> Callable[[Ctx], Bad]:
    return lambda ctx: ctx.put(body(ctx), processed=processed)


def _at(key: Callable[[Ctx], str], body: Callable[[Ctx], bytes] | None = None, *, processed: bool = False,
        encode: Callable[[str], str] | None = None) -> Callable[[Ctx], Bad]:
    """An alerting file uploaded under a key of the case's choosing (``encode``: how the notification writes it)."""

    def build(ctx: Ctx) -> Bad:
        name = key(ctx)
        data = body(ctx) if body else gz(doc([ct_record(f"{ctx.kind}-1")]))
        bad = ctx.put(data, name, processed=processed)
        if encode is not None:
            bad.records[0]["s3"]["object"]["key"] = encode(name)
        return bad

    return build


def _empty_object_without_size(ctx: Ctx) -> Bad:
    bad = ctx.put(b"")
    del bad.records[0]["s3"]["object"]["size"]  # size unknown: the function must read it to find out
    return bad


def _gone(ctx: Ctx) -> Bad:
    key = ctx.key()  # never uploaded (deleted before the function ran)
    return Bad(records=[s3_notification_record(BUCKET, key, 1234, "0123456789abcdef0123456789abcdef")], key=key)


def _fault(status: int, code: str) -> Callable[[Ctx], Bad]:
    def build(ctx: Ctx) -> Bad:
        bad = ctx.put(gz(doc([ct_record(f"{ctx.kind}-1")])))
        bad.faults[bad.key] = (status, code)  # type: ignore[index]
        return bad

    return build


def _other_bucket(ctx: Ctx) -> Bad:
    key = ctx.key()
    record = ctx.stack.upload(key, gz(doc([ct_record(f"{ctx.kind}-1")])), bucket=OTHER_BUCKET)
    return Bad(records=[record], key=key, bucket=OTHER_BUCKET)


def _malformed_record(mutate: Callable[[dict[str, Any]], None]) -> Callable[[Ctx], Bad]:
    def build(ctx: Ctx) -> Bad:
        key = ctx.key()
        record = ctx.stack.upload(key, gz(doc([ct_record(f"{ctx.kind}-1")])))
        mutate(record)
        return Bad(records=[record])

    return build


def _set_bucket(record: dict[str, Any]) -> None:
    record["s3"]["bucket"]["name"] = "Not_A_Bucket!"


def _set_undecodable_key(record: dict[str, Any]) -> None:
    record["s3"]["object"]["key"] = record["s3"]["object"]["key"].replace(".json.gz", "%FF%FE.json.gz")


def _as_sqs_record(record: dict[str, Any]) -> None:
    record.clear()
    record.update({"eventSource": "aws:sqs", "messageId": "stray", "body": "{}"})


def _removed(ctx: Ctx) -> Bad:
    key = ctx.key()
    record = s3_notification_record(BUCKET, key, 0, "0")
    record["eventName"] = "ObjectRemoved:Delete"
    del record["s3"]["object"]["size"], record["s3"]["object"]["eTag"]
    return Bad(records=[record], named=key)


def _duplicate(ctx: Ctx) -> Bad:
    bad = ctx.put(gz(doc([ct_record(f"{ctx.kind}-1")])), processed=True)
    bad.records.append(dict(bad.records[0]))
    return bad


def _sqs_message(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:trailsift-deliveries",
        "awsRegion": "us-east-1",
    }


def _sqs_with(body: str) -> Callable[[Ctx], Bad]:
    """An SQS batch: the bad message, then the good file's notification."""

    def event(good: dict[str, Any]) -> dict[str, Any]:
        return {"Records": [_sqs_message(body), _sqs_message(json.dumps({"Records": [good]}))]}

    return lambda ctx: Bad(event=event)


S3_TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2023-07-19T21:02:11.208Z", "Bucket": BUCKET}
SNS_VALIDATION = json.dumps(
    {
        "Type": "Notification",
        "MessageId": str(uuid.UUID(int=7)),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:trail-deliveries",
        "Message": "CloudTrail validation message.",
        "Timestamp": "2023-07-19T21:00:00.000Z",
        "SignatureVersion": "1",
    }
)


def _alone(event: Any) -> Callable[[Ctx], Bad]:
    return lambda ctx: Bad(event=lambda good: event, separate=True)


def _bomb(name: str) -> Callable[[Ctx], Bad]:
    return lambda ctx: ctx.put(ctx.assets[name].read_bytes())


# --- per-case checks beyond the common ones ------------------------------------------------------


def _alert_for(run: Run, event_id: str) -> dict[str, Any]:
    """The published entry (as sent to SNS) of the alert for ``event_id``."""
    found = [entry for entry in run.published if f"event ID:       {event_id}" in entry["Message"]]
    assert len(found) == 1, [entry["Subject"] for entry in run.published]
    return found[0]


def _unknown_event_subject(event_id: str) -> Callable[[Run, Bad], None]:
    def check(run: Run, bad: Bad) -> None:
        assert "unknown event" in _alert_for(run, event_id)["Subject"]

    return check


def _check_read_only(run: Run, bad: Bad) -> None:
    # CloudTrail compares readOnly as the text "true"/"false": the JSON string "false" is the boolean false.
    probe = {pk for pk, sk in run.rows if sk == "RULE#probe-writes"}
    assert probe == {"EVENT#ro-string-false", "EVENT#ro-bool-false"}


def _check_trimmed(run: Run, bad: Bad) -> None:
    entry = _alert_for(run, "huge-1")
    size = len(entry["Message"].encode()) + len(entry["Subject"].encode())
    size += sum(len(k) + len(v["DataType"]) + len(v["StringValue"].encode()) for k, v in entry["MessageAttributes"].items())
    assert size <= MAX_MESSAGE_BYTES
    assert "[trimmed: event was" in entry["Message"] and bad.location in entry["Message"]
    sqs_copy = json.loads(entry["Message"])["sqs"]  # MessageStructure json: an SQS subscriber gets the document
    assert any(envelope["Message"] == sqs_copy for envelope in run.alerts)  # ... and it was delivered
    assert json.loads(sqs_copy).keys() & {"recordsTrimmed", "recordsOmitted"}


def _check_no_partial_alerts(run: Run, bad: Bad) -> None:
    # the records read before the fault must not go out: the file is retried or dead-lettered as a whole
    assert not any(f"{bad.location}" in entry["Message"] for entry in run.published)


def _check_read_once(run: Run, bad: Bad) -> None:
    assert run.gets.count([BUCKET, bad.key]) == 1


def _check_attempts(expected: int) -> Callable[[Run, Bad], None]:
    def check(run: Run, bad: Bad) -> None:
        assert run.fault_attempts == {bad.key: expected}

    return check


def _check_notice_names_file(run: Run, bad: Bad) -> None:
    location = ObjectRef(BUCKET, str(bad.named)).location
    assert any(line.get("notice", "").endswith(location) for line in logs(run.out))
    assert [BUCKET, bad.named] not in run.gets


def _check_bomb(run: Run, bad: Bad) -> None:
    assert run.maxrss_mb is not None and run.maxrss_mb < MAX_BOMB_RSS_MB, run.maxrss_mb


def _rejected(n: int = 1) -> dict[str, int]:
    return {"TriggerPartsRejected": n}


SKIPPED = {"FilesSkipped": 1}
FAILED = {"FilesFailed": 1, "FilesDeadLettered": 1}
RETRIED = {"FilesFailed": 1, "FilesDeadLettered": 0}
PROCESSED = {"FilesProcessed": 2}


CASES: list[Case] = [
    # -- the bytes of the object
    Case("corrupt gzip", "dead-letter", "corrupt gzip", FAILED,
         _file(lambda c: b"\x1f\x8b\x08\x00" + b"\x00not deflate data" * 4), get=True),
    Case("truncated gzip", "dead-letter", "truncated gzip", FAILED,
         _file(lambda c: gz(doc([ct_record(f"{c.kind}-1")]))[:60]), get=True),
    Case("trailing garbage after gzip", "dead-letter", "trailing garbage", FAILED,
         _file(lambda c: gz(doc([ct_record(f"{c.kind}-1")])) + b"<html>oops</html>"), get=True),
    Case("gzip of non-JSON", "dead-letter", "not valid JSON", FAILED,
         _file(lambda c: gz(b"<Error><Code>AccessDenied</Code></Error>")), get=True),
    Case("gzip of nothing", "dead-letter", "empty file", FAILED, _file(lambda c: gz(b"")), get=True),
    Case("non-UTF-8 bytes", "dead-letter", "not valid UTF-8", FAILED,
         _file(lambda c: gz(b'{"Records":[{"eventName":"Stop\xff\xfeLogging"}]}')), get=True),
    Case("JSON without Records", "dead-letter", "no 'Records' key", FAILED,
         _file(lambda c: gz(b'{"records":[{"eventName":"StopLogging"}]}')), get=True),
    Case("Records not a list", "dead-letter", "'Records' is an object", FAILED,
         _file(lambda c: gz(b'{"Records":{"eventName":"StopLogging"}}')), get=True),
    Case("top-level JSON array", "dead-letter", "top-level JSON is a list", FAILED,
         _file(lambda c: gz(json.dumps([ct_record("array-1")]).encode())), get=True),
    Case("uncompressed JSON under .json.gz", "processed", None, PROCESSED,
         _file(lambda c: doc([ct_record(f"{c.kind}-1")]), processed=True), get=True),
    Case("big streamed file, invalid record midway", "dead-letter", "not valid JSON", FAILED,
         _file(lambda c: big_streamed_file("streamed-corrupt", corrupt=True)), get=True,
         check=_check_no_partial_alerts),
    Case("big streamed file, truncated gzip", "dead-letter", "truncated gzip", FAILED,
         _file(lambda c: big_streamed_file("streamed-truncated", corrupt=False)), get=True,
         check=_check_no_partial_alerts),
    Case("decompression bomb", "dead-letter", f"more than {BOMB_LIMIT_MIB << 20} bytes", FAILED, _bomb("bomb"),
         get=True, env={"TRAILSIFT_MAX_DECOMPRESSED_MIB": str(BOMB_LIMIT_MIB)}, check=_check_bomb, subprocess=True),
    # (a 1 GiB string: refused at the record limit, after about 2 MiB, whatever the decompressed-size limit)
    Case("decompression bomb inside one record", "dead-letter",
         f"record 0: record is larger than the limit of {DEFAULT_MAX_RECORD_BYTES} bytes", FAILED,
         _bomb("string-bomb"), get=True, check=_check_bomb, subprocess=True),
    # -- the records inside
    Case("records that are not objects", "processed", "expected an object", {**PROCESSED, "RecordProblems": 4},
         _file(lambda c: gz(doc([1, "StopLogging", None, [ct_record("in-a-list")], ct_record("not-objects-1")])),
               processed=True)),
    Case("records missing eventName", "processed", None, PROCESSED,
         _file(lambda c: gz(doc([root_record("no-name-1", eventName=_DROP), {}, ct_record("x", eventName=_DROP)])),
               processed=True),
         check=_unknown_event_subject("no-name-1")),
    Case("eventName as a number", "processed", None, PROCESSED,
         _file(lambda c: gz(doc([root_record("numeric-name-1", eventName=4242), ct_record("numeric-name-2", eventName=17)])),
               processed=True),
         check=_unknown_event_subject("numeric-name-1")),
    Case("readOnly as the string 'false'", "processed", None, PROCESSED,
         _file(lambda c: gz(doc([
             ct_record("ro-string-false", eventSource=PROBE_SOURCE, readOnly="false"),
             ct_record("ro-bool-false", eventSource=PROBE_SOURCE, readOnly=False),
             ct_record("ro-string-true", eventSource=PROBE_SOURCE, readOnly="true"),
             ct_record("ro-string-False", eventSource=PROBE_SOURCE, readOnly="False"),
             ct_record("ro-number-0", eventSource=PROBE_SOURCE, readOnly=0),
         ])), processed=True),
         rules=rules_with_probe, check=_check_read_only),
    Case("mistyped common fields", "processed", None, PROCESSED,
         _file(lambda c: gz(doc([ct_record(
             "mistyped-1", userIdentity="root", eventTime=1689802800, awsRegion=["us-east-1"],
             requestParameters="oops", readOnly="nope", sourceIPAddress={"ip": 1}, recipientAccountId=111122223333,
             errorCode=False, userAgent=None, resources="arn:aws:s3:::x")])), processed=True)),
    Case("record nested 10,000 levels", "dead-letter", "depth limit", FAILED,
         _file(lambda c: nested_record_file("deep-10000", 10_000)), get=True),
    Case("record nested just past orjson's limit", "dead-letter", "depth limit", FAILED,
         _file(lambda c: nested_record_file("deep-1025", 1025)), get=True),
    Case("record nested just under orjson's limit", "processed", None, PROCESSED,
         _file(lambda c: nested_record_file("deep-1015", 1015), processed=True), get=True),
    Case("single record over 256 KB", "processed", None, PROCESSED,
         _file(lambda c: gz(doc([ct_record("huge-1", requestParameters={
             "policy": base64.b64encode(random.Random(1).randbytes(340_000)).decode()})])), processed=True),
         check=_check_trimmed),
    # -- what the key says
    Case("zero-byte object", "skip", "zero-byte", SKIPPED, _file(lambda c: b""), get=False),
    Case("zero-byte object, size not in the notification", "skip", "zero-byte", SKIPPED,
         _empty_object_without_size, get=True),
    Case("digest file key", "skip", "digest", SKIPPED,
         _at(lambda c: f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2023/07/19/"
             f"{ACCOUNT}_CloudTrail-Digest_us-east-1_main_us-east-1_20230719T220000Z.json.gz",
             lambda c: gz(b'{"awsAccountId":"111122223333","digestStartTime":"2023-07-19T21:00:00Z","logFiles":[]}')),
         get=False),
    Case("digest content under an event key", "skip", "digest", SKIPPED,
         _file(lambda c: gz(json.dumps({"awsAccountId": ACCOUNT, "digestStartTime": "2023-07-19T21:00:00Z",
                                        "digestEndTime": "2023-07-19T22:00:00Z", "logFiles": []}).encode())),
         get=True),
    Case("folder marker", "skip", "folder", SKIPPED,
         _at(lambda c: f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2023/07/19/", lambda c: b"x"), get=False),
    Case("AWS Config writability probe", "skip", "config", SKIPPED,
         _at(lambda c: f"AWSLogs/{ACCOUNT}/Config/ConfigWritabilityCheckFile", lambda c: b"x"), get=False),
    Case("file name disagrees with its AWSLogs path", "skip", "disagrees", SKIPPED,
         _at(lambda c: log_key(c.kind, account="999988887777")), get=False),
    Case("impossible delivery time in the name", "skip", "impossible delivery time", SKIPPED,
         _at(lambda c: log_key(c.kind, stamp="20231319T2599Z")), get=False),
    Case("non-log key outside AWSLogs/", "skip", "not under an AWSLogs/ folder", SKIPPED,
         _at(lambda c: "uploads/quarterly report.csv", lambda c: b"a,b\n1,2\n"), get=False),
    Case("CloudTrail-named key outside AWSLogs/", "skip", "AWSLogs", SKIPPED,
         _at(lambda c: "exports/" + log_key(c.kind).rsplit("/", 1)[1]), get=False),
    Case("key outside TRAILSIFT_KEY_PREFIX", "skip", "outside the configured prefix", SKIPPED,
         _at(lambda c: log_key(c.kind, "elsewhere/")), get=False, env={"TRAILSIFT_KEY_PREFIX": "AWSLogs/"}),
    Case("key with '+' for a space", "processed", None, PROCESSED,
         _at(lambda c: log_key(c.kind, "trail exports/"), processed=True, encode=lambda k: quote_plus(k, safe="/")),
         get=True),
    Case("key with %20 for a space", "processed", None, PROCESSED,
         _at(lambda c: log_key(c.kind, "trail exports/"), processed=True, encode=lambda k: quote(k, safe="/")),
         get=True),
    Case("key with %C3%A9 (non-ASCII)", "processed", None, PROCESSED,
         _at(lambda c: log_key(c.kind, "été/"), processed=True, encode=lambda k: quote_plus(k, safe="/")), get=True),
    Case("key with a literal '+' as %2B", "processed", None, PROCESSED,
         _at(lambda c: log_key(c.kind, "a+b/"), processed=True, encode=lambda k: quote_plus(k, safe="/")), get=True),
    # -- what S3 says when the object is read
    Case("object deleted before it is read", "skip", "NoSuchKey", SKIPPED, _gone, get=True),
    Case("access denied", "dead-letter", "AccessDenied", FAILED, _fault(403, "AccessDenied"), get=True,
         check=_check_attempts(1)),
    Case("throttled GET (503 SlowDown on every attempt)", "retry", "SlowDown", RETRIED,
         _fault(503, "SlowDown"), get=True, check=_check_attempts(TOTAL_ATTEMPTS)),  # botocore's standard mode
    Case("bucket not in TRAILSIFT_BUCKETS", "skip", "bucket is not one", SKIPPED, _other_bucket, get=False),
    # -- the trigger
    Case("malformed notification record (bad bucket name)", "dead-letter", "not a valid S3 bucket name", _rejected(),
         _malformed_record(_set_bucket)),
    Case("key not UTF-8 once URL-decoded", "dead-letter", "not valid UTF-8 once URL-decoded", _rejected(),
         _malformed_record(_set_undecodable_key)),
    Case("foreign record in an S3 notification", "dead-letter", "not an S3 record", _rejected(),
         _malformed_record(_as_sqs_record)),
    Case("ObjectRemoved event", "skip", "ignored ObjectRemoved:Delete", {}, _removed, get=False,
         check=_check_notice_names_file),
    Case("same object named twice", "processed", None, PROCESSED, _duplicate, get=True, check=_check_read_once),
    Case("S3 test event", "skip", "s3:TestEvent", {"FilesProcessed": 0}, _alone(S3_TEST_EVENT)),
    Case("S3 test event through SQS", "skip", "s3:TestEvent", {}, _sqs_with(json.dumps(S3_TEST_EVENT))),
    Case("CloudTrail SNS validation message through SQS", "skip", "validation message", {}, _sqs_with(SNS_VALIDATION)),
    Case("unknown trigger shape (plain object)", "dead-letter", "unrecognized trigger", {"UnknownTriggers": 1},
         _alone({"hello": "world"})),
    Case("unknown trigger shape (EventBridge, not aws.s3)", "dead-letter", "source is not aws.s3",
         {"UnknownTriggers": 1}, _alone({"source": "aws.ec2", "detail-type": "EC2 Instance State-change", "detail": {}})),
    Case("unknown trigger shape (Records from nowhere)", "dead-letter", "no entry of 'Records'", {"UnknownTriggers": 1},
         _alone({"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]})),
]


# --- running a case ------------------------------------------------------------------------------


@dataclass
class Run:
    """What one case did (JSON-serializable: the bomb's run comes back from a child process)."""

    result: Any = None
    error_type: str | None = None
    error_text: str = ""
    out: str = ""  # stdout of the invocation that carried the bad input
    gets: list[list[str]] = field(default_factory=list)  # [bucket, key] of every GetObject the function made
    fault_attempts: dict[str, int] = field(default_factory=dict)
    published: list[dict[str, Any]] = field(default_factory=list)  # PublishBatch entries the function sent
    alerts: list[dict[str, Any]] = field(default_factory=list)  # SNS envelopes the subscriber received
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # records in the failure queue
    rows: list[list[str]] = field(default_factory=list)
    maxrss_mb: float | None = None


def execute(
    case: Case,
    stack: Stack,
    capture: Callable[[], str],
    setenv: Callable[[str, str], None],
    delenv: Callable[[str], None],
    assets: dict[str, Path],
) -> tuple[Run, Bad]:
    env = dict(case.env)
    if case.rules is not None:
        stack.s3.put_object(Bucket=BUCKET, Key="config/rules.json", Body=json.dumps(case.rules()).encode())
        env["TRAILSIFT_RULES"] = f"s3://{BUCKET}/config/rules.json"
    good = stack.upload(GOOD_KEY, GOOD_FILE.read_bytes())
    bad = case.build(Ctx(stack, case.kind, assets))
    handler = load_function(stack, env, bad.faults, setenv, delenv)
    event = bad.event(good) if bad.event is not None else {"Records": [good, *bad.records]}
    capture()
    run = Run()
    try:
        run.result = handler(event)
    except Exception as exc:  # noqa: BLE001 - the disposition check decides what was right
        run.error_type, run.error_text = type(exc).__name__, str(exc)
    run.out = capture()
    if bad.separate:  # the same warm function then gets the good file
        assert handler({"Records": [good]}) is None
        capture()
    run.gets = [[p["Bucket"], p["Key"]] for s, op, p in handler.calls if (s, op) == ("s3", "get_object")]
    run.fault_attempts = dict(handler.attempts)
    run.published = [
        entry for s, op, p in handler.calls if (s, op) == ("sns", "publish_batch") for entry in p["PublishBatchRequestEntries"]
    ]
    run.alerts = stack.alerts()
    run.rows = [list(row) for row in stack.rows()]
    run.dead_letters = stack.dead_letters()
    return run, bad


def _dead_lettered_keys(run: Run) -> list[str]:
    """The keys of the objects the failure queue holds a record for (read back as the function would redrive them)."""
    from trailsift.triggers import parse_trigger

    return [ref.key for letter in run.dead_letters for ref in parse_trigger(letter["requestPayload"]).objects]


def assert_disposition(expected: str, run: Run, bad: Bad, case: Case) -> None:
    """How the event is answered for this case.

    - ``processed`` / ``skip``: nothing about the case fails the invocation (an SQS batch reports no failure)
      and nothing goes to the failure queue;
    - ``retry``: the invocation fails naming the file, so Lambda retries the event (and, when retries run
      out, hands it to the on-failure destination);
    - ``dead-letter``: a file that can never succeed goes straight to the failure queue (a record naming it,
      with the reason) and does not fail the invocation. A malformed or unknown trigger has no file to queue:
      the invocation fails naming the bad part, so Lambda hands the event to the on-failure destination.
    """
    assert expected in ("processed", "skip", "retry", "dead-letter")
    sqs = isinstance(run.result, dict) and "batchItemFailures" in run.result
    named = bad.location if bad.key is not None else None
    if bad.key is not None:
        assert (bad.key in _dead_lettered_keys(run)) is (expected == "dead-letter"), run.dead_letters
    if expected in ("processed", "skip") or (expected == "dead-letter" and bad.key is not None):
        assert run.error_type is None, run.error_text
        if sqs:
            assert run.result == {"batchItemFailures": []}
        if expected == "dead-letter":
            (letter,) = [letter for letter in run.dead_letters if bad.key in _dead_lettered_keys(Run(dead_letters=[letter]))]
            assert letter["requestContext"]["condition"] == "PermanentFailure"
            assert case.reason is not None and case.reason.lower() in letter["responsePayload"]["errorMessage"].lower()
            assert file_logs(run.out)[bad.key]["disposition"] == "dead-lettered"
        return
    assert run.error_type in ("InvocationFailed", "UnknownTrigger"), (run.error_type, run.result)
    if named is not None:
        assert named in run.error_text
        assert file_logs(run.out)[bad.key]["disposition"] == "retried"
    else:
        assert expected == "dead-letter"
        assert case.reason is not None and case.reason.lower() in run.error_text.lower()


def check(case: Case, run: Run, bad: Bad) -> None:
    # (1) the good file (and the bad one, when it is processed) delivered
    rules = parse_rules(case.rules(), source="test") if case.rules else default_rules()
    good = expect({GOOD_KEY: GOOD_FILE.read_bytes()}, BUCKET, rules)
    assert good.alerts >= 1 and good.rows
    expected = expect({GOOD_KEY: GOOD_FILE.read_bytes(), **bad.processed}, BUCKET, rules)
    assert Counter(envelope["Subject"] for envelope in run.alerts) == expected.subjects
    assert sorted(map(tuple, run.rows)) == sorted(expected.rows)
    assert [BUCKET, GOOD_KEY] in run.gets

    # (2) a log line naming the file, with a reason
    if bad.key is not None:
        line = file_logs(run.out)[bad.key]
        assert line["file"] == bad.location
        status = {"processed": "processed", "skip": "skipped", "retry": "failed", "dead-letter": "failed"}
        assert line["status"] == status[case.disposition], line
        if case.reason is not None:
            assert case.reason.lower() in _text(line), line
    else:
        assert case.reason is not None
        lines = [line for line in logs(run.out) if line["message"] not in ("file processed", "file skipped")]
        assert any(case.reason.lower() in _text(line) for line in lines), logs(run.out)

    # (3) the metrics
    got = counts(run.out)
    if run.error_type == "UnknownTrigger":
        assert got == case.metrics
    else:
        want = {"FilesProcessed": 0 if bad.separate else 1, "FilesSkipped": 0, "FilesFailed": 0,
                "FilesDeadLettered": 0, "RecordProblems": 0, "TriggerPartsRejected": 0, **case.metrics}
        assert {name: got.get(name) for name in want} == want, got
        assert got["AlertsPublished"] == (0 if bad.separate else expected.alerts)
        assert got["IndexRowsWritten"] == (0 if bad.separate else len(expected.rows))

    # (4) skip, retry or dead letter
    assert_disposition(case.disposition, run, bad, case)

    if case.get is not None and bad.key is not None:
        assert ([bad.bucket, bad.key] in run.gets) is case.get, run.gets
    if case.check is not None:
        case.check(run, bad)


# --- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bombs, written once per module (a couple of seconds each)."""
    directory = tmp_path_factory.mktemp("bombs")
    paths = {}
    for name, parts in BOMBS.items():
        paths[name] = directory / f"{name}.json.gz"
        write_bomb(paths[name], *parts)
    return paths


_CHILD = """
import runpy, sys
runpy.run_path(sys.argv[1])["child_main"](sys.argv[2], sys.argv[3])
"""


def _peak_rss_kib() -> int:
    """The process's peak resident memory since the last reset (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def child_main(kind: str, assets: str) -> None:
    """Run one case in this (fresh) process and print its :class:`Run` as the last line of stdout."""
    from moto import mock_aws

    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    })
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    case = next(case for case in CASES if case.kind == kind)
    buffer = io.StringIO()

    def capture() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"  # as in the layer, which ships no X-Ray SDK
    # What the handler adds to the process's peak memory (the interpreter, moto and the test's own
    # setup are already resident): the peak is reset here, where the case starts.
    Path("/proc/self/clear_refs").write_text("5")
    with mock_aws(), contextlib.redirect_stdout(buffer):
        run, _ = execute(case, make_stack(), capture, os.environ.__setitem__, os.environ.__delitem__,
                         {name: Path(path) for name, path in json.loads(assets).items()})
    run.maxrss_mb = _peak_rss_kib() / 1024
    print(json.dumps(asdict(run)))


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_bad_input(case: Case, aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                   request: pytest.FixtureRequest) -> None:
    if case.subprocess:
        assets = {name: str(path) for name, path in request.getfixturevalue("bombs").items()}
        env = {name: value for name, value in os.environ.items() if not name.startswith(("POWERTOOLS_", "TRAILSIFT_"))}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(THIS_FILE), case.kind, json.dumps(assets)],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        run = Run(**json.loads(done.stdout.splitlines()[-1]))
        bad = Bad(key=log_key(case.kind))
        check(case, run, bad)
        return
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))  # retries, unhurried
    run, bad = execute(case, make_stack(), lambda: capsys.readouterr().out, monkeypatch.setenv,
                       lambda name: monkeypatch.delenv(name, raising=False), {})
    check(case, run, bad)


def test_bad_input_kinds_covered() -> None:
    """The number the closing note cites: distinct kinds of bad input, each with its own case."""
    kinds = [case.kind for case in CASES]
    assert len(set(kinds)) == len(kinds)
    assert len(kinds) >= 25
    assert {case.disposition for case in CASES} == {"processed", "skip", "retry", "dead-letter"}

