"""The sinks: the registry, what the pipeline routes to each, exactly-once through a ledger, the bus's events."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.aws.errors import FailedEntry, PublishFailed
from trailsift.engine import RuleEngine
from trailsift.pipeline import Pipeline, Status
from trailsift.rules import Destination, Rule, RuleSet, Severity, parse_rules
from trailsift.scan import Match
from trailsift.settings import Settings
from trailsift.sinks import (
    AlertSink,
    Delivered,
    DeliveryPending,
    EventBusSink,
    IndexSink,
    Routed,
    SinkContext,
    build_sinks,
    register,
    registered,
)
from trailsift.sinks.eventbus import DETAIL_TYPE, MAX_ENTRY_BYTES, SCHEMA, SOURCE, bus_event
from trailsift.sinks.once import Claim
from trailsift.triggers import ObjectRef

ACCOUNT = "123456789012"
KEY = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/01/{ACCOUNT}_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"
LOCATION = f"s3://bucket/{KEY}"


def record(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventID": f"0000000{n}-aaaa-bbbb-cccc-dddddddddddd",
        "eventTime": "2024-01-01T00:03:07Z",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "StopLogging",
        "awsRegion": "us-east-1",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accessKeyId": "AKIAEXAMPLE"},
        **fields,
    }


def rule(name: str, *destinations: str, severity: str = "high") -> dict[str, Any]:
    return {
        "name": name,
        "severity": severity,
        "destinations": list(destinations),
        "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}],
    }


# --- the registry ------------------------------------------------------------------------------------


def test_every_destination_has_exactly_one_registered_sink_in_delivery_order() -> None:
    factories = registered()
    assert [factory.destination for factory in factories] == [Destination.INDEX, Destination.ALERT, Destination.EVENTBUS]
    assert set(Destination) == {factory.destination for factory in factories}
    assert len({factory.metric for factory in factories}) == len(factories)


def test_a_second_sink_for_a_destination_is_refused() -> None:
    class Another:
        destination: ClassVar[Destination] = Destination.ALERT
        metric: ClassVar[str] = "Other"
        notifies: ClassVar[bool] = False

    with pytest.raises(ValueError, match="already has a sink"):
        register(Another)
    assert AlertSink in registered() and Another not in registered()


TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"


@pytest.mark.parametrize(
    ("settings_", "built"),
    [
        (Settings(), []),
        (Settings(index_table="t"), [IndexSink]),
        (Settings(alert_topic_arn=TOPIC), [AlertSink]),
        (Settings(event_bus="bus"), [EventBusSink]),
        (Settings(alert_topic_arn=TOPIC, index_table="t", event_bus="bus"), [IndexSink, AlertSink, EventBusSink]),
    ],
    ids=["nothing", "index", "topic", "bus", "all"],
)
def test_the_settings_decide_which_sinks_are_built_and_no_client_is_made(settings_: Settings, built: list[type]) -> None:
    made: list[str] = []
    sinks = build_sinks(SinkContext(settings_, made.append, owner="req-1"))
    assert [type(sink) for sink in sinks] == built
    assert made == []  # clients are created on first use, not when the sinks are built


def test_ledgers_need_the_index_table() -> None:
    sinks = build_sinks(SinkContext(Settings(alert_topic_arn=TOPIC, event_bus="bus"), lambda _: None, owner="r"))
    assert [getattr(sink, "ledger") for sink in sinks] == [None, None]
    both = Settings(alert_topic_arn=TOPIC, event_bus="bus", index_table="t")
    sinks = build_sinks(SinkContext(both, lambda _: None, owner="r"))
    assert [getattr(sink, "ledger", None) is not None for sink in sinks] == [False, True, True]  # index, alert, bus


# --- routing ------------------------------------------------------------------------------------------


class Recording:
    """A sink of some destination that records what it is given."""

    metric: ClassVar[str] = "Recorded"
    notifies: ClassVar[bool] = False

    def __init__(self, destination: Destination, sent_per_match: int = 1) -> None:
        self.destination = destination  # type: ignore[misc]
        self.got: list[tuple[str, list[tuple[int, tuple[str, ...]]]]] = []
        self.sent_per_match = sent_per_match

    def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
        self.got.append((log_location, [(item.match.index, tuple(r.name for r in item.rules)) for item in routed]))
        return Delivered(sent=self.sent_per_match * len(routed), already_sent=1)


class Source:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def fetch(self, ref: ObjectRef) -> bytes:
        return self.body


def _body(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": records}).encode()


DESTINATION_SETS = st.lists(st.sampled_from([d.value for d in Destination]), min_size=1, max_size=3, unique=True)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(rule_destinations=st.lists(DESTINATION_SETS, min_size=1, max_size=5), names=st.lists(st.sampled_from(["StopLogging", "Other"]), min_size=1, max_size=6))
def test_each_sink_gets_the_matches_of_the_rules_naming_it_with_just_those_rules(
    rule_destinations: list[list[str]], names: list[str]
) -> None:
    rules = parse_rules({"rules": [rule(f"r{i}", *d) for i, d in enumerate(rule_destinations)]})
    sinks = [Recording(d) for d in Destination]
    records = [record(n, eventName=name) for n, name in enumerate(names)]
    pipeline = Pipeline(rules, RuleEngine(rules), Source(_body(records)), sinks=sinks)
    [outcome] = pipeline.run([ObjectRef("bucket", KEY)])
    assert outcome.status is Status.PROCESSED, outcome.reason
    matching = [n for n, name in enumerate(names) if name == "StopLogging"]
    for sink in sinks:
        naming = tuple(f"r{i}" for i, d in enumerate(rule_destinations) if sink.destination.value in d)
        expected = [(n, naming) for n in matching] if naming else []
        assert sink.got == ([(LOCATION, expected)] if expected else [])  # no call without a match
        assert outcome.sent[sink.destination] == len(expected)
        assert outcome.already_sent[sink.destination] == (1 if expected else 0)


def test_one_sink_per_destination() -> None:
    rules = parse_rules({"rules": [rule("r", "alert")]})
    with pytest.raises(ValueError, match="one sink per destination"):
        Pipeline(rules, RuleEngine(rules), Source(b""), sinks=[Recording(Destination.ALERT), Recording(Destination.ALERT)])


def test_a_failing_sink_fails_the_file_as_retryable_and_stops_the_routing() -> None:
    class Broken(Recording):
        def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
            raise RuntimeError("down")

    rules = parse_rules({"rules": [rule("r", "alert", "index", "eventbus")]})
    index, alerts, bus = Recording(Destination.INDEX), Broken(Destination.ALERT), Recording(Destination.EVENTBUS)
    [outcome] = Pipeline(rules, RuleEngine(rules), Source(_body([record(1)])), sinks=[index, alerts, bus]).run(
        [ObjectRef("bucket", KEY)]
    )
    assert (outcome.status, outcome.retryable) == (Status.FAILED, True) and "down" in outcome.reason
    assert len(index.got) == 1 and bus.got == []


# --- exactly once through a ledger --------------------------------------------------------------------


class Ledger:
    def __init__(self, states: dict[str, str]) -> None:
        self.states, self.marked, self.released = states, [], []  # type: ignore[var-annotated]

    def claim(self, items: Sequence[Any]) -> Claim[Any]:
        claim: Claim[Any] = Claim()
        for item in items:
            {None: claim.to_send, "sent": claim.already_sent, "held": claim.held_elsewhere}[
                self.states.get(item.event_key)
            ].append(item)
        return claim

    def mark_sent(self, items: Sequence[Any]) -> None:
        self.marked += [item.event_key for item in items]

    def release(self, items: Sequence[Any]) -> None:
        self.released += [item.event_key for item in items]


class Publisher:
    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.sent: list[Any] = []
        self.fail = fail

    def publish(self, items: Sequence[Any], on_sent: Callable[[list[Any]], object] | None = None) -> int:
        good = [item for item in items if item.event_key not in self.fail]
        self.sent += good
        if on_sent is not None and good:
            on_sent(good)
        if len(good) < len(items):
            failed = [FailedEntry(i.event_key, "Boom", "x") for i in items if i.event_key in self.fail]
            raise PublishFailed(failed, len(good), noun="event")
        return len(good)


RULE = Rule("r", (), Severity.HIGH, "stops a trail", (Destination.EVENTBUS,))


def _routed(n: int) -> list[Routed]:
    return [Routed(Match(LOCATION, i, record(i), ("r",)), (RULE,)) for i in range(n)]


def test_the_bus_sink_sends_only_what_it_claimed_and_marks_it() -> None:
    items = _routed(3)
    keys = [item.match.record["eventID"] for item in items]
    publisher, ledger = Publisher(), Ledger({keys[0]: "sent"})
    assert EventBusSink(publisher, ledger).deliver(LOCATION, items) == Delivered(sent=2, already_sent=1)
    assert [e.event_key for e in publisher.sent] == keys[1:] == ledger.marked


def test_events_another_invocation_holds_make_the_delivery_pending_after_sending_the_rest() -> None:
    items = _routed(3)
    keys = [item.match.record["eventID"] for item in items]
    publisher, ledger = Publisher(), Ledger({keys[1]: "held"})
    with pytest.raises(DeliveryPending, match="1 event\\(s\\) claimed by another invocation"):
        EventBusSink(publisher, ledger).deliver(LOCATION, items)
    assert ledger.marked == [keys[0], keys[2]]


def test_events_a_put_failed_are_released_for_a_retry() -> None:
    items = _routed(3)
    keys = [item.match.record["eventID"] for item in items]
    publisher, ledger = Publisher({keys[2]}), Ledger({})
    with pytest.raises(PublishFailed, match="1 event\\(s\\) not published"):
        EventBusSink(publisher, ledger).deliver(LOCATION, items)
    assert (ledger.marked, ledger.released) == (keys[:2], keys[2:])


def test_without_a_ledger_everything_is_sent() -> None:
    publisher = Publisher()
    assert EventBusSink(publisher).deliver(LOCATION, _routed(4)) == Delivered(sent=4)


def test_the_index_sink_writes_one_row_per_rule_with_its_clock() -> None:
    class Writer:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def write(self, items: Sequence[Any]) -> int:
            self.items += items
            return len(items)

    writer = Writer()
    other = Rule("s", (), Severity.LOW, "", (Destination.INDEX,))
    routed = [Routed(Match(LOCATION, 0, record(0), ("r", "s")), (RULE, other))]
    assert IndexSink(writer, retention_days=2, clock=lambda: 100.5).deliver(LOCATION, routed) == Delivered(sent=2)
    assert [(i["rule"], i["indexedAt"], i["expires_at"]) for i in writer.items] == [("r", 100, 100 + 2 * 86400), ("s", 100, 100 + 2 * 86400)]


# --- the bus's events ---------------------------------------------------------------------------------


def test_a_bus_event_carries_what_a_rule_can_filter_on_and_the_masked_record() -> None:
    low = Rule("low-one", (), Severity.LOW, "", (Destination.EVENTBUS,))
    match = Match(LOCATION, 7, record(1, requestParameters={"password": "hunter2", "name": "trail"}), ("low-one", "r"))
    event = bus_event(match, [low, RULE], LOCATION)
    entry = event.entry
    assert (entry["Source"], entry["DetailType"]) == (SOURCE, DETAIL_TYPE)
    assert entry["Time"] == datetime(2024, 1, 1, 0, 3, 7, tzinfo=timezone.utc)
    detail = json.loads(entry["Detail"])
    assert detail["schema"] == SCHEMA and detail["severity"] == "high"  # the highest of the rules'
    assert detail["rules"] == ["low-one", "r"]
    assert detail["ruleDetails"][1] == {"name": "r", "severity": "high", "description": "stops a trail"}
    assert (detail["eventName"], detail["eventSource"], detail["account"], detail["region"]) == (
        "StopLogging", "cloudtrail.amazonaws.com", ACCOUNT, "us-east-1"
    )
    assert detail["principal"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert (detail["logFile"], detail["recordIndex"], detail["eventKey"]) == (LOCATION, 7, event.event_key)
    assert detail["record"]["requestParameters"]["name"] == "trail"
    assert "hunter2" not in entry["Detail"]  # masked like alerts and index rows
    assert "trimmed" not in detail
    assert event.size() == 14 + len(SOURCE) + len(DETAIL_TYPE) + len(entry["Detail"].encode())


def test_an_event_without_a_readable_time_leaves_it_to_eventbridge() -> None:
    event = bus_event(Match(LOCATION, 0, record(1, eventTime="yesterday"), ("r",)), [RULE], LOCATION)
    assert "Time" not in event.entry


def test_a_bus_event_needs_a_rule() -> None:
    with pytest.raises(ValueError, match="no rules"):
        bus_event(Match(LOCATION, 0, record(1), ("r",)), [], LOCATION)


BIG = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=40)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(
    bulky=st.integers(0, 400_000),
    identity=st.integers(0, 400_000),
    filler=BIG,
)
def test_every_bus_event_fits_putevents_and_says_when_it_was_trimmed(bulky: int, identity: int, filler: str) -> None:
    fields = {
        "requestParameters": {"policy": (filler or "x") * (bulky // max(1, len(filler or "x")))},
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/" + "u" * identity},
    }
    event = bus_event(Match(LOCATION, 3, record(1, **fields), ("r",)), [RULE], LOCATION)
    assert event.size() <= MAX_ENTRY_BYTES
    detail = json.loads(event.entry["Detail"])
    assert detail["eventKey"] == event.event_key and detail["rules"] == ["r"]
    size = len(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode())
    if "trimmed" in detail:
        assert size > MAX_ENTRY_BYTES - 4_000  # the rest of an event is well under 4 KB
        assert detail["trimmed"]["fullRecordIn"] == LOCATION and detail["trimmed"]["recordIndex"] == 3
        assert detail["record"].get("eventName") == "StopLogging"  # still says what happened
    else:
        assert size < MAX_ENTRY_BYTES
        assert detail["record"]["requestParameters"] == fields["requestParameters"]


@pytest.mark.parametrize(
    ("mode", "built"),
    [(None, [IndexSink, AlertSink, EventBusSink]), ("none", [IndexSink]), ("digest", [IndexSink]),
     ("send", [IndexSink, AlertSink, EventBusSink])],
)
def test_a_backfill_keeps_the_sinks_that_notify_only_when_asked_to_send(mode: str | None, built: list[type]) -> None:
    everything = Settings(alert_topic_arn=TOPIC, index_table="t", event_bus="bus")
    sinks = build_sinks(SinkContext(everything, lambda _: None, owner="r", backfill=mode))
    assert [type(sink) for sink in sinks] == built
    assert {factory.destination for factory in registered() if factory.notifies} == {Destination.ALERT, Destination.EVENTBUS}
    for sink in sinks:
        if isinstance(sink, EventBusSink):
            assert sink.backfill is (mode is not None)


def test_a_backfills_bus_event_says_so_and_a_live_one_does_not() -> None:
    match = Match(LOCATION, 0, record(1), ("r",))
    assert json.loads(bus_event(match, [RULE], LOCATION, backfill=True).entry["Detail"])["backfill"] is True
    assert "backfill" not in json.loads(bus_event(match, [RULE], LOCATION).entry["Detail"])


# --- the alert topic: groups and the rate bound ---------------------------------------------------------


def test_the_alert_sink_bounds_its_rate_in_the_table_in_memory_or_not_at_all() -> None:
    from trailsift.ratebound import InvocationBound

    def alert_sink(settings_: Settings) -> AlertSink:
        made: list[str] = []
        [sink] = [s for s in build_sinks(SinkContext(settings_, made.append, owner="r")) if isinstance(s, AlertSink)]
        assert made == []  # the rate counter's client too is made on first use
        return sink

    assert alert_sink(Settings(alert_topic_arn=TOPIC, index_table="t")).forming.bound is not None
    alone = alert_sink(Settings(alert_topic_arn=TOPIC, alert_rate_limit=3)).forming.bound
    assert isinstance(alone, InvocationBound) and alone.limit == 3
    assert alert_sink(Settings(alert_topic_arn=TOPIC, alert_rate_limit=0)).forming.bound is None
    one_each = alert_sink(Settings(alert_topic_arn=TOPIC, alert_group_max_events=1, alert_rate_window_seconds=600))
    assert (one_each.forming.max_events, one_each.forming.window_seconds) == (1, 600)


ALERT_RULE = Rule("r", (), Severity.HIGH, "stops a trail", (Destination.ALERT,))


def test_the_alert_sink_sends_one_alert_per_rule_and_principal_and_marks_each_event() -> None:
    items = [Routed(Match(LOCATION, i, record(i), ("r",)), (ALERT_RULE,)) for i in range(4)]
    items.append(Routed(Match(LOCATION, 4, record(4, userIdentity={"type": "Root", "arn": "arn:aws:iam::1:root"}),
                              ("r",)), (ALERT_RULE,)))
    keys = [item.match.record["eventID"] for item in items]
    publisher, ledger = Publisher(), Ledger({keys[0]: "sent"})
    assert AlertSink(publisher, ledger).deliver(LOCATION, items) == Delivered(sent=2, already_sent=1)
    assert [alert.event_keys for alert in publisher.sent] == [tuple(keys[1:4]), (keys[4],)]
    assert ledger.marked == keys[1:]
    # one alert per event when the deployment says so (TRAILSIFT_ALERT_GROUP_MAX_EVENTS=1)
    single = Publisher()
    assert AlertSink(single, Ledger({}), max_events=1).deliver(LOCATION, items).sent == 5


def test_a_refused_group_releases_each_of_its_events() -> None:
    items = [Routed(Match(LOCATION, i, record(i), ("r",)), (ALERT_RULE,)) for i in range(3)]
    keys = [item.match.record["eventID"] for item in items]
    ledger = Ledger({})
    with pytest.raises(PublishFailed):
        AlertSink(Publisher(fail={keys[0]}), ledger).deliver(LOCATION, items)
    assert ledger.released == keys and ledger.marked == []
