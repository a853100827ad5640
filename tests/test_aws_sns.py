"""Publishing alerts: what arrives at a subscriber, batching, resends of failed entries, whole failures raised."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from trailsift.alerts import MAX_MESSAGE_BYTES, Alert
from tests.http_faults import SERVER, THROTTLE, TIMEOUT, HttpFaults
from trailsift.aws.clients import TOTAL_ATTEMPTS, new_client
from trailsift.aws.sns import NOT_SENT, AlertPublisher, PublishFailed, batches


def make_alert(key: str, size: int = 0) -> Alert:
    return Alert(
        event_key=key,
        subject=f"[high] StopLogging by user/{key} in us-east-1",
        message=f"alert for {key}\n" + "x" * size,
        attributes={
            "rule": {"DataType": "String.Array", "StringValue": '["cloudtrail-tampering","root-use"]'},
            "severity": {"DataType": "String", "StringValue": "high"},
            "eventName": {"DataType": "String", "StringValue": "StopLogging"},
        },
    )


class Sleeps(list):
    """Records the delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Topic:
    """An SNS topic with an SQS queue subscribed (raw delivery off), and a count of PublishBatch calls."""

    def __init__(self) -> None:
        self.sns = boto3.client("sns", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.arn = self.sns.create_topic(Name="trailsift-alerts")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn)
        self.calls: list[int] = []  # entries per PublishBatch call
        self.sns.meta.events.register("before-call.sns.PublishBatch", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        ids = [key for key in params["body"] if key.startswith("PublishBatchRequestEntries.member.")]
        self.calls.append(sum(1 for key in ids if key.endswith(".Id")))

    def received(self) -> list[dict[str, Any]]:
        """Every SNS envelope in the queue."""
        out = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def topic(aws: Any) -> Topic:
    return Topic()


class FlakyClient:
    """Delegates to a real (moto) client, but answers ``Failed`` for chosen alerts on their first tries."""

    def __init__(self, client: Any, failures: dict[str, tuple[int, bool]], errors: list[Exception] | None = None):
        self.client = client
        self.failures = failures  # event key (found in the message) -> (times to fail, SenderFault)
        self.errors = errors or []  # raised, in order, by the first calls
        self.calls: list[list[str]] = []

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> dict[str, Any]:
        entries = PublishBatchRequestEntries
        self.calls.append([entry["Message"].split("\n")[0] for entry in entries])
        if self.errors:
            raise self.errors.pop(0)
        passed, failed = [], []
        for entry in entries:
            key = entry["Message"].split("\n")[0].removeprefix("alert for ")
            times, sender_fault = self.failures.get(key, (0, False))
            if times:
                self.failures[key] = (times - 1, sender_fault)
                code = "InvalidParameter" if sender_fault else "InternalError"
                failed.append({"Id": entry["Id"], "Code": code, "Message": f"injected for {key}",
                               "SenderFault": sender_fault})
            else:
                passed.append(entry)
        answer: dict[str, Any] = {"Successful": [], "Failed": failed}
        if passed:
            real = self.client.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=passed)
            answer["Successful"] = real["Successful"]
            answer["Failed"] += real["Failed"]
        return answer


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} injected"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PublishBatch")


def keys_received(topic: Topic) -> list[str]:
    return sorted(envelope["Message"].split("\n")[0].removeprefix("alert for ") for envelope in topic.received())


# ---------------------------------------------------------------------------------------------


def test_subject_message_and_attributes_reach_a_subscriber(topic: Topic):
    alert = make_alert("evt-1")
    assert AlertPublisher(topic.sns, topic.arn).publish([alert]) == 1
    [envelope] = topic.received()
    assert envelope["Subject"] == alert.subject
    assert envelope["Message"] == alert.message
    attributes = {name: (value["Type"], value["Value"]) for name, value in envelope["MessageAttributes"].items()}
    assert attributes == {
        "rule": ("String.Array", '["cloudtrail-tampering","root-use"]'),
        "severity": ("String", "high"),
        "eventName": ("String", "StopLogging"),
    }
    assert topic.calls == [1]


def test_nothing_to_publish_makes_no_call(topic: Topic):
    assert AlertPublisher(topic.sns, topic.arn).publish([]) == 0
    assert topic.calls == []


def test_more_than_ten_alerts_take_several_calls(topic: Topic):
    alerts = [make_alert(f"evt-{i:02d}") for i in range(23)]
    assert AlertPublisher(topic.sns, topic.arn).publish(alerts) == 23
    assert topic.calls == [10, 10, 3]
    assert keys_received(topic) == sorted(alert.event_key for alert in alerts)


