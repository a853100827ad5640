"""One invocation per trigger shape: real trigger JSON in, the answer Lambda expects out (or InvocationFailed)."""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.engine import RuleEngine
from trailsift.invocation import InvocationFailed, InvocationReport, invoke
from trailsift.pipeline import ObjectDenied, ObjectGone, Pipeline, Status
from trailsift.settings import Settings
from trailsift.sinks import AlertSink, IndexSink
from trailsift.rules import default_rules
from trailsift.triggers import UnknownTrigger

REPO = Path(__file__).resolve().parent.parent
TRIGGERS = REPO / "events" / "triggers"
BUCKET = "trailsift-demo-123456789012-us-east-1"

S3_PUT_KEY = (
    "AWSLogs/123456789012/CloudTrail/us-east-1/2023/07/19/"
    "123456789012_CloudTrail_us-east-1_20230719T2120Z_lyIYTCjJDpQZjSqL.json.gz"
)
SQS_KEYS = (
    "AWSLogs/123456789012/CloudTrail/us-east-1/2023/05/04/"
    "123456789012_CloudTrail_us-east-1_20230504T2355Z_uuluzfkp7Gt0Mdx4.json.gz",
    "AWSLogs/123456789012/CloudTrail/us-east-1/2023/08/27/"
    "123456789012_CloudTrail_us-east-1_20230827T0340Z_KMUMc5GP61WBzY1p.json.gz",
)
SQS_IDS = ("059f36b4-87a3-44ab-83d2-661975830a7d", "2e1424d4-f796-459a-8184-9c92662be6da")
INVICTUS = tuple(
    f"AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T{stamp}.json.gz"
    for stamp in ("1205Z_SjF3IkuNXJkoHyar", "1215Z_YMDRJwtmC82bUwAo", "1225Z_4iD2boYSOwmb6sWd")
)
DIGEST_KEY = (
    "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2023/07/19/"
    "123456789012_CloudTrail-Digest_us-east-1_example-trail_us-east-1_20230719T220000Z.json.gz"
)
CORRUPT = b"\x1f\x8b\x08\x00" + b"\x00not deflate data" * 4

RULES = default_rules()
ENGINE = RuleEngine(RULES)


class FakeSource:
    """The sample bucket (events/logs), with some keys overridden by other bytes or by an exception."""

    def __init__(self, objects: Mapping[str, bytes], overrides: Mapping[str, bytes | BaseException] = ()) -> None:
        self.objects: dict[str, bytes | BaseException] = {**objects, **dict(overrides)}
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def fetch(self, ref: Any) -> bytes:
        with self.lock:
            self.calls.append((ref.bucket, ref.key))
        value = self.objects.get(ref.key) if ref.bucket == BUCKET else None
        if value is None:
            raise ObjectGone(f"NoSuchKey: {ref.key}")
        if isinstance(value, BaseException):
            raise value
        return value


class Recorder:
    def __init__(self) -> None:
        self.got: list[Any] = []
        self.lock = threading.Lock()

    def publish(self, alerts: Sequence[Any]) -> int:
        with self.lock:
            self.got.extend(alerts)
        return len(alerts)

    def write(self, items: Sequence[Any]) -> int:
        with self.lock:
            self.got.extend(items)
        return len(items)


@pytest.fixture(scope="module")
def bucket(events_logs: Path) -> dict[str, bytes]:
    return {path.relative_to(events_logs).as_posix(): path.read_bytes() for path in events_logs.rglob("*.json.gz")}


def sample(name: str) -> Any:
    return json.loads((TRIGGERS / name).read_text())


def pipeline_for(source: FakeSource, **kwargs: Any) -> Pipeline:
    return Pipeline(
        RULES,
        ENGINE,
        source,
        sinks=[IndexSink(kwargs.pop("index", Recorder())), AlertSink(kwargs.pop("alerts", Recorder()))],
        settings=kwargs.pop("settings", Settings(buckets=frozenset({BUCKET}))),
    )


def run(event: Any, bucket: Mapping[str, bytes], overrides: Mapping[str, Any] = ()) -> tuple[InvocationReport, FakeSource]:
    source = FakeSource(bucket, overrides)
    return invoke(event, pipeline_for(source)), source


def throttling() -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetObject")


def s3_record(key: str, bucket_name: str = BUCKET, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": event_name,
        "s3": {"bucket": {"name": bucket_name}, "object": {"key": quote_plus(key, safe="/"), "size": 1000}},
    }


def sqs_record(message_id: Any, body: Any) -> dict[str, Any]:
    record = {"eventSource": "aws:sqs", "body": body}
    if message_id is not None:
        record["messageId"] = message_id
    return record


