"""trailsift redrive: failure-queue messages back to the function (library, Lambda target, CLI end to end)."""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from trailsift import cli
from trailsift.index import TABLE_DEFINITION
from trailsift.cli.redrive import (
    KEPT,
    LISTED,
    REDRIVEN,
    UNKNOWN,
    StopRedrive,
    describe,
    lambda_target,
    payload_of,
    redrive,
)
from trailsift.triggers import ObjectRef, s3_notification

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "functions" / "processor" / "app.py"
BUCKET = "trailsift-redrive-123456789012-us-east-1"
TABLE = "trailsift-redrive-index"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:trailsift-ProcessorFunction:$LATEST"
SAMPLE = next((REPO / "events" / "logs" / "AWSLogs" / "111122223333").rglob("*_CloudTrail_*.json.gz"))
SAMPLE_KEY = SAMPLE.as_posix()[SAMPLE.as_posix().index("AWSLogs/") :]
KEY = "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/19/111122223333_CloudTrail_us-east-1_20230719T2140Z_x.json.gz"


def s3_event(key: str = KEY, bucket: str = BUCKET) -> dict[str, Any]:
    return s3_notification([ObjectRef(bucket, key, size=100, etag="abc")])


def eventbridge_event(key: str = KEY) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2023-07-19T21:40:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": BUCKET}, "object": {"key": key, "size": 100, "etag": "abc"},
                   "reason": "PutObject"},
    }


def destination_record(
    payload: Any, condition: str = "RetriesExhausted", error: Any = None
) -> dict[str, Any]:
    return {
        "version": "1.0",
        "timestamp": "2024-01-01T00:00:00.000Z",
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": FUNCTION_ARN, "condition": condition,
                           "approximateInvokeCount": 3},
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error if error is not None else {"errorMessage": "1 failure(s): boom",
                                                            "errorType": "InvocationFailed"},
    }


EVENTBRIDGE_ATTRIBUTES = {
    "RULE_ARN": {"DataType": "String", "StringValue": "arn:aws:events:us-east-1:123456789012:rule/trailsift"},
    "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
    "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Lambda throttled\nthe call"},
    "EXHAUSTED_RETRY_CONDITION": {"DataType": "String", "StringValue": "MaximumRetryAttempts"},
}


# --- shapes ---------------------------------------------------------------------------------------


def test_payload_of_each_shape() -> None:
    event = s3_event()
    assert payload_of(destination_record(event)) == event
    assert payload_of(destination_record(event, "EventAgeExceeded")) == event
    assert payload_of(destination_record(s3_event("k"), "PermanentFailure")) == s3_event("k")
    bridge = eventbridge_event()
    assert payload_of(bridge) == bridge
    assert payload_of(event) == event  # an intake dead letter: the notification S3 sent to the intake queue


@pytest.mark.parametrize("body", [
    None, "text", [], {}, 42,
    {"Records": []},
    {"Records": "x"},
    {"Records": [*s3_event()["Records"], {"eventSource": "aws:sqs", "body": "{}"}]},  # not S3's alone
    {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]},
    {"requestContext": {"condition": "RetriesExhausted"}},  # no payload
    {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": "a string"},
    {"requestContext": "x", "requestPayload": s3_event()},
    {"requestPayload": s3_event()},
    {**eventbridge_event(), "source": "aws.ec2"},
    {**eventbridge_event(), "detail": "x"},
])
def test_payload_of_unknown(body: Any) -> None:
    assert payload_of(body) is None
    assert describe(body)["shape"] is None


def test_describe_lambda_record() -> None:
    info = describe(destination_record(s3_event("a bé.json.gz")))
    assert info["shape"] == "lambda" and info["condition"] == "RetriesExhausted"
    assert info["error"] == "InvocationFailed: 1 failure(s): boom"
    assert info["objects"] == [f"s3://{BUCKET}/a bé.json.gz"] and info["problem"] is None


def test_describe_permanent_failure() -> None:
    body = destination_record(s3_event(), "PermanentFailure", {"errorType": "CorruptLogFile", "errorMessage": "gzip"})
    info = describe(body)
    assert (info["shape"], info["condition"]) == ("trailsift", "PermanentFailure")
    assert info["error"] == "CorruptLogFile: gzip"