def test_calls_stay_under_256_kb():
    alerts = [make_alert(f"big-{i}", 100_000) for i in range(5)] + [make_alert("small")]
    packed = list(batches(alerts))
    assert [len(batch) for batch in packed] == [2, 2, 2]
    assert all(sum(alert.size() for alert in batch) <= MAX_MESSAGE_BYTES for batch in packed)
    assert [alert for batch in packed for alert in batch] == alerts  # order kept


def test_large_alerts_are_published_in_several_calls(topic: Topic):
    alerts = [make_alert(f"big-{i}", 100_000) for i in range(5)]
    assert AlertPublisher(topic.sns, topic.arn).publish(alerts) == 5
    assert topic.calls == [2, 2, 1]
    assert len(topic.received()) == 5


def test_entries_failed_on_the_sns_side_are_retried_and_published_once(topic: Topic):
    flaky = FlakyClient(topic.sns, {"evt-03": (1, False), "evt-11": (2, False)})
    sleeps = Sleeps()
    alerts = [make_alert(f"evt-{i:02d}") for i in range(12)]
    assert AlertPublisher(flaky, topic.arn, sleep=sleeps).publish(alerts) == 12
    assert keys_received(topic) == sorted(alert.event_key for alert in alerts)  # each exactly once
    assert [len(call) for call in flaky.calls] == [10, 1, 2, 1, 1]
    assert flaky.calls[1] == ["alert for evt-03"]
    assert len(sleeps) == 3
    # full jitter: up to base * 2**n after the n-th failed try (the third sleep follows a second failure)
    assert 0 <= sleeps[0] <= 0.4 and 0 <= sleeps[1] <= 0.4 and 0 <= sleeps[2] <= 0.8


def test_sender_fault_is_permanent_and_named(topic: Topic):
    flaky = FlakyClient(topic.sns, {"evt-bad": (99, True)})
    sleeps = Sleeps()
    alerts = [make_alert("evt-ok-1"), make_alert("evt-bad"), make_alert("evt-ok-2")]
    with pytest.raises(PublishFailed, match="evt-bad") as caught:
        AlertPublisher(flaky, topic.arn, sleep=sleeps).publish(alerts)
    assert caught.value.failed == [("evt-bad", "InvalidParameter", "injected for evt-bad")]
    assert caught.value.published == 2
    assert len(flaky.calls) == 1 and sleeps == []  # not retried
    assert keys_received(topic) == ["evt-ok-1", "evt-ok-2"]


def test_retries_run_out(topic: Topic):
    flaky = FlakyClient(topic.sns, {"evt-2": (99, False)})
    sleeps = Sleeps()
    with pytest.raises(PublishFailed) as caught:
        AlertPublisher(flaky, topic.arn, max_rounds=4, base_delay=1.0, sleep=sleeps).publish(
            [make_alert("evt-1"), make_alert("evt-2")]
        )
    assert caught.value.failed == [("evt-2", "InternalError", "injected for evt-2")]
    assert "1 alert(s) not published (1 published): evt-2 (InternalError" in str(caught.value)
    assert len(flaky.calls) == 4 and len(sleeps) == 3
    assert all(0 <= slept <= cap for slept, cap in zip(sleeps, [2.0, 4.0, 8.0]))  # doubling caps, full jitter


@pytest.mark.parametrize(
    "error",
    [client_error("Throttling"), client_error("ThrottledException"), client_error("KMSThrottling"),
     client_error("InternalError", 500), client_error("Whatever", 503)],
)
def test_a_call_raising_after_the_clients_retries_is_not_retried(topic: Topic, error: ClientError):
    flaky = FlakyClient(topic.sns, {}, errors=[error])
    sleeps = Sleeps()
    alerts = [make_alert(f"evt-{n:02d}") for n in range(12)]
    with pytest.raises(PublishFailed) as caught:
        AlertPublisher(flaky, topic.arn, sleep=sleeps).publish(alerts)
    assert len(flaky.calls) == 1 and sleeps == []  # nor is the second batch sent into the failing service
    code = error.response["Error"]["Code"]
    assert caught.value.failed == [(alert.event_key, code, f"{code} injected") for alert in alerts]
    assert caught.value.__cause__ is error and caught.value.published == 0
    assert keys_received(topic) == []


@pytest.mark.parametrize("fault", [THROTTLE, SERVER, TIMEOUT])
def test_botocore_retries_a_throttled_or_failed_request_and_each_alert_arrives_once(
    topic: Topic, fault: str, monkeypatch: pytest.MonkeyPatch
):
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))
    sns = new_client("sns")
    failing = iter([fault] * (TOTAL_ATTEMPTS - 1))
    faults = HttpFaults(sns, lambda operation: next(failing, None))
    sleeps = Sleeps()
    alerts = [make_alert("evt-1"), make_alert("evt-2")]
    assert AlertPublisher(sns, topic.arn, sleep=sleeps).publish(alerts) == 2
    assert faults.requests["PublishBatch"] == TOTAL_ATTEMPTS and sleeps == []  # botocore's retries, not ours
    assert keys_received(topic) == ["evt-1", "evt-2"]


