"""Grouped alerts sent once: send_covering with the real ledger and rate counter (moto DynamoDB), and the
rate bound's summary (one per rule and window, exactly once, nothing lost)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from trailsift.aws.errors import FailedEntry, PublishFailed
from trailsift.aws.ledger import DeliveryLedger
from trailsift.aws.ratebound import RateCounter
from trailsift.grouping import AlertGroup
from trailsift.index import TABLE_DEFINITION
from trailsift.ratebound import HeldBack, InvocationBound, Window, window_of
from trailsift.rules import Rule, Severity
from trailsift.scan import Match
from trailsift.selectors import parse_selectors
from trailsift.sinks.alert_groups import AlertForming, Claimable, claimables
from trailsift.sinks.base import DeliveryPending, Routed
from trailsift.sinks.once import Formed, send_covering

TABLE = "groups-index"
SELECTORS = parse_selectors([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}])
SG = Rule("security-group-changes", SELECTORS, Severity.MEDIUM)
TRAIL = Rule("cloudtrail-changes", SELECTORS, Severity.CRITICAL, group_by=())


@dataclass(frozen=True)
class Message:
    """What a fake format makes: the events it covers, and whether it is a summary."""

    event_key: str
    event_keys: tuple[str, ...]
    summary: bool = False

    def size(self) -> int:
        return 100


def as_group(group: AlertGroup, location: str) -> Message:
    return Message(group.event_keys[0], group.event_keys)


def as_summary(held: HeldBack, location: str) -> Message:
    return Message(held.key, (held.key, *held.event_keys), summary=True)


class Publisher:
    """Accepts every message but those named in ``fail``; remembers what it accepted."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.sent: list[Message] = []
        self.fail = fail

    def publish(self, items: Sequence[Message], on_sent: Callable[[list[Message]], object] | None = None) -> int:
        good = [item for item in items if item.event_key not in self.fail]
        self.sent += good
        if on_sent is not None and good:
            on_sent(good)
        if len(good) < len(items):
            raise PublishFailed([FailedEntry(i.event_key, "Boom", "x") for i in items if i.event_key in self.fail])
        return len(good)


def routed(n: int, rule: Rule = SG, *, who: str = "alice", minute: int = 0, hour: int = 10) -> Routed:
    record = {
        "eventID": f"00000000-0000-0000-0000-{n:012d}",
        "eventName": "AuthorizeSecurityGroupIngress",
        "eventTime": f"2024-01-01T{hour:02d}:{minute:02d}:00Z",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/{who}"},
    }
    return Routed(Match("s3://b/k.json.gz", n, record, (rule.name,)), (rule,))


@pytest.fixture
def dynamodb(aws: Any) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(TableName=TABLE, **TABLE_DEFINITION)
    return client


def ledger(client: Any, owner: str = "invocation-1") -> DeliveryLedger[Any]:
    return DeliveryLedger(client, TABLE, kind="ALERT", owner=owner, retention_days=1, clock=lambda: 1_700_000_000.0)


def deliver(
    items: list[Routed], publisher: Publisher, forming: AlertForming[Message], the_ledger: Any
) -> tuple[int, int]:
    delivered = send_covering(
        claimables(items), lambda claimed: forming.form(claimed, "s3://b/k.json.gz"), publisher, the_ledger, noun="alert"
    )
    return delivered.sent, delivered.already_sent


def forming(client: Any | None, limit: int | None = None, the_ledger: Any = None) -> AlertForming[Message]:
    bound = None if limit is None else (RateCounter(client, TABLE, limit=limit) if client else InvocationBound(limit))
    return AlertForming(as_group, as_summary, bound, the_ledger)


def test_a_group_is_sent_once_and_marks_each_of_its_events(dynamodb: Any) -> None:
    items = [routed(0), routed(1), routed(2, who="bob"), routed(3, TRAIL), routed(4, TRAIL)]
    publisher, first = Publisher(), ledger(dynamodb)
    assert deliver(items, publisher, forming(dynamodb, the_ledger=first), first) == (4, 0)
    assert [m.event_keys for m in publisher.sent] == [
        (items[0].match.record["eventID"], items[1].match.record["eventID"]),
        (items[2].match.record["eventID"],), (items[3].match.record["eventID"],), (items[4].match.record["eventID"],),
    ]
    # Redelivered to another invocation: every event found sent, nothing published again.
    again, second = Publisher(), ledger(dynamodb, "invocation-2")
    assert deliver(items, again, forming(dynamodb, the_ledger=second), second) == (0, 5)
    assert again.sent == []