def test_describe_event_age_exceeded_without_response() -> None:
    body = destination_record(s3_event(), "EventAgeExceeded")
    del body["responsePayload"]
    assert describe(body)["error"] == "function error (Unhandled)"


def test_describe_eventbridge_dead_letter() -> None:
    info = describe(eventbridge_event(), EVENTBRIDGE_ATTRIBUTES)
    assert info["shape"] == "eventbridge" and info["condition"] == "EventBridge MaximumRetryAttempts"
    assert info["error"] == "SDK_CLIENT_ERROR: Lambda throttled the call"  # newline neutralized
    assert info["objects"] == [f"s3://{BUCKET}/{KEY}"]
    assert describe(eventbridge_event())["error"] is None


def test_describe_neutralizes_and_shortens_error_text() -> None:
    body = destination_record(s3_event(), error={"errorType": "E", "errorMessage": "\x1b[31mred\r\n" + "x" * 1000})
    error = describe(body)["error"]
    assert "\x1b" not in error and "\n" not in error and "\r" not in error
    assert len(error) == 300 and error.endswith("…")


def test_describe_payload_the_function_would_refuse() -> None:
    assert "would refuse" in describe(destination_record({"hello": "world"}))["problem"]
    rejected = describe(destination_record({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                                          "s3": {"bucket": {"name": "B!"}, "object": {"key": "k"}}}]}))
    assert rejected["objects"] == [] and rejected["problem"].startswith("names no readable object")


INTAKE_DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:trailsift-IntakeQueue-X"


def test_describe_intake_dead_letters() -> None:
    """What the intake queue's redrive policy moved: S3's notification or the rule's event, as sent."""
    info = describe(s3_event(), {"ApproximateReceiveCount": "6", "DeadLetterQueueSourceArn": INTAKE_DLQ_ARN})
    assert (info["shape"], info["condition"]) == ("intake", "maxReceiveCount")
    assert info["error"] == "6 deliveries without success (the function's log says why)"
    assert info["objects"] == [f"s3://{BUCKET}/{KEY}"] and info["problem"] is None and info["payload"] == s3_event()
    assert describe(s3_event())["shape"] == "intake" and describe(s3_event())["error"] is None  # S3 sends only there
    moved = describe(eventbridge_event(), {"DeadLetterQueueSourceArn": INTAKE_DLQ_ARN, "ApproximateReceiveCount": "5"})
    assert (moved["shape"], moved["condition"]) == ("intake", "maxReceiveCount")
    # the rule's own dead letter carries EventBridge's error, wherever SQS says it came from
    rule = describe(eventbridge_event(), {**EVENTBRIDGE_ATTRIBUTES, "DeadLetterQueueSourceArn": INTAKE_DLQ_ARN})
    assert rule["shape"] == "eventbridge"
    assert describe(eventbridge_event())["shape"] == "eventbridge"  # no word either way: as before
    assert describe(s3_event(), {"ApproximateReceiveCount": "6\x1b[2J"})["error"] is None  # not a count: not shown


def test_describe_an_intake_dead_letter_the_function_would_refuse() -> None:
    bad_bucket = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                               "s3": {"bucket": {"name": "Bad_Bucket"}, "object": {"key": "k"}}}]}
    info = describe(bad_bucket)
    assert info["shape"] == "intake" and info["problem"].startswith("names no readable object")


# --- the run against a moto queue -----------------------------------------------------------------


@pytest.fixture
def sqs(aws: Any) -> Any:
    return boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def queue(sqs: Any) -> str:
    return sqs.create_queue(QueueName="trailsift-failures")["QueueUrl"]


def put(sqs: Any, queue: str, body: Any, attributes: dict[str, Any] | None = None) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return sqs.send_message(QueueUrl=queue, MessageBody=text, MessageAttributes=attributes or {})["MessageId"]


def counts(sqs: Any, queue: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


class Recorder:
    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.payloads: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)
        if json.dumps(payload) in self.fail:
            raise RuntimeError("function said no\x1b[0m")