def test_throttling_that_never_ends_is_raised(topic: Topic):
    flaky = FlakyClient(topic.sns, {}, errors=[client_error("Throttling")])
    with pytest.raises(PublishFailed) as caught:
        AlertPublisher(flaky, topic.arn, sleep=Sleeps()).publish([make_alert("evt-1")])
    assert caught.value.failed == [("evt-1", "Throttling", "Throttling injected")]


def test_a_batch_still_failing_keeps_the_next_batches_from_being_sent(topic: Topic):
    flaky = FlakyClient(topic.sns, {"evt-03": (99, False)})
    alerts = [make_alert(f"evt-{n:02d}") for n in range(23)]
    with pytest.raises(PublishFailed) as caught:
        AlertPublisher(flaky, topic.arn, max_rounds=2, sleep=Sleeps()).publish(alerts)
    assert [len(call) for call in flaky.calls] == [10, 1]
    assert caught.value.failed[0] == ("evt-03", "InternalError", "injected for evt-03")
    assert [(key, code) for key, code, _ in caught.value.failed[1:]] == [(a.event_key, NOT_SENT) for a in alerts[10:]]
    assert caught.value.published == 9
    assert keys_received(topic) == sorted(a.event_key for a in alerts[:10] if a.event_key != "evt-03")


def test_a_call_that_cannot_succeed_is_not_retried(aws: Any):
    sns = boto3.client("sns", region_name="us-east-1")
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    sleeps = Sleeps()
    alerts = [make_alert(f"evt-{i:02d}") for i in range(12)]
    with pytest.raises(PublishFailed) as caught:
        AlertPublisher(sns, missing, sleep=sleeps).publish(alerts)
    assert [key for key, _, _ in caught.value.failed] == [alert.event_key for alert in alerts]
    assert {code for _, code, _ in caught.value.failed} == {"NotFound"}
    assert caught.value.published == 0 and sleeps == []


def test_an_alert_over_the_limit_is_reported_without_a_call(topic: Topic):
    alerts = [make_alert("huge", MAX_MESSAGE_BYTES), make_alert("evt-1")]
    with pytest.raises(PublishFailed, match="huge") as caught:
        AlertPublisher(topic.sns, topic.arn).publish(alerts)
    assert caught.value.failed[0][:2] == ("huge", "MessageTooLong")
    assert caught.value.published == 1 and topic.calls == [1]


def test_max_rounds_must_be_positive():
    with pytest.raises(ValueError, match="max_rounds"):
        AlertPublisher(object(), "arn", max_rounds=0)


def test_on_sent_hears_each_accepted_batch_as_soon_as_sns_answers(topic: Any) -> None:
    alerts = [make_alert(f"evt-{n:02d}") for n in range(23)]
    heard: list[list[str]] = []
    published = AlertPublisher(topic.sns, topic.arn, sleep=lambda _: None).publish(
        alerts, on_sent=lambda sent: heard.append([a.event_key for a in sent])
    )
    assert published == 23
    assert [len(batch) for batch in heard] == [10, 10, 3]
    assert [key for batch in heard for key in batch] == [a.event_key for a in alerts]


# --- a message per kind of subscriber (MessageStructure json) ------------------------------------


def _formatted(severity_rule: Any, event_id: str, options: Any = None) -> Alert:
    from trailsift.alerts import AlertOptions, format_alert
    from trailsift.scan import Match

    from tests.test_alerts import LOCATION, STOP_LOGGING

    record = {**STOP_LOGGING, "eventID": event_id}
    return format_alert(Match(LOCATION, 0, record, (severity_rule.name,)), (severity_rule,), LOCATION,
                        options or AlertOptions())


def _queue(topic: Topic, name: str, **attributes: str) -> str:
    url = topic.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = topic.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic.sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=arn, Attributes=attributes,
                        ReturnSubscriptionArn=True)
    return url


def _bodies(topic: Topic, url: str) -> list[str]:
    messages = topic.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [message["Body"] for message in messages]