def test_a_refused_group_releases_all_its_events_and_a_retry_sends_it_whole(dynamodb: Any) -> None:
    items = [routed(0), routed(1), routed(2, who="bob")]
    first_key = items[0].match.record["eventID"]
    publisher, first = Publisher(fail=frozenset({first_key})), ledger(dynamodb)
    with pytest.raises(PublishFailed):
        deliver(items, publisher, forming(dynamodb, the_ledger=first), first)
    assert [m.event_keys for m in publisher.sent] == [(items[2].match.record["eventID"],)]
    retry, second = Publisher(), ledger(dynamodb, "invocation-2")  # a new owner: the release made it claimable
    assert deliver(items, retry, forming(dynamodb, the_ledger=second), second) == (1, 1)
    assert [m.event_keys for m in retry.sent] == [(first_key, items[1].match.record["eventID"])]


def test_events_held_by_another_invocation_make_it_pending_after_sending_its_own(dynamodb: Any) -> None:
    other = ledger(dynamodb, "other")
    items = [routed(0), routed(1), routed(2, who="bob")]
    other.claim(claimables(items[1:2]))  # the other invocation holds event 1
    publisher, mine = Publisher(), ledger(dynamodb)
    with pytest.raises(DeliveryPending):
        deliver(items, publisher, forming(dynamodb, the_ledger=mine), mine)
    # Events 0 and 2 went out, each in one alert; event 1 is left to its holder, in no alert of ours.
    assert sorted(k for m in publisher.sent for k in m.event_keys) == sorted(
        items[i].match.record["eventID"] for i in (0, 2)
    )


def test_the_rate_bound_holds_back_past_the_limit_into_one_summary_per_rule_and_window(dynamodb: Any) -> None:
    # Five principals (five groups) of one rule in one window, limit 2: two alerts and one summary of three.
    items = [routed(n, who=f"user{n}") for n in range(5)]
    publisher, first = Publisher(), ledger(dynamodb)
    assert deliver(items, publisher, forming(dynamodb, 2, first), first) == (3, 0)
    alerts = [m for m in publisher.sent if not m.summary]
    [summary] = [m for m in publisher.sent if m.summary]
    assert len(alerts) == 2
    assert summary.event_key == "summary:security-group-changes:1704103200"  # 2024-01-01T10:00:00Z
    assert len(summary.event_keys) == 1 + 3
    # A later file in the same window (another invocation): its groups are past the limit, the summary
    # was sent: its events are settled (marked sent, in the index), nothing is published.
    later = [routed(n, who=f"late{n}", minute=30) for n in range(10, 13)]
    again, second = Publisher(), ledger(dynamodb, "invocation-2")
    assert deliver(later, again, forming(dynamodb, 2, second), second) == (0, 0)
    assert again.sent == []
    states = {item.event_key: second._get(item)["state"]["S"] for item in claimables(later)}  # type: ignore[index]
    assert set(states.values()) == {"sent"}
    # The next window starts afresh: two alerts again.
    next_hour = [routed(n, who=f"next{n}", minute=0) for n in range(20, 23)]
    next_hour = [Routed(Match(i.match.source, i.match.index, {**i.match.record, "eventTime": "2024-01-01T11:05:00Z"},
                              i.match.rules), i.rules) for i in next_hour]
    third_publisher, third = Publisher(), ledger(dynamodb, "invocation-3")
    assert deliver(next_hour, third_publisher, forming(dynamodb, 2, third), third) == (3, 0)


def test_a_retry_of_an_admitted_group_takes_no_second_place(dynamodb: Any) -> None:
    items = [routed(0, who="a"), routed(1, who="b")]
    first_key = items[0].match.record["eventID"]
    publisher, first = Publisher(fail=frozenset({first_key})), ledger(dynamodb)
    with pytest.raises(PublishFailed):
        deliver(items, publisher, forming(dynamodb, 2, first), first)
    retry, second = Publisher(), ledger(dynamodb, "invocation-2")
    assert deliver(items, retry, forming(dynamodb, 2, second), second) == (1, 1)
    assert not any(m.summary for m in retry.sent)  # admitted again, not held back


