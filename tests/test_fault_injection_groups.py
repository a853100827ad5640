"""Fault injection for grouped alerts and the rate bound's summaries: each event in exactly one delivered alert.

The machinery is tests/test_fault_injection.py's (its stack of four real log files and a corrupt one, its
injector of HTTP faults, failed batch entries and crashes before or after any call, its Lambda with
retries, warm environments, new or kept request ids, redrives of the failure queue, duplicate
deliveries during or after the first, attempts short of time). Here the function runs as deployed by
default: alerts grouped by rule and principal per file (the second file's 14 alert matches make 6
alerts: 2, 3, 3 and 4 events and two alone), and the rate bound counted in the index table; some
schedules lower the bound to 1 or 2 alerts per rule per hour so that the summaries are exercised
(the first file's three cloudtrail-changes events and the second file's one share a window: one alert,
then one summary of two, then the second file's event is settled by that summary).

A PublishBatch entry settles each event its alert names (the JSON document's ``eventIDs``) and, for a
summary, its own ledger key ``summary:<rule>:<window start>``. After the retries, every schedule must end
with:

- every matched event of an alert rule in at least one received alert, or in none because the summary of
  its rule and window was received (and its ledger item is "sent": the summary's query lists it);
- no event received more often than once plus the times SNS accepted an alert naming it without the
  ledger recording it (the documented window), and, when no summary is involved, exactly that often;
- every event's and every summary's ledger item "sent", no rate counter past its limit, the index rows
  and bus events exactly as without grouping, the corrupt file dead-lettered and nothing else;
- without faults, exactly the groups the sink forms (and with the bound at 1, the summary).

``TRAILSIFT_FAULT_GROUP_SEEDS`` sets the number of random schedules (51 by default: with the 9 hand-written
ones 60, about 2.5 minutes on one core).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import warnings
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import tests.test_fault_injection as fi
from tests.test_fault_injection import (  # noqa: F401 - the fixtures are used by name
    ALERT,
    BUS,
    CLAIM,
    ENTRIES,
    FILES,
    MARK,
    PUBLISH,
    BATCH_KINDS,
    Point,
    Rule,
    Schedule,
    Stack,
    shared_stack,
    stack,
)
from trailsift.alerts import format_group, format_summary
from trailsift.engine import RuleEngine
from trailsift.grouping import primary_rule
from trailsift.ratebound import InvocationBound
from trailsift.record import event_key
from trailsift.rules import Destination, default_rules
from trailsift.scan import scan_log_file
from trailsift.sinks.alert_groups import AlertForming, claimables
from trailsift.sinks.base import Routed
from trailsift.triggers import ObjectRef

SEEDS = int(os.environ.get("TRAILSIFT_FAULT_GROUP_SEEDS", "51"))
WINDOW = 3600
SUMMARY = "summary:"
_SUMMARY_SUBJECT = re.compile(r"\[[a-z]+\] (?P<rule>\S+): past \d+ alerts in \d+ min, \d+ more held back")


def _window(time: str) -> int:
    moment = datetime.fromisoformat(time).replace(tzinfo=timezone.utc) if "+" not in time and not time.endswith("Z") \
        else datetime.fromisoformat(time)
    return int(moment.timestamp()) // WINDOW * WINDOW


def _expected() -> tuple[dict[str, str], list[list[frozenset[str]]]]:
    """Each alert event's ledger name -> the summary key of its rule and window; and, per rate limit, the
    alerts a clean run sends (each as the set of ledger names it settles), from the sink's own forming."""
    rules = default_rules()
    engine = RuleEngine(rules)
    alerting = {rule.name: rule for rule in rules if Destination.ALERT in rule.destinations}
    windows: dict[str, str] = {}
    routed_files = []
    for path in FILES:
        location = ObjectRef(fi.BUCKET, fi._key(path)).location
        routed = []
        for match in scan_log_file(path.read_bytes(), location, engine).matches:
            chosen = tuple(alerting[name] for name in match.rules if name in alerting)
            if chosen:
                routed.append(Routed(match, chosen))
                window = _window(match.record["eventTime"])
                windows[ALERT + event_key(match.record)] = f"{ALERT}{SUMMARY}{primary_rule(chosen).name}:{window}"
        routed_files.append((location, routed))
    clean = []
    for limit in (20, 1):
        forming = AlertForming(format_group, format_summary, InvocationBound(limit), None, WINDOW)
        sent = []
        for location, routed in routed_files:
            for alert in forming.form(claimables(routed), location).messages:
                sent.append(frozenset(ALERT + key for key in alert.event_keys))
        clean.append(sent)
    return windows, clean