def sqs_s3(message_id: str, *keys: str) -> dict[str, Any]:
    return sqs_record(message_id, json.dumps({"Records": [s3_record(key) for key in keys]}))


def location(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


# --- S3 notifications, SNS and EventBridge: raise so that Lambda retries --------------------------


def test_s3_put_all_good_answers_none(bucket: dict[str, bytes]) -> None:
    report, source = run(sample("s3-put.json"), bucket)
    assert report.response() is None
    assert source.calls == [(BUCKET, S3_PUT_KEY)]
    assert report.count(Status.PROCESSED) == 1
    assert report.count(Status.FAILED) == report.count(Status.SKIPPED) == 0
    assert report.failures == []
    assert report.records == 1


@pytest.mark.parametrize(
    ("failure", "words"),
    [(CORRUPT, "corrupt gzip"), (throttling(), "Throttling"), (ObjectDenied("AccessDenied"), "AccessDenied")],
)
def test_s3_put_with_a_failed_file_raises_naming_it(bucket: dict[str, bytes], failure: Any, words: str) -> None:
    report, _ = run(sample("s3-put.json"), bucket, {S3_PUT_KEY: failure})
    with pytest.raises(InvocationFailed) as raised:
        report.response()
    message = str(raised.value)
    assert message.startswith("1 failure(s): ")
    assert location(S3_PUT_KEY) in message
    assert words in message


def test_s3_put_of_a_gone_object_is_not_a_failure(bucket: dict[str, bytes]) -> None:
    report, _ = run(sample("s3-put.json"), bucket, {S3_PUT_KEY: ObjectGone("deleted")})
    assert report.response() is None
    assert report.count(Status.SKIPPED) == 1


def test_s3_shape_failure_still_processes_the_others(bucket: dict[str, bytes]) -> None:
    event = {"Records": [s3_record(INVICTUS[0]), s3_record(INVICTUS[1]), s3_record(INVICTUS[2])]}
    report, _ = run(event, bucket, {INVICTUS[1]: RuntimeError("socket closed")})
    assert [o.status for o in report.outcomes] == [Status.PROCESSED, Status.FAILED, Status.PROCESSED]
    with pytest.raises(InvocationFailed, match="socket closed") as raised:
        report.response()
    assert location(INVICTUS[1]) in str(raised.value)
    assert location(INVICTUS[0]) not in str(raised.value)


def test_s3_shape_rejected_part_raises(bucket: dict[str, bytes]) -> None:
    event = {"Records": [s3_record(S3_PUT_KEY), s3_record(S3_PUT_KEY, bucket_name="Not_A_Bucket")]}
    report, source = run(event, bucket)
    assert report.count(Status.PROCESSED) == 1  # the good part is read anyway
    assert len(report.trigger.rejected) == 1
    with pytest.raises(InvocationFailed) as raised:
        report.response()
    assert "1 failure(s)" in str(raised.value)
    assert "rejected trigger part" in str(raised.value)
    assert "Records[1]" in str(raised.value)


def test_s3_shape_message_lists_at_most_ten_problems(bucket: dict[str, bytes]) -> None:
    keys = [S3_PUT_KEY.replace("lyIYTCjJDpQZjSqL", f"Missing{n:09d}") for n in range(12)]
    report, _ = run({"Records": [s3_record(key) for key in keys]}, bucket, {key: throttling() for key in keys})
    with pytest.raises(InvocationFailed) as raised:
        report.response()
    message = str(raised.value)
    assert message.startswith("12 failure(s): ")
    assert sum(location(key) in message for key in keys) == 10


def test_skipped_and_refused_objects_do_not_raise(bucket: dict[str, bytes]) -> None:
    event = {
        "Records": [
            s3_record(DIGEST_KEY),
            s3_record("AWSLogs/123456789012/Config/ConfigWritabilityCheckFile"),
            s3_record(S3_PUT_KEY, bucket_name="another-bucket"),
            s3_record(S3_PUT_KEY, event_name="ObjectRemoved:Delete"),
        ]
    }
    report, source = run(event, bucket)
    assert source.calls == []
    assert report.count(Status.SKIPPED) == 3
    assert len(report.trigger.notices) == 1
    assert report.response() is None


@pytest.mark.parametrize("name", ["s3-test-event.json", "sns-cloudtrail-validation.json"])
def test_triggers_without_objects_answer_none(bucket: dict[str, bytes], name: str) -> None:
    report, source = run(sample(name), bucket)
    assert report.outcomes == []
    assert source.calls == []
    assert report.records == 0
    assert report.response() is None


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("sns-s3.json", "AWSLogs/123456789012/CloudTrail/us-east-2/2021/12/13/"
         "123456789012_CloudTrail_us-east-2_20211213T1655Z_y1Zbpnm6kXpYmqug.json.gz"),
        ("sns-cloudtrail.json", "AWSLogs/123456789012/CloudTrail/us-east-2/2018/03/06/"
         "123456789012_CloudTrail_us-east-2_20180306T2035Z_cKE8EACnVZcZkaRp.json.gz"),
        ("eventbridge-object-created.json", "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2023/01/02/"
         "123456789012_CloudTrail-Insight_us-east-1_20230102T0255Z_gEUcRwquCASnmet4.json.gz"),
    ],
)
def test_sns_and_eventbridge_samples(bucket: dict[str, bytes], name: str, key: str) -> None:
    report, source = run(sample(name), bucket)
    assert source.calls == [(BUCKET, key)]
    assert [o.status for o in report.outcomes] == [Status.PROCESSED]
    assert report.records == 1
    assert report.response() is None
    failed, _ = run(sample(name), bucket, {key: throttling()})
    with pytest.raises(InvocationFailed, match="Throttling"):
        failed.response()


