"""The handler in queue mode (IntakeMode=Queue): SQS batches as Lambda's event source mapping delivers them.

The bodies are made by moto itself where it can: S3 sends its notifications (and its test event) to the
intake queue, or S3 sends "Object Created" to EventBridge and a rule with the template's pattern sends it
on to the queue. moto's own event source mapping invokes once per message and deletes every message even
when ``batchItemFailures`` name some (docs/scale.md), so :func:`poll` stands in for it: it receives a
batch, builds the event Lambda would, calls the handler and deletes what the answer does not name, as
the mapping does with ``ReportBatchItemFailures``. What happens to a message:

- done, skipped or a duplicate of one that is done: deleted;
- a file that may succeed later (throttling, a timeout, the deadline): named in ``batchItemFailures``,
  so SQS delivers it again after the visibility timeout, and after ``maxReceiveCount`` receives moves it
  to the intake queue's dead-letter queue (``trailsift redrive`` reads it from there);
- a file that can never succeed as it is (corrupt, over a limit, access denied): sent to the failure
  queue with its reason, as the asynchronous path does, and its message deleted;
- a malformed message (not JSON, no shape the function knows, a bad bucket name): named, as an
  asynchronous event with a malformed part raises; SQS moves it after ``maxReceiveCount`` receives,
  body untouched, to the intake dead-letter queue, whose alarm fires; the function's log names its
  reason with the messageId;
- the failure queue itself failing: the handler raises, and the whole batch comes back.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import expect
from tests.test_app import (  # noqa: F401 - stack and function are fixtures
    BUCKET,
    CORRUPT_BODY,
    CORRUPT_KEY,
    ODD_FILE,
    ODD_KEY,
    PLAIN_FILES,
    Function,
    Stack,
    _hook,
    _key,
    counts,
    file_logs,
    function,
    logs,
    stack,
)
from trailsift.aws.sqs import DeadLetterError
from trailsift.triggers import parse_trigger

MAX_RECEIVE_COUNT = 5  # the template's redrive policy


# --- the intake queue and what Lambda's event source mapping does with it --------------------------


def intake_queues(stack: Stack) -> tuple[str, str, str]:
    """The intake queue (URL, ARN) with its dead-letter queue (URL), the template's redrive policy."""
    dlq_url = stack.sqs.create_queue(QueueName="trailsift-intake-dlq")["QueueUrl"]
    dlq_arn = _arn(stack, dlq_url)
    url = stack.sqs.create_queue(
        QueueName="trailsift-intake",
        Attributes={
            "VisibilityTimeout": "3000",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    return url, _arn(stack, url), dlq_url


def _arn(stack: Stack, url: str) -> str:
    return str(stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One entry of the event Lambda builds from a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def poll(stack: Stack, url: str, arn: str, handler: Function, batch_size: int = 100) -> dict[str, Any]:
    """One batch, as the event source mapping with ``ReportBatchItemFailures`` handles it: up to
    ``batch_size`` messages in one invocation; the messages the answer does not name are deleted, the
    named ones (all of them, if the handler raises) come back, here at once instead of after the
    visibility timeout. Returns the answer and what was received."""
    received: list[dict[str, Any]] = []
    while len(received) < batch_size:
        got = stack.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, batch_size - len(received)), VisibilityTimeout=60,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            break
        received += got
    assert received, "nothing to poll"
    event = {"Records": [lambda_record(message, arn) for message in received]}
    try:
        answer = handler(event)
    except Exception:
        _make_visible(stack, url, [m["ReceiptHandle"] for m in received])
        raise
    named = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    for message in received:
        if message["MessageId"] in named:
            _make_visible(stack, url, [message["ReceiptHandle"]])
        else:
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return {"answer": answer, "event": event, "named": named}


def _make_visible(stack: Stack, url: str, handles: list[str]) -> None:
    for handle in handles:
        stack.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)


def queued(stack: Stack, url: str) -> int:
    """Messages in a queue, visible or not."""
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def send(stack: Stack, url: str, body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return str(stack.sqs.send_message(QueueUrl=url, MessageBody=text)["MessageId"])


def eventbridge_event(key: str, size: int = 100) -> dict[str, Any]:
    """What an EventBridge rule targeting the queue puts in the body: the event itself."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2024-01-01T00:05:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": BUCKET}, "object": {"key": key, "size": size, "etag": "abc"},
                   "reason": "PutObject"},
    }


def throttled(key: str) -> Any:
    """A get_object hook: S3 throttles ``key`` (after botocore's own retries), serves the rest."""

    def hook(params: dict[str, Any]) -> None:
        if params["Key"] == key:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")

    return hook


def alert_subjects(stack: Stack) -> Counter[str]:
    return Counter(envelope["Subject"] for envelope in stack.alerts())


# --- the bodies the queue receives parse --------------------------------------------------------------


def test_s3_notifications_sent_to_the_queue(stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """S3 -> SQS directly (no SNS): the body is the S3 notification; S3's test event is a notice. A file
    notified twice (written twice, or S3 sending the notification again) is read once."""
    url, arn, dlq = intake_queues(stack)
    stack.s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [
            {"Name": "prefix", "Value": "AWSLogs/"}, {"Name": "suffix", "Value": ".json.gz"}]}}}],
    })
    for path in PLAIN_FILES:
        stack.upload(_key(path), path.read_bytes())
    stack.upload(_key(PLAIN_FILES[0]), PLAIN_FILES[0].read_bytes())  # the same file again: a second notification
    handler = function()
    expected = expect(stack.objects, BUCKET)

    batch = poll(stack, url, arn, handler)

    bodies = [json.loads(record["body"]) for record in batch["event"]["Records"]]
    assert sum(body.get("Event") == "s3:TestEvent" for body in bodies) == 1  # sent when the notification was set
    assert sum("Records" in body for body in bodies) == len(PLAIN_FILES) + 1
    assert batch["answer"] == {"batchItemFailures": []}
    assert sorted(handler.gets()) == sorted((BUCKET, key) for key in stack.objects)  # one GET per file
    assert alert_subjects(stack) == expected.subjects and sorted(stack.rows()) == sorted(expected.rows)
    assert queued(stack, url) == 0 and queued(stack, dlq) == 0
    out = capsys.readouterr().out
    assert counts(out)["FilesProcessed"] == len(PLAIN_FILES) and counts(out)["TriggerPartsRejected"] == 0
    assert any(line["message"] == "nothing to read" and "s3:TestEvent" in line["notice"] for line in logs(out))