WINDOWS, CLEAN = _expected()
EVENT_KEYS = frozenset(WINDOWS)
assert EVENT_KEYS == {key for key in fi.EXPECTED.keys if key.startswith(ALERT)}


def published_alert_keys(message: str) -> list[str]:
    """What one accepted alert settles: each event its document names, and a summary's own key."""
    structure = json.loads(message)
    return _keys(json.loads(structure["sqs"]), structure["default"])


def _keys(document: dict[str, Any], text: str | None = None) -> list[str]:
    keys = [ALERT + key for key in document["eventIDs"]]
    found = _SUMMARY_SUBJECT.fullmatch(document["subject"])
    if found:
        keys.insert(0, f"{ALERT}{SUMMARY}{found['rule']}:{_window(document['firstEventTime'])}")
    return keys


def test_the_files_make_groups_and_a_summary() -> None:
    by_size = sorted(len(alert) for alert in CLEAN[0])
    assert len(CLEAN[0]) == 11 and by_size.count(1) == 7 and by_size[-4:] == [2, 3, 3, 4]
    summaries = [alert for alert in CLEAN[1] if any(SUMMARY in key for key in alert)]
    # cloudtrail-changes: the first file's first event alerted, its other two in the summary; the second
    # file's StartLogging (same hour) is then settled by that summary and in no alert.
    assert len(summaries) == 1 and len(summaries[0]) == 1 + 2
    assert len(CLEAN[1]) == len(CLEAN[0]) - 2 and sum(map(len, CLEAN[1])) == len(EVENT_KEYS) - 1 + 1
    assert len(EVENT_KEYS) == 19


# --- schedules -------------------------------------------------------------------------------------

B, LATER, GAVE_UP = fi.UNRECORDED_CRASH_B, fi.UNRECORDED_CRASH, fi.UNRECORDED_GAVE_UP

# (schedule, rate limit). Publishes in one clean attempt at limit 20: #1 the first file's 3 alerts (one per
# cloudtrail-changes event), #2 the second file's 6 (14 events), #3 and #4 one each; marks are per event:
# #1-#3 the first file's, #4-#17 the second's.
HAND_WRITTEN: list[tuple[Schedule, int]] = [
    (Schedule("no faults", duplicates={}), 20),
    (Schedule("no faults, one alert per rule and hour", duplicates={}), 1),
    (Schedule("crash after publish #2: a group sent twice", crashes=(Point(PUBLISH, 2, "after"),), duplicates={B: 14}), 20),
    (Schedule("crash before publish #2", crashes=(Point(PUBLISH, 2),), duplicates={}), 20),
    # 2 of the second file's events marked (the 2-event group): the other 5 groups go out again, whole.
    (Schedule("crash before mark #6, inside a group's marks", crashes=(Point(MARK, 6),), duplicates={LATER: 12}), 20),
    (Schedule("entries failed in every batch for 2 attempts", rules=(Rule((ENTRIES,), kinds=BATCH_KINDS, attempts=2),),
              duplicates={}), 1),
    (Schedule(
        "duplicate delivery during the first (after claim #5): the groups split between invocations",
        duplicate=True, preempt=Point(CLAIM, 5, "after"), duplicates={},
    ), 20),
    (Schedule(
        "duplicate delivery during the first (after claim #2), bound 1: the summary claimed by one",
        duplicate=True, preempt=Point(CLAIM, 2, "after"), duplicates={},
    ), 1),
    (Schedule("rate counter down for 2 attempts", rules=(Rule((fi.THROTTLE, fi.SERVER, fi.TIMEOUT),
              kinds=frozenset({fi.RATE_ADMIT}), attempts=2),), duplicates={}), 2),
]


