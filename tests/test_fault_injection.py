"""Fault injection: randomized schedules of AWS faults and crashes, played against the real handler on moto.

Each schedule runs ``functions/processor/app.py`` (loaded fresh with ``trailsift.cli.local.load_handler``) on one S3
notification naming four real log files and one corrupt file, with every sink configured: the index table, the
alert topic and the event bus (each match goes to all three, the index first, then SNS, then EventBridge). Every execution environment creates its
own boto3 clients, with the function's own retry policy (``trailsift.aws.clients``), and faults are
injected on two levels, as AWS makes them. Under botocore, on every HTTP request (retries included):
throttling, 5xx answers and connection timeouts (raised before the request reaches the service), which
botocore's standard retry mode retries a bounded number of times before the adapters see the error. In
front of the client, on each API call: batch calls answered with some entries failed on the service's
side (SNS and SQS ``Failed``, DynamoDB ``UnprocessedItems``, EventBridge ``ErrorCode`` entries), which only the
adapters' own loop resends;
and crashes of the execution environment, either just before the k-th call of a kind (the call never
happens) or just after it returned (its answer never seen; after a PublishBatch or a PutEvents, the delivery
ledger's documented duplicate window). Some schedules also run their first invocation attempts short of time:
each AWS call the function makes takes a second of what the context says is left, so the deadline
stops it mid-batch (files not started, retry waits refused). Probabilistic faults and short time only
last for the first few invocation attempts of a schedule (a few hand-written ones fault less often
instead), and each crash fires once, so every schedule can finish. botocore's and the adapters' backoff waits are skipped
(the retries still happen).

The harness plays Lambda: retries of one asynchronous invocation keep its request id (half the random
schedules give every attempt a new one instead) and run in a warm
environment when one is idle (a crashed one is gone: the next attempt loads the module again), each
event gets three attempts, then Lambda's on-failure record goes to the failure queue and
``trailsift.cli.redrive.redrive`` hands it back as a new invocation. A virtual clock (the ledger's) moves
on between attempts as Lambda's retry delays do. Some schedules deliver the notification twice, either
after the first delivery or *during* it (the second delivery runs while the first is paused at one of
its calls).

After the retries, every schedule must end with exactly the expected index rows, every expected alert and
bus event received (by the topic's subscriber queue and by the queue a rule on the bus targets), nothing
unexpected, every ledger item "sent", no on-failure record left in the failure queue, and each alert and
event received exactly 1 + n times, n being how often SNS or EventBridge accepted it without the ledger
recording it as sent (the documented window: the environment died between the accepted batch call and
``mark_sent``; or, without a crash, ``mark_sent`` failed after the client's retries). The injector
tracks n per ledger item ("ALERT#<event key>", "BUS#<event key>") from what each attempt sent and marked. Each schedule that passes keeps its
statistics in ``RUNS``; ``test_statistics`` runs every schedule not yet run in this process, sums them
all and checks and prints the sums (``pytest -s``), whatever ran before it (``-k``, random order,
xdist). The function runs with one alert per event and no rate bound (``TRAILSIFT_ALERT_GROUP_MAX_EVENTS=1``,
``TRAILSIFT_ALERT_RATE_LIMIT=0``): grouped alerts and summaries have their own file,
``tests/test_fault_injection_groups.py``, on the same machinery. ``TRAILSIFT_FAULT_SEEDS`` sets the number of random schedules (111 in ``make test``: with the 29
hand-written ones, 140; grouped alerts, the deployed default, get the other 60 of the suite's schedules).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import itertools
import json
import os
import random
import threading
import uuid
import warnings
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.conftest import FunctionStack, create_function_stack, drain_queue, fake_credentials
from tests.http_faults import SERVER, THROTTLE, TIMEOUT, HttpFaults

import trailsift.aws.eventbridge as eventbridge_module
import trailsift.aws.ledger as ledger_module
import trailsift.aws.dynamodb as dynamodb_module
import trailsift.aws.sns as sns_module
import trailsift.aws.sqs as sqs_module
from trailsift.alerts import format_alert
from trailsift.aws.clients import TOTAL_ATTEMPTS
from trailsift.engine import RuleEngine
from trailsift.cli.local import LambdaContext, load_handler
from trailsift.record import event_key
from trailsift.cli.redrive import RedriveFailed, redrive
from trailsift.rules import Destination, default_rules
from trailsift.sinks.eventbus import bus_event
from trailsift.scan import scan_log_file
from trailsift.triggers import ObjectRef, parse_trigger, s3_notification

REPO = Path(__file__).resolve().parent.parent
EVENTS_LOGS = REPO / "events" / "logs"
APP = REPO / "functions" / "processor" / "app.py"
BUCKET = "trailsift-faults-123456789012-us-east-1"
TABLE = "trailsift-faults-index"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:trailsift-local-ProcessorFunction"

SEEDS = int(os.environ.get("TRAILSIFT_FAULT_SEEDS", "111"))
LAMBDA_ATTEMPTS = 3  # one invocation and Lambda's default two retries
ATTEMPT_CAP = 12  # attempts of one delivery (retries and redrives together); reaching it is a potential loss
LEASE = 90  # DeliveryLedger's default lease_seconds


def _sample(account: str, stamp: str) -> Path:
    found = sorted(EVENTS_LOGS.glob(f"AWSLogs/{account}/CloudTrail/*/*/*/*/{account}_CloudTrail_*{stamp}*.json.gz"))
    assert len(found) == 1, found
    return found[0]


def _key(path: Path) -> str:
    posix = path.as_posix()
    return posix[posix.index("AWSLogs/") :]


# Four real files: 3 + 14 (two PublishBatch calls) + 1 + 1 alerts, 3 + 15 + 2 + 1 index rows.
FILES = [
    _sample("218007301253", "20230710T1205Z"),
    _sample("218007301253", "20230710T1215Z"),
    _sample("307578594326", "20240802T0830Z"),
    _sample("111122223333", "20230719T2140Z"),
]
# A file that fails for good: dead-lettered to the failure queue (so SQS SendMessageBatch is exercised).
CORRUPT_KEY = (
    "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/19/"
    "111122223333_CloudTrail_us-east-1_20230719T2145Z_CorruptCorruptCo.json.gz"
)
CORRUPT_BODY = gzip.compress(b'{"Records": [{"eventName": "StopLogging"', mtime=0)[:-8]  # truncated gzip


class Crash(BaseException):
    """The execution environment dies here (timeout, out of memory, host lost): nothing after it runs."""


# --- what must come out ----------------------------------------------------------------------------


# What is sent is named as the delivery ledger names it: "ALERT#<event key>" for an alert, "BUS#<event key>"
# for an event put on the bus.
ALERT, BUS = "ALERT#", "BUS#"


def canonical(text: str) -> str:
    """A JSON document as one comparable text (EventBridge hands a subscriber the detail re-serialized)."""
    return json.dumps(json.loads(text), sort_keys=True)


@dataclass(frozen=True)
class Expected:
    alerts: dict[str, str]  # message text -> "ALERT#<event key>"
    events: dict[str, str]  # canonical detail -> "BUS#<event key>"
    keys: frozenset[str]  # every ledger name: the alerts' and the events'
    rows: frozenset[tuple[str, str]]


def _expected() -> Expected:
    rules = default_rules()
    engine = RuleEngine(rules)
    alerting = {rule.name: rule for rule in rules if Destination.ALERT in rule.destinations}
    putting = {rule.name: rule for rule in rules if Destination.EVENTBUS in rule.destinations}
    indexing = {rule.name for rule in rules if Destination.INDEX in rule.destinations}
    alerts: dict[str, str] = {}
    events: dict[str, str] = {}
    rows: set[tuple[str, str]] = set()
    for path in FILES:
        location = ObjectRef(BUCKET, _key(path)).location
        for match in scan_log_file(path.read_bytes(), location, engine).matches:
            chosen = [alerting[name] for name in match.rules if name in alerting]
            if chosen:
                alert = format_alert(match, chosen, location)
                alerts[alert.per_protocol["sqs"]] = ALERT + alert.event_key  # what an SQS subscriber receives
            chosen = [putting[name] for name in match.rules if name in putting]
            if chosen:
                event = bus_event(match, chosen, location)
                events[canonical(event.entry["Detail"])] = BUS + event.event_key
            rows |= {(f"EVENT#{event_key(match.record)}", f"RULE#{name}") for name in match.rules if name in indexing}
    return Expected(alerts, events, frozenset(alerts.values()) | frozenset(events.values()), frozenset(rows))


EXPECTED = _expected()


def test_the_files_give_enough_alerts_events_and_rows() -> None:
    assert len(set(EXPECTED.alerts.values())) == len(EXPECTED.alerts) >= 10  # one alert per event, keys unique
    assert len(set(EXPECTED.events.values())) == len(EXPECTED.events) >= 10  # one bus event per event
    assert len(EXPECTED.keys) == len(EXPECTED.alerts) + len(EXPECTED.events)
    assert len(EXPECTED.rows) >= 10


# --- schedules -------------------------------------------------------------------------------------

# The kinds of call the injector counts (k-th call of a kind is counted over the whole schedule).
GET, PUBLISH, INDEX_WRITE, CLAIM, LEDGER_READ, MARK, RELEASE, DEAD_LETTER = (
    "get", "publish", "index_write", "claim", "ledger_read", "mark", "release", "dead_letter",
)
# The event bus's: PutEvents, and its ledger's claims and marks (counted apart from the alerts').
PUT_EVENTS, BUS_CLAIM, BUS_MARK = "put_events", "bus_claim", "bus_mark"
RATE_ADMIT, RATE = "rate_admit", "RATE#"  # the alert rate bound's counter (its conditional update)
SENDS = frozenset({PUBLISH, PUT_EVENTS})  # calls whose accepted entries a subscriber receives
ENTRIES = "entries"  # a batch call answered with some of its entries failed on the service's side
HTTP_FAULTS = (THROTTLE, SERVER, TIMEOUT)  # injected under botocore, on each HTTP request
BATCH_KINDS = frozenset({PUBLISH, PUT_EVENTS, INDEX_WRITE, DEAD_LETTER})  # the calls ENTRIES applies to


@dataclass(frozen=True)
class Rule:
    """Inject one of ``faults`` (with ``probability``) into calls of ``service`` (or of ``kinds``).

    ``attempts``: only during the schedule's first N invocation attempts (``None``: always);
    ``calls``: only on these numbers of the kind (``None``: any): HTTP requests for the HTTP faults (botocore's
    retries have their own numbers), API calls for ENTRIES.
    """

    faults: tuple[str, ...]
    probability: float = 1.0
    service: str | None = None
    kinds: frozenset[str] | None = None
    attempts: int | None = None
    calls: frozenset[int] | None = None

    def applies(self, service: str, kind: str, number: int, attempt: int) -> bool:
        return (
            (self.service is None or self.service == service)
            and (self.kinds is None or kind in self.kinds)
            and (self.attempts is None or attempt <= self.attempts)
            and (self.calls is None or number in self.calls)
        )


@dataclass(frozen=True)
class Point:
    """The k-th call of ``kind`` in the schedule, ``before`` it reaches the service or ``after`` it succeeded."""

    kind: str
    k: int
    when: str = "before"

    def __str__(self) -> str:
        return f"{self.when} {self.kind} #{self.k}"


@dataclass(frozen=True)
class Schedule:
    name: str
    seed: int = 0
    rules: tuple[Rule, ...] = ()
    crashes: tuple[Point, ...] = ()
    duplicate: bool = False  # the notification is delivered twice
    preempt: Point | None = None  # ... the second time while the first delivery is paused here
    duplicates: dict[str, int] | None = None  # hand-written: the duplicates it must produce, by window
    same_request_id: bool = True  # Lambda's retries of one event keep its request id (the ledger's owner)
    short_of_time: int = 0  # the first N attempts start with ``time_left_ms``, each AWS call taking CALL_MS of it
    time_left_ms: int = 40_000

    @property
    def accepted_publish_crash(self) -> bool:
        """A crash of kind (b): after a PublishBatch or PutEvents was accepted, before its answer was seen."""
        return any(point.kind in SENDS and point.when == "after" for point in self.crashes)

    def describe(self) -> str:
        parts = [f"{self.name} (seed {self.seed})"]
        for rule in self.rules:
            where = rule.service or ",".join(sorted(rule.kinds or ()))
            scope = f"attempts<={rule.attempts}" if rule.attempts else "always"
            calls = f" calls {sorted(rule.calls)}" if rule.calls else ""
            parts.append(f"{where}: {'/'.join(rule.faults)} p={rule.probability} {scope}{calls}")
        parts += [f"crash {point}" for point in self.crashes]
        if not self.same_request_id:
            parts.append("a new request id for every attempt")
        if self.short_of_time:
            parts.append(f"attempts<={self.short_of_time} start with {self.time_left_ms} ms, {CALL_MS} ms a call")
        if self.duplicate:
            parts.append(f"duplicate delivery{f' during the first, at {self.preempt}' if self.preempt else ''}")
        return "; ".join(parts)


# Why an alert may be received twice: SNS accepted it, and the ledger never recorded it as sent because ...
UNRECORDED_CRASH_B = "(b) the environment crashed right after the accepted publish"
UNRECORDED_CRASH = "the environment crashed later, before mark_sent recorded it"
UNRECORDED_GAVE_UP = "mark_sent gave up (DynamoDB faults outlasted the client's retries)"

MAX_K = {GET: 10, PUBLISH: 7, INDEX_WRITE: 3, CLAIM: 30, MARK: 30, PUT_EVENTS: 7, BUS_CLAIM: 30, BUS_MARK: 30}
# What each AWS call takes of a short-of-time attempt's budget; a clean attempt makes about 55 calls, and the
# function's default 10 s margin (at most a quarter of the start) leaves 15, 30 or 50 of them.
CALL_MS = 1_000
MAIN_THREAD_KINDS = [CLAIM, PUBLISH, MARK, INDEX_WRITE, BUS_CLAIM, PUT_EVENTS, BUS_MARK]  # calls made by the handler's thread (not the fetch pool)


SERVICES = ("s3", "sns", "dynamodb", "sqs", "events")


def random_schedule(seed: int) -> Schedule:
    rng = random.Random(seed)
    rules = []
    for service in SERVICES:
        if rng.random() < 0.6:
            kinds = [*HTTP_FAULTS, ENTRIES] if service != "s3" else list(HTTP_FAULTS)
            faults = tuple(rng.sample(kinds, rng.randint(1, len(kinds))))
            probability = rng.choice([0.1, 0.25, 0.5, 0.8, 1.0])
            rules.append(Rule(faults, probability, service=service, attempts=rng.randint(1, 4)))
    crashes = []
    for _ in range(rng.choices([0, 1, 2], [0.3, 0.5, 0.2])[0]):
        kind = rng.choice([GET, PUBLISH, PUBLISH, INDEX_WRITE, CLAIM, MARK, PUT_EVENTS, PUT_EVENTS, BUS_MARK])
        when = "before" if kind == GET else rng.choice(["before", "after"])
        crashes.append(Point(kind, rng.randint(1, MAX_K[kind]), when))
    duplicate = rng.random() < 0.35
    preempt = None
    if duplicate and rng.random() < 0.6:
        kind = rng.choice(MAIN_THREAD_KINDS)
        preempt = Point(kind, rng.randint(1, MAX_K[kind] // 2), rng.choice(["before", "after"]))
    same_request_id = rng.random() < 0.5
    short_of_time = rng.choices([0, 1, 2, 3], [0.6, 0.2, 0.1, 0.1])[0]
    time_left_ms = rng.choice([20_000, 40_000, 60_000])
    return Schedule(
        "random", seed, tuple(rules), tuple(crashes), duplicate, preempt, same_request_id=same_request_id,
        short_of_time=short_of_time, time_left_ms=time_left_ms,
    )


B, LATER, GAVE_UP = UNRECORDED_CRASH_B, UNRECORDED_CRASH, UNRECORDED_GAVE_UP
EVERY_KIND = frozenset(
    {GET, PUBLISH, INDEX_WRITE, CLAIM, LEDGER_READ, MARK, RELEASE, DEAD_LETTER, PUT_EVENTS, BUS_CLAIM, BUS_MARK}
)

# Publishes in one clean attempt: #1 the first file's 3 alerts, #2 and #3 the second file's 10 + 4, #4, #5 one each.
HAND_WRITTEN = [
    Schedule("crash before publish #1", crashes=(Point(PUBLISH, 1),), duplicates={}),
    Schedule("crash after publish #1", crashes=(Point(PUBLISH, 1, "after"),), duplicates={B: 3}),
    Schedule("crash after publish #2", crashes=(Point(PUBLISH, 2, "after"),), duplicates={B: 10}),
    # Each PublishBatch's alerts are marked sent as soon as SNS answers, so a crash before the next
    # publish re-sends nothing; a crash inside a batch's marking re-sends that batch's unmarked rest.
    Schedule("crash before publish #3", crashes=(Point(PUBLISH, 3),), duplicates={}),
    Schedule("crash before mark #6", crashes=(Point(MARK, 6),), duplicates={LATER: 8}),  # 2nd file: 2 of a 10-batch marked
    Schedule("crash before index write #2", crashes=(Point(INDEX_WRITE, 2),), duplicates={}),
    Schedule("crash after claim #5", crashes=(Point(CLAIM, 5, "after"),), duplicates={}),
    Schedule("crash before dead letter #1", crashes=(Point(DEAD_LETTER, 1),), duplicates={}),
    # botocore's retries absorb these: every call succeeds at its second request
    Schedule("throttling on the first request of every kind", rules=(Rule((THROTTLE,), kinds=EVERY_KIND, calls=frozenset({1})),), duplicates={}),
    Schedule("a 500 or a timeout on every other request", rules=(Rule((SERVER, TIMEOUT), kinds=EVERY_KIND, calls=frozenset(range(1, 200, 2))),), duplicates={}),
    Schedule("500 on every S3 GET for 3 attempts", rules=(Rule((SERVER,), service="s3", attempts=3),), duplicates={}),
    Schedule("SNS down for 3 attempts", rules=(Rule((THROTTLE, SERVER, TIMEOUT), service="sns", attempts=3),), duplicates={}),
    # only the adapters resend failed entries: every batch call of the first two attempts, then half of all of
    # them, fail some of their entries (each with probability 1/2)
    Schedule("entries failed in every batch for 2 attempts", rules=(Rule((ENTRIES,), kinds=BATCH_KINDS, attempts=2),), duplicates={}),
    Schedule("entries failed in every batch call, always", rules=(Rule((ENTRIES,), 0.5, kinds=BATCH_KINDS),), duplicates={}),
    Schedule("DynamoDB down for 3 attempts", rules=(Rule((THROTTLE, SERVER, TIMEOUT), service="dynamodb", attempts=3),), duplicates={}),
    # The event bus comes after the alerts, file by file: PutEvents #1 holds the first file's 3 events.
    Schedule("crash after put_events #1", crashes=(Point(PUT_EVENTS, 1, "after"),), duplicates={B: 3}),
    Schedule("crash before put_events #2", crashes=(Point(PUT_EVENTS, 2),), duplicates={}),
    Schedule("crash before bus mark #2", crashes=(Point(BUS_MARK, 2),), duplicates={LATER: 2}),
    Schedule("EventBridge down for 3 attempts", rules=(Rule((THROTTLE, SERVER, TIMEOUT), service="events", attempts=3),), duplicates={}),
    Schedule("failure queue down for 4 attempts", rules=(Rule((TIMEOUT, SERVER), service="sqs", attempts=4),), duplicates={}),
    # No crash: SNS accepted the alerts, then every mark_sent of the first attempt ran out of retries.
    Schedule("mark_sent fails for good in attempt 1", rules=(Rule((SERVER, THROTTLE), kinds=frozenset({MARK}), attempts=1),), duplicates={GAVE_UP: 15}),
    # Only the first alert's mark fails (every request botocore makes); mark_sent stops there, so the first
    # file's other 2 go out again too.
    Schedule("the first mark fails for good", rules=(Rule((SERVER,), kinds=frozenset({MARK}), calls=frozenset(range(1, TOTAL_ATTEMPTS + 1))),), duplicates={GAVE_UP: 3}),
    Schedule("duplicate delivery after the first", duplicate=True, duplicates={}),
    Schedule(
        "duplicate delivery during the first (after claim #5), crash before publish #2",
        crashes=(Point(PUBLISH, 2),),
        duplicate=True,
        preempt=Point(CLAIM, 5, "after"),
        duplicates={},
    ),
    Schedule(
        "duplicate delivery during the first (before claim #6), crash after publish #2",
        crashes=(Point(PUBLISH, 2, "after"),),
        duplicate=True,
        preempt=Point(CLAIM, 6),
        duplicates={B: 10},
    ),
    Schedule(
        "duplicate delivery during the first (after publish #2), crash before publish #3",
        crashes=(Point(PUBLISH, 3),),
        duplicate=True,
        preempt=Point(PUBLISH, 2, "after"),
        duplicates={},
    ),
    Schedule("time runs out mid-batch in attempt 1", short_of_time=1, duplicates={}),
    Schedule("time runs out in two attempts, new request ids", short_of_time=2, same_request_id=False, duplicates={}),
    Schedule(
        "time runs out while SNS and DynamoDB throttle",
        rules=(
            Rule((THROTTLE,), 0.5, service="sns", attempts=2),
            Rule((THROTTLE,), 0.5, service="dynamodb", attempts=2),
        ),
        short_of_time=2,
        time_left_ms=60_000,
    ),
]


# --- the statistics --------------------------------------------------------------------------------

def new_stats() -> dict[str, Any]:
    """The statistics of one schedule, all zero."""
    return {
        "schedules": 0,
        "random schedules": 0,
        "hand-written schedules": 0,
        "faults": Counter(),  # "service fault" -> injected (HTTP faults per request, "entries" per batch call)
        "HTTP requests": 0,  # sent by the function's clients, botocore's retries included
        "calls rescued by botocore's retries": 0,  # an HTTP fault, then success: the adapter never saw it
        "calls failed after botocore's retries": 0,  # raised to the adapter, which does not retry a whole call
        "batch calls with entries failed": 0,  # answered with some entries failed: resent by the adapter alone
        "crashes": Counter(),  # "before publish" ... -> fired
        "invocation attempts": 0,
        "environments loaded": 0,
        "attempts failed on alerts claimed elsewhere": 0,
        "attempts short of time": 0,
        "attempts that deferred files (not started)": 0,
        "redrive runs": 0,
        "schedules with a new request id per attempt": 0,
        "duplicate deliveries": 0,
        "concurrent deliveries": 0,
        "alerts published (accepted entries)": 0,
        "alerts received": 0,
        "bus events put (accepted entries)": 0,
        "bus events received": 0,
        "dead letters queued": 0,
        "schedules with duplicates": Counter(),  # window -> schedules
        "schedules with duplicates but no crash of kind (b)": 0,
        "duplicate alerts and events": Counter(),  # window -> extra copies received
        "unexplained duplicates": [],  # descriptions
        "losses": [],  # descriptions
    }


RUNS: dict[str, dict[str, Any]] = {}  # schedule id -> its statistics, kept by run_schedule once it passed


def summed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The statistics of ``runs`` added up (numbers summed, counters merged, lists joined)."""
    total = new_stats()
    for run in runs:
        for name, value in run.items():
            if isinstance(total[name], Counter):
                total[name].update(value)
            else:
                total[name] += value
    return total