def test_every_shape_is_redriven_and_deleted(sqs: Any, queue: str) -> None:
    lambda_event, permanent_event, bridge = s3_event("a.json.gz"), s3_event("b.json.gz"), eventbridge_event()
    ids = [
        put(sqs, queue, destination_record(lambda_event)),
        put(sqs, queue, destination_record(permanent_event, "PermanentFailure")),
        put(sqs, queue, bridge, EVENTBRIDGE_ATTRIBUTES),
    ]
    target = Recorder()
    seen = []
    outcomes = redrive(sqs, queue, target, max_messages=None, dry_run=False, report=seen.append)
    assert seen == outcomes
    assert sorted(o.message_id for o in outcomes) == sorted(ids)
    assert all(o.status == REDRIVEN and o.redriven for o in outcomes)
    assert sorted(map(json.dumps, target.payloads)) == sorted(map(json.dumps, [lambda_event, permanent_event, bridge]))
    by_condition = {o.condition: o for o in outcomes}
    assert set(by_condition) == {"RetriesExhausted", "PermanentFailure", "EventBridge MaximumRetryAttempts"}
    assert by_condition["PermanentFailure"].objects == (f"s3://{BUCKET}/b.json.gz",)
    assert counts(sqs, queue) == (0, 0)


def test_a_failing_target_keeps_the_message(sqs: Any, queue: str) -> None:
    bad, good = s3_event("bad.json.gz"), s3_event("good.json.gz")
    bad_id = put(sqs, queue, destination_record(bad))
    put(sqs, queue, destination_record(good))
    outcomes = redrive(sqs, queue, Recorder({json.dumps(bad)}), max_messages=None, dry_run=False, visibility_timeout=1)
    statuses = {o.message_id: o for o in outcomes}
    kept = statuses.pop(bad_id)
    assert kept.status == KEPT and kept.kept and kept.reason == "RuntimeError: function said no\ufffd[0m"
    assert kept.text.startswith("kept: RuntimeError") and [o.status for o in statuses.values()] == [REDRIVEN]
    assert counts(sqs, queue) == (0, 1)  # still there, hidden for its visibility timeout
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [m["MessageId"] for m in again] == [bad_id]


def test_unknown_messages_are_kept(sqs: Any, queue: str) -> None:
    not_json = put(sqs, queue, "not json {")
    bare = put(sqs, queue, {"Records": [{"eventSource": "aws:sqs", "body": json.dumps(s3_event())}]})
    target = Recorder()
    outcomes = redrive(sqs, queue, target, max_messages=None, dry_run=False)
    assert {o.message_id: o.status for o in outcomes} == {not_json: UNKNOWN, bare: UNKNOWN}
    assert {o.message_id: o.text for o in outcomes}[not_json] == "unknown message: not JSON"
    assert all(o.kept for o in outcomes) and target.payloads == []
    assert sum(counts(sqs, queue)) == 2


def test_a_payload_the_function_would_refuse_is_kept_without_invoking(sqs: Any, queue: str) -> None:
    put(sqs, queue, destination_record({"hello": "world"}))
    target = Recorder()
    [outcome] = redrive(sqs, queue, target, max_messages=None, dry_run=False)
    assert outcome.status == KEPT and "would refuse" in outcome.reason and target.payloads == []


def test_max_is_honoured(sqs: Any, queue: str) -> None:
    for number in range(25):
        put(sqs, queue, destination_record(s3_event(f"{number}.json.gz")))
    target = Recorder()
    outcomes = redrive(sqs, queue, target, max_messages=12, dry_run=False)
    assert len(outcomes) == 12 and len(target.payloads) == 12
    assert counts(sqs, queue) == (13, 0)


def test_dry_run_invokes_and_deletes_nothing(sqs: Any, queue: str) -> None:
    ids = {put(sqs, queue, destination_record(s3_event(f"{n}.json.gz"))) for n in range(13)}
    ids.add(put(sqs, queue, "garbage"))
    target = Recorder()
    outcomes = redrive(sqs, queue, target, max_messages=None, dry_run=True)
    assert {o.message_id for o in outcomes} == ids and len(outcomes) == 14  # each listed once
    assert target.payloads == []
    assert sorted(o.status for o in outcomes) == [LISTED] * 13 + [UNKNOWN]
    assert all(o.text == "dry run: would redrive" for o in outcomes if o.status == LISTED)
    assert counts(sqs, queue) == (14, 0)  # visible again at once


