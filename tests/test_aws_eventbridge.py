"""Putting events on a bus: what a rule's target receives, batches of 10, resends of failed entries, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from tests.conftest import create_bus_subscriber, drain_queue
from trailsift.aws.clients import new_client
from trailsift.aws.eventbridge import MAX_BATCH_ENTRIES, EventPublisher, PublishFailed
from trailsift.aws.retry import NOT_SENT, TOO_LARGE
from trailsift.rules import Destination, Rule, Severity
from trailsift.scan import Match
from trailsift.sinks.eventbus import MAX_ENTRY_BYTES, SOURCE, BusEvent, bus_event

LOCATION = "s3://bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/f.json.gz"
RULE = Rule("trail-stopped", (), Severity.CRITICAL, "a trail stopped logging", (Destination.EVENTBUS,))


def make_event(n: int, padding: int = 0) -> BusEvent:
    record = {
        "eventID": f"id-{n:03d}",
        "eventTime": "2024-01-01T00:03:07Z",
        "eventName": "StopLogging",
        "eventSource": "cloudtrail.amazonaws.com",
        "recipientAccountId": "123456789012",
        "awsRegion": "us-east-1",
        "userAgent": "u" * padding,
    }
    return bus_event(Match(LOCATION, n, record, (RULE.name,)), [RULE], LOCATION)


class Bus:
    """An event bus on moto whose rule sends trailsift's events to a queue; counts entries per PutEvents."""

    def __init__(self) -> None:
        self.events = new_client("events")
        self.sqs = boto3.client("sqs")
        self.name, self.queue_url = create_bus_subscriber(boto3.client("events"), self.sqs)
        self.calls: list[int] = []
        self.events.meta.events.register("before-call.events.PutEvents", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(len(json.loads(params["body"])["Entries"]))

    def received(self) -> list[dict[str, Any]]:
        return drain_queue(self.sqs, self.queue_url)


@pytest.fixture
def bus(aws: Any) -> Bus:
    return Bus()


def test_every_event_reaches_the_rules_target_with_its_detail(bus: Bus) -> None:
    events = [make_event(n) for n in range(23)]
    sent: list[list[str]] = []
    put = EventPublisher(bus.events, bus.name).publish(events, on_sent=lambda batch: sent.append([e.event_key for e in batch]))
    assert put == 23 and bus.calls == [10, 10, 3]
    assert [len(batch) for batch in sent] == [10, 10, 3]  # told after every call, with what it accepted
    received = bus.received()
    assert sorted(e["detail"]["eventKey"] for e in received) == sorted(e.event_key for e in events)
    first = next(e for e in received if e["detail"]["eventKey"] == "id-000")
    assert (first["source"], first["detail-type"]) == (SOURCE, "CloudTrail Event Matched")
    assert first["detail"]["severity"] == "critical" and first["detail"]["rules"] == ["trail-stopped"]


def test_a_batch_holds_at_most_256_kb(bus: Bus) -> None:
    events = [make_event(n, padding=100_000) for n in range(5)]
    assert all(100_000 < e.size() < MAX_ENTRY_BYTES for e in events)
    assert EventPublisher(bus.events, bus.name).publish(events) == 5
    assert bus.calls == [2, 2, 1] and len(bus.received()) == 5


class Answering:
    """A client whose PutEvents answers each call with ``answer(entries, call_number)``."""

    def __init__(self, answer: Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append([json.loads(e["Detail"])["eventKey"] for e in Entries])
        results = self.answer(Entries, len(self.calls))
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


OK = {"EventId": "e"}


def test_only_failed_entries_are_resent_and_refusals_are_not() -> None:
    def answer(entries: list[dict[str, Any]], call: int) -> list[dict[str, Any]]:
        if call == 1:  # the second throttled (resent), the third refused (sender's fault), the rest accepted
            throttled = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            refused = {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
            return [OK, throttled, refused, *[OK] * (len(entries) - 3)]
        return [OK] * len(entries)

    client, slept = Answering(answer), []
    with pytest.raises(PublishFailed) as raised:
        EventPublisher(client, "bus", sleep=slept.append).publish([make_event(n) for n in range(4)])
    assert client.calls == [["id-000", "id-001", "id-002", "id-003"], ["id-001"]] and len(slept) == 1
    assert [(f.event_key, f.code) for f in raised.value.failed] == [("id-002", "MalformedDetail")]
    assert raised.value.published == 3 and "1 event(s) not published" in str(raised.value)


def test_a_short_answer_is_resent_and_a_batch_still_failing_stops_the_rest() -> None:
    client = Answering(lambda entries, call: [OK] * (len(entries) - 1))  # the last entry never answered
    events = [make_event(n) for n in range(12)]
    with pytest.raises(PublishFailed) as raised:
        EventPublisher(client, "bus", sleep=lambda _: None, max_rounds=2).publish(events)
    assert [len(call) for call in client.calls] == [10, 1]
    failed = {f.event_key: f.code for f in raised.value.failed}
    assert failed == {"id-009": "NoResult", "id-010": NOT_SENT, "id-011": NOT_SENT}


def test_an_event_larger_than_an_entry_may_be_is_refused_without_a_call() -> None:
    huge = BusEvent("big", {"Source": "trailsift", "DetailType": "x", "Detail": json.dumps({"eventKey": "big", "x": "y" * MAX_ENTRY_BYTES})})
    client = Answering(lambda entries, call: [OK] * len(entries))
    with pytest.raises(PublishFailed) as raised:
        EventPublisher(client, "bus").publish([huge, make_event(1)])
    assert [(f.event_key, f.code) for f in raised.value.failed] == [("big", TOO_LARGE)]
    assert client.calls == [["id-001"]]


def test_every_entry_names_the_configured_bus() -> None:
    seen: list[str] = []

    def answer(entries: list[dict[str, Any]], call: int) -> list[dict[str, Any]]:
        seen.extend(e["EventBusName"] for e in entries)
        return [OK] * len(entries)

    arn = "arn:aws:events:us-east-1:123456789012:event-bus/matches"
    EventPublisher(Answering(answer), arn).publish([make_event(n) for n in range(3)])
    assert seen == [arn] * 3 and MAX_BATCH_ENTRIES == 10