def test_a_refused_summary_is_released_whole_and_sent_by_the_retry(dynamodb: Any) -> None:
    items = [routed(n, who=f"user{n}") for n in range(4)]
    key = "summary:security-group-changes:1704103200"
    publisher, first = Publisher(fail=frozenset({key})), ledger(dynamodb)
    with pytest.raises(PublishFailed):
        deliver(items, publisher, forming(dynamodb, 1, first), first)
    assert [m.summary for m in publisher.sent] == [False]
    retry, second = Publisher(), ledger(dynamodb, "invocation-2")
    assert deliver(items, retry, forming(dynamodb, 1, second), second) == (1, 1)
    [summary] = retry.sent
    assert summary.summary and len(summary.event_keys) == 1 + 3


def test_a_summary_another_invocation_is_sending_defers_the_held_back_events(dynamodb: Any) -> None:
    other = ledger(dynamodb, "other")
    from trailsift.sinks.once import EventKey

    other.claim([EventKey("summary:security-group-changes:1704103200")])
    items = [routed(n, who=f"user{n}") for n in range(3)]
    publisher, mine = Publisher(), ledger(dynamodb)
    with pytest.raises(DeliveryPending):
        deliver(items, publisher, forming(dynamodb, 1, mine), mine)
    assert [m.summary for m in publisher.sent] == [False]
    held = claimables(items[1:])
    assert all(mine._get(item)["claimed_at"]["N"] == "0" for item in held)  # type: ignore[index]  # released


def test_without_a_ledger_the_bound_and_the_summary_are_the_invocations() -> None:
    shared = forming(None, 2)
    first = [routed(n, who=f"user{n}") for n in range(4)]
    second = [routed(n, who=f"other{n}") for n in range(10, 13)]
    publisher = Publisher()
    assert deliver(first, publisher, shared, None) == (3, 0)
    assert deliver(second, publisher, shared, None) == (0, 0)  # one summary per rule and window: sent already
    assert [m.summary for m in publisher.sent] == [False, False, True]


def test_with_a_bound_a_group_is_cut_at_the_window_edge_so_each_summary_query_lists_what_it_settles() -> None:
    spanning = [routed(0, minute=59, hour=10), routed(1, minute=0, hour=11), routed(2, minute=1, hour=11)]
    publisher = Publisher()
    assert deliver(list(reversed(spanning)), publisher, forming(None, 5), None) == (2, 0)  # any claim order
    assert [m.event_keys for m in publisher.sent] == [
        (spanning[0].match.record["eventID"],),
        (spanning[1].match.record["eventID"], spanning[2].match.record["eventID"]),
    ]
    unbounded = Publisher()
    assert deliver(spanning, unbounded, forming(None), None) == (1, 0)  # no bound: one group, whatever the hour


def test_send_covering_refuses_messages_that_do_not_cover_each_event_once(dynamodb: Any) -> None:
    def twice(claimed: list[Claimable]) -> Formed[Message]:
        keys = tuple(c.event_key for c in claimed)
        return Formed([Message(keys[0], keys), Message(keys[0] + "x", keys[:1])])

    with pytest.raises(ValueError, match="exactly once"):
        send_covering(claimables([routed(0), routed(1)]), twice, Publisher(), ledger(dynamodb), noun="alert")


def test_windows_are_cut_on_the_events_time() -> None:
    group = AlertGroup(SG, (), (routed(0, minute=59),))
    assert window_of(group, 3600) == Window(1704103200, 3600)
    assert (window_of(group, 3600).since, window_of(group, 3600).until) == ("2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z")
    timeless = AlertGroup(SG, (), (Routed(Match("f", 0, {"eventID": "x"}, ("r",)), (SG,)),))
    assert window_of(timeless, 60, now=lambda: 125.0) == Window(120, 60)
    held = HeldBack(SG, Window(1704103200, 3600), (group,), 20)
    assert held.query("idx") == (
        "trailsift query --rule security-group-changes --since 2024-01-01T10:00:00Z --until 2024-01-01T11:00:00Z --table idx"
    )