def test_stop_redrive_stops_the_run_and_releases_the_message(sqs: Any, queue: str) -> None:
    for number in range(3):
        put(sqs, queue, destination_record(s3_event(f"{number}.json.gz")))

    def unusable(payload: dict[str, Any]) -> None:
        raise StopRedrive("no such function")

    outcomes = redrive(sqs, queue, unusable, max_messages=None, dry_run=False)
    assert [(o.status, o.reason) for o in outcomes] == [(KEPT, "run stopped: no such function")]
    assert counts(sqs, queue) == (3, 0)  # the whole batch received is visible again


def test_a_file_dead_lettered_again_during_the_run_is_not_retried(sqs: Any, queue: str) -> None:
    """A function that dead-letters the file itself (PermanentFailure) must not make the run loop."""
    put(sqs, queue, destination_record(s3_event()))
    calls: list[dict[str, Any]] = []

    def dead_letters_again(payload: dict[str, Any]) -> None:
        calls.append(payload)
        put(sqs, queue, destination_record(s3_event(), "PermanentFailure"))

    outcomes = redrive(sqs, queue, dead_letters_again, max_messages=None, dry_run=False)
    assert [o.status for o in outcomes] == [REDRIVEN, KEPT] and len(calls) == 1
    assert "already redriven in this run" in outcomes[1].reason
    assert counts(sqs, queue) == (0, 1)


# --- the Lambda target ----------------------------------------------------------------------------


@pytest.fixture
def simple_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Like the ``aws`` fixture, with moto's Lambda answering without Docker."""
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def create_function(name: str = "trailsift-processor") -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }))["Role"]["Arn"]
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    return name


def recording_lambda_client() -> tuple[Any, list[dict[str, Any]]]:
    client = boto3.client("lambda", region_name="us-east-1")
    calls: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: calls.append(dict(params)))
    return client, calls


def test_lambda_target_invokes_asynchronously(simple_lambda: None) -> None:
    name = create_function()
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
    event, bridge = s3_event("a.json.gz"), eventbridge_event("b.json.gz")
    put(sqs, queue, destination_record(event))
    put(sqs, queue, bridge, EVENTBRIDGE_ATTRIBUTES)
    client, calls = recording_lambda_client()
    outcomes = redrive(sqs, queue, lambda_target(client, name), max_messages=None, dry_run=False)
    assert [o.status for o in outcomes] == [REDRIVEN, REDRIVEN]
    assert [(c["FunctionName"], c["InvocationType"]) for c in calls] == [(name, "Event")] * 2
    sent = [json.loads(c["Payload"]) for c in calls]
    assert sorted(map(json.dumps, sent)) == sorted(map(json.dumps, [event, bridge]))
    assert counts(sqs, queue) == (0, 0)


def test_lambda_target_stops_when_the_function_is_missing(aws: Any) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
    put(sqs, queue, destination_record(s3_event("a")))
    put(sqs, queue, destination_record(s3_event("b")))
    outcomes = redrive(sqs, queue, lambda_target(boto3.client("lambda"), "nope"), max_messages=None, dry_run=False)
    assert len(outcomes) == 1 and outcomes[0].status == KEPT
    assert outcomes[0].reason.startswith("run stopped: invoking nope: ResourceNotFoundException")
    assert counts(sqs, queue) == (2, 0)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["redrive", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_stack_resolves_queue_and_function(simple_lambda: None, capsys: pytest.CaptureFixture[str]) -> None:
    name = create_function()
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"FailureQueueUrl": {"Value": queue}, "ProcessorFunctionName": {"Value": name}}}
    boto3.client("cloudformation").create_stack(StackName="trailsift", TemplateBody=json.dumps(template))
    message_id = put(sqs, queue, destination_record(s3_event()))
    code, out, err = run(capsys, "--stack", "trailsift", "--format", "jsonl")
    assert (code, err) == (0, "")
    [line] = [json.loads(text) for text in out.splitlines()]
    assert line == {"messageId": message_id, "condition": "RetriesExhausted",
                    "error": "InvocationFailed: 1 failure(s): boom", "objects": [f"s3://{BUCKET}/{KEY}"],
                    "outcome": "redriven", "reason": None}
    assert counts(sqs, queue) == (0, 0)