def test_unknown_trigger_raises_before_any_fetch(bucket: dict[str, bytes]) -> None:
    source = FakeSource(bucket)
    with pytest.raises(UnknownTrigger):
        invoke({"hello": "world"}, pipeline_for(source))
    assert source.calls == []


# --- SQS: batchItemFailures -----------------------------------------------------------------------


def test_sqs_all_good(bucket: dict[str, bytes]) -> None:
    report, source = run(sample("sqs-s3.json"), bucket)
    assert sorted(key for _, key in source.calls) == sorted(SQS_KEYS)
    assert report.response() == {"batchItemFailures": []}
    assert [o.ref.origin for o in report.outcomes] == list(SQS_IDS)


@pytest.mark.parametrize("failure", [CORRUPT, throttling(), ObjectDenied("denied")])
def test_sqs_lists_exactly_the_failed_messages(bucket: dict[str, bytes], failure: Any) -> None:
    report, _ = run(sample("sqs-s3.json"), bucket, {SQS_KEYS[1]: failure})
    assert report.response() == {"batchItemFailures": [{"itemIdentifier": SQS_IDS[1]}]}


def test_sqs_skipped_object_is_not_a_failure(bucket: dict[str, bytes]) -> None:
    report, _ = run(sample("sqs-s3.json"), bucket, {SQS_KEYS[0]: ObjectGone("gone")})
    assert report.count(Status.SKIPPED) == 1
    assert report.response() == {"batchItemFailures": []}


def test_sqs_message_naming_several_objects_is_listed_once(bucket: dict[str, bytes]) -> None:
    report, _ = run(sample("sqs-sns-cloudtrail.json"), bucket, {INVICTUS[0]: throttling(), INVICTUS[2]: CORRUPT})
    assert report.count(Status.FAILED) == 2 and report.count(Status.PROCESSED) == 1
    assert report.response() == {"batchItemFailures": [{"itemIdentifier": "d9a2f4c1-6e7b-4c3d-8a5f-0b1e2c3d4e5f"}]}


def test_sqs_rejected_records_are_listed(bucket: dict[str, bytes]) -> None:
    event = {
        "Records": [
            sqs_s3("msg-good", S3_PUT_KEY),
            sqs_record("msg-not-json", "this is not json"),
            sqs_record("msg-bad-bucket", json.dumps({"Records": [s3_record(S3_PUT_KEY, bucket_name="Bad_Bucket")]})),
            sqs_s3("msg-failed", INVICTUS[0]),
        ]
    }
    report, _ = run(event, bucket, {INVICTUS[0]: RuntimeError("reset")})
    answer = report.response()
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": i} for i in sorted(["msg-not-json", "msg-bad-bucket", "msg-failed"])]
    }


def test_sqs_rejected_record_without_message_id_does_not_break_the_answer(bucket: dict[str, bytes]) -> None:
    """A record whose messageId is unusable cannot be named; the others still are."""
    event = {
        "Records": [
            sqs_record(None, json.dumps({"Records": [s3_record(S3_PUT_KEY)]})),
            sqs_record("msg-not-json", "{"),
            sqs_s3("msg-failed", INVICTUS[0]),
        ]
    }
    report, _ = run(event, bucket, {INVICTUS[0]: throttling()})
    assert len(report.trigger.rejected) == 2
    assert report.response() == {
        "batchItemFailures": [{"itemIdentifier": "msg-failed"}, {"itemIdentifier": "msg-not-json"}]
    }