def test_eventbridge_events_sent_to_the_queue(stack: Stack, function: Any) -> None:
    """ExistingBucket mode: S3 -> EventBridge -> the rule (the template's pattern) -> SQS; the body is the
    EventBridge event. Keys outside the pattern never reach the queue."""
    import boto3

    url, arn, _ = intake_queues(stack)
    events = boto3.client("events", region_name="us-east-1")
    events.put_rule(Name="trailsift-existing-bucket", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"wildcard": "AWSLogs/*/CloudTrail/*.json.gz"}]}},
    }))
    events.put_targets(Rule="trailsift-existing-bucket", Targets=[{"Id": "intake", "Arn": arn}])
    stack.s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}})
    for path in PLAIN_FILES:
        stack.upload(_key(path), path.read_bytes())
    stack.upload(ODD_KEY, ODD_FILE.read_bytes())  # not under AWSLogs/: the rule does not match
    handler = function()
    expected = expect({_key(path): path.read_bytes() for path in PLAIN_FILES}, BUCKET)

    batch = poll(stack, url, arn, handler)

    bodies = [json.loads(record["body"]) for record in batch["event"]["Records"]]
    assert len(bodies) == len(PLAIN_FILES) and {body["detail-type"] for body in bodies} == {"Object Created"}
    assert batch["answer"] == {"batchItemFailures": []}
    assert sorted(handler.gets()) == sorted((BUCKET, _key(path)) for path in PLAIN_FILES)
    assert alert_subjects(stack) == expected.subjects and sorted(stack.rows()) == sorted(expected.rows)
    assert queued(stack, url) == 0


