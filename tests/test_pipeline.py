"""The pipeline over in-memory fakes: refusals, scanning, routing, failure classes, order, fetch window, deadline."""

from __future__ import annotations

import dataclasses

import copy
import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.alerts import Alert
from trailsift.aws.errors import FailedEntry, PublishFailed
from trailsift.deadline import Deadline
from trailsift.engine import RuleEngine
from trailsift.pipeline import FileOutcome, ObjectDenied, ObjectGone, Pipeline, Status
from trailsift.rules import Destination, RuleSet, default_rules, parse_rules
from trailsift.settings import Settings
from trailsift.sinks import AlertSink, IndexSink
from trailsift.triggers import ObjectRef

BUCKET = "trail-bucket-123456789012"
ACCOUNT = "123456789012"

# eventIDs of records in events/logs (see events/README.md) and the default rules they match
STOP_LOGGING = "f6e10706-705c-47f2-94d4-112a9527ab8b"  # cloudtrail-changes (alert + index)
ACCESS_DENIED = "851f80ef-dfca-4286-998c-dd8c10885ef4"  # unauthorized-api-calls (index only)
LEAVE_ORG = "16903cbd-fdff-4818-82f2-d66ad09aaf57"  # unauthorized-api-calls + organizations-changes
CONSOLE_LOGIN = "70e5932e-9022-4b38-837e-ca10dad94eb7"  # console-login-without-mfa
BENIGN = "832b82d5-d474-44e8-a51d-093ccEXAMPLE"  # DeleteDocument: nothing