def random_schedule(seed: int) -> tuple[Schedule, int]:
    """The old file's random schedule of this seed (faults on every service, crashes, duplicates, short
    time), with a rate limit of 20 (the default), 2 or 1."""
    return fi.random_schedule(10_000 + seed), random.Random(f"limit-{seed}").choice([20, 20, 2, 1])


# --- running one schedule --------------------------------------------------------------------------

EXTRA: dict[str, Counter[str]] = {}  # run id -> what grouping did (summed by test_statistics)


def run_group_schedule(
    run_id: str, schedule: Schedule, limit: int, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    fi._environment_variables(stack, monkeypatch)
    monkeypatch.delenv("TRAILSIFT_ALERT_GROUP_MAX_EVENTS")  # the default: grouped
    monkeypatch.setenv("TRAILSIFT_ALERT_RATE_LIMIT", str(limit))
    monkeypatch.setattr(fi, "published_alert_keys", published_alert_keys)
    world = fi.World(schedule, stack, monkeypatch)
    where = f"{schedule.describe()}; rate limit {limit}"
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        world.play()
    injector = world.injector
    assert not world.anomalies, f"{where}: {world.anomalies}"

    documents = [json.loads(envelope["Message"]) for envelope in stack.drain(stack.subscriber_url)]
    settled = [_keys(document) for document in documents]
    received = Counter(key for keys in settled for key in keys)
    assert injector.published == sum(received.values()), f"{where}: SNS accepted {injector.published}"
    summaries = {key for key in received if SUMMARY in key}
    assert set(received) - summaries <= EVENT_KEYS, f"{where}: unexpected alerts {set(received) - EVENT_KEYS}"
    assert summaries <= set(WINDOWS.values()), f"{where}: unexpected summaries {summaries}"

    items = stack.table()
    ledger = {item["pk"]["S"]: item["state"]["S"] for item in items if item["pk"]["S"].startswith((ALERT, BUS))}
    unrecorded = injector.unrecorded
    covered = {key for key in EVENT_KEYS if received[key] == 0 and WINDOWS[key] in summaries}
    lost = EVENT_KEYS - set(received) - covered
    assert not lost, f"{where}: events in no alert and no summary: {sorted(lost)}"
    assert all(ledger.get(key) == "sent" for key in covered), f"{where}: a settled event's ledger item is not sent"
    unexplained = {key: n - 1 for key, n in received.items() if n - 1 > len(unrecorded.get(key, ()))}
    assert not unexplained, f"{where}: sent again outside the accepted-but-unrecorded window: {unexplained}"
    if not summaries and not covered:  # no summary involved: each unrecorded event went out again exactly once more
        missing = {key: why for key, why in unrecorded.items()
                   if not key.startswith(BUS) and received[key] - 1 < len(why)}
        assert not missing, f"{where}: accepted-but-unrecorded events not sent again: {missing}"
    if schedule.duplicates is not None:
        assert Counter(why for whys in unrecorded.values() for why in whys) == Counter(schedule.duplicates), where
    if not schedule.rules and not schedule.crashes and not schedule.duplicate:  # clean: exactly the sink's alerts
        assert sorted(map(sorted, map(frozenset, settled))) == sorted(map(sorted, CLEAN[0 if limit == 20 else 1])), where

    # The ledger: every event and every summary received "sent"; bus events and index rows as always.
    assert set(ledger) - {key for key in ledger if key.startswith(BUS)} == EVENT_KEYS | summaries, f"{where}: ledger keys"
    assert set(ledger.values()) == {"sent"}, f"{where}: ledger states {Counter(ledger.values())}"
    rates = [item for item in items if item["pk"]["S"].startswith(fi.RATE)]
    assert all(len(item["admitted"]["SS"]) <= limit for item in rates), f"{where}: a rate counter passed {limit}"
    events = Counter(
        fi.EXPECTED.events.get(json.dumps(event["detail"], sort_keys=True), "?")
        for event in stack.drain(stack.bus_subscriber_url)
    )
    assert set(events) == {key for key in fi.EXPECTED.keys if key.startswith(BUS)}, f"{where}: bus events"
    # Bus events are one per event whatever the grouping: each received once, plus once for each time
    # EventBridge accepted it without the ledger recording it (as in the per-event file).
    bus_unexplained = {key: n - 1 for key, n in events.items() if n - 1 > len(unrecorded.get(key, ()))}
    bus_missing = {key: why for key, why in unrecorded.items() if key.startswith(BUS) and events[key] - 1 < len(why)}
    assert not bus_unexplained and not bus_missing, f"{where}: bus events {bus_unexplained} {bus_missing}"
    rows = [(item["pk"]["S"], item["sk"]["S"]) for item in items if item["pk"]["S"].startswith("EVENT#")]
    assert len(rows) == len(set(rows)) and set(rows) == fi.EXPECTED.rows, f"{where}: index rows differ"
    assert len(items) == len(rows) + len(ledger) + len(rates), f"{where}: stray items in the table"
    letters = stack.drain(stack.failure_url)
    assert {letter["requestContext"]["condition"] for letter in letters} == {"PermanentFailure"}, where

    EXTRA[run_id] = Counter({
        "schedules": 1,
        "invocation attempts": world.attempts,
        "crashes": sum(injector.crashes.values()),
        "faults": sum(injector.faults.values()),
        "alerts received": len(documents),
        "grouped alerts received (2 or more events)": sum(len(d["eventIDs"]) > 1 for d in documents),
        "summaries received": sum(SUMMARY in keys[0] for keys in settled),
        "events settled by an earlier summary (in no alert)": len(covered),
        "events received more than once (the window)": sum(n > 1 for key, n in received.items() if SUMMARY not in key),
        "concurrent deliveries": world.stats["concurrent deliveries"],
        "redrive runs": world.redrives,
        "DynamoDB faults (ledger, rate counter)": sum(n for f, n in injector.faults.items() if f.startswith("dynamodb")),
    })


@pytest.mark.parametrize("case", HAND_WRITTEN, ids=[schedule.name for schedule, _ in HAND_WRITTEN])
def test_hand_written_schedule(case: tuple[Schedule, int], stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    schedule, limit = case
    run_group_schedule(f"hand-written {schedule.name}", schedule, limit, stack, monkeypatch)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_schedule(seed: int, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    schedule, limit = random_schedule(seed)
    run_group_schedule(f"random {seed}", schedule, limit, stack, monkeypatch)


def test_statistics(shared_stack: Stack) -> None:
    """What the schedules did, summed (``pytest -s`` prints it): every path was taken. Schedules not run yet
    in this process are run here."""
    schedules = {f"hand-written {schedule.name}": (schedule, limit) for schedule, limit in HAND_WRITTEN}
    schedules |= {f"random {seed}": random_schedule(seed) for seed in range(SEEDS)}
    for run_id, (schedule, limit) in schedules.items():
        if run_id not in EXTRA:
            shared_stack.reset()
            with pytest.MonkeyPatch.context() as monkeypatch:
                run_group_schedule(run_id, schedule, limit, shared_stack, monkeypatch)
    total: Counter[str] = sum((EXTRA[run_id] for run_id in schedules), Counter())
    print("\nfault injection, grouped alerts:\n" + "\n".join(f"  {name}: {n}" for name, n in total.items()))
    assert total["schedules"] == len(schedules)
    assert total["grouped alerts received (2 or more events)"] >= 4 * len(schedules)
    assert total["summaries received"] >= 5 and total["events settled by an earlier summary (in no alert)"] >= 3
    assert total["events received more than once (the window)"] >= 10
    assert total["crashes"] >= 10 and total["faults"] >= 100 and total["concurrent deliveries"] >= 2