def test_sqs_duplicate_message_shares_the_fate_of_the_one_kept(bucket: dict[str, bytes]) -> None:
    event = {"Records": [sqs_s3("msg-a", INVICTUS[0]), sqs_s3("msg-b", INVICTUS[0]), sqs_s3("msg-c", INVICTUS[1])]}
    report, source = run(event, bucket, {INVICTUS[0]: throttling()})
    assert len(source.calls) == 2  # the repeated object is read once
    assert report.trigger.duplicates == (("msg-b", "msg-a"),)
    assert report.response() == {"batchItemFailures": [{"itemIdentifier": "msg-a"}, {"itemIdentifier": "msg-b"}]}
    good, _ = run(event, bucket)
    assert good.response() == {"batchItemFailures": []}


SQS_BEHAVIOURS = {
    "ok": (None, False),
    "corrupt": (CORRUPT, True),
    "throttled": ("throttling", True),
    "denied": (ObjectDenied("denied"), True),
    "gone": (ObjectGone("gone"), False),
    "not-json": (None, True),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(SQS_BEHAVIOURS)), min_size=1, max_size=10))
def test_sqs_batch_item_failures_property(bucket: dict[str, bytes], plan: list[str]) -> None:
    records, overrides, expected = [], {}, []
    for n, behaviour in enumerate(plan):
        message_id = f"msg-{n:02d}"
        key = S3_PUT_KEY.replace("lyIYTCjJDpQZjSqL", f"Synthetic{n:07d}")
        override, listed = SQS_BEHAVIOURS[behaviour]
        if behaviour == "not-json":
            records.append(sqs_record(message_id, "not json"))
        else:
            records.append(sqs_s3(message_id, key))
            overrides[key] = throttling() if override == "throttling" else (override or bucket[S3_PUT_KEY])
        if listed:
            expected.append(message_id)
    report, _ = run({"Records": records}, bucket, overrides)
    assert report.response() == {"batchItemFailures": [{"itemIdentifier": i} for i in expected]}


# --- S3 Batch Operations: one result per task -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("s3-batch-2.0.json", "AWSLogs/777777777777/CloudTrail/us-east-1/2023/07/19/"
         "777777777777_CloudTrail_us-east-1_20230719T2130Z_W0ITdqvyzDInaTNW.json.gz"),
        ("s3-batch-1.0.json", "AWSLogs/888888888888/CloudTrail/us-east-1/2023/07/19/"
         "888888888888_CloudTrail_us-east-1_20230719T2130Z_qkcbjOKE7e3V1JPY.json.gz"),
    ],
)
def test_batch_samples(bucket: dict[str, bytes], name: str, key: str) -> None:
    event = sample(name)
    report, source = run(event, bucket)
    assert source.calls == [(BUCKET, key)]
    answer = report.response()
    assert answer == {
        "invocationSchemaVersion": event["invocationSchemaVersion"],
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": [{"taskId": event["tasks"][0]["taskId"], "resultCode": "Succeeded", "resultString": "1 records, 0 matches"}],
    }
    failed, _ = run(event, bucket, {key: throttling()})
    [result] = failed.response()["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert "Throttling" in result["resultString"]


def task(task_id: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"taskId": task_id, "s3Bucket": BUCKET, "s3Key": quote_plus(key, safe="/"), "s3VersionId": None, **extra}


def test_batch_results_per_task(bucket: dict[str, bytes]) -> None:
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv-123",
        "job": {"id": "job-1", "userArguments": {}},
        "tasks": [
            task("t-ok", INVICTUS[0]),
            task("t-temp", INVICTUS[1]),
            task("t-perm", INVICTUS[2]),
            task("t-denied", SQS_KEYS[0]),
            task("t-gone", SQS_KEYS[1]),
            task("t-digest", DIGEST_KEY),
            {"taskId": "t-bad", "s3Bucket": BUCKET, "s3Key": ""},
            task("t-dup", INVICTUS[1]),
            task("t-ok", INVICTUS[2]),  # a repeated taskId is answered once
        ],
    }
    overrides = {
        INVICTUS[1]: throttling(), INVICTUS[2]: CORRUPT, SQS_KEYS[0]: ObjectDenied("KMS key disabled"),
        SQS_KEYS[1]: ObjectGone("NoSuchKey"),
    }
    report, source = run(event, bucket, overrides)
    assert DIGEST_KEY not in {key for _, key in source.calls}
    answer = report.response()
    assert answer["invocationId"] == "inv-123"
    assert answer["invocationSchemaVersion"] == "2.0"
    results = {r["taskId"]: (r["resultCode"], r["resultString"]) for r in answer["results"]}
    assert [r["taskId"] for r in answer["results"]] == [
        "t-ok", "t-temp", "t-perm", "t-denied", "t-gone", "t-digest", "t-bad", "t-dup",
    ]
    assert results["t-ok"] == ("Succeeded", "26 records, 3 matches")
    assert results["t-temp"][0] == "TemporaryFailure" and "Throttling" in results["t-temp"][1]
    assert results["t-perm"][0] == "PermanentFailure" and location(INVICTUS[2]) in results["t-perm"][1]
    assert results["t-denied"] == ("PermanentFailure", "KMS key disabled")
    assert results["t-gone"] == ("Succeeded", "NoSuchKey")
    assert results["t-digest"][0] == "Succeeded" and "digest" in results["t-digest"][1]
    assert results["t-bad"][0] == "PermanentFailure" and "s3Key" in results["t-bad"][1]
    assert results["t-dup"] == results["t-temp"]  # same object, same result: S3 retries both