def test_one_invocation_reads_the_whole_batch_concurrently(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch of many messages is one invocation whose GETs overlap (FetchConcurrency), not one file at a time."""
    url, arn, _ = intake_queues(stack)
    keys = []
    body = PLAIN_FILES[3].read_bytes()  # matches nothing: only the fetch matters here
    for number in range(24):
        key = _key(PLAIN_FILES[3]).replace("uuluzfkp7Gt0Mdx4", f"Concurrent{number:06d}")
        send(stack, url, {"Records": [stack.upload(key, body)]})
        keys.append(key)
    handler = function(TRAILSIFT_FETCH_CONCURRENCY="8")
    lock, in_flight, peak = threading.Lock(), [0], [0]
    real = handler.module.client

    class Slow:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            attribute = getattr(self.client, name)
            if name != "get_object":
                return attribute

            def get_object(**params: Any) -> Any:
                with lock:
                    in_flight[0] += 1
                    peak[0] = max(peak[0], in_flight[0])
                try:
                    time.sleep(0.05)
                    return attribute(**params)
                finally:
                    with lock:
                        in_flight[0] -= 1

            return get_object

    monkeypatch.setattr(handler.module, "client", lambda service: Slow(real(service)) if service == "s3" else real(service))

    batch = poll(stack, url, arn, handler, batch_size=100)

    assert len(batch["event"]["Records"]) == 24 and batch["answer"] == {"batchItemFailures": []}
    assert 2 <= peak[0] <= 8, peak
    assert counts(capsys.readouterr().out)["FilesProcessed"] == 24


# --- duplicates, transient and permanent failures ------------------------------------------------------


def test_duplicate_keys_across_messages_are_read_once_and_share_their_fate(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three messages name the same file (two S3 notifications and an EventBridge event): one GET; when
    it fails for a while, the three come back, the other message does not."""
    url, arn, _ = intake_queues(stack)
    same, other = PLAIN_FILES[0], PLAIN_FILES[1]
    record = stack.upload(_key(same), same.read_bytes())
    ids = [send(stack, url, {"Records": [record]}), send(stack, url, {"Records": [record]}),
           send(stack, url, eventbridge_event(_key(same), len(same.read_bytes())))]
    other_id = send(stack, url, {"Records": [stack.upload(_key(other), other.read_bytes())]})
    handler = function()
    _hook(handler, monkeypatch, "s3", "get_object", throttled(_key(same)))

    batch = poll(stack, url, arn, handler)

    assert batch["named"] == set(ids) and other_id not in batch["named"]
    assert batch["answer"]["batchItemFailures"] == [{"itemIdentifier": i} for i in sorted(ids)]
    assert queued(stack, url) == 3

    handler = function()  # a new execution environment, S3 answering again: the redelivered three are one GET
    again = poll(stack, url, arn, handler)
    assert again["answer"] == {"batchItemFailures": []} and len(again["event"]["Records"]) == 3
    assert handler.gets() == [(BUCKET, _key(same))]
    assert queued(stack, url) == 0
    assert alert_subjects(stack) == expect({_key(p): p.read_bytes() for p in (same, other)}, BUCKET).subjects


def test_a_transient_failure_returns_only_its_message(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, arn, dlq = intake_queues(stack)
    sent = {send(stack, url, {"Records": [stack.upload(_key(path), path.read_bytes())]}): _key(path) for path in PLAIN_FILES}
    flaky = _key(PLAIN_FILES[2])
    [flaky_id] = [message_id for message_id, key in sent.items() if key == flaky]
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=stack.failure_url)
    _hook(handler, monkeypatch, "s3", "get_object", throttled(flaky))

    batch = poll(stack, url, arn, handler)

    assert batch["answer"] == {"batchItemFailures": [{"itemIdentifier": flaky_id}]}
    done = {_key(path): path.read_bytes() for path in PLAIN_FILES if _key(path) != flaky}
    assert alert_subjects(stack) == expect(done, BUCKET).subjects
    out = capsys.readouterr().out
    line = file_logs(out)[flaky]
    assert (line["status"], line["disposition"]) == ("failed", "retried") and "SlowDown" in line["reason"]
    assert queued(stack, stack.failure_url) == 0  # retried, not dead-lettered

    again = poll(stack, url, arn, function())  # S3 answers again: only that message, only that file's alerts
    assert [record["messageId"] for record in again["event"]["Records"]] == [flaky_id]
    assert again["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert again["answer"] == {"batchItemFailures": []}
    assert alert_subjects(stack) == expect({flaky: PLAIN_FILES[2].read_bytes()}, BUCKET).subjects
    assert queued(stack, url) == 0 and queued(stack, dlq) == 0


def test_a_transient_failure_that_lasts_ends_in_the_intake_dead_letter_queue(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, arn, dlq = intake_queues(stack)
    path = PLAIN_FILES[0]
    message_id = send(stack, url, {"Records": [stack.upload(_key(path), path.read_bytes())]})
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=stack.failure_url)
    _hook(handler, monkeypatch, "s3", "get_object", throttled(_key(path)))
    for _ in range(MAX_RECEIVE_COUNT):
        assert poll(stack, url, arn, handler)["named"] == {message_id}
    assert stack.sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # SQS moves it on this receive
    [moved] = stack.sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    assert moved["MessageId"] == message_id and int(moved["Attributes"]["ApproximateReceiveCount"]) > MAX_RECEIVE_COUNT
    assert [(r.bucket, r.key) for r in parse_trigger(json.loads(moved["Body"])).objects] == [(BUCKET, _key(path))]
    assert queued(stack, stack.failure_url) == 0


def test_a_permanent_failure_is_dead_lettered_with_its_reason_and_not_redelivered(
    stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, arn, dlq = intake_queues(stack)
    good = [send(stack, url, {"Records": [stack.upload(_key(path), path.read_bytes())]}) for path in PLAIN_FILES[:2]]
    corrupt = stack.upload(CORRUPT_KEY, CORRUPT_BODY)
    twice = [send(stack, url, {"Records": [corrupt]}), send(stack, url, {"Records": [corrupt]})]
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=stack.failure_url)

    batch = poll(stack, url, arn, handler)

    assert batch["answer"] == {"batchItemFailures": []}  # done: nothing comes back
    assert len(batch["event"]["Records"]) == len(good) + len(twice)
    assert queued(stack, url) == 0 and queued(stack, dlq) == 0
    [letter] = [json.loads(m["Body"]) for m in stack.sqs.receive_message(
        QueueUrl=stack.failure_url, MaxNumberOfMessages=10)["Messages"]]  # one letter for the two messages
    assert letter["requestContext"]["condition"] == "PermanentFailure"
    assert "gzip" in letter["responsePayload"]["errorMessage"]
    assert [(r.bucket, r.key) for r in parse_trigger(letter["requestPayload"]).objects] == [(BUCKET, CORRUPT_KEY)]
    assert alert_subjects(stack) == expect({_key(p): p.read_bytes() for p in PLAIN_FILES[:2]}, BUCKET).subjects
    out = capsys.readouterr().out
    assert counts(out)["FilesDeadLettered"] == 1 and counts(out)["FilesFailed"] == 1
    assert file_logs(out)[CORRUPT_KEY]["disposition"] == "dead-lettered"


def test_a_message_naming_a_permanent_and_a_transient_failure_comes_back_for_the_transient_one(
    stack: Stack, function: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The permanent one is dead-lettered at once (and again on each delivery that reads it: one letter
    per delivery, as for an asynchronous event retried whole); the message comes back for the other."""
    url, arn, _ = intake_queues(stack)
    path = PLAIN_FILES[0]
    both = send(stack, url, {"Records": [stack.upload(CORRUPT_KEY, CORRUPT_BODY), stack.upload(_key(path), path.read_bytes())]})
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=stack.failure_url)
    _hook(handler, monkeypatch, "s3", "get_object", throttled(_key(path)))
    assert poll(stack, url, arn, handler)["answer"] == {"batchItemFailures": [{"itemIdentifier": both}]}
    assert queued(stack, stack.failure_url) == 1


def test_without_a_failure_queue_a_permanent_failure_is_redelivered(stack: Stack, function: Any) -> None:
    """With nowhere to put its reason, the file is not dropped: its message comes back (and ends in the
    intake dead-letter queue)."""
    url, arn, _ = intake_queues(stack)
    message_id = send(stack, url, {"Records": [stack.upload(CORRUPT_KEY, CORRUPT_BODY)]})
    assert poll(stack, url, arn, function())["answer"] == {"batchItemFailures": [{"itemIdentifier": message_id}]}


def test_the_failure_queue_failing_brings_the_whole_batch_back(stack: Stack, function: Any) -> None:
    """A permanent failure that cannot be dead-lettered raises: nothing is lost, every message returns."""
    url, arn, _ = intake_queues(stack)
    send(stack, url, {"Records": [stack.upload(_key(PLAIN_FILES[0]), PLAIN_FILES[0].read_bytes())]})
    send(stack, url, {"Records": [stack.upload(CORRUPT_KEY, CORRUPT_BODY)]})
    gone = stack.failure_url.rsplit("/", 1)[0] + "/no-such-queue"
    with pytest.raises(DeadLetterError):
        poll(stack, url, arn, function(TRAILSIFT_FAILURE_QUEUE_URL=gone))
    assert queued(stack, url) == 2


# --- malformed messages ------------------------------------------------------------------------------


MALFORMED = {
    "not-json": "this is not json",
    "a-list": "[1, 2]",
    "unknown-shape": json.dumps({"hello": "world"}),
    "bad-bucket": json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                           "s3": {"bucket": {"name": "Bad_Bucket"}, "object": {"key": "k"}}}]}),
}


def test_malformed_messages_are_named_and_logged_never_dead_lettered_by_the_function(
    stack: Stack, function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, arn, _ = intake_queues(stack)
    path = PLAIN_FILES[0]
    good = send(stack, url, {"Records": [stack.upload(_key(path), path.read_bytes())]})
    bad = {send(stack, url, body): name for name, body in MALFORMED.items()}
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=stack.failure_url)

    batch = poll(stack, url, arn, handler)

    assert batch["answer"] == {"batchItemFailures": [{"itemIdentifier": i} for i in sorted(bad)]}
    assert good not in batch["named"]
    assert queued(stack, stack.failure_url) == 0
    out = capsys.readouterr().out
    rejected = {line["origin"]: line["reason"] for line in logs(out) if line["message"] == "rejected trigger part"}
    assert set(rejected) == set(bad)
    by_name = {bad[origin]: reason for origin, reason in rejected.items()}
    assert "not JSON" in by_name["not-json"] and "bucket name" in by_name["bad-bucket"]
    assert counts(out)["TriggerPartsRejected"] == len(MALFORMED) and counts(out)["FilesProcessed"] == 1


def test_a_malformed_message_reaches_the_intake_dead_letter_queue_untouched(stack: Stack, function: Any) -> None:
    url, arn, dlq = intake_queues(stack)
    message_id = send(stack, url, MALFORMED["not-json"])
    handler = function(TRAILSIFT_FAILURE_QUEUE_URL=stack.failure_url)
    for _ in range(MAX_RECEIVE_COUNT):
        assert poll(stack, url, arn, handler)["named"] == {message_id}
    assert stack.sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    [moved] = stack.sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert (moved["MessageId"], moved["Body"]) == (message_id, MALFORMED["not-json"])