# --- the injector ----------------------------------------------------------------------------------


def published_alert_keys(message: str) -> list[str]:
    """The ledger names of what one accepted PublishBatch entry settles: here one alert, one event
    (tests/test_fault_injection_groups.py replaces it: a grouped alert settles each of its events)."""
    return [EXPECTED.alerts.get(json.loads(message)["sqs"], "?")]  # MessageStructure json


def _kind(service: str, operation: str, params: dict[str, Any]) -> str | None:
    if (service, operation) == ("s3", "get_object"):
        return GET
    if (service, operation) == ("sns", "publish_batch"):
        return PUBLISH
    if (service, operation) == ("events", "put_events"):
        return PUT_EVENTS
    if (service, operation) == ("sqs", "send_message_batch"):
        return DEAD_LETTER
    if service == "dynamodb":
        if operation == "batch_write_item":
            return INDEX_WRITE
        pk = (params.get("Item") or params.get("Key") or {}).get("pk", {}).get("S", "")
        if operation == "put_item":
            return BUS_CLAIM if pk.startswith(BUS) else CLAIM
        if operation == "get_item":
            return LEDGER_READ
        if operation == "update_item":
            if pk.startswith(RATE):
                return RATE_ADMIT
            if ":sent" not in params.get("UpdateExpression", ""):
                return RELEASE
            return BUS_MARK if pk.startswith(BUS) else MARK
    return None