def test_batch_duplicate_of_a_good_task_succeeds(bucket: dict[str, bytes]) -> None:
    event = {
        "invocationSchemaVersion": "1.0",
        "invocationId": "inv-dup",
        "tasks": [task("a", INVICTUS[2]), task("b", INVICTUS[2])],
    }
    report, source = run(event, bucket)
    assert len(source.calls) == 1
    results = report.response()["results"]
    assert [(r["taskId"], r["resultCode"]) for r in results] == [("a", "Succeeded"), ("b", "Succeeded")]
    assert results[0]["resultString"] == results[1]["resultString"] == "12 records, 1 matches"


def test_batch_result_strings_are_capped(bucket: dict[str, bytes]) -> None:
    event = {"invocationSchemaVersion": "2.0", "invocationId": "inv-long", "tasks": [task("t", INVICTUS[0])]}
    report, _ = run(event, bucket, {INVICTUS[0]: RuntimeError("x" * 5000)})
    [result] = report.response()["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert len(result["resultString"]) == 1000


def test_batch_never_raises_for_failures(bucket: dict[str, bytes]) -> None:
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv-fail",
        "tasks": [task("t1", INVICTUS[0]), {"taskId": "t2", "s3Bucket": "BAD", "s3Key": "k"}],
    }
    report, _ = run(event, bucket, {INVICTUS[0]: CORRUPT})
    answer = report.response()
    assert [r["resultCode"] for r in answer["results"]] == ["PermanentFailure", "PermanentFailure"]


# --- the report's counters ------------------------------------------------------------------------


def test_report_counters(bucket: dict[str, bytes]) -> None:
    event = {
        "Records": [
            s3_record(INVICTUS[0]),  # 26 records: cloudtrail-changes x3
            s3_record(INVICTUS[1]),  # 156 records: 14 matches
            s3_record(INVICTUS[2]),  # failed
            s3_record(DIGEST_KEY),  # skipped by name
            s3_record(SQS_KEYS[0]),  # skipped: gone
        ]
    }
    report, _ = run(event, bucket, {INVICTUS[2]: throttling(), SQS_KEYS[0]: ObjectGone("gone")})
    assert report.count(Status.PROCESSED) == 2
    assert report.count(Status.SKIPPED) == 2
    assert report.count(Status.FAILED) == 1
    assert [o.ref.key for o in report.failures] == [INVICTUS[2]]
    assert report.records == 26 + 156
    assert report.rule_matches == Counter(
        {
            "cloudtrail-changes": 4, "vpc-changes": 2, "iam-policy-changes": 1, "network-gateway-changes": 3,
            "route-table-changes": 3, "unauthorized-api-calls": 1, "security-group-changes": 4,
        }
    )
    assert sum(report.rule_matches.values()) == sum(sum(o.rule_matches.values()) for o in report.outcomes)


def test_report_rule_matches_does_not_alias_outcomes(bucket: dict[str, bytes]) -> None:
    report, _ = run({"Records": [s3_record(INVICTUS[0])]}, bucket)
    total = report.rule_matches
    total["cloudtrail-changes"] += 100
    assert report.rule_matches["cloudtrail-changes"] == 3
    assert report.outcomes[0].rule_matches["cloudtrail-changes"] == 3


def test_gzip_sanity(bucket: dict[str, bytes]) -> None:
    """The sample bucket is what the counters above assume."""
    counts = [len(json.loads(gzip.decompress(bucket[key]))["Records"]) for key in INVICTUS]
    assert counts == [26, 156, 12]