def test_cli_stack_intake_reads_the_intake_dead_letter_queue(
    simple_lambda: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--intake: the bodies (S3's notification, the rule's event) are invoked asynchronously as they are."""
    from trailsift.cli import redrive as command

    name = create_function()
    sqs = boto3.client("sqs", region_name="us-east-1")
    failures = sqs.create_queue(QueueName="failures")["QueueUrl"]
    dead = sqs.create_queue(QueueName="intake-dlq")["QueueUrl"]
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"FailureQueueUrl": {"Value": failures}, "IntakeDeadLetterQueueUrl": {"Value": dead},
                            "ProcessorFunctionName": {"Value": name}}}
    boto3.client("cloudformation").create_stack(StackName="trailsift", TemplateBody=json.dumps(template))
    put(sqs, failures, destination_record(s3_event("not-this-one.json.gz")))
    notification, bridge = s3_event(), eventbridge_event("b.json.gz")
    ids = [put(sqs, dead, notification), put(sqs, dead, bridge)]
    calls: list[dict[str, Any]] = []
    real = command.lambda_target

    def recording(client: Any, function: str) -> Any:
        client.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: calls.append(dict(params)))
        return real(client, function)

    monkeypatch.setattr(command, "lambda_target", recording)
    code, out, err = run(capsys, "--stack", "trailsift", "--intake", "--format", "jsonl")
    assert (code, err) == (0, "")
    lines = {line["messageId"]: line for line in map(json.loads, out.splitlines())}
    assert set(lines) == set(ids) and {line["outcome"] for line in lines.values()} == {"redriven"}
    assert lines[ids[0]]["condition"] == "maxReceiveCount" and lines[ids[0]]["objects"] == [f"s3://{BUCKET}/{KEY}"]
    assert [(c["FunctionName"], c["InvocationType"]) for c in calls] == [(name, "Event")] * 2
    sent = sorted(json.dumps(json.loads(c["Payload"]), sort_keys=True) for c in calls)
    assert sent == sorted(json.dumps(event, sort_keys=True) for event in (notification, bridge))
    assert counts(sqs, dead) == (0, 0) and counts(sqs, failures) == (1, 0)  # the failure queue is left alone


def test_cli_stack_intake_without_queue_mode(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"FailureQueueUrl": {"Value": "u"}, "ProcessorFunctionName": {"Value": "f"}}}
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="direct", TemplateBody=json.dumps(template)
    )
    code, out, err = run(capsys, "--stack", "direct", "--intake")
    assert code == 1 and out == ""
    assert "no IntakeDeadLetterQueueUrl output (is it deployed with IntakeMode=Queue?)" in err


def test_cli_stack_without_the_outputs(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}}}
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(StackName="other", TemplateBody=json.dumps(template))
    code, out, err = run(capsys, "--stack", "other")
    assert code == 1 and out == "" and "no FailureQueueUrl output" in err
    code, _, err = run(capsys, "--stack", "nope")
    assert code == 1 and "stack 'nope' not found" in err and "Traceback" not in err


# --- the in-process handler, end to end -----------------------------------------------------------


@pytest.fixture
def stack(aws: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The function's resources (as tests/test_app.py creates them) and its TRAILSIFT_* environment."""
    s3 = boto3.client("s3", region_name="us-east-1")
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    topic_arn = sns.create_topic(Name="trailsift-alerts")["TopicArn"]
    subscriber = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=subscriber, AttributeNames=["QueueArn"])["Attributes"]
    subscriber_arn = attributes["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=subscriber_arn)
    dynamodb.create_table(TableName=TABLE, **TABLE_DEFINITION)
    failures = sqs.create_queue(QueueName="trailsift-failures")["QueueUrl"]
    for name in list(os.environ):
        if name.startswith(("TRAILSIFT_", "POWERTOOLS_")):
            monkeypatch.delenv(name)
    for name, value in {
        "TRAILSIFT_ALERT_TOPIC_ARN": topic_arn,
        "TRAILSIFT_INDEX_TABLE": TABLE,
        "TRAILSIFT_BUCKETS": BUCKET,
        "POWERTOOLS_SERVICE_NAME": f"trailsift-redrive-{uuid.uuid4().hex[:8]}",
        "POWERTOOLS_METRICS_NAMESPACE": "TrailsiftTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    return {"s3": s3, "sqs": sqs, "dynamodb": dynamodb, "subscriber": subscriber, "failures": failures}


def upload(stack: dict[str, Any], key: str, body: bytes) -> dict[str, Any]:
    etag = stack["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
    return s3_notification([ObjectRef(BUCKET, key, size=len(body), etag=etag.strip('"'))])


def alerts(stack: dict[str, Any]) -> list[dict[str, Any]]:
    got = stack["sqs"].receive_message(QueueUrl=stack["subscriber"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in got]


def rows(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return stack["dynamodb"].scan(TableName=TABLE)["Items"]


def test_handler_redrive_end_to_end(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    event = upload(stack, SAMPLE_KEY, SAMPLE.read_bytes())
    message_id = put(stack["sqs"], stack["failures"], destination_record(event))
    code, out, err = run(capsys, "--queue-url", stack["failures"], "--handler", str(APP))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(message_id) and "redriven" in lines[0]
    assert SAMPLE_KEY in "".join(line.strip() for line in lines if "object:" in line or line.startswith("   "))
    assert lines[-1] == "1 redriven, 0 kept, 0 unknown"
    assert all(len(line) <= 80 for line in lines)  # fits an 80-column terminal (COLUMNS unset: 80)
    assert '"file processed"' in err  # the function's own logs go to stderr, not into the table
    assert alerts(stack) and rows(stack)
    assert all(SAMPLE_KEY in envelope["Message"] for envelope in alerts(stack) or [])
    assert counts(stack["sqs"], stack["failures"]) == (0, 0)


CORRUPT_KEY = (
    "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/19/"
    "111122223333_CloudTrail_us-east-1_20230719T2145Z_CorruptCorruptCo.json.gz"
)


@pytest.mark.parametrize("function_dead_letters", [False, True], ids=["raises", "dead-letters-itself"])
def test_handler_redrive_keeps_a_file_that_still_fails(
    stack: dict[str, Any], function_dead_letters: bool, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whether the function raises for a corrupt file or dead-letters it itself, one record of it stays."""
    if function_dead_letters:
        monkeypatch.setenv("TRAILSIFT_FAILURE_QUEUE_URL", stack["failures"])
    corrupt = gzip.compress(b'{"Records": [{"eventName": "StopLogging"', mtime=0)[:-8]
    key = CORRUPT_KEY
    put(stack["sqs"], stack["failures"], destination_record(upload(stack, key, corrupt)))
    good = put(stack["sqs"], stack["failures"], destination_record(upload(stack, SAMPLE_KEY, SAMPLE.read_bytes())))
    code, out, _ = run(capsys, "--queue-url", stack["failures"], "--handler", str(APP), "--format", "jsonl")
    assert code == 1
    results = {line["messageId"]: line for line in map(json.loads, out.splitlines())}
    assert results.pop(good)["outcome"] == "redriven"
    kept = [line for line in results.values() if line["outcome"] == "kept"]
    assert len(kept) == 1 and kept[0]["objects"] == [f"s3://{BUCKET}/{key}"]
    if function_dead_letters:  # the original was accepted; the function's own record of the file is kept
        assert [line["outcome"] for line in results.values()] == ["redriven", "kept"]
        assert kept[0]["condition"] == "PermanentFailure" and "already redriven in this run" in kept[0]["reason"]
    else:
        assert len(results) == 1 and kept[0]["reason"].startswith("InvocationFailed: 1 failure(s)")
    assert sum(counts(stack["sqs"], stack["failures"])) == 1  # only the corrupt file's record is left
    assert rows(stack)


def test_handler_redrives_what_the_intake_queue_gave_up_on(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """IntakeMode Queue end to end on moto: messages delivered 5 times without success are moved by SQS's
    redrive policy, bodies untouched; redriven, a good file is processed, a corrupt one is dead-lettered by
    the function into the failure queue with its reason, and a malformed body stays where it is."""
    sqs = stack["sqs"]
    monkeypatch.setenv("TRAILSIFT_FAILURE_QUEUE_URL", stack["failures"])
    dead = sqs.create_queue(QueueName="trailsift-intake-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    intake = sqs.create_queue(QueueName="trailsift-intake", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 5}),
    })["QueueUrl"]
    corrupt = gzip.compress(b'{"Records": [{"eventName": "StopLogging"', mtime=0)[:-8]
    good = put(sqs, intake, upload(stack, SAMPLE_KEY, SAMPLE.read_bytes()))
    bad = put(sqs, intake, upload(stack, CORRUPT_KEY, corrupt))
    malformed = put(sqs, intake, "not json")
    for _ in range(5):  # five deliveries the function answered as failed (visible again at once here)
        got = sqs.receive_message(QueueUrl=intake, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
        assert len(got) == 3
    assert sqs.receive_message(QueueUrl=intake, MaxNumberOfMessages=10).get("Messages", []) == []  # moved now
    assert counts(sqs, dead) == (3, 0)

    code, out, _ = run(capsys, "--queue-url", dead, "--handler", str(APP), "--format", "jsonl")

    assert code == 1  # the malformed message is kept
    lines = {line["messageId"]: line for line in map(json.loads, out.splitlines())}
    assert {key: line["outcome"] for key, line in lines.items()} == {
        good: "redriven", bad: "redriven", malformed: "unknown message",
    }
    assert lines[good]["condition"] == "maxReceiveCount" and lines[good]["objects"] == [f"s3://{BUCKET}/{SAMPLE_KEY}"]
    assert lines[good]["error"].endswith("deliveries without success (the function's log says why)")
    assert alerts(stack) and rows(stack)
    [letter] = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=stack["failures"])["Messages"]]
    assert letter["requestContext"]["condition"] == "PermanentFailure" and "gzip" in letter["responsePayload"]["errorMessage"]
    assert counts(sqs, dead) == (0, 1)  # only the malformed message is left, hidden until the next run


def test_handler_dry_run(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    put(stack["sqs"], stack["failures"], destination_record(upload(stack, SAMPLE_KEY, SAMPLE.read_bytes())))
    code, out, _ = run(capsys, "--queue-url", stack["failures"], "--handler", str(APP), "--dry-run")
    assert code == 0 and "dry run: would redrive" in out
    assert out.endswith("dry run: 1 messages listed; nothing invoked or deleted\n")
    assert rows(stack) == [] and counts(stack["sqs"], stack["failures"]) == (1, 0)


def test_empty_queue(sqs: Any, queue: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--queue-url", queue, "--function", "f")
    assert code == 0 and out == "no messages\n0 redriven, 0 kept, 0 unknown\n"


def test_cli_unknown_message_exits_1(sqs: Any, queue: str, capsys: pytest.CaptureFixture[str]) -> None:
    put(sqs, queue, {"what": "\x1b[2Jis this"})
    code, out, _ = run(capsys, "--queue-url", queue, "--function", "f", "--format", "jsonl")
    assert code == 1 and json.loads(out)["outcome"] == UNKNOWN


def test_cli_missing_queue(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/nope",
                         "--function", "f")
    assert code == 1 and err.startswith("trailsift: error: ") and "Traceback" not in err


# --- usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    (),
    ("--stack", "s", "--queue-url", "u", "--function", "f"),
    ("--queue-url", "u", "--function", "f", "--handler", "app.py"),
    ("--queue-url", "u", "--function", "f", "--max", "0"),
    ("--queue-url", "u", "--function", "f", "--format", "csv"),
])
def test_argparse_usage_errors(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["redrive", *argv])
    assert info.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (("--queue-url", "u"), "--queue-url needs --function NAME or --handler PATH"),
    (("--queue-url", "u", "--function", "f", "--intake"), "--intake goes with --stack"),
    (("--stack", "s", "--function", "f"), "--function cannot be combined with --stack"),
    (("--queue-url", "u", "--handler", "no/such/app.py"), "no such file"),
])
def test_usage_errors(argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err


@pytest.mark.parametrize("width", [80, 120])
def test_a_message_with_long_values_fits_the_terminal(width: int) -> None:
    from trailsift.cli.redrive import KEPT, Outcome, message_lines

    key = "AWSLogs/o-abcdef1234/111122223333/CloudTrail/ap-southeast-2/2024/01/01/" + "x" * 150 + ".json.gz"
    outcome = Outcome("m" * 36, KEPT, "RetriesExhausted", "InvocationFailed: " + "e\x1b[31m" * 80,
                      (f"s3://bucket/{key}", "s3://bucket/short.json.gz"), reason="the function raised again")
    lines = message_lines(outcome, width)
    assert all(len(line) <= width for line in lines), [len(line) for line in lines]
    assert "\x1b" not in "".join(lines)  # event text cannot drive the terminal
    assert "".join(line.strip() for line in lines).count("short.json.gz") == 1