def test_an_sqs_subscriber_receives_the_json_document_not_the_text(topic: Topic):
    from tests.test_alerts import ROOT, TAMPERING

    sent: list[dict[str, Any]] = []
    topic.sns.meta.events.register("before-parameter-build.sns.PublishBatch",
                                   lambda params, **_: sent.extend(params["PublishBatchRequestEntries"]))
    raw = _queue(topic, "raw", RawMessageDelivery="true")
    critical_only = _queue(topic, "critical", FilterPolicy=json.dumps({"severity": ["critical"]}))
    high, critical = _formatted(TAMPERING, "e-high"), _formatted(ROOT, "e-critical")
    assert AlertPublisher(topic.sns, topic.arn).publish([high, critical]) == 2

    # the entry: MessageStructure json, the text as default (e-mail), the document for sqs/lambda/http/https
    assert [entry["MessageStructure"] for entry in sent] == ["json", "json"]
    structure = json.loads(sent[0]["Message"])
    assert set(structure) == {"default", "sqs", "lambda", "http", "https"}
    assert structure["default"] == high.message and structure["default"].startswith("trailsift alert (high)")
    assert structure["sqs"] == structure["lambda"] == structure["http"] == structure["https"]

    envelopes = topic.received()  # the plain SQS subscriber: an SNS envelope whose Message is the document
    documents = sorted((json.loads(envelope["Message"]) for envelope in envelopes), key=lambda d: d["eventID"])
    assert [d["schema"] for d in documents] == ["trailsift.alert/1"] * 2
    assert [d["eventID"] for d in documents] == ["e-critical", "e-high"]
    assert {envelope["Subject"] for envelope in envelopes} == {high.subject, critical.subject}
    # raw delivery: the document itself; the filter policy on the attributes works as before
    assert sorted(json.loads(body)["eventID"] for body in _bodies(topic, raw)) == ["e-critical", "e-high"]
    assert [json.loads(json.loads(body)["Message"])["eventID"] for body in _bodies(topic, critical_only)] == [
        "e-critical"]


def test_the_chatbot_option_changes_only_https(topic: Topic):
    from trailsift.alerts import AlertOptions

    from tests.test_alerts import TAMPERING

    alert = _formatted(TAMPERING, "e-1", AlertOptions(chatbot=True))
    assert AlertPublisher(topic.sns, topic.arn).publish([alert]) == 1
    [envelope] = topic.received()
    assert json.loads(envelope["Message"])["schema"] == "trailsift.alert/1"  # SQS: still the document
    assert json.loads(alert.per_protocol["https"])["source"] == "custom"


def test_an_alert_without_protocol_messages_is_published_as_plain_text(topic: Topic):
    sent: list[dict[str, Any]] = []
    topic.sns.meta.events.register("before-parameter-build.sns.PublishBatch",
                                   lambda params, **_: sent.extend(params["PublishBatchRequestEntries"]))
    alert = make_alert("digest")  # e.g. the backfill digest: text for everyone
    assert AlertPublisher(topic.sns, topic.arn).publish([alert]) == 1
    assert "MessageStructure" not in sent[0] and sent[0]["Message"] == alert.message
    assert topic.received()[0]["Message"] == alert.message


def test_size_counts_every_protocol_copy():
    alert = Alert("k", "s", "text", {}, {"sqs": "d" * 1000, "lambda": "d" * 1000})
    assert alert.size() == len(alert.sns_message().encode()) + 1 > 2000
    assert json.loads(alert.sns_message()) == {"default": "text", "sqs": "d" * 1000, "lambda": "d" * 1000}


class Webhook:
    """An HTTP endpoint on 127.0.0.1 recording what SNS (moto) posts to each path."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        self.posted: list[tuple[str, dict[str, Any]]] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.posted.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_and_https_subscribers_get_their_own_message(topic: Topic):
    """moto posts to http and https subscriptions (here both on 127.0.0.1); with the Chatbot option the
    https subscriber gets the Chatbot notification, the http one and the queue the document."""
    from trailsift.alerts import AlertOptions

    from tests.test_alerts import TAMPERING

    webhook = Webhook()
    try:
        topic.sns.subscribe(TopicArn=topic.arn, Protocol="http", Endpoint=f"{webhook.url}/http")
        topic.sns.subscribe(TopicArn=topic.arn, Protocol="https", Endpoint=f"{webhook.url}/chatbot")
        alert = _formatted(TAMPERING, "e-1", AlertOptions(chatbot=True, index_table="trailsift-index"))
        assert AlertPublisher(topic.sns, topic.arn).publish([alert]) == 1
    finally:
        webhook.close()
    posted = {path: envelope for path, envelope in webhook.posted}
    assert set(posted) == {"/http", "/chatbot"}
    assert json.loads(posted["/http"]["Message"])["schema"] == "trailsift.alert/1"
    notification = json.loads(posted["/chatbot"]["Message"])
    assert (notification["version"], notification["source"]) == ("1.0", "custom")
    assert notification["content"]["title"].endswith(alert.subject)
    [envelope] = topic.received()
    assert json.loads(envelope["Message"])["eventID"] == "e-1"
