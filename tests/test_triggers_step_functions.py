"""Step Functions Distributed Map batches: the event a backfill's state machine sends, and the answer it gets."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS_LOGS, REPO, create_function_stack, drain_queue, expect, index_rows
from trailsift.cli.local import LambdaContext, load_handler
from trailsift.invocation import InvocationFailed, InvocationReport
from trailsift.pipeline import FileOutcome, Status
from trailsift.triggers import ObjectRef, ObjectResult, Rejected, Trigger, TriggerShape, UnknownTrigger, parse_trigger, shape_of
from trailsift.triggers.step_functions import ALERT_MODES, MAX_ITEMS, alerts_mode, answer_batch, parse_batch

BUCKET = "trailsift-test-123456789012-us-east-1"
KEY = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"


def batch(*items: object, **batch_input: object) -> dict[str, Any]:
    return {"Items": list(items), "BatchInput": {"bucket": BUCKET, **batch_input}}


# --- parsing ------------------------------------------------------------------------------------


def test_a_batch_names_its_keys_verbatim_in_the_bucket_of_its_input() -> None:
    odd = "AWSLogs/1/CloudTrail/x/a+b%20c é.json.gz"  # S3 notifications would decode these; a batch must not
    trigger = parse_trigger(batch(KEY, odd))
    assert trigger.shape is TriggerShape.STEP_FUNCTIONS
    assert trigger.objects == (ObjectRef(BUCKET, KEY), ObjectRef(BUCKET, odd))
    assert trigger.rejected == () and trigger.notices == ()
    assert shape_of(trigger).asynchronous, "permanent failures are dead-lettered, not retried by the state machine"


def test_a_repeated_key_is_read_once_and_a_bad_key_is_a_rejected_part() -> None:
    trigger = parse_batch(batch(KEY, 7, "", KEY, "a\x00b"))
    assert trigger.objects == (ObjectRef(BUCKET, KEY),)
    assert trigger.notices == ("Items[3]: repeats an earlier key; read once",)
    assert trigger.rejected == (
        Rejected("Items[1]", "Items[1]: invalid (a number), expected a string"),
        Rejected("Items[2]", "Items[2]: empty"),
        Rejected("Items[4]", "Items[4]: contains a NUL character"),
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"Items": [KEY], "BatchInput": {"bucket": BUCKET}, "Extra": 1}, "only Items and BatchInput, not top-level keys 'Extra'"),
        ({"Items": KEY, "BatchInput": {"bucket": BUCKET}}, "'Items' is a string, expected a list"),
        ({"Items": [KEY] * (MAX_ITEMS + 1), "BatchInput": {"bucket": BUCKET}}, f"batch of {MAX_ITEMS + 1} items, at most {MAX_ITEMS}"),
        ({"Items": [KEY], "BatchInput": [BUCKET]}, "'BatchInput' is a list, expected an object"),
        ({"Items": [KEY], "BatchInput": {}}, "BatchInput.bucket: missing, expected a bucket name"),
        ({"Items": [KEY], "BatchInput": {"bucket": "Not_A_Bucket"}}, "BatchInput.bucket: not a valid S3 bucket name"),
        ({"Items": [KEY], "BatchInput": {"bucket": BUCKET, "alerts": "page-everyone"}}, "alerts is not one of none, digest, send"),
        ({"Items": [KEY], "BatchInput": {"bucket": BUCKET, "alerts": None}}, "alerts is not one of none, digest, send"),
    ],
)
def test_a_batch_that_cannot_be_read_as_a_whole_is_refused(event: dict[str, Any], message: str) -> None:
    with pytest.raises(UnknownTrigger, match=re.escape(message)):
        parse_trigger(event)


def test_the_alerts_mode_is_none_unless_asked_and_never_send_by_mistake() -> None:
    assert alerts_mode(batch(KEY)) == "none"
    for mode in ALERT_MODES:
        assert alerts_mode(batch(KEY, alerts=mode)) == mode
    assert alerts_mode(batch(KEY, alerts="SEND")) == "none"  # refused by the parser; never read as "send"
    assert alerts_mode({"Items": [KEY], "BatchInput": "send"}) == "none"
    assert alerts_mode({"Records": []}) is None  # the live path
    assert alerts_mode([KEY]) is None


# --- the answer ---------------------------------------------------------------------------------


def ref(key: str) -> ObjectRef:
    return ObjectRef(BUCKET, key)


def test_the_answer_has_one_entry_per_key_in_order_and_the_totals() -> None:
    trigger = Trigger(
        TriggerShape.STEP_FUNCTIONS,
        (ref("a"), ref("b"), ref("c"), ref("d")),
        rejected=(Rejected("Items[4]", "Items[4]: empty"),),
    )
    results = [
        ObjectResult(ref("a"), failed=False, records=10, matches=2),
        ObjectResult(ref("b"), failed=False, reason="digest file: nothing to read " + "x" * 400),
        ObjectResult(ref("d"), failed=False, records=5, matches=0),
    ]  # "c" has no result: invocation dead-lettered it
    answer = answer_batch(trigger, results)
    assert answer.retry == ()
    assert answer.response == {
        "files": 4,
        "processed": 2,
        "skipped": 1,
        "deadLettered": 1,
        "rejected": 1,
        "records": 15,
        "matches": 2,
        "results": [
            {"key": "a", "status": "processed", "records": 10, "matches": 2},
            {"key": "b", "status": "skipped", "reason": ("digest file: nothing to read " + "x" * 400)[:300]},
            {"key": "c", "status": "dead-lettered", "reason": "failed for good; sent to the failure queue"},
            {"key": "d", "status": "processed", "records": 5, "matches": 0},
        ],
        "rejectedItems": [{"item": "Items[4]", "reason": "Items[4]: empty"}],
    }
    assert len(json.dumps(answer.response)) < 2000


def test_a_file_that_may_succeed_later_fails_the_batch_naming_every_such_file() -> None:
    trigger = Trigger(TriggerShape.STEP_FUNCTIONS, (ref("a"), ref("b"), ref("c")))
    results = [
        ObjectResult(ref("a"), failed=False, records=1),
        ObjectResult(ref("b"), failed=True, reason="ThrottlingException", retryable=True),
        ObjectResult(ref("c"), failed=True, reason="corrupt gzip", retryable=False),  # no failure queue to take it
    ]
    answer = answer_batch(trigger, results)
    assert answer.response is None
    assert answer.retry == (f"s3://{BUCKET}/b: ThrottlingException", f"s3://{BUCKET}/c: corrupt gzip")


def _outcome(key: str, status: Status, reason: str = "", retryable: bool = False) -> FileOutcome:
    return FileOutcome(ref(key), status, reason, retryable=retryable, records=3 if status is Status.PROCESSED else 0)


def test_through_the_invocation_permanent_failures_are_dead_lettered_and_reported() -> None:
    """The contract the answer relies on: invocation dead-letters what failed for good and hands the
    answer the rest only, so a key without a result was dead-lettered."""
    trigger = parse_trigger(batch("a", "b", "c"))
    report = InvocationReport(
        trigger,
        [_outcome("a", Status.PROCESSED), _outcome("b", Status.FAILED, "corrupt gzip"), _outcome("c", Status.SKIPPED, "digest")],
    )
    queued: list[list[str]] = []
    response = report.response(dead_letter=lambda outcomes: queued.append([o.ref.key for o in outcomes]))
    assert queued == [["b"]]
    assert response is not None
    assert [(entry["key"], entry["status"]) for entry in response["results"]] == [
        ("a", "processed"), ("b", "dead-lettered"), ("c", "skipped"),
    ]
    retried = InvocationReport(trigger, [_outcome("a", Status.PROCESSED), _outcome("b", Status.FAILED, "Throttling", True), _outcome("c", Status.PROCESSED)])
    with pytest.raises(InvocationFailed, match=re.escape(f"1 failure(s): s3://{BUCKET}/b: Throttling")):
        retried.response(dead_letter=lambda outcomes: queued.append([o.ref.key for o in outcomes]))
    assert queued == [["b"]], "a retryable failure is not dead-lettered"


# --- the handler, end to end on moto --------------------------------------------------------------

TABLE = "trailsift-test-index"


def _sample_files() -> dict[str, bytes]:
    files = {}
    for path in sorted(EVENTS_LOGS.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"))[:6]:
        posix = path.as_posix()
        files[posix[posix.index("AWSLogs/") :]] = path.read_bytes()
    return files


def test_the_handler_reads_a_batch_dead_letters_a_broken_file_and_answers_per_key(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = create_function_stack([BUCKET], TABLE)
    files = _sample_files()
    assert len(files) == 6
    broken = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/111122223333_CloudTrail_us-east-1_20240101T0010Z_BrokenBrokenBrok.json.gz"
    for key, body in {**files, broken: gzip.compress(b'{"Records": [', mtime=0)}.items():
        stack.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    for name, value in {
        "TRAILSIFT_INDEX_TABLE": TABLE,
        "TRAILSIFT_BUCKETS": BUCKET,
        "TRAILSIFT_FAILURE_QUEUE_URL": stack.failure_url,
        "POWERTOOLS_SERVICE_NAME": "trailsift-test-sfn",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    module = load_handler(REPO / "functions" / "processor" / "app.py")
    event = batch(*files, broken)
    response = module.handler(event, LambdaContext())
    statuses = Counter(entry["status"] for entry in response["results"])
    assert statuses == {"processed": 6, "dead-lettered": 1}
    assert response["results"][-1]["key"] == broken
    assert response["matches"] == sum(expect(files, BUCKET).matches.values())
    assert set(index_rows(stack.dynamodb, TABLE)) == expect(files, BUCKET).rows
    (dead,) = drain_queue(stack.sqs, stack.failure_url)
    assert broken in json.dumps(dead)
    # Run again (a state machine retry, a rerun of the backfill): the same answer, nothing new.
    assert module.handler(event, LambdaContext())["results"] == response["results"]
    assert set(index_rows(stack.dynamodb, TABLE)) == expect(files, BUCKET).rows


# --- a backfill's alerts --------------------------------------------------------------------------

from trailsift.alerts import MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS, Alert, AlertOptions, format_alert
from trailsift.rules import Destination
from trailsift.settings import Settings
from trailsift.sinks import SinkContext, build_sinks
from trailsift.rules import Rule, Severity
from trailsift.scan import Match
from trailsift.selectors import parse_selectors
from trailsift.triggers import s3_notification

TOPIC = "arn:aws:sns:us-east-1:123456789012:trailsift-alerts"
CRITICAL = Rule("trail-stopped", parse_selectors([{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}]),
                Severity.CRITICAL)


@pytest.mark.parametrize(("mode", "alerting"), [(None, True), ("none", False), ("digest", False), ("send", True)])
def test_a_backfill_gets_the_alert_sink_only_to_send(mode: str | None, alerting: bool) -> None:
    context = SinkContext(Settings(alert_topic_arn=TOPIC, index_table="t"), lambda service: None, owner="r", backfill=mode)
    destinations = [sink.destination for sink in build_sinks(context)]
    assert Destination.INDEX in destinations
    assert (Destination.ALERT in destinations) is alerting
    alert_sinks = [sink for sink in build_sinks(context) if sink.destination is Destination.ALERT]
    assert [getattr(sink, "label") for sink in alert_sinks] == (["backfill"] if mode == "send" else [""] if alerting else [])


def test_a_backfill_alert_is_marked_and_stays_a_valid_alert() -> None:
    """The label goes on the subject before the alert is fitted: always a valid subject, always within 256 KB."""
    backfill = AlertOptions(label="backfill")
    record = {"eventID": "e1", "eventName": "StopLogging", "awsRegion": "us-east-1",
              "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bert"}}

    def alert(fields: dict[str, Any]) -> Alert:
        return format_alert(Match("s3://b/k", 0, record | fields, (CRITICAL.name,)), (CRITICAL,), "s3://b/k", backfill)

    assert alert({}).subject == "[backfill] [critical] StopLogging by user/bert in us-east-1"
    assert alert({}).subject == backfill.marked(format_alert(
        Match("s3://b/k", 0, record, (CRITICAL.name,)), (CRITICAL,), "s3://b/k").subject)
    long = alert({"eventName": "x" * 40, "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/" + "y" * 60}})
    assert len(long.subject) == MAX_SUBJECT_CHARS and long.subject.endswith("...")
    assert long.subject.startswith("[backfill] [critical] ")
    full = alert({"requestParameters": {"b": "b" * (MAX_MESSAGE_BYTES - 40)}})
    assert full.size() <= MAX_MESSAGE_BYTES and full.subject.startswith("[backfill] [critical] StopLogging")


def _alert_files() -> dict[str, bytes]:
    """Four sample files that each raise at least one alert with the default pack."""
    chosen: dict[str, bytes] = {}
    for key, body in _sample_files_all().items():
        if expect({key: body}, BUCKET).subjects:
            chosen[key] = body
        if len(chosen) == 4:
            return chosen
    raise AssertionError("fewer than four sample files raise alerts")


def _sample_files_all() -> dict[str, bytes]:
    files = {}
    for path in sorted(EVENTS_LOGS.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz")):
        posix = path.as_posix()
        files[posix[posix.index("AWSLogs/") :]] = path.read_bytes()
    return files


def test_alerts_of_a_backfill_none_digest_and_send_and_never_twice(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = create_function_stack([BUCKET], TABLE)
    files = _alert_files()
    for key, body in files.items():
        stack.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    for name, value in {
        "TRAILSIFT_ALERT_TOPIC_ARN": stack.topic_arn,
        "TRAILSIFT_INDEX_TABLE": TABLE,
        "TRAILSIFT_BUCKETS": BUCKET,
        "TRAILSIFT_FAILURE_QUEUE_URL": stack.failure_url,
        "POWERTOOLS_SERVICE_NAME": "trailsift-test-sfn-alerts",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    module = load_handler(REPO / "functions" / "processor" / "app.py")
    live, sent_twice, quiet, digest = list(files)

    def alerts() -> list[str]:
        return sorted(envelope["Subject"] for envelope in drain_queue(stack.sqs, stack.subscriber_url))

    # The live path alerts on one file.
    module.handler(s3_notification([ObjectRef(BUCKET, live)]), LambdaContext())
    live_subjects = sorted(expect({live: files[live]}, BUCKET).subjects.elements())
    assert alerts() == live_subjects
    # none and digest: rows, no alert.
    for mode, key in (("none", quiet), ("digest", digest)):
        answer = module.handler(batch(key, alerts=mode), LambdaContext())
        assert answer["processed"] == 1 and alerts() == []
    # send: each alert marked, and what the live path sent is not sent again.
    module.handler(batch(live, sent_twice, alerts="send"), LambdaContext())
    want = sorted(f"[backfill] {subject}" for subject in expect({sent_twice: files[sent_twice]}, BUCKET).subjects.elements())
    assert alerts() == want
    module.handler(batch(live, sent_twice, alerts="send"), LambdaContext())  # a rerun of the same batch
    assert alerts() == []
    assert set(index_rows(stack.dynamodb, TABLE)) == expect(files, BUCKET).rows
    marks = [
        item
        for page in stack.dynamodb.get_paginator("scan").paginate(TableName=TABLE)
        for item in page["Items"]
        if item["pk"]["S"].startswith("ALERT#")
    ]
    assert marks and all(item["state"]["S"] == "sent" and "expires_at" not in item for item in marks)