def test_the_rate_counter_admits_up_to_the_limit_idempotently(dynamodb: Any) -> None:
    counter = RateCounter(dynamodb, TABLE, limit=2)
    window = Window(3600, 3600)
    assert [counter.admit("r", window, i) for i in "xyzxy"] == [True, True, False, True, True]
    assert counter.admit("other-rule", window, "z") and counter.admit("r", Window(7200, 3600), "z")
    [item] = [i for i in dynamodb.scan(TableName=TABLE)["Items"] if i["pk"]["S"] == "RATE#r#3600"]
    assert set(item["admitted"]["SS"]) == {"x", "y"} and item["expires_at"]["N"] == str(7200 + 86400)
    assert "rule" not in item  # no GSI key: no index query returns it


# --- any mix of ledger states, bounds and refusals: each event settled once ----------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from trailsift.sinks.once import Claim  # noqa: E402


class MemoryLedger:
    """The ledger's semantics in memory: a key is free, claimed by us, held elsewhere, or sent."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = dict(states)

    def claim(self, items: Sequence[Any]) -> Claim[Any]:
        claim: Claim[Any] = Claim()
        for item in {item.event_key: item for item in reversed(items)}.values():
            state = self.states.get(item.event_key)
            if state in (None, "released"):
                self.states[item.event_key] = "ours"
                claim.to_send.append(item)
            else:
                (claim.already_sent if state == "sent" else claim.held_elsewhere).append(item)
        return claim

    def mark_sent(self, items: Sequence[Any]) -> None:
        for item in items:
            assert self.states.get(item.event_key) == "ours", item.event_key
            self.states[item.event_key] = "sent"

    def release(self, items: Sequence[Any]) -> None:
        for item in items:
            assert self.states.get(item.event_key) == "ours", item.event_key
            self.states[item.event_key] = "released"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([10, 11]), st.booleans()), min_size=1,
             max_size=25),
    st.lists(st.sampled_from([None, "sent", "held"]), min_size=25, max_size=25),
    st.sampled_from([None, 1, 2, 5]),
    st.sampled_from([None, "sent", "held"]),
    st.sets(st.integers(0, 24), max_size=3),
)
def test_each_claimed_event_ends_in_one_sent_alert_or_settled_or_handed_back(
    spec: list[tuple[str, int, bool]], states: list[str | None], limit: int | None, summary_state: str | None,
    refused: set[int],
) -> None:
    items = [routed(n, TRAIL if critical else SG, who=who, minute=n, hour=hour)
             for n, (who, hour, critical) in enumerate(spec)]
    keys = [item.match.record["eventID"] for item in items]
    window = {item.match.record["eventID"]: f"summary:{item.rules[0].name}:{1704103200 + 3600 * (hour - 10)}"
              for item, (_, hour, _) in zip(items, spec)}
    initial = {key: state for key, state in zip(keys, states) if state}
    if summary_state:  # the first hour's summaries were sent, or are being sent, by another invocation
        initial |= {f"summary:{rule.name}:1704103200": summary_state for rule in (SG, TRAIL)}
    ledger = MemoryLedger(initial)
    fail = frozenset(keys[i] for i in refused if i < len(keys))
    publisher = Publisher(fail=fail)
    forming = AlertForming(as_group, as_summary, None if limit is None else InvocationBound(limit), ledger)
    try:
        send_covering(claimables(items), lambda claimed: forming.form(claimed, "f"), publisher, ledger, noun="alert")
    except (PublishFailed, DeliveryPending):
        pass
    sent = Counter(key for message in publisher.sent for key in message.event_keys)
    assert all(n == 1 for n in sent.values())  # no event, no summary, in two sent messages
    for key in keys:
        before, after = initial.get(key), ledger.states.get(key)
        if before == "sent":
            assert sent[key] == 0 and after == "sent"
        elif before == "held":
            assert sent[key] == 0 and after == "held"
        else:  # ours: sent in one alert or summary (marked), settled by a sent summary (marked), or handed back
            assert after in ("sent", "released"), (key, after)
            if after == "sent" and sent[key] == 0:  # settled: its rule and window's summary went out
                assert ledger.states[window[key]] == "sent"
            if sent[key]:
                assert after == "sent"
    summaries = [m for m in publisher.sent if m.summary]
    assert len({m.event_key for m in summaries}) == len(summaries)  # one summary per rule and window