# --- data -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records(events_logs: Path) -> dict[str, dict[str, Any]]:
    """Every record of the sample event files, by eventID."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(events_logs.rglob("*_CloudTrail_*.json.gz")):
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            found[record["eventID"]] = record
    for wanted in (STOP_LOGGING, ACCESS_DENIED, LEAVE_ORG, CONSOLE_LOGIN, BENIGN):
        assert wanted in found, wanted
    return found


def log_bytes(records: Sequence[Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": list(records)}).encode(), mtime=0)


def event_key(n: int, account: str = ACCOUNT, prefix: str = "") -> str:
    return (
        f"{prefix}AWSLogs/{account}/CloudTrail/us-east-1/2024/01/01/"
        f"{account}_CloudTrail_us-east-1_20240101T0005Z_{n:016d}.json.gz"
    )


def ref(n: int, **kwargs: Any) -> ObjectRef:
    prefix = kwargs.pop("prefix", "")
    return ObjectRef(kwargs.pop("bucket", BUCKET), event_key(n, prefix=prefix), **kwargs)


def root_stop_logging(records: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """StopLogging by the root user itself: matches root-account-use and cloudtrail-changes."""
    record = copy.deepcopy(records[STOP_LOGGING])
    record["eventID"] = "00000000-1111-2222-3333-444444444444"
    record["userIdentity"] = {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}
    record["eventType"] = "AwsApiCall"
    return record


# --- fakes ----------------------------------------------------------------------------------------


class FakeSource:
    """Objects by key: bytes are returned, exceptions raised; counts calls and fetches in flight."""

    def __init__(self, objects: Mapping[str, bytes | BaseException], *, delay: float | Callable[[ObjectRef], float] = 0):
        self.objects = dict(objects)
        self.delay = delay
        self.calls: list[ObjectRef] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = 0

    def fetch(self, ref: ObjectRef) -> bytes:
        with self.lock:
            self.calls.append(ref)
            self.started += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = self.delay(ref) if callable(self.delay) else self.delay
            if delay:
                time.sleep(delay)
            value = self.objects[ref.key]
            if isinstance(value, BaseException):
                raise value
            return value
        finally:
            with self.lock:
                self.in_flight -= 1


class RecordingAlerts:
    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[list[Alert]] = []
        self.error = error

    @property
    def alerts(self) -> list[Alert]:
        return [alert for batch in self.batches for alert in batch]

    def publish(self, alerts: Sequence[Alert], on_sent: Callable[[list[Alert]], Any] | None = None) -> int:
        if self.error is not None:
            raise self.error
        self.batches.append(list(alerts))
        if on_sent is not None:
            on_sent(list(alerts))
        return len(alerts)


class RecordingIndex:
    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.error = error

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for batch in self.batches for item in batch]

    def write(self, items: Sequence[dict[str, Any]]) -> int:
        if self.error is not None:
            raise self.error
        self.batches.append(list(items))
        return len(items)


DEFAULT_RULES = default_rules()
DEFAULT_ENGINE = RuleEngine(DEFAULT_RULES)


def make_pipeline(
    source: FakeSource,
    *,
    alerts: Any = None,
    index: RecordingIndex | None = None,
    ledger: Any = None,
    rules: RuleSet | None = None,
    engine: Any = None,
    clock: Callable[[], float] = time.time,
    **kwargs: Any,
) -> Pipeline:
    """A pipeline whose index and alert sinks write to the recorders given (``None``: not configured)."""
    rules = rules or DEFAULT_RULES
    engine = engine or (DEFAULT_ENGINE if rules is DEFAULT_RULES else RuleEngine(rules))
    config = kwargs.get("settings") or Settings()
    sinks: list[Any] = []
    if index is not None:
        sinks.append(IndexSink(index, retention_days=config.retention_days, clock=clock))
    if alerts is not None:
        sinks.append(AlertSink(alerts, ledger))
    return Pipeline(rules, engine, source, sinks=sinks, **kwargs)


def throttling() -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetObject")


# --- refusals: no GET at all ----------------------------------------------------------------------


REFUSED = {
    "other bucket": (ObjectRef("someone-elses-bucket", event_key(1)), "bucket"),
    "outside prefix": (ObjectRef(BUCKET, event_key(2)), "prefix"),
    "digest": (
        ObjectRef(
            BUCKET,
            "org/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/"
            "123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20240101T000000Z.json.gz",
        ),
        "digest",
    ),
    "config probe": (ObjectRef(BUCKET, "org/AWSLogs/123456789012/Config/ConfigWritabilityCheckFile", size=0), "config"),
    "folder": (ObjectRef(BUCKET, "org/AWSLogs/123456789012/CloudTrail/", size=0), "folder"),
    "zero-byte event file": (ObjectRef(BUCKET, event_key(3, prefix="org/"), size=0), "other"),
    "other file": (ObjectRef(BUCKET, "org/AWSLogs/LICENSE.txt"), "other"),
    "unnamed json": (ObjectRef(BUCKET, "org/AWSLogs/notes.json.gz"), "unnamed-json"),
    "name disagrees with path": (
        ObjectRef(BUCKET, "org/AWSLogs/999999999999/CloudTrail/us-east-1/2024/01/01/" + event_key(4).rsplit("/", 1)[1]),
        "other",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_objects_are_skipped_without_a_fetch(case: str) -> None:
    refused, word = REFUSED[case]
    source = FakeSource({})  # any fetch would raise KeyError, i.e. FAILED
    pipeline = make_pipeline(source, settings=Settings(buckets=frozenset({BUCKET}), key_prefix="org/"))
    assert pipeline.refusal(refused)
    [outcome] = pipeline.run([refused])
    assert source.calls == []
    assert outcome.status is Status.SKIPPED
    assert word in outcome.reason
    assert outcome.ref is refused
    assert outcome.records == 0 and not outcome.retryable


def test_refusal_accepts_configured_bucket_and_prefix(records: dict[str, dict[str, Any]]) -> None:
    wanted = ref(1, prefix="org/")
    source = FakeSource({wanted.key: log_bytes([records[BENIGN]])})
    pipeline = make_pipeline(source, settings=Settings(buckets=frozenset({BUCKET, "b2-bucket"}), key_prefix="org/"))
    assert pipeline.refusal(wanted) == ""
    [outcome] = pipeline.run([wanted])
    assert outcome.status is Status.PROCESSED
    assert source.calls == [wanted]


def test_no_buckets_configured_means_any_bucket(records: dict[str, dict[str, Any]]) -> None:
    anywhere = ref(1, bucket="any-bucket-at-all")
    source = FakeSource({anywhere.key: log_bytes([records[BENIGN]])})
    [outcome] = make_pipeline(source).run([anywhere])
    assert outcome.status is Status.PROCESSED
    assert source.calls == [anywhere]


def test_insights_files_are_read(events_logs: Path) -> None:
    """Insights files hold events too (docs: 'Insights files ... are event files'); they are fetched and scanned."""
    [path] = [p for p in events_logs.rglob("*_CloudTrail-Insight_*.json.gz") if "0255Z" in p.name]
    key = path.relative_to(events_logs).as_posix()
    insight = ObjectRef(BUCKET, key)
    source = FakeSource({key: path.read_bytes()})
    [outcome] = make_pipeline(source).run([insight])
    assert source.calls == [insight]
    assert outcome.status is Status.PROCESSED, outcome.reason
    assert outcome.records == 1


def test_mixed_refused_and_read_keep_their_order(records: dict[str, dict[str, Any]]) -> None:
    good = [ref(n) for n in range(3)]
    refused = [REFUSED["folder"][0], REFUSED["digest"][0], REFUSED["other bucket"][0]]
    order = [refused[0], good[0], refused[1], good[1], good[2], refused[2]]
    source = FakeSource({r.key: log_bytes([records[BENIGN]]) for r in good})
    pipeline = make_pipeline(source, settings=Settings(buckets=frozenset({BUCKET})))
    outcomes = pipeline.run(order)
    assert [o.ref for o in outcomes] == order
    assert [o.status for o in outcomes] == [
        Status.SKIPPED, Status.PROCESSED, Status.SKIPPED, Status.PROCESSED, Status.PROCESSED, Status.SKIPPED,
    ]
    assert sorted(source.calls, key=lambda r: r.key) == good


def test_empty_run() -> None:
    source = FakeSource({})
    assert make_pipeline(source).run([]) == []
    assert source.calls == []


# --- processing and routing -----------------------------------------------------------------------


def test_processed_file_counts_records_problems_and_matches(records: dict[str, dict[str, Any]]) -> None:
    content = [records[BENIGN], records[STOP_LOGGING], 42, records[ACCESS_DENIED], records[LEAVE_ORG], "text"]
    one = ref(1)
    source = FakeSource({one.key: log_bytes(content)})
    [outcome] = make_pipeline(source, alerts=RecordingAlerts(), index=RecordingIndex()).run([one])
    assert outcome.status is Status.PROCESSED
    assert outcome.reason == ""
    assert outcome.records == 4
    assert outcome.problems == 2
    assert outcome.rule_matches == Counter(
        {"cloudtrail-changes": 1, "unauthorized-api-calls": 2, "organizations-changes": 1}
    )


def test_alerts_only_for_alert_rules_and_index_rows_only_for_index_rules(records: dict[str, dict[str, Any]]) -> None:
    one = ref(1)
    source = FakeSource({one.key: log_bytes([records[ACCESS_DENIED], records[BENIGN], records[STOP_LOGGING]])})
    alerts, index = RecordingAlerts(), RecordingIndex()
    [outcome] = make_pipeline(source, alerts=alerts, index=index).run([one])
    # unauthorized-api-calls is index-only: the AccessDenied call gets a row, no alert
    assert [a.event_key for a in alerts.alerts] == [STOP_LOGGING]
    assert json.loads(alerts.alerts[0].attributes["rule"]["StringValue"]) == ["cloudtrail-changes"]
    assert sorted((i["eventID"], i["rule"]) for i in index.items) == sorted(
        [(ACCESS_DENIED, "unauthorized-api-calls"), (STOP_LOGGING, "cloudtrail-changes")]
    )
    assert all(i["logFile"] == one.location for i in index.items)
    assert one.location in alerts.alerts[0].message
    assert (outcome.alerts, outcome.index_rows) == (1, 2)
    assert len(alerts.batches) == 1 and len(index.batches) == 1  # one call per file


def test_index_only_rule_among_alert_rules_is_left_out_of_the_alert(records: dict[str, dict[str, Any]]) -> None:
    one = ref(1)
    source = FakeSource({one.key: log_bytes([records[LEAVE_ORG]])})
    alerts, index = RecordingAlerts(), RecordingIndex()
    [outcome] = make_pipeline(source, alerts=alerts, index=index).run([one])
    [alert] = alerts.alerts
    assert json.loads(alert.attributes["rule"]["StringValue"]) == ["organizations-changes"]
    assert sorted(i["rule"] for i in index.items) == ["organizations-changes", "unauthorized-api-calls"]
    assert (outcome.alerts, outcome.index_rows) == (1, 2)


def test_one_alert_per_event_matching_several_alert_rules(records: dict[str, dict[str, Any]]) -> None:
    record = root_stop_logging(records)
    assert DEFAULT_ENGINE.match(record) == ("root-account-use", "cloudtrail-changes")
    one = ref(1)
    source = FakeSource({one.key: log_bytes([record, records[CONSOLE_LOGIN]])})
    alerts, index = RecordingAlerts(), RecordingIndex()
    [outcome] = make_pipeline(source, alerts=alerts, index=index).run([one])
    assert [a.event_key for a in alerts.alerts] == [record["eventID"], CONSOLE_LOGIN]
    assert json.loads(alerts.alerts[0].attributes["rule"]["StringValue"]) == ["root-account-use", "cloudtrail-changes"]
    assert alerts.alerts[0].attributes["severity"]["StringValue"] == "critical"
    assert Counter(i["eventID"] for i in index.items) == Counter({record["eventID"]: 2, CONSOLE_LOGIN: 1})
    assert (outcome.alerts, outcome.index_rows) == (2, 3)


def test_alert_only_rule_writes_no_index_row(records: dict[str, dict[str, Any]]) -> None:
    rules = parse_rules(
        {
            "rules": [
                {
                    "name": "trail-stops",
                    "severity": "high",
                    "destinations": ["alert"],
                    "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}],
                }
            ]
        }
    )
    one = ref(1)
    source = FakeSource({one.key: log_bytes([records[STOP_LOGGING], records[ACCESS_DENIED]])})
    alerts, index = RecordingAlerts(), RecordingIndex()
    [outcome] = make_pipeline(source, alerts=alerts, index=index, rules=rules).run([one])
    assert [a.event_key for a in alerts.alerts] == [STOP_LOGGING]
    assert index.batches == []  # the sink is not even called with an empty list
    assert outcome.rule_matches == Counter({"trail-stops": 1})
    assert (outcome.alerts, outcome.index_rows) == (1, 0)


def test_no_sinks_configured_still_scans(records: dict[str, dict[str, Any]]) -> None:
    one = ref(1)
    source = FakeSource({one.key: log_bytes([records[STOP_LOGGING]])})
    [outcome] = make_pipeline(source, alerts=None, index=None).run([one])
    assert outcome.status is Status.PROCESSED
    assert outcome.rule_matches == Counter({"cloudtrail-changes": 1})
    assert (outcome.alerts, outcome.index_rows) == (0, 0)


def test_no_match_calls_no_sink(records: dict[str, dict[str, Any]]) -> None:
    one = ref(1)
    source = FakeSource({one.key: log_bytes([records[BENIGN]])})
    alerts, index = RecordingAlerts(error=AssertionError("called")), RecordingIndex(error=AssertionError("called"))
    [outcome] = make_pipeline(source, alerts=alerts, index=index).run([one])
    assert outcome.status is Status.PROCESSED
    assert (outcome.records, outcome.alerts, outcome.index_rows) == (1, 0, 0)


def test_index_rows_use_clock_and_retention(records: dict[str, dict[str, Any]]) -> None:
    one = ref(1)
    source = FakeSource({one.key: log_bytes([records[STOP_LOGGING]])})
    index = RecordingIndex()
    make_pipeline(
        source, index=index, settings=Settings(retention_days=7), clock=lambda: 1_700_000_000.9
    ).run([one])
    [item] = index.items
    assert item["indexedAt"] == 1_700_000_000
    assert item["expires_at"] == 1_700_000_000 + 7 * 86400


def test_plain_json_body_is_read(records: dict[str, dict[str, Any]]) -> None:
    """S3 clients may decode Content-Encoding: gzip on the way: the bytes decide, not the name."""
    one = ref(1)
    source = FakeSource({one.key: json.dumps({"Records": [records[STOP_LOGGING]]}).encode()})
    [outcome] = make_pipeline(source).run([one])
    assert outcome.status is Status.PROCESSED
    assert outcome.rule_matches == Counter({"cloudtrail-changes": 1})


# --- failures -------------------------------------------------------------------------------------


def _truncated(records: dict[str, dict[str, Any]]) -> bytes:
    data = log_bytes([records[STOP_LOGGING], records[BENIGN]])
    return data[: len(data) // 2]


BAD_CONTENT: dict[str, Callable[[dict[str, dict[str, Any]]], bytes]] = {
    "corrupt gzip": lambda _: b"\x1f\x8b\x08\x00" + b"\x00garbage, not deflate" * 4,
    "truncated gzip": _truncated,
    "not JSON": lambda _: gzip.compress(b"this is not { json", mtime=0),
    "no Records": lambda _: gzip.compress(b'{"events": []}', mtime=0),
    "Records not a list": lambda _: gzip.compress(b'{"Records": {}}', mtime=0),
    "empty document": lambda _: gzip.compress(b"   ", mtime=0),
    "trailing garbage": lambda r: log_bytes([r[BENIGN]]) + b"junk",
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_unreadable_file_fails_permanently_naming_the_file(case: str, records: dict[str, dict[str, Any]]) -> None:
    bad, good = ref(1), ref(2)
    source = FakeSource({bad.key: BAD_CONTENT[case](records), good.key: log_bytes([records[STOP_LOGGING]])})
    alerts, index = RecordingAlerts(), RecordingIndex()
    outcomes = make_pipeline(source, alerts=alerts, index=index).run([bad, good])
    assert outcomes[0].status is Status.FAILED
    assert outcomes[0].retryable is False
    assert bad.location in outcomes[0].reason
    assert outcomes[0].alerts == outcomes[0].index_rows == 0
    assert outcomes[1].status is Status.PROCESSED  # the bad file stops nothing
    assert [a.event_key for a in alerts.alerts] == [STOP_LOGGING]


def test_digest_content_under_an_event_key_is_skipped(records: dict[str, dict[str, Any]]) -> None:
    one = ref(1)
    digest = {"awsAccountId": ACCOUNT, "digestStartTime": "2024-01-01T00:00:00Z", "logFiles": []}
    source = FakeSource({one.key: gzip.compress(json.dumps(digest).encode(), mtime=0)})
    [outcome] = make_pipeline(source).run([one])
    assert source.calls == [one]
    assert outcome.status is Status.SKIPPED
    assert "digest" in outcome.reason and one.location in outcome.reason


def test_empty_body_is_skipped() -> None:
    one = ref(1)  # size unknown (e.g. a CloudTrail SNS message): the body says it is empty
    [outcome] = make_pipeline(FakeSource({one.key: b""})).run([one])
    assert outcome.status is Status.SKIPPED
    assert "zero-byte" in outcome.reason


FETCH_ERRORS: dict[str, tuple[Callable[[], BaseException], Status, bool]] = {
    "skip (object gone)": (lambda: ObjectGone("no such key"), Status.SKIPPED, False),
    "permanent (denied)": (lambda: ObjectDenied("access denied"), Status.FAILED, False),
    "throttling": (throttling, Status.FAILED, True),
    "runtime error": (lambda: RuntimeError("connection reset"), Status.FAILED, True),
    "timeout": (lambda: TimeoutError("read timed out"), Status.FAILED, True),
    "os error": (lambda: ConnectionResetError(104, "reset by peer"), Status.FAILED, True),
}


@pytest.mark.parametrize("case", sorted(FETCH_ERRORS))
def test_fetch_errors_are_classified(case: str, records: dict[str, dict[str, Any]]) -> None:
    make_error, status, retryable = FETCH_ERRORS[case]
    error = make_error()
    bad, good = ref(1), ref(2)
    source = FakeSource({bad.key: error, good.key: log_bytes([records[BENIGN]])})
    outcomes = make_pipeline(source).run([bad, good])
    assert (outcomes[0].status, outcomes[0].retryable) == (status, retryable)
    assert str(error) in outcomes[0].reason
    if retryable:
        assert outcomes[0].reason.startswith(type(error).__name__)
    assert outcomes[1].status is Status.PROCESSED


class SourceTrouble(Exception):
    """An exception outside the source contract (not ObjectGone, not ObjectDenied)."""


def test_an_exception_outside_the_source_contract_is_retryable() -> None:
    """Only ObjectGone and ObjectDenied say "for good"; anything else a source raises may be transient."""
    one = ref(1)
    pipeline = Pipeline(DEFAULT_RULES, DEFAULT_ENGINE, FakeSource({one.key: SourceTrouble("x")}))
    [outcome] = pipeline.run([one])
    assert (outcome.status, outcome.retryable) == (Status.FAILED, True)


@pytest.mark.parametrize("sink", ["alerts", "index"])
@pytest.mark.parametrize("error", [throttling, lambda: RuntimeError("boom")])
def test_sink_errors_are_retryable(sink: str, error: Callable[[], Exception], records: dict[str, dict[str, Any]]) -> None:
    bad, good = ref(1), ref(2)
    source = FakeSource({bad.key: log_bytes([records[STOP_LOGGING]]), good.key: log_bytes([records[BENIGN]])})
    failing = RecordingAlerts(error=error()) if sink == "alerts" else RecordingIndex(error=error())
    kwargs = {"alerts": RecordingAlerts(), "index": RecordingIndex(), sink: failing}
    outcomes = make_pipeline(source, **kwargs).run([bad, good])
    assert (outcomes[0].status, outcomes[0].retryable) == (Status.FAILED, True)
    assert type(failing.error).__name__ in outcomes[0].reason
    assert outcomes[1].status is Status.PROCESSED


BEHAVIOURS = ("ok", "match", "corrupt", "digest", "gone", "denied", "throttled", "crash", "refused")
EXPECTED: dict[str, tuple[Status, bool]] = {
    "ok": (Status.PROCESSED, False),
    "match": (Status.PROCESSED, False),
    "corrupt": (Status.FAILED, False),
    "digest": (Status.SKIPPED, False),
    "gone": (Status.SKIPPED, False),
    "denied": (Status.FAILED, False),
    "throttled": (Status.FAILED, True),
    "crash": (Status.FAILED, True),
    "refused": (Status.SKIPPED, False),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(st.sampled_from(BEHAVIOURS), max_size=20),
    concurrency=st.integers(min_value=1, max_value=6),
)
def test_every_object_gets_its_own_outcome_in_order(
    plan: list[str], concurrency: int, records: dict[str, dict[str, Any]]
) -> None:
    benign, matching = log_bytes([records[BENIGN]]), log_bytes([records[STOP_LOGGING]])
    digest = gzip.compress(b'{"digestStartTime": "2024-01-01T00:00:00Z", "logFiles": []}', mtime=0)
    content: dict[str, bytes | BaseException] = {}
    refs = []
    for n, behaviour in enumerate(plan):
        item = ObjectRef("refused-bucket", event_key(n)) if behaviour == "refused" else ref(n)
        refs.append(item)
        content[item.key] = {
            "ok": benign, "match": matching, "corrupt": b"\x1f\x8bnot gzip", "digest": digest,
            "gone": ObjectGone("gone"), "denied": ObjectDenied("denied"), "throttled": throttling(),
            "crash": RuntimeError("crash"), "refused": benign,
        }[behaviour]
    alerts = RecordingAlerts()
    source = FakeSource(content, delay=lambda r: 0.002 * (int(r.key[-24:-8]) % 3))
    pipeline = make_pipeline(
        source,
        alerts=alerts,
        settings=Settings(buckets=frozenset({BUCKET}), fetch_concurrency=concurrency),
    )
    outcomes = pipeline.run(refs)
    assert [o.ref for o in outcomes] == refs
    assert [(o.status, o.retryable) for o in outcomes] == [EXPECTED[b] for b in plan]
    assert len(source.calls) == sum(b != "refused" for b in plan)
    assert all(o.reason for o in outcomes if o.status is not Status.PROCESSED)
    assert len(alerts.alerts) == plan.count("match")
    assert all(isinstance(o, FileOutcome) for o in outcomes)


# --- concurrency and the fetch window -------------------------------------------------------------


def test_fetches_run_concurrently_within_the_bound(records: dict[str, dict[str, Any]]) -> None:
    refs = [ref(n) for n in range(32)]
    body = log_bytes([records[BENIGN]])
    source = FakeSource({r.key: body for r in refs}, delay=0.05)
    outcomes = make_pipeline(source, settings=Settings(fetch_concurrency=8)).run(refs)
    assert all(o.status is Status.PROCESSED for o in outcomes)
    assert 1 < source.max_in_flight <= 8
    assert len(source.calls) == 32


def test_concurrency_one_fetches_one_at_a_time(records: dict[str, dict[str, Any]]) -> None:
    refs = [ref(n) for n in range(6)]
    body = log_bytes([records[BENIGN]])
    source = FakeSource({r.key: body for r in refs}, delay=0.005)
    outcomes = make_pipeline(source, settings=Settings(fetch_concurrency=1)).run(refs)
    assert source.max_in_flight == 1
    assert [o.ref for o in outcomes] == refs


class SlowEngine:
    """Wraps the rule engine: each file holds one record naming its position; scanning a file is slow."""

    def __init__(self, engine: RuleEngine, source: FakeSource) -> None:
        self.engine = engine
        self.projection = engine.projection
        self.match = engine.match
        self.source = source
        self.processed = 0
        self.max_ahead = 0
        self.lock = threading.Lock()

    def candidates(self, views: list[Any]) -> list[int]:
        with self.lock:
            ahead = self.source.started - self.processed  # fetches started but not yet scanned, this one included
            self.max_ahead = max(self.max_ahead, ahead)
            self.processed += 1
        time.sleep(0.01)
        return self.engine.candidates(views)


def test_fetches_never_run_more_than_two_windows_ahead_of_processing(records: dict[str, dict[str, Any]]) -> None:
    concurrency = 4
    refs = [ref(n) for n in range(32)]
    body = log_bytes([records[BENIGN]])
    source = FakeSource({r.key: body for r in refs})  # fetching is instant, scanning is slow
    engine = SlowEngine(DEFAULT_ENGINE, source)
    outcomes = make_pipeline(source, engine=engine, settings=Settings(fetch_concurrency=concurrency)).run(refs)
    assert [o.status for o in outcomes] == [Status.PROCESSED] * 32
    assert engine.processed == 32
    assert 1 < engine.max_ahead <= 2 * concurrency  # bodies do run ahead, but only within the window


def test_byte_budget_holds_back_large_objects(records: dict[str, dict[str, Any]]) -> None:
    """Objects the trigger says are large are fetched ahead only while their sizes fit the budget."""
    refs = [dataclasses.replace(ref(n), size=100) for n in range(12)]
    body = log_bytes([records[BENIGN]])
    source = FakeSource({r.key: body for r in refs})
    engine = SlowEngine(DEFAULT_ENGINE, source)
    settings = Settings(fetch_concurrency=8, max_bytes_ahead=250)  # two objects fit, a third does not
    outcomes = make_pipeline(source, engine=engine, settings=settings).run(refs)
    assert [o.status for o in outcomes] == [Status.PROCESSED] * 12
    assert 1 < engine.max_ahead <= 2


def test_an_object_over_the_byte_budget_is_still_fetched(records: dict[str, dict[str, Any]]) -> None:
    refs = [dataclasses.replace(ref(n), size=10_000) for n in range(3)]
    source = FakeSource({r.key: log_bytes([records[BENIGN]]) for r in refs})
    outcomes = make_pipeline(source, settings=Settings(max_bytes_ahead=1)).run(refs)
    assert [o.status for o in outcomes] == [Status.PROCESSED] * 3
    assert source.max_in_flight == 1


# --- the decompression limit ----------------------------------------------------------------------


def _bomb(size: int) -> bytes:
    """A valid log file whose JSON is padded with whitespace to ``size`` bytes: tiny compressed."""
    head = b'{"Records": []'
    return gzip.compress(head + b" " * (size - len(head) - 1) + b"}", mtime=0)


def test_decompression_limit_is_honoured() -> None:
    bomb, small = ref(1), ref(2)
    source = FakeSource({bomb.key: _bomb(64 * 1024), small.key: _bomb(1000)})
    assert len(source.objects[bomb.key]) < 1024
    outcomes = make_pipeline(source, settings=Settings(max_decompressed_bytes=4096)).run([bomb, small])
    assert (outcomes[0].status, outcomes[0].retryable) == (Status.FAILED, False)
    assert "4096" in outcomes[0].reason and bomb.location in outcomes[0].reason
    assert outcomes[1].status is Status.PROCESSED


def test_record_limit_is_honoured() -> None:
    """A record longer than max_record_bytes refuses its file (naming the record), in a file read whole or streamed."""
    long_record = {"eventName": "GetObject", "eventSource": "s3.amazonaws.com", "padding": "x" * 5000}
    short = {"eventName": "GetObject", "eventSource": "s3.amazonaws.com"}
    streamed = gzip.compress(json.dumps({"Records": [short] * 20 + [long_record]}).encode(), mtime=0)
    small, refused = ref(1), ref(2)
    source = FakeSource({small.key: _bomb(1000), refused.key: streamed})
    outcomes = make_pipeline(source, settings=Settings(max_record_bytes=4096)).run([small, refused])
    assert outcomes[0].status is Status.PROCESSED
    assert (outcomes[1].status, outcomes[1].retryable) == (Status.FAILED, False)
    assert f"{refused.location} record 20: record is larger than the limit of 4096 bytes" in outcomes[1].reason


def test_objects_larger_than_the_limit_are_refused_unread() -> None:
    big, fits = ref(1, size=10_001), ref(2, size=1000)
    source = FakeSource({big.key: _bomb(1000), fits.key: _bomb(1000)})
    outcomes = make_pipeline(source, settings=Settings(max_object_bytes=10_000)).run([big, fits])
    assert (outcomes[0].status, outcomes[0].retryable) == (Status.FAILED, False)
    assert "10001 bytes, larger than the limit of 10000 bytes (max object size)" in outcomes[0].reason
    assert outcomes[1].status is Status.PROCESSED
    assert [call.key for call in source.calls] == [fits.key]  # no GET for the object refused


def test_decompression_limit_from_settings_in_mib() -> None:
    config = Settings.from_env({"TRAILSIFT_MAX_DECOMPRESSED_MIB": "1"})
    bomb, fits = ref(1), ref(2)
    source = FakeSource({bomb.key: _bomb(2 * 1024 * 1024), fits.key: _bomb(1024 * 1024 - 10)})
    pipeline = make_pipeline(source, settings=Settings(max_decompressed_bytes=config.max_decompressed_bytes))
    outcomes = pipeline.run([bomb, fits])
    assert (outcomes[0].status, outcomes[0].retryable) == (Status.FAILED, False)
    assert str(1024 * 1024) in outcomes[0].reason
    assert outcomes[1].status is Status.PROCESSED


# --- the alert ledger -----------------------------------------------------------------------------


@dataclasses.dataclass
class FakeClaim:
    to_send: list[Alert]
    already_sent: list[Alert]
    held_elsewhere: list[Alert]


class FakeLedger:
    """Sorts alerts by a preset state per event key; records what was marked and released."""

    def __init__(self, states: Mapping[str, str] | None = None) -> None:
        self.states = dict(states or {})
        self.marked: list[str] = []
        self.released: list[str] = []

    def claim(self, alerts: Sequence[Alert]) -> FakeClaim:
        claim = FakeClaim([], [], [])
        for alert in alerts:
            state = self.states.get(alert.event_key)
            {None: claim.to_send, "sent": claim.already_sent, "held": claim.held_elsewhere}[state].append(alert)
        return claim

    def mark_sent(self, alerts: Sequence[Alert]) -> None:
        self.marked += [a.event_key for a in alerts]

    def release(self, alerts: Sequence[Alert]) -> None:
        self.released += [a.event_key for a in alerts]


class PartlyFailing(RecordingAlerts):
    """Publishes everything but the first alert, and says so the way AlertPublisher does (:class:`PublishFailed`)."""

    def publish(self, alerts: Sequence[Alert], on_sent: Callable[[list[Alert]], Any] | None = None) -> int:
        self.batches.append(list(alerts[1:]))
        if on_sent is not None:
            on_sent(list(alerts[1:]))
        raise PublishFailed([FailedEntry(alerts[0].event_key, "Throttled", "slow down")], published=len(alerts) - 1)


def _alerting_file(records: dict[str, dict[str, Any]]) -> tuple[ObjectRef, FakeSource, list[str]]:
    matched = [r for r in records.values() if set(DEFAULT_ENGINE.match(r)) & ALERTING][:3]
    assert len(matched) == 3
    target = ref(0)
    return target, FakeSource({target.key: log_bytes(matched)}), [r["eventID"] for r in matched]


ALERTING = {r.name for r in DEFAULT_RULES if Destination.ALERT in r.destinations}


def test_ledger_skips_alerts_already_sent_and_marks_the_rest(records: dict[str, dict[str, Any]]) -> None:
    target, source, keys = _alerting_file(records)
    alerts, ledger = RecordingAlerts(), FakeLedger({keys[0]: "sent"})
    outcome = make_pipeline(source, alerts=alerts, ledger=ledger).run([target])[0]
    assert outcome.status is Status.PROCESSED
    assert [a.event_key for a in alerts.alerts] == keys[1:] and ledger.marked == keys[1:]
    assert (outcome.alerts, outcome.alerts_already_sent) == (2, 1)


def test_alerts_held_elsewhere_make_the_file_retryable_after_sending_the_rest(records) -> None:
    target, source, keys = _alerting_file(records)
    alerts, ledger = RecordingAlerts(), FakeLedger({keys[2]: "held"})
    outcome = make_pipeline(source, alerts=alerts, ledger=ledger).run([target])[0]
    assert (outcome.status, outcome.retryable) == (Status.FAILED, True) and "another invocation" in outcome.reason
    assert [a.event_key for a in alerts.alerts] == keys[:2] and ledger.marked == keys[:2]


def test_a_partly_failed_publish_marks_what_went_out_and_releases_the_rest(records) -> None:
    target, source, keys = _alerting_file(records)
    alerts, ledger = PartlyFailing(), FakeLedger()
    outcome = make_pipeline(source, alerts=alerts, ledger=ledger).run([target])[0]
    assert (outcome.status, outcome.retryable) == (Status.FAILED, True)
    assert ledger.marked == keys[1:] and ledger.released == keys[:1]


def test_a_publish_failure_without_details_marks_and_releases_nothing(records) -> None:
    target, source, _ = _alerting_file(records)
    ledger = FakeLedger()
    outcome = make_pipeline(source, alerts=RecordingAlerts(RuntimeError("boom")), ledger=ledger).run([target])[0]
    assert (outcome.status, outcome.retryable) == (Status.FAILED, True)
    assert ledger.marked == [] and ledger.released == []


def test_only_configured_accounts_are_read(records: dict[str, dict[str, Any]]) -> None:
    mine, other = ref(1), dataclasses.replace(ref(2), key=ref(2).key.replace("123456789012", "210987654321"))
    assert mine.key != other.key and "210987654321" in other.key
    body = log_bytes([records[BENIGN]])
    source = FakeSource({mine.key: body, other.key: body})
    settings = Settings(accounts=frozenset({"123456789012"}))
    outcomes = make_pipeline(source, settings=settings).run([mine, other])
    assert [o.status for o in outcomes] == [Status.PROCESSED, Status.SKIPPED]
    assert "account 210987654321 is not one this function is configured to read" in outcomes[1].reason
    assert source.calls == [mine]  # the other account's file is never fetched


# --- the deadline: nothing is started inside the invocation's safety margin -----------------------


class TimeLeft:
    """A fake ``get_remaining_time_in_millis``: the milliseconds the invocation has left."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class TimedIndex(RecordingIndex):
    """An index whose every write takes ``cost_ms`` of the invocation's time (in the processing thread,
    so which object the time runs out on does not depend on the fetch threads)."""

    def __init__(self, time_left: TimeLeft, cost_ms: int) -> None:
        super().__init__()
        self.time_left, self.cost_ms = time_left, cost_ms

    def write(self, items: Sequence[dict[str, Any]]) -> int:
        self.time_left.ms -= self.cost_ms
        return super().write(items)