@dataclass
class Env:
    """One execution environment: its own module (caches, clients) and whether it has died."""

    module: ModuleType
    number: int
    attempt: int = 0  # the schedule-wide number of the invocation running in it
    dead: bool = False
    published: set[str] = field(default_factory=set)  # ledger names SNS or EventBridge accepted in this attempt
    marked: set[str] = field(default_factory=set)  # ledger names this attempt recorded as sent
    crashed_batch: set[str] = field(default_factory=set)  # the accepted publish a crash came right after
    context: LambdaContext = field(default_factory=LambdaContext)  # the running attempt's


@dataclass
class ShortOnTime(LambdaContext):
    """Lambda's context for an attempt short of time: each AWS call the function makes takes CALL_MS of ``left_ms``."""

    left_ms: int = 0

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return self.left_ms


class Injector:
    """Decides, per intercepted API call and per HTTP request, whether it fails, crashes, or goes through
    (thread-safe). The kind of the API call a request belongs to is known per thread (``current``)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.random = random.Random(f"faults-{schedule.seed}-{schedule.name}")
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # API calls by kind
        self.requests: Counter[str] = Counter()  # HTTP requests by kind
        self.fired: set[Point] = set()
        self.faults: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # what botocore's and the adapters' retries met (names of new_stats)
        self.current = threading.local()  # .kind and .faulted of the API call this thread is in
        # ledger name -> why (one entry per time) SNS or EventBridge accepted it and the ledger never recorded it
        self.unrecorded: dict[str, list[str]] = {}
        self.published = 0  # alerts SNS accepted
        self.put = 0  # events EventBridge accepted
        self.preempt_hook: Any = None  # runs the concurrent delivery

    def unrecorded_window(self, env: Env, why: str, batch: set[str] | None = None) -> None:
        """What ``env``'s attempt published without recording it as sent goes out again (the ledger's window).

        ``batch``: the keys of the publish the crash came right after (window (b)); the others get ``why``.
        """
        with self.lock:
            for key in env.published - env.marked:
                self.unrecorded.setdefault(key, []).append(UNRECORDED_CRASH_B if batch and key in batch else why)
            env.marked |= env.published  # accounted for

    def note(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def decide_call(self, env: Env, service: str, kind: str) -> tuple[str | None, str | None]:
        """(action, preemption) for an API call: action is None, ENTRIES, "crash-before" or "crash-after";
        preemption is None, "before" or "after" (when the concurrent delivery runs, around this call)."""
        with self.lock:
            self.counts[kind] += 1
            number = self.counts[kind]
            preempt = self.schedule.preempt
            if preempt is not None and (preempt.kind, preempt.k) == (kind, number) and preempt not in self.fired:
                self.fired.add(preempt)
                preempt_when: str | None = preempt.when
            else:
                preempt_when = None
            for point in self.schedule.crashes:
                if (point.kind, point.k) == (kind, number) and point not in self.fired:
                    self.fired.add(point)
                    self.crashes[f"{point.when} {kind}"] += 1
                    return f"crash-{point.when}", preempt_when
            if kind in BATCH_KINDS:
                for rule in self.schedule.rules:
                    if (
                        ENTRIES in rule.faults
                        and rule.applies(service, kind, number, env.attempt)
                        and self.random.random() < rule.probability
                    ):
                        self.faults[f"{service} {ENTRIES}"] += 1
                        return ENTRIES, preempt_when
            return None, preempt_when

    def decide_request(self, env: Env, service: str) -> str | None:
        """The HTTP fault (or None) for one request of the API call this thread is in."""
        kind = getattr(self.current, "kind", None)
        if kind is None:
            return None
        with self.lock:
            self.requests[kind] += 1
            number = self.requests[kind]
            for rule in self.schedule.rules:
                faults = [fault for fault in rule.faults if fault in HTTP_FAULTS]
                if faults and rule.applies(service, kind, number, env.attempt) and self.random.random() < rule.probability:
                    fault = self.random.choice(faults)
                    self.faults[f"{service} {fault}"] += 1
                    self.current.faulted += 1
                    return fault
            return None

    def fail_entries(self, service: str, params: dict[str, Any], call: Any) -> dict[str, Any]:
        """A batch call whose service accepts a random part of its entries (at least one fails): the rest is
        sent for real, the failed ones answered as the service does (``Failed`` or ``UnprocessedItems``)."""
        self.note("batch calls with entries failed")
        with self.lock:
            if service == "dynamodb":
                [(table, entries)] = params["RequestItems"].items()
            else:
                entries = params["PublishBatchRequestEntries" if service == "sns" else "Entries"]
            failing = [entry for entry in entries if self.random.random() < 0.5] or [entries[0]]
        passing = [entry for entry in entries if entry not in failing]
        if service == "events":  # one answer per entry, in the request's order
            answered = iter(call(**{**params, "Entries": passing})["Entries"] if passing else [])
            results = [
                next(answered) if entry in passing else {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
                for entry in entries
            ]
            return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}
        if service == "dynamodb":
            if passing:
                call(RequestItems={table: passing})
            return {"UnprocessedItems": {table: failing}}
        failed = [{"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False} for e in failing]
        if not passing:
            return {"Successful": [], "Failed": failed}
        field = "PublishBatchRequestEntries" if service == "sns" else "Entries"
        answer = call(**{**params, field: passing})
        return {**answer, "Failed": [*answer.get("Failed", []), *failed]}


class FaultyClient:
    """A boto3 client as the function sees it, with the schedule's call-level faults in front of the calls
    that matter (its HTTP-level faults are injected under botocore, by :class:`HttpFaults` on the client)."""

    def __init__(self, client: Any, service: str, env: Env, injector: Injector) -> None:
        self._client, self._service, self._env, self._injector = client, service, env, injector
        HttpFaults(client, lambda operation: injector.decide_request(env, service))

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("can_paginate", "get_paginator"):
            return attribute

        def call(**params: Any) -> Any:
            env, injector = self._env, self._injector
            if env.dead:  # a dead environment makes no more calls (its fetch threads included)
                raise Crash(f"environment {env.number} is gone")
            kind = _kind(self._service, name, params)
            if kind is None:
                return attribute(**params)
            if isinstance(env.context, ShortOnTime):
                with injector.lock:  # fetch threads call too
                    env.context.left_ms -= CALL_MS
            action, preempt = injector.decide_call(env, self._service, kind)
            if preempt == "before":
                injector.preempt_hook()
            if action == "crash-before":
                env.dead = True
                raise Crash(f"before {kind} #{injector.counts[kind]}")
            injector.current.kind, injector.current.faulted = kind, 0
            try:
                if action == ENTRIES:
                    answer = injector.fail_entries(self._service, params, attribute)
                else:
                    answer = attribute(**params)
            except Exception:
                if injector.current.faulted:
                    injector.note("calls failed after botocore's retries")
                if action == "crash-after":
                    env.dead = True
                    raise Crash(f"after {kind} #{injector.counts[kind]} (which failed)") from None
                raise
            finally:
                rescued, injector.current.kind = injector.current.faulted, None
            if rescued:
                injector.note("calls rescued by botocore's retries")
            if kind in SENDS:
                if kind == PUBLISH:
                    accepted = {entry["Id"] for entry in answer.get("Successful", [])}
                    keys = [
                        key
                        for entry in params["PublishBatchRequestEntries"]
                        if entry["Id"] in accepted
                        for key in published_alert_keys(entry["Message"])
                    ]
                else:
                    keys = [
                        EXPECTED.events.get(canonical(entry["Detail"]), "?")
                        for entry, result in zip(params["Entries"], answer.get("Entries", []))
                        if result.get("EventId")
                    ]
                env.published.update(keys)
                if action == "crash-after":
                    env.crashed_batch = set(keys)
                with injector.lock:
                    if kind == PUBLISH:
                        injector.published += len(keys)
                    else:
                        injector.put += len(keys)
            elif kind in (MARK, BUS_MARK):
                env.marked.add(params["Key"]["pk"]["S"])
            if action == "crash-after":
                env.dead = True
                raise Crash(f"after {kind} #{injector.counts[kind]}")
            if preempt == "after":
                injector.preempt_hook()
            return answer

        return call


# --- the world of one schedule ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Delivery:
    number: int
    lineage: int  # the delivery it descends from (a redrive continues its lineage)
    event: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tries: int = 0  # attempts of this asynchronous invocation
    last_error: str = ""


@dataclass
class Stack(FunctionStack):
    event: dict[str, Any]

    @classmethod
    def create(cls) -> Stack:
        made = create_function_stack([BUCKET], TABLE)
        s3 = made.s3
        refs = []
        for key, body in [*((_key(path), path.read_bytes()) for path in FILES), (CORRUPT_KEY, CORRUPT_BODY)]:
            etag = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')
            refs.append(ObjectRef(BUCKET, key, size=len(body), etag=etag))
        return cls(**vars(made), event=s3_notification(refs))

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message of the queue, deleted as read."""
        return drain_queue(self.sqs, queue_url)

    def table(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=TABLE):
            items += page["Items"]
        return items

    def reset(self) -> None:
        """Back to the state after :meth:`create`: empty table and queues (the log files stay)."""
        items = self.table()
        for start in range(0, len(items), 25):
            requests = [{"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}} for item in items[start : start + 25]]
            assert not self.dynamodb.batch_write_item(RequestItems={TABLE: requests}).get("UnprocessedItems")
        for queue_url in (self.subscriber_url, self.failure_url, self.bus_subscriber_url):
            self.drain(queue_url)
        assert self.table() == []
        assert not any(self.drain(url) for url in (self.subscriber_url, self.failure_url, self.bus_subscriber_url))


@pytest.fixture(scope="module")
def shared_stack() -> Any:
    """One emulated account for the whole file (moto in-process); each schedule starts with :meth:`Stack.reset`."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_credentials(monkeypatch)
        with mock_aws():
            yield Stack.create()


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    shared_stack.reset()
    return shared_stack


class World:
    """Lambda, S3, SNS, SQS and DynamoDB for one schedule."""

    def __init__(self, schedule: Schedule, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.schedule = schedule
        self.stack = stack
        self.injector = Injector(schedule)
        self.injector.preempt_hook = self._concurrent_delivery
        self.random = random.Random(f"lambda-{schedule.seed}-{schedule.name}")
        self.clock = Clock()
        self.numbers = itertools.count(1)
        self.env_numbers = itertools.count(1)
        self.idle: list[Env] = []
        self.queue: deque[Delivery] = deque()
        self.destination: list[Delivery] = []  # deliveries whose on-failure record waits in the failure queue
        self.per_lineage: Counter[int] = Counter()
        self.attempts = 0
        self.redrives = 0
        self.anomalies: list[str] = []
        self.deliveries = 0
        self.second: Delivery | None = None
        self.started: set[int] = set()  # deliveries attempted at least once
        self.stats = new_stats()
        self._patch(monkeypatch)

    def _patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """botocore's and the adapters' backoff sleeps become no-ops; the ledger reads the virtual clock."""
        import botocore.endpoint

        clock = self.clock
        injector = self.injector
        monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))

        def no_sleep(seconds: float) -> None:
            return None

        class Publisher(sns_module.AlertPublisher):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "sleep": no_sleep})

        class Writer(dynamodb_module.IndexWriter):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "sleep": no_sleep})

        class Queue(sqs_module.DeadLetterQueue):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "sleep": no_sleep})

        class EventPublisher(eventbridge_module.EventPublisher):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "sleep": no_sleep})

        class Ledger(ledger_module.DeliveryLedger):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "clock": clock})

            def mark_sent(self, alerts: Any) -> None:
                try:
                    super().mark_sent(alerts)
                except Exception:
                    # SNS or EventBridge accepted these but the ledger could not record them: a retry sends them again
                    injector.unrecorded_window(self.client._env, UNRECORDED_GAVE_UP)
                    raise

        monkeypatch.setattr(sns_module, "AlertPublisher", Publisher)
        monkeypatch.setattr(dynamodb_module, "IndexWriter", Writer)
        monkeypatch.setattr(sqs_module, "DeadLetterQueue", Queue)
        monkeypatch.setattr(eventbridge_module, "EventPublisher", EventPublisher)
        monkeypatch.setattr(ledger_module, "DeliveryLedger", Ledger)

    # --- Lambda ---

    def _environment(self) -> Env:
        if self.idle:
            return self.idle.pop(self.random.randrange(len(self.idle)))
        module = load_handler(APP)
        env = Env(module, next(self.env_numbers))
        own_client = module.client  # the function's own: its retry policy, one client per service and environment
        # this module is private to the schedule: no undo needed
        module.client = functools.cache(lambda service: FaultyClient(own_client(service), service, env, self.injector))
        self.stats["environments loaded"] += 1
        return env

    def _attempt(self, delivery: Delivery) -> bool:
        """One invocation attempt; True when the handler returned (the event is done)."""
        env = self._environment()
        self.started.add(delivery.number)
        self.attempts += 1
        self.per_lineage[delivery.lineage] += 1
        env.attempt = self.attempts
        env.published, env.marked, env.crashed_batch = set(), set(), set()
        if not self.schedule.same_request_id:
            delivery.request_id = str(uuid.uuid4())
        if env.attempt <= self.schedule.short_of_time:
            env.context = ShortOnTime(aws_request_id=delivery.request_id, left_ms=self.schedule.time_left_ms)
            self.stats["attempts short of time"] += 1
        else:
            env.context = LambdaContext(aws_request_id=delivery.request_id)
        try:
            env.module.handler(delivery.event, env.context)
        except Crash as crash:
            delivery.last_error = f"Crash: {crash}"
            self.injector.unrecorded_window(env, UNRECORDED_CRASH, env.crashed_batch)
            return False  # the environment is gone with it
        except Exception as exc:  # InvocationFailed, or anything else the handler raised: Lambda retries
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            if "claimed by another invocation" in delivery.last_error:
                self.stats["attempts failed on alerts claimed elsewhere"] += 1
            if "not started: " in delivery.last_error:
                self.stats["attempts that deferred files (not started)"] += 1
            if env.dead:
                self.anomalies.append(f"crash turned into {type(exc).__name__} in attempt {env.attempt}")
                return False
            self.idle.append(env)
            return False
        if env.dead:
            self.anomalies.append(f"the handler returned although its environment crashed (attempt {env.attempt})")
            return True
        self.idle.append(env)
        return True

    def _run(self, delivery: Delivery) -> None:
        """Attempt ``delivery`` and schedule what Lambda does next."""
        if self._attempt(delivery):
            return
        delivery.tries += 1
        if self.per_lineage[delivery.lineage] >= ATTEMPT_CAP:
            self.stats["losses"].append(f"{self.schedule.describe()}: delivery {delivery.number} hit the attempt cap")
            raise AssertionError(
                f"{self.schedule.describe()}: delivery {delivery.lineage} still failing after {ATTEMPT_CAP} attempts "
                f"(potential loss); last error: {delivery.last_error}"
            )
        if delivery.tries < LAMBDA_ATTEMPTS:
            self.queue.append(delivery)
        else:  # retries exhausted: the on-failure destination (the failure queue) gets the event
            record = {
                "version": "1.0",
                "timestamp": "2025-06-15T12:00:00.000Z",
                "requestContext": {
                    "requestId": delivery.request_id,
                    "functionArn": FUNCTION_ARN,
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": LAMBDA_ATTEMPTS,
                },
                "requestPayload": delivery.event,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": {"errorType": delivery.last_error.split(":")[0], "errorMessage": delivery.last_error},
            }
            self.stack.sqs.send_message(QueueUrl=self.stack.failure_url, MessageBody=json.dumps(record))
            self.destination.append(delivery)

    def _new_delivery(self, lineage: int | None = None, event: dict[str, Any] | None = None) -> Delivery:
        number = next(self.numbers)
        self.deliveries += 1
        return Delivery(number, number if lineage is None else lineage, event or self.stack.event)

    def _concurrent_delivery(self) -> None:
        """The duplicate delivery runs now, while the first one is paused inside one of its calls."""
        second = self.second
        if second is None or second.number in self.started or second in self.queue:
            return  # already delivered (the preemption point came after the fallback delivery)
        self.stats["concurrent deliveries"] += 1
        self._run(second)

    def _redrive(self) -> None:
        """``trailsift redrive``: each on-failure record goes back to the function as a new asynchronous invocation."""
        self.redrives += 1
        spawned = []

        def target(payload: dict[str, Any]) -> None:
            keys = {ref.key for ref in parse_trigger(payload).objects}
            if keys == {CORRUPT_KEY}:  # the operator fixes (or drops) the corrupt file first
                raise RedriveFailed("the file is corrupt; not redriven")
            waiting = [d for d in self.destination if d.event == payload]
            assert waiting, "redrive found an on-failure record nobody sent"
            self.destination.remove(waiting[0])
            spawned.append(self._new_delivery(waiting[0].lineage, payload))

        redrive(self.stack.sqs, self.stack.failure_url, target, visibility_timeout=0)
        assert spawned, f"{self.schedule.describe()}: redrive sent nothing back while {len(self.destination)} wait"
        for delivery in spawned:
            self.clock.advance(300)
            self.queue.append(delivery)

    def play(self) -> None:
        first = self._new_delivery()
        self.queue.append(first)
        if self.schedule.duplicate:
            self.second = self._new_delivery(event=json.loads(json.dumps(self.stack.event)))
            if self.schedule.preempt is None:
                self.queue.append(self.second)
        started = self.started
        while True:
            if not self.queue and not self.destination:
                if self.second is None or self.second.number in started or self.second in self.queue:
                    return
                # the preemption point passed without it (a crash came first): deliver it after all
                self.queue.append(self.second)
            if not self.queue:
                self._redrive()
                continue
            delivery = self.queue.popleft()
            if delivery.number in started:
                self.clock.advance(self.random.uniform(LEASE - 30, LEASE + 110))  # Lambda's retry delays: 1 and 2 minutes
            else:
                self.clock.advance(self.random.uniform(0, 5))
            started.add(delivery.number)
            self._run(delivery)


# --- running one schedule and checking its end state -----------------------------------------------


def _environment_variables(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("TRAILSIFT_", "POWERTOOLS_")):
            monkeypatch.delenv(name)
    for name, value in {
        "TRAILSIFT_ALERT_TOPIC_ARN": stack.topic_arn,
        "TRAILSIFT_INDEX_TABLE": TABLE,
        "TRAILSIFT_BUCKETS": BUCKET,
        "TRAILSIFT_FAILURE_QUEUE_URL": stack.failure_url,
        "TRAILSIFT_EVENT_BUS": stack.bus_name,
        # One alert per event and no rate bound: this file proves the per-event ledger as it always did;
        # tests/test_fault_injection_groups.py proves grouped alerts and the rate bound's summaries.
        "TRAILSIFT_ALERT_GROUP_MAX_EVENTS": "1",
        "TRAILSIFT_ALERT_RATE_LIMIT": "0",
        "POWERTOOLS_SERVICE_NAME": "trailsift-fault-injection",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


def run_schedule(run_id: str, schedule: Schedule, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Play ``schedule`` and check its outcome; once it passed, its statistics are kept as ``RUNS[run_id]``."""
    _environment_variables(stack, monkeypatch)
    world = World(schedule, stack, monkeypatch)
    where = schedule.describe()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        world.play()
    injector = world.injector
    stats = world.stats

    stats["schedules"] += 1
    stats["random schedules" if schedule.name == "random" else "hand-written schedules"] += 1
    stats["faults"].update(injector.faults)
    stats["HTTP requests"] += sum(injector.requests.values())
    for outcome, count in injector.outcomes.items():
        stats[outcome] += count
    stats["crashes"].update(injector.crashes)
    stats["invocation attempts"] += world.attempts
    stats["redrive runs"] += world.redrives
    stats["duplicate deliveries"] += int(schedule.duplicate)
    stats["schedules with a new request id per attempt"] += int(not schedule.same_request_id)
    stats["alerts published (accepted entries)"] += injector.published
    stats["bus events put (accepted entries)"] += injector.put

    assert not world.anomalies, f"{where}: {world.anomalies}"

    # Alerts and bus events: every expected one received, nothing else, and each exactly once more for each
    # time SNS or EventBridge accepted it without the ledger recording it (a crash or a failed mark_sent).
    alerts = Counter(EXPECTED.alerts.get(envelope["Message"], "?") for envelope in stack.drain(stack.subscriber_url))
    events = Counter(
        EXPECTED.events.get(json.dumps(event["detail"], sort_keys=True), "?")
        for event in stack.drain(stack.bus_subscriber_url)
    )
    stats["alerts received"] += sum(alerts.values())
    stats["bus events received"] += sum(events.values())
    assert injector.published == sum(alerts.values()), f"{where}: SNS accepted {injector.published}"
    assert injector.put == sum(events.values()), f"{where}: EventBridge accepted {injector.put}"
    received = alerts + events
    lost = EXPECTED.keys - set(received)
    if lost:
        stats["losses"].append(f"{where}: {len(lost)} alert(s) or event(s) never received")
    assert not lost, f"{where}: alerts or events lost: {sorted(lost)}"
    assert set(received) == EXPECTED.keys, f"{where}: unexpected alerts or events: {received['?']}"
    unrecorded = injector.unrecorded
    assert set(unrecorded) <= EXPECTED.keys, f"{where}: {unrecorded}"
    duplicates = {key: count - 1 for key, count in received.items() if count > 1}
    unexplained = {key: extra for key, extra in duplicates.items() if extra > len(unrecorded.get(key, ()))}
    missing = {key: len(why) for key, why in unrecorded.items() if duplicates.get(key, 0) < len(why)}
    if duplicates:
        windows = {why for key in duplicates for why in unrecorded.get(key, ["unexplained"])}
        stats["schedules with duplicates"].update(windows)
        if not schedule.accepted_publish_crash:
            stats["schedules with duplicates but no crash of kind (b)"] += 1
        for key, extra in duplicates.items():
            stats["duplicate alerts and events"].update(unrecorded.get(key, ["unexplained"] * extra)[:extra])
    if unexplained:
        stats["unexplained duplicates"].append(f"{where}: {unexplained}")
    assert not unexplained, f"{where}: sent again outside the accepted-but-unrecorded window: {unexplained}"
    assert not missing, f"{where}: accepted-but-unrecorded alerts or events not sent again (the model is wrong): {missing}"
    if schedule.duplicates is not None:
        assert Counter(why for whys in unrecorded.values() for why in whys) == Counter(schedule.duplicates), where

    # Index rows: exactly the expected set, each once. Ledger: every alert and bus event recorded as sent.
    items = stack.table()
    rows = [(item["pk"]["S"], item["sk"]["S"]) for item in items if item["pk"]["S"].startswith("EVENT#")]
    assert len(rows) == len(set(rows)) == len(EXPECTED.rows) and set(rows) == EXPECTED.rows, f"{where}: rows differ"
    ledger = {item["pk"]["S"]: item["state"]["S"] for item in items if item["pk"]["S"].startswith((ALERT, BUS))}
    assert set(ledger) == EXPECTED.keys, f"{where}: ledger keys differ"
    assert set(ledger.values()) == {"sent"}, f"{where}: ledger states {Counter(ledger.values())}"
    assert len(items) == len(rows) + len(ledger), f"{where}: stray items in the table"

    # The failure queue: no on-failure record left behind; the corrupt file dead-lettered (at least once).
    letters = stack.drain(stack.failure_url)
    stats["dead letters queued"] += len(letters)
    conditions = Counter(letter["requestContext"]["condition"] for letter in letters)
    assert set(conditions) == {"PermanentFailure"}, f"{where}: failure queue holds {conditions}"
    for letter in letters:
        assert [ref.key for ref in parse_trigger(letter["requestPayload"]).objects] == [CORRUPT_KEY], where
    RUNS[run_id] = stats


@pytest.mark.parametrize("schedule", HAND_WRITTEN, ids=[schedule.name for schedule in HAND_WRITTEN])
def test_hand_written_schedule(schedule: Schedule, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    run_schedule(f"hand-written {schedule.name}", schedule, stack, monkeypatch)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_schedule(seed: int, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    run_schedule(f"random {seed}", random_schedule(seed), stack, monkeypatch)


def test_statistics(shared_stack: Stack) -> None:
    """What every schedule above did, summed, printed (``pytest -s``) and checked.

    A schedule this process has not run yet (``-k``, another order, another xdist worker) is run here,
    so the sums always cover every schedule, whatever ran before.
    """
    schedules = {f"hand-written {schedule.name}": schedule for schedule in HAND_WRITTEN}
    schedules |= {f"random {seed}": random_schedule(seed) for seed in range(SEEDS)}
    for run_id, schedule in schedules.items():
        if run_id not in RUNS:  # as its own test would: a reset stack, patches undone after it
            shared_stack.reset()
            with pytest.MonkeyPatch.context() as monkeypatch:  # World patches subclass what is patched
                run_schedule(run_id, schedule, shared_stack, monkeypatch)
    stats = summed([RUNS[run_id] for run_id in schedules])
    lines = ["", "fault injection:"]
    for name, value in stats.items():
        if isinstance(value, Counter):
            value = ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) or "none"
        elif isinstance(value, list):
            value = f"{len(value)}" + "".join(f"\n    {entry}" for entry in value)
        lines.append(f"  {name}: {value}")
    print("\n".join(lines))
    assert stats["losses"] == []
    assert stats["unexplained duplicates"] == []
    for service in SERVICES:
        for fault in (THROTTLE, SERVER, TIMEOUT, ENTRIES):
            if (service, fault) != ("s3", ENTRIES):
                assert stats["faults"][f"{service} {fault}"] >= 5, (service, fault)
    # both retry layers were exercised, each on its own kind of failure
    assert stats["calls rescued by botocore's retries"] >= 50
    assert stats["calls failed after botocore's retries"] >= 50
    assert stats["batch calls with entries failed"] >= 50
    assert stats["schedules"] == SEEDS + len(HAND_WRITTEN)  # 140 by default
    crashes = ("before publish", "after publish", "before index_write", "before claim", "after claim", "before get")
    for crash in (*crashes, "before put_events", "after put_events", "before bus_mark"):
        assert stats["crashes"][crash] >= 3, crash
    assert stats["redrive runs"] >= 10 and stats["concurrent deliveries"] >= 10
    assert stats["attempts failed on alerts claimed elsewhere"] >= 5
    assert stats["attempts that deferred files (not started)"] >= 10
    assert set(stats["schedules with duplicates"]) <= {UNRECORDED_CRASH_B, UNRECORDED_CRASH, UNRECORDED_GAVE_UP}
