"""functions/processor/app.py end to end against moto: triggers in, alerts, index rows, logs and metrics out."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import jsonschema
import pytest

from tests.conftest import FunctionStack, RecordingClient, create_function_stack, drain_queue, expect, index_rows
from trailsift.alert_document import SCHEMA_PATH
from trailsift.invocation import InvocationFailed
from trailsift.cli.local import LambdaContext, load_handler
from trailsift.rules import RulesError
from trailsift.settings import SettingsError
from trailsift.triggers import ObjectRef, UnknownTrigger, parse_trigger, s3_notification

REPO = Path(__file__).resolve().parent.parent
EVENTS_LOGS = REPO / "events" / "logs"  # the sample delivery tree (see events/README.md)
APP = REPO / "functions" / "processor" / "app.py"
BUCKET = "trailsift-test-123456789012-us-east-1"
OTHER_BUCKET = "someone-elses-trail-bucket"
TABLE = "trailsift-test-index"
NAMESPACE = "TrailsiftTest"


def _sample(account: str, stamp: str = "") -> Path:
    pattern = f"AWSLogs/{account}/CloudTrail/*/*/*/*/{account}_CloudTrail_*.json.gz"
    found = sorted(path for path in EVENTS_LOGS.glob(pattern) if stamp in path.name)
    assert len(found) == 1, found
    return found[0]


def _key(path: Path) -> str:
    posix = path.as_posix()
    return posix[posix.index("AWSLogs/") :]


# Real log files: a CloudTrail change, a security group change, one record matching two rules, one
# file matching nothing; and an IAM policy change uploaded under a key with a space and non-ASCII text.
PLAIN_FILES = [
    _sample("111122223333"),
    _sample("032092706103"),
    _sample("307578594326"),
    _sample("123456789012", "20230504T2355Z"),
]
ODD_FILE = _sample("229654561268")
ODD_KEY = "trail exports/été 2024/" + _key(ODD_FILE)
SECRET_VALUES = ("malicious-iam-user", "arn:aws:iam::aws:policy/AdministratorAccess")  # ODD_FILE's requestParameters
CORRUPT_KEY = (
    "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/19/"
    "111122223333_CloudTrail_us-east-1_20230719T2145Z_CorruptCorruptCo.json.gz"
)
CORRUPT_BODY = gzip.compress(b'{"Records": [{"eventName": "StopLogging"', mtime=0)[:-8]  # truncated gzip


@dataclass
class Stack(FunctionStack):
    objects: dict[str, bytes] = field(default_factory=dict)  # key -> body, in BUCKET

    def upload(self, key: str, body: bytes, bucket: str = BUCKET) -> dict[str, Any]:
        etag = self.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        if bucket == BUCKET:
            self.objects[key] = body
        ref = ObjectRef(bucket, key, size=len(body), etag=etag.strip('"'))
        return s3_notification([ref])["Records"][0]

    def alerts(self) -> list[dict[str, Any]]:
        """Drain the subscriber queue: the SNS envelopes received."""
        return drain_queue(self.sqs, self.subscriber_url)

    def rows(self) -> list[tuple[str, str]]:
        return index_rows(self.dynamodb, TABLE)

    def ledger(self) -> dict[str, str]:
        """The alert ledger: event key -> state."""
        found: dict[str, str] = {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=TABLE):
            for item in page["Items"]:
                if item["pk"]["S"].startswith("ALERT#"):
                    found[item["pk"]["S"].removeprefix("ALERT#")] = item["state"]["S"]
        return found


@pytest.fixture
def stack(aws: Any) -> Stack:
    made = create_function_stack([BUCKET, OTHER_BUCKET], TABLE)
    return Stack(**vars(made))


@dataclass
class Function:
    module: ModuleType
    calls: list[tuple[str, str, dict[str, Any]]]  # (service, operation, params) of every AWS call it made

    def __call__(self, event: Any, context: LambdaContext | None = None) -> Any:
        return self.module.handler(event, context or LambdaContext())

    def gets(self) -> list[tuple[str, str]]:
        return [(p["Bucket"], p["Key"]) for service, op, p in self.calls if (service, op) == ("s3", "get_object")]


@pytest.fixture
def function(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``function(**env)``: the handler module loaded fresh (after the environment is set), its AWS calls recorded."""

    def load(**env: str) -> Function:
        for name in list(os.environ):
            if name.startswith("TRAILSIFT_") or name.startswith("POWERTOOLS_"):
                monkeypatch.delenv(name)
        settings = {
            "TRAILSIFT_ALERT_TOPIC_ARN": stack.topic_arn,
            "TRAILSIFT_INDEX_TABLE": TABLE,
            "TRAILSIFT_BUCKETS": BUCKET,
            # a service name of its own: Powertools' logger binds to the stdout of the test that created it
            "POWERTOOLS_SERVICE_NAME": f"trailsift-test-{uuid.uuid4().hex[:8]}",
            "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
            "POWERTOOLS_TRACE_DISABLED": "true",
            **env,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        module = load_handler(APP)
        calls: list[tuple[str, str, dict[str, Any]]] = []
        real = module.client
        monkeypatch.setattr(module, "client", lambda service: RecordingClient(real(service), service, calls))
        return Function(module, calls)

    return load


# --- what the library predicts -------------------------------------------------------------------


# --- what the function printed -------------------------------------------------------------------


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def emf(text: str) -> list[tuple[str, float, dict[str, str]]]:
    """Every (metric, value, dimensions) in the EMF documents printed."""
    found = []
    for document in _json_lines(text):
        if "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            dimensions = {name: document[name] for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                total = sum(value) if isinstance(value, list) else value
                found.append((metric["Name"], total, dimensions))
    return found


def counts(text: str) -> dict[str, float]:
    """The invocation's count metrics (each must appear once)."""
    named = [(name, value) for name, value, _ in emf(text) if name != "Matches"]
    assert len({name for name, _ in named}) == len(named), named
    return dict(named)


def matches(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, value, dimensions in emf(text):
        if name == "Matches":
            assert dimensions["rule"] not in found
            found[dimensions["rule"]] = value
    return found


def logs(text: str) -> list[dict[str, Any]]:
    return [line for line in _json_lines(text) if "_aws" not in line and "message" in line]


def file_logs(text: str) -> dict[str, dict[str, Any]]:
    """The per-file log line of each object, by its correlation id."""
    messages = ("file processed", "file skipped", "file failed", "file deferred")
    lines = [line for line in logs(text) if line["message"] in messages]
    by_key = {line["correlation_id"]: line for line in lines}
    assert len(by_key) == len(lines)
    return by_key


# --- the tests ----------------------------------------------------------------------------------


def _upload_batch(stack: Stack) -> list[dict[str, Any]]:
    records = [stack.upload(_key(path), path.read_bytes()) for path in PLAIN_FILES]
    records.append(stack.upload(ODD_KEY, ODD_FILE.read_bytes()))
    return records


def test_s3_notification_with_several_files(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    records = _upload_batch(stack)
    encoded = records[-1]["s3"]["object"]["key"]
    assert "+" in encoded and "%C3%A9" in encoded and " " not in encoded  # as S3 sends it
    handler = function()
    expected = expect(stack.objects, BUCKET)
    assert expected.alerts >= 4 and len(expected.matches) >= 4  # the sample files do match

    assert handler({"Records": records}) is None

    alerts = stack.alerts()
    assert Counter(envelope["Subject"] for envelope in alerts) == expected.subjects
    assert sorted(stack.rows()) == sorted(expected.rows)
    assert sorted(handler.gets()) == sorted((BUCKET, key) for key in stack.objects)

    out = capsys.readouterr().out
    assert counts(out) == {
        "FilesProcessed": 5,
        "FilesSkipped": 0,
        "FilesFailed": 0,
        "RecordsScanned": expected.records,
        "RecordProblems": 0,
        "AlertsPublished": expected.alerts,
        "IndexRowsWritten": len(expected.rows),
        "BusEventsPut": 0,  # no bus configured
        "TriggerPartsRejected": 0,
        "FilesDeadLettered": 0,
        "AlertsAlreadySent": 0,
        "FilesDeferred": 0,
        "RetriesStoppedAtDeadline": 0,
    }
    assert matches(out) == dict(expected.matches)

    per_file = file_logs(out)
    assert set(per_file) == set(stack.objects)  # correlation id = the decoded key, space and é included
    odd = per_file[ODD_KEY]
    assert odd["status"] == "processed" and odd["file"] == ObjectRef(BUCKET, ODD_KEY).location
    assert odd["matches"] == {"iam-policy-changes": 1}
    for line in out.splitlines():  # no log line (nor metric) carries a record
        for value in SECRET_VALUES:
            assert value not in line
    assert any(value in json.dumps(alerts) for value in SECRET_VALUES)  # ... while the alert does
    # the stack's subscriber is an SQS queue: it receives the trailsift.alert/1 document, valid against its schema
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    for envelope in alerts:
        document = json.loads(envelope["Message"])
        validator.validate(document)
        assert document["subject"] == envelope["Subject"] and document["events"][0]["logFile"].startswith("s3://")


def test_same_notification_twice_leaves_the_same_rows(stack: Stack, function: Any) -> None:
    records = _upload_batch(stack)
    handler = function()
    handler({"Records": records})
    first = sorted(stack.rows())
    assert first == sorted(expect(stack.objects, BUCKET).rows)
    handler({"Records": records})
    assert sorted(stack.rows()) == first


def test_same_notification_twice_sends_each_alert_once(stack: Stack, function: Any) -> None:
    records = _upload_batch(stack)
    expected = expect(stack.objects, BUCKET)
    function()({"Records": records})
    function()({"Records": records})  # a duplicate delivery, in a new execution environment
    received = stack.alerts()
    assert Counter(envelope["Subject"] for envelope in received) == expected.subjects
    assert set(stack.ledger().values()) == {"sent"} and len(stack.ledger()) == len(received)


def test_eventbridge_object_created(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _upload_batch(stack)
    handler = function()
    expected = expect(stack.objects, BUCKET)
    for key, body in stack.objects.items():
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": {
                "version": "0",
                "bucket": {"name": BUCKET},
                "object": {"key": key, "size": len(body), "etag": "0123abcd"},  # verbatim, not URL-encoded
                "reason": "PutObject",
            },
        }
        assert handler(event) is None
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == expected.subjects
    assert sorted(stack.rows()) == sorted(expected.rows)
    out = capsys.readouterr().out
    assert sum(value for name, value, _ in emf(out) if name == "FilesProcessed") == 5
    assert set(file_logs(out)) == set(stack.objects)


def _sqs_message(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": json.dumps({"Records": records}),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:trailsift-deliveries",
        "awsRegion": "us-east-1",
    }


def test_sqs_batch(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    records = _upload_batch(stack)
    handler = function()
    clean = [_sqs_message([record]) for record in records]
    assert handler({"Records": clean}) == {"batchItemFailures": []}
    expected = expect(stack.objects, BUCKET)
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == expected.subjects
    assert sorted(stack.rows()) == sorted(expected.rows)
    capsys.readouterr()

    corrupt = _sqs_message([stack.upload(CORRUPT_KEY, CORRUPT_BODY)])
    good = [_sqs_message([record]) for record in records[:2]]
    answer = handler({"Records": [good[0], corrupt, good[1]]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": corrupt["messageId"]}]}
    again = expect({_key(path): path.read_bytes() for path in PLAIN_FILES[:2]}, BUCKET)
    assert stack.alerts() == []  # the good ones were delivered again, but their alerts had gone out already
    out = capsys.readouterr().out
    assert counts(out)["FilesFailed"] == 1 and counts(out)["FilesProcessed"] == 2
    assert counts(out)["AlertsAlreadySent"] == again.alerts > 0
    assert file_logs(out)[CORRUPT_KEY]["status"] == "failed"


def test_corrupt_file_fails_the_invocation_after_the_others(
    stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _upload_batch(stack)
    expected = expect(stack.objects, BUCKET)
    records.insert(2, stack.upload(CORRUPT_KEY, CORRUPT_BODY))
    handler = function()
    with pytest.raises(InvocationFailed) as caught:
        handler({"Records": records})
    message = str(caught.value)
    assert message.startswith("1 failure(s): ")
    assert f"s3://{BUCKET}/{CORRUPT_KEY}" in message and "gzip" in message
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == expected.subjects
    assert sorted(stack.rows()) == sorted(expected.rows)
    out = capsys.readouterr().out
    metrics = counts(out)  # flushed although the handler raised
    assert (metrics["FilesProcessed"], metrics["FilesFailed"], metrics["AlertsPublished"]) == (5, 1, expected.alerts)
    failed = file_logs(out)[CORRUPT_KEY]
    assert failed["level"] == "ERROR" and failed["disposition"] == "raised" and "gzip" in failed["reason"]



def test_with_a_failure_queue_a_corrupt_file_is_dead_lettered_not_retried(
    stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = stack.sqs.create_queue(QueueName="trailsift-failures")["QueueUrl"]
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=dead)
    records = _upload_batch(stack)
    expected = expect(stack.objects, BUCKET)
    records.insert(1, stack.upload(CORRUPT_KEY, CORRUPT_BODY))
    assert handler({"Records": records}) is None  # nothing to retry: the good files are done, the bad one queued
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == expected.subjects
    messages = stack.sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    letter = json.loads(messages[0]["Body"])
    assert letter["requestContext"]["condition"] == "PermanentFailure"
    assert "gzip" in letter["responsePayload"]["errorMessage"]
    assert [(r.bucket, r.key) for r in parse_trigger(letter["requestPayload"]).objects] == [(BUCKET, CORRUPT_KEY)]
    out = capsys.readouterr().out
    assert counts(out)["FilesDeadLettered"] == 1
    assert file_logs(out)[CORRUPT_KEY]["disposition"] == "dead-lettered"

def test_s3_test_event_touches_nothing(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    stack.upload(_key(PLAIN_FILES[0]), PLAIN_FILES[0].read_bytes())
    handler = function()
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2023-07-19T21:02:11.208Z", "Bucket": BUCKET}
    assert handler(event) is None
    assert handler.calls == []
    assert stack.alerts() == [] and stack.rows() == []
    out = capsys.readouterr().out
    assert counts(out)["FilesProcessed"] == 0 and matches(out) == {}
    assert any(line["message"] == "nothing to read" and BUCKET in line["notice"] for line in logs(out))


@pytest.mark.parametrize("event", [{"hello": "world"}, {"source": "aws.ec2", "detail-type": "x"}, []])
def test_unknown_shape_raises(stack: Stack, function: Any, event: Any, capsys: pytest.CaptureFixture[str]) -> None:
    handler = function()
    with pytest.raises(UnknownTrigger, match="unrecognized trigger"):
        handler(event)
    assert handler.calls == []
    out = capsys.readouterr().out
    assert counts(out) == {"UnknownTriggers": 1}
    assert any(line["message"] == "unknown trigger shape" and line["level"] == "ERROR" for line in logs(out))


def test_bucket_not_configured_is_refused(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = PLAIN_FILES[0]  # it matches a rule: were it read, an alert would go out
    record = stack.upload(_key(path), path.read_bytes(), bucket=OTHER_BUCKET)
    handler = function()
    assert handler({"Records": [record]}) is None
    assert handler.gets() == []
    assert stack.alerts() == [] and stack.rows() == []
    out = capsys.readouterr().out
    assert counts(out)["FilesSkipped"] == 1 and counts(out)["FilesProcessed"] == 0
    skipped = file_logs(out)[_key(path)]
    assert skipped["status"] == "skipped" and "bucket is not one" in skipped["reason"]


_NO_METRICS = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def test_disabled_metrics_are_not_kept_from_one_invocation_to_the_next(stack: Stack, function: Any) -> None:
    # Powertools neither prints nor clears metrics when they are disabled: the handler clears them
    records = _upload_batch(stack)
    records.append(stack.upload(CORRUPT_KEY, CORRUPT_BODY))
    handler = function(POWERTOOLS_METRICS_DISABLED="true")
    for _ in range(2):
        with pytest.raises(InvocationFailed):
            handler({"Records": records})
        assert handler.module.metrics.metric_set == {}


@_NO_METRICS
def test_bad_environment_names_the_variable(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    handler = function(TRAILSIFT_MAX_DECOMPRESSED_MIB="abc")
    record = stack.upload(_key(PLAIN_FILES[0]), PLAIN_FILES[0].read_bytes())
    with pytest.raises(SettingsError, match="TRAILSIFT_MAX_DECOMPRESSED_MIB.*'abc'"):
        handler({"Records": [record]})
    assert handler.calls == []
    out = capsys.readouterr().out
    errors = [line for line in logs(out) if line["message"] == "invalid configuration"]
    assert len(errors) == 1 and "TRAILSIFT_MAX_DECOMPRESSED_MIB" in errors[0]["reason"]
    assert counts(out)["ConfigurationErrors"] == 1


@_NO_METRICS
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"rules": [', "ssm:/x: not valid"),
        (
            json.dumps({"rules": [{"name": "r", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Matches": ["x"]}]}]}]}),
            "unknown key 'Matches'",
        ),
    ],
)
def test_invalid_rules_in_ssm_fail_loudly(stack: Stack, function: Any, text: str, message: str) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/x", Value=text, Type="String")
    handler = function(TRAILSIFT_RULES="ssm:/x")
    record = stack.upload(_key(PLAIN_FILES[0]), PLAIN_FILES[0].read_bytes())
    with pytest.raises(RulesError, match=message):
        handler({"Records": [record]})
    assert handler.gets() == [] and stack.alerts() == []


def test_rules_from_ssm_are_used(stack: Stack, function: Any) -> None:
    document = {
        "rules": [
            {
                "name": "any-update-trail",
                "severity": "critical",
                "destinations": ["index"],
                "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["UpdateTrail"]}]}],
            }
        ]
    }
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/trailsift/rules", Value=json.dumps(document), Type="String"
    )
    handler = function(TRAILSIFT_RULES="ssm:/trailsift/rules")
    path = PLAIN_FILES[0]  # holds one UpdateTrail
    assert handler({"Records": [stack.upload(_key(path), path.read_bytes())]}) is None
    assert stack.alerts() == []  # index only
    assert [sk for _, sk in stack.rows()] == ["RULE#any-update-trail"]


_COLD_START = """
import importlib.util, json, sys
sys.modules["aws_xray_sdk"] = None  # the layer ships no X-Ray SDK (layers/trailsift/requirements.txt)
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.handler)
print(json.dumps(sorted(name for name, module in sys.modules.items() if module is not None)))
"""


def test_cold_start_imports_no_aws_sdk() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("POWERTOOLS_", "TRAILSIFT_"))}
    done = subprocess.run(
        [sys.executable, "-c", _COLD_START, str(APP)], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "trailsift.pipeline" in loaded  # the module really was loaded
    assert not {name for name in loaded if name == "boto3" or name.startswith(("boto3.", "s3transfer"))}
    # Powertools' own __init__ imports the bare botocore package (for its user-agent hook); nothing of
    # botocore's client machinery may be loaded before the first invocation.
    assert {name for name in loaded if name.startswith("botocore")} <= {"botocore"}
    assert not {name for name in loaded if name.startswith(("trailsift.aws", "yaml", "aws_xray_sdk"))}


# --- the deadline: the function never runs into its own timeout -----------------------------------


@dataclass
class ShortOnTime(LambdaContext):
    """A Lambda context whose remaining time is whatever ``left_ms`` says: the test moves it."""

    left_ms: int = 95_000

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return self.left_ms


class OnCall:
    """A boto3 client that runs ``hook(params)`` before each call of ``operation``: the hook may raise, or
    answer in place of the service (anything but ``None``)."""

    def __init__(self, client: Any, operation: str, hook: Any) -> None:
        self._client, self._operation, self._hook = client, operation, hook

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**params: Any) -> Any:
            answer = self._hook(params)
            return attribute(**params) if answer is None else answer

        return call


def _hook(handler: Function, monkeypatch: pytest.MonkeyPatch, service: str, operation: str, hook: Any) -> None:
    wrapped = handler.module.client

    def client(name: str) -> Any:
        return OnCall(wrapped(name), operation, hook) if name == service else wrapped(name)

    monkeypatch.setattr(handler.module, "client", client)


def _time_runs_out_after_three_files(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Function, ShortOnTime, list[dict[str, Any]]]:
    """The five sample files; every index write takes 30 s of the 95 s the invocation starts with.

    The first three files write index rows (one BatchWriteItem each), the fourth matches nothing: once
    the third is done 5 s are left, inside the default 10 s margin, so the last two are not started.
    """
    records = _upload_batch(stack)
    for path in PLAIN_FILES[:3]:
        rows = expect({_key(path): path.read_bytes()}, BUCKET).rows
        assert 1 <= len(rows) <= 25  # one BatchWriteItem
    handler = function(TRAILSIFT_FETCH_CONCURRENCY="1")
    context = ShortOnTime()

    def spend(params: dict[str, Any]) -> None:
        context.left_ms -= 30_000

    _hook(handler, monkeypatch, "dynamodb", "batch_write_item", spend)
    return handler, context, records


def test_time_running_out_mid_batch_defers_the_rest_as_retryable(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, context, records = _time_runs_out_after_three_files(stack, function, monkeypatch)
    done = {_key(path): path.read_bytes() for path in PLAIN_FILES[:3]}
    deferred_keys = [_key(PLAIN_FILES[3]), ODD_KEY]

    with pytest.raises(InvocationFailed, match=r"^2 failure\(s\): .*not started: 5000 ms left") as caught:
        handler({"Records": records}, context)
    assert all(key.split("/")[-1] in str(caught.value) for key in deferred_keys)

    expected = expect(done, BUCKET)
    assert expected.alerts >= 3
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == expected.subjects
    assert sorted(stack.rows()) == sorted(expected.rows)  # nothing of the files not started
    assert set(stack.ledger().values()) == {"sent"} and len(stack.ledger()) == expected.alerts
    assert (BUCKET, ODD_KEY) not in handler.gets()  # its fetch was never submitted

    out = capsys.readouterr().out
    metrics = counts(out)
    assert (metrics["FilesProcessed"], metrics["FilesFailed"], metrics["FilesDeferred"]) == (3, 2, 2)
    assert metrics["RetriesStoppedAtDeadline"] == 0
    per_file = file_logs(out)
    for key in deferred_keys:
        line = per_file[key]
        assert (line["message"], line["level"], line["disposition"]) == ("file deferred", "WARNING", "retried")
        assert line["reason"].startswith("not started: 5000 ms left of the invocation, below the safety margin")
    assert {per_file[key]["status"] for key in done} == {"processed"}

    # Lambda's retry, with time enough: the rest is done, and no alert of the first three goes out again
    assert function()({"Records": records}) is None
    rest = expect({key: stack.objects[key] for key in deferred_keys}, BUCKET)
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == rest.subjects
    assert sorted(stack.rows()) == sorted(expect(stack.objects, BUCKET).rows)


def test_time_running_out_in_an_sqs_batch_redelivers_only_the_files_not_started(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, context, records = _time_runs_out_after_three_files(stack, function, monkeypatch)
    messages = [_sqs_message([record]) for record in records]
    answer = handler({"Records": messages}, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": m["messageId"]} for m in sorted(
        messages[3:], key=lambda m: m["messageId"]
    )]}


def test_a_retry_sleep_that_would_cross_the_deadline_raises_and_releases_the_alerts(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = PLAIN_FILES[0]
    record = stack.upload(_key(path), path.read_bytes())
    expected = expect(stack.objects, BUCKET)
    assert expected.alerts >= 1
    handler = function()
    context = ShortOnTime(left_ms=300_000)
    publishes = []

    def throttled_with_no_time_left(params: dict[str, Any]) -> dict[str, Any]:
        """Every entry throttled on SNS's side: the publisher would wait and send them again."""
        publishes.append(1)
        context.left_ms = 10_000  # exactly the margin: any backoff sleep would end inside it
        return {"Successful": [], "Failed": [
            {"Id": entry["Id"], "Code": "Throttling", "Message": "Rate exceeded", "SenderFault": False}
            for entry in params["PublishBatchRequestEntries"]
        ]}

    _hook(handler, monkeypatch, "sns", "publish_batch", throttled_with_no_time_left)
    with pytest.raises(InvocationFailed, match="Throttling"):
        handler({"Records": [record]}, context)
    assert stack.alerts() == []
    assert sorted(stack.rows()) == sorted(expected.rows)  # idempotent rows: rewritten by the retry
    claims = stack.dynamodb.scan(
        TableName=TABLE, FilterExpression="begins_with(pk, :a)", ExpressionAttributeValues={":a": {"S": "ALERT#"}}
    )["Items"]
    assert len(claims) == expected.alerts
    assert {(c["state"]["S"], c["claimed_at"]["N"]) for c in claims} == {("claimed", "0")}  # released
    out = capsys.readouterr().out
    assert len(publishes) == 1 and counts(out)["RetriesStoppedAtDeadline"] == 1  # no sleep, nor the next batches
    [line] = [line for line in logs(out) if line["message"] == "retries stopped at the deadline"]
    assert line["retries_stopped"] == len(publishes) and line["margin_ms"] == 10_000

    # the retry (another invocation: another owner) may claim the released alerts at once, and sends each once
    assert function()({"Records": [record]}, LambdaContext(aws_request_id="another-invocation")) is None
    assert Counter(envelope["Subject"] for envelope in stack.alerts()) == expected.subjects
    assert set(stack.ledger().values()) == {"sent"}