def _stop_logging_files(
    records: dict[str, dict[str, Any]], count: int
) -> tuple[list[ObjectRef], FakeSource, list[str]]:
    """``count`` objects, each one StopLogging (an alert and an index row) with an eventID of its own."""
    refs, objects, ids = [], {}, []
    for n in range(count):
        record = copy.deepcopy(records[STOP_LOGGING])
        record["eventID"] = f"{n:08d}-0000-4000-8000-000000000000"
        refs.append(ref(n))
        objects[refs[-1].key] = log_bytes([record])
        ids.append(record["eventID"])
    return refs, FakeSource(objects), ids


def test_time_running_out_mid_batch_defers_the_objects_not_started(records: dict[str, dict[str, Any]]) -> None:
    refs, source, ids = _stop_logging_files(records, 5)
    time_left = TimeLeft(95_000)
    deadline = Deadline(time_left, 10_000)
    alerts, ledger, index = RecordingAlerts(), FakeLedger(), TimedIndex(time_left, 30_000)
    pipeline = make_pipeline(
        source, alerts=alerts, index=index, ledger=ledger, settings=Settings(fetch_concurrency=1), deadline=deadline
    )
    outcomes = pipeline.run(refs)
    # 95 s left; each object's write takes 30 s: the fourth would start with 5 s left, inside the 10 s margin
    assert [o.status for o in outcomes] == [Status.PROCESSED] * 3 + [Status.FAILED] * 2
    assert [(o.retryable, o.deferred) for o in outcomes] == [(False, False)] * 3 + [(True, True)] * 2
    for outcome in outcomes[3:]:
        assert outcome.reason == (
            "not started: 5000 ms left of the invocation, below the safety margin of 10000 ms; retried"
        )
        assert outcome.records == 0 and not outcome.rule_matches
    assert [a.event_key for a in alerts.alerts] == ledger.marked == ids[:3]  # the objects done keep their alerts
    assert {item["pk"] for item in index.items} == {f"EVENT#{i}" for i in ids[:3]}  # and nothing of the others
    assert refs[4] not in source.calls and set(refs[:3]) <= set(source.calls)  # no fetch submitted once time ran out


def test_no_time_at_the_start_fetches_nothing_and_refusals_still_skip(records: dict[str, dict[str, Any]]) -> None:
    refs, source, _ = _stop_logging_files(records, 3)
    refused = ObjectRef("someone-elses-bucket", event_key(9))
    time_left = TimeLeft(100_000)
    deadline = Deadline(time_left, 10_000)
    time_left.ms = 9_000
    settings = Settings(buckets=frozenset({BUCKET}))
    pipeline = make_pipeline(source, index=RecordingIndex(), settings=settings, deadline=deadline)
    outcomes = pipeline.run([refs[0], refused, *refs[1:]])
    assert [(o.status, o.deferred) for o in outcomes] == [
        (Status.FAILED, True), (Status.SKIPPED, False), (Status.FAILED, True), (Status.FAILED, True)
    ]
    assert "9000 ms left" in outcomes[0].reason
    assert source.calls == []


class ThrottledSNS:
    """An SNS client whose every PublishBatch answers each entry throttled on SNS's side (to be sent again)."""

    def __init__(self) -> None:
        self.calls = 0

    def publish_batch(self, **params: Any) -> Any:
        self.calls += 1
        return {"Successful": [], "Failed": [
            {"Id": entry["Id"], "Code": "Throttling", "Message": "Rate exceeded", "SenderFault": False}
            for entry in params["PublishBatchRequestEntries"]
        ]}


def test_a_retry_sleep_that_would_cross_the_deadline_fails_the_file_and_releases_its_alerts(
    records: dict[str, dict[str, Any]]
) -> None:
    from trailsift.aws.sns import AlertPublisher

    refs, source, ids = _stop_logging_files(records, 1)
    time_left = TimeLeft(100_000)
    deadline = Deadline(time_left, 10_000)
    time_left.ms = 10_000  # an object may still start; no sleep may
    sns, slept, ledger = ThrottledSNS(), [], FakeLedger()
    publisher = AlertPublisher(sns, "arn:aws:sns:us-east-1:123456789012:alerts", sleep=slept.append, deadline=deadline)
    [outcome] = make_pipeline(source, alerts=publisher, ledger=ledger, deadline=deadline).run(refs)
    assert (outcome.status, outcome.retryable, outcome.deferred) == (Status.FAILED, True, False)
    assert "Throttling" in outcome.reason
    assert (sns.calls, slept, deadline.sleeps_refused) == (1, [], 1)  # raised instead of sleeping
    assert ledger.released == ids and ledger.marked == []  # claimed, not sent: released for the retry
