"""parse_trigger and batch_response: every trigger shape, hostile content, and the samples in events/triggers.

The shape registry and each shape's answer on its own: tests/test_triggers_shapes.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.triggers import (
    BatchJob,
    ObjectRef,
    Rejected,
    Trigger,
    TriggerShape,
    UnknownTrigger,
    batch_response,
    parse_trigger,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "events" / "triggers"
LOGS = REPO / "events" / "logs"
BUCKET = "trailsift-demo-123456789012-us-east-1"
KEY = (
    "AWSLogs/123456789012/CloudTrail/us-east-1/2024/02/29/123456789012_CloudTrail_us-east-1_20240229T2355Z_AbCd.json.gz"
)
KEY2 = KEY.replace("2355Z", "2350Z")
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- event builders -----------------------------------------------------------------------------


def s3_record(
    key: str = KEY,
    *,
    bucket: str = BUCKET,
    name: str = "ObjectCreated:Put",
    encode: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/") if encode else key, "size": 1234, "eTag": "0123abcd"}
    obj.update(fields)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket}, "object": obj},
    }


def s3_event(*records: Any) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_event(*messages: tuple[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": mid, "body": body, "eventSource": "aws:sqs", "receiptHandle": "r"} for mid, body in messages
        ]
    }


def sns_event(*messages: tuple[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "MessageId": mid, "Message": message}}
            for mid, message in messages
        ]
    }


def sns_envelope(message: str, message_id: str = "sns-1") -> str:
    """What SQS receives from SNS without raw message delivery."""
    return json.dumps(
        {"Type": "Notification", "MessageId": message_id, "TopicArn": "arn:aws:sns:::t", "Message": message}
    )


def cloudtrail_message(keys: Any, bucket: Any = BUCKET) -> str:
    return json.dumps({"s3Bucket": bucket, "s3ObjectKey": keys})


def eventbridge(
    key: str = KEY, *, bucket: str = BUCKET, detail_type: str = "Object Created", **fields: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": 77, "etag": "e7a9", "sequencer": "00617F"}
    obj.update(fields)
    return {
        "version": "0",
        "detail-type": detail_type,
        "source": "aws.s3",
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": obj, "reason": "PutObject"},
    }


def batch_event(version: str = "2.0", *tasks: Any, invocation_id: str = "inv-1") -> dict[str, Any]:
    return {
        "invocationSchemaVersion": version,
        "invocationId": invocation_id,
        "job": {"id": "job-1"},
        "tasks": list(tasks),
    }


def task(
    task_id: str = "t1", key: str = KEY, bucket: str = BUCKET, *, arn: bool = False, **fields: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"taskId": task_id, "s3Key": quote_plus(key, safe="/"), "s3VersionId": None}
    entry.update({"s3BucketArn": f"arn:aws:s3:::{bucket}"} if arn else {"s3Bucket": bucket})
    entry.update(fields)
    return entry


def only_object(trigger: Trigger) -> ObjectRef:
    assert not trigger.rejected, trigger.rejected
    assert len(trigger.objects) == 1, trigger.objects
    return trigger.objects[0]


# --- S3 event notifications ---------------------------------------------------------------------


def test_s3_put_names_one_object_with_its_metadata() -> None:
    trigger = parse_trigger(s3_event(s3_record(versionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")))
    assert trigger.shape is TriggerShape.S3
    assert trigger.objects == (
        ObjectRef(BUCKET, KEY, version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", size=1234, etag="0123abcd"),
    )
    assert trigger.notices == () and trigger.rejected == () and trigger.batch is None


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("logs/my+file.json.gz", "logs/my file.json.gz"),
        ("logs/c%2B%2B.json.gz", "logs/c++.json.gz"),
        ("logs/caf%C3%A9.json.gz", "logs/café.json.gz"),
        ("logs%2Fslash%2Fencoded", "logs/slash/encoded"),
        ("100%25+sure", "100% sure"),
        ("a%3Fb%3Dc%26d", "a?b=c&d"),
        ("%E6%97%A5%E6%9C%AC", "日本"),
    ],
)
def test_s3_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    ref = only_object(parse_trigger(s3_event(s3_record(encoded, encode=False))))
    assert ref.key == decoded


@pytest.mark.parametrize(
    "name",
    ["ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Copy", "s3:ObjectCreated:Post"],
)
def test_every_object_created_event_names_an_object(name: str) -> None:
    assert only_object(parse_trigger(s3_event(s3_record(name=name)))).key == KEY


@pytest.mark.parametrize(
    "name", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "LifecycleExpiration:Delete", "ObjectTagging:Put"]
)
def test_other_s3_events_are_notices_not_objects(name: str) -> None:
    trigger = parse_trigger(s3_event(s3_record("old+file", name=name, encode=False)))
    assert trigger.objects == ()
    assert trigger.rejected == ()
    assert trigger.notices == (f"ignored {name} for s3://{BUCKET}/old file",)


def test_ignored_event_with_a_malformed_object_is_still_only_a_notice() -> None:
    trigger = parse_trigger(s3_event(s3_record(name="ObjectRemoved:Delete", bucket="Not_A_Bucket")))
    assert trigger.objects == () and trigger.rejected == ()
    assert trigger.notices == ("ignored ObjectRemoved:Delete event",)


def test_s3_test_event_is_a_notice() -> None:
    event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-01-01T00:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "R",
        "HostId": "H",
    }
    assert parse_trigger(event) == Trigger(TriggerShape.S3, (), notices=(f"s3:TestEvent for bucket {BUCKET}",))


def test_s3_test_event_with_a_bad_bucket_does_not_echo_it() -> None:
    trigger = parse_trigger({"Event": "s3:TestEvent", "Bucket": "Evil\nBucket"})
    assert trigger.notices == ("s3:TestEvent",)


def test_empty_records_is_a_valid_empty_trigger() -> None:
    assert parse_trigger({"Records": []}) == Trigger(TriggerShape.S3, ())


def test_s3_empty_version_and_etag_mean_none() -> None:
    ref = only_object(parse_trigger(s3_event(s3_record(versionId="", eTag=None, size=None))))
    assert (ref.version_id, ref.etag, ref.size) == (None, None, None)


def test_s3_size_zero_is_kept() -> None:
    assert only_object(parse_trigger(s3_event(s3_record(size=0)))).size == 0


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    record = s3_record()
    node: Any = record
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return record


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    record = s3_record()
    node: Any = record
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return record


BAD_S3_RECORDS = [
    (_with(("s3", "bucket", "name"), "UPPER-case"), "Records[0].s3.bucket.name: not a valid S3 bucket name"),
    (_with(("s3", "bucket", "name"), "ab"), "Records[0].s3.bucket.name: not a valid S3 bucket name"),
    (_with(("s3", "bucket", "name"), "a" * 64), "Records[0].s3.bucket.name: not a valid S3 bucket name"),
    (_with(("s3", "bucket", "name"), "-starts-with-hyphen"), "Records[0].s3.bucket.name: not a valid"),
    (_with(("s3", "bucket", "name"), "ends-with-dot."), "Records[0].s3.bucket.name: not a valid"),
    (_with(("s3", "bucket", "name"), "under_score"), "Records[0].s3.bucket.name: not a valid"),
    (_with(("s3", "bucket", "name"), "evil/bucket"), "Records[0].s3.bucket.name: not a valid"),
    (_with(("s3", "bucket", "name"), 42), "Records[0].s3.bucket.name: invalid (a number)"),
    (_without(("s3", "bucket", "name")), "Records[0].s3.bucket.name: missing"),
    (_with(("s3", "bucket"), "b"), "Records[0].s3.bucket: invalid (a string), expected an object"),
    (_without(("s3",)), "Records[0].s3: missing"),
    (_without(("s3", "object", "key")), "Records[0].s3.object.key: missing"),
    (_with(("s3", "object", "key"), ""), "Records[0].s3.object.key: empty"),
    (_with(("s3", "object", "key"), ["k"]), "Records[0].s3.object.key: invalid (a list)"),
    (_with(("s3", "object", "key"), "a%00b"), "Records[0].s3.object.key: contains a NUL character"),
    (_with(("s3", "object", "key"), "bad%FFutf8"), "Records[0].s3.object.key: not valid UTF-8 once URL-decoded"),
    (_with(("s3", "object", "key"), "a" * 1025), "Records[0].s3.object.key: 1025 bytes"),
    (_with(("s3", "object", "key"), "%C3%A9" * 512 + "a"), "Records[0].s3.object.key: 1025 bytes"),
    (_with(("s3", "object", "key"), "\ud800"), "Records[0].s3.object.key: not valid Unicode"),
    (_with(("s3", "object", "size"), -1), "Records[0].s3.object.size: invalid (a number)"),
    (_with(("s3", "object", "size"), True), "Records[0].s3.object.size: invalid (a boolean)"),
    (_with(("s3", "object", "size"), "12"), "Records[0].s3.object.size: invalid (a string)"),
    (_with(("s3", "object", "size"), 1.5), "Records[0].s3.object.size: invalid (a number)"),
    (_with(("s3", "object", "eTag"), 5), "Records[0].s3.object.eTag: invalid (a number)"),
    (_with(("s3", "object", "versionId"), "has space"), "Records[0].s3.object.versionId: invalid (a string)"),
    (_with(("s3", "object", "versionId"), "v" * 1025), "Records[0].s3.object.versionId: invalid"),
    (_without(("eventName",)), "Records[0].eventName: missing"),
    (_with(("eventName",), 7), "Records[0].eventName: invalid (a number)"),
]


@pytest.mark.parametrize(("record", "reason"), BAD_S3_RECORDS)
def test_malformed_s3_record_is_rejected_naming_the_field_and_the_rest_parsed(
    record: dict[str, Any], reason: str
) -> None:
    trigger = parse_trigger(s3_event(record, s3_record(KEY2)))
    assert [ref.key for ref in trigger.objects] == [KEY2]
    assert len(trigger.rejected) == 1
    assert trigger.rejected[0].origin is None
    assert trigger.rejected[0].reason.startswith(reason), trigger.rejected[0].reason


def test_rejection_reasons_never_echo_the_bad_value() -> None:
    secret = "s3cr3t-VALUE"
    for path in (("s3", "bucket", "name"), ("s3", "object", "versionId"), ("s3", "object", "eTag")):
        trigger = parse_trigger(s3_event(_with(path, f"{secret} \n")))
        assert trigger.rejected, path
        assert secret not in trigger.rejected[0].reason


@pytest.mark.parametrize(
    ("key", "ok"),
    [("a" * 1024, True), ("%C3%A9" * 512, True), ("%F0%9F%98%80" * 256, True), ("%F0%9F%98%80" * 256 + "a", False)],
)
def test_key_length_limit_is_1024_utf8_bytes_after_decoding(key: str, ok: bool) -> None:
    trigger = parse_trigger(s3_event(s3_record(key, encode=False)))
    assert (len(trigger.objects), len(trigger.rejected)) == ((1, 0) if ok else (0, 1))


def test_non_nul_control_characters_are_valid_key_characters() -> None:
    ref = only_object(parse_trigger(s3_event(s3_record("a%0Ab%1Bc", encode=False))))
    assert ref.key == "a\nb\x1bc"
    assert ref.location == f"s3://{BUCKET}/a\\nb\\x1bc"


def test_records_of_another_source_in_a_batch_are_rejected() -> None:
    event = s3_event(s3_record(), {"eventSource": "aws:sqs", "messageId": "m", "body": "{}"}, "junk")
    trigger = parse_trigger(event)
    assert trigger.shape is TriggerShape.S3
    assert [ref.key for ref in trigger.objects] == [KEY]
    assert [r.reason for r in trigger.rejected] == [
        "Records[1]: not an S3 record like the rest of the batch",
        "Records[2]: not an S3 record like the rest of the batch",
    ]


# --- SNS ----------------------------------------------------------------------------------------


def test_sns_with_s3_notification() -> None:
    trigger = parse_trigger(sns_event(("sns-1", json.dumps(s3_event(s3_record("a+b%2Bc", encode=False))))))
    assert trigger.shape is TriggerShape.SNS
    ref = only_object(trigger)
    assert (ref.key, ref.size, ref.origin) == ("a b+c", 1234, None)


def test_sns_with_s3_test_event_is_a_notice() -> None:
    trigger = parse_trigger(
        sns_event(("sns-1", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})))
    )
    assert trigger == Trigger(TriggerShape.SNS, (), notices=(f"s3:TestEvent for bucket {BUCKET}",))


def test_sns_cloudtrail_message_with_a_list_of_keys() -> None:
    trigger = parse_trigger(sns_event(("sns-1", cloudtrail_message([KEY, KEY2]))))
    assert trigger.shape is TriggerShape.SNS
    assert trigger.objects == (ObjectRef(BUCKET, KEY), ObjectRef(BUCKET, KEY2))
    assert trigger.rejected == () and trigger.notices == ()


def test_sns_cloudtrail_message_with_a_single_string_key() -> None:
    assert parse_trigger(sns_event(("sns-1", cloudtrail_message(KEY)))).objects == (ObjectRef(BUCKET, KEY),)


def test_cloudtrail_message_keys_are_not_url_decoded() -> None:
    ref = only_object(parse_trigger(sns_event(("sns-1", cloudtrail_message(["logs/a+b%2Bc.json.gz"])))))
    assert ref.key == "logs/a+b%2Bc.json.gz"


@pytest.mark.parametrize(
    "message",
    [
        "CloudTrail validation message.",
        "  CloudTrail validation message.\n",
        json.dumps("CloudTrail validation message."),
    ],
)
def test_cloudtrail_validation_message_is_a_notice(message: str) -> None:
    trigger = parse_trigger(sns_event(("sns-1", message)))
    assert trigger == Trigger(TriggerShape.SNS, (), notices=("CloudTrail SNS validation message",))


@pytest.mark.parametrize("keys", [None, [], ""])
def test_cloudtrail_message_without_keys_is_a_notice(keys: Any) -> None:
    document: dict[str, Any] = {"s3Bucket": BUCKET}
    if keys is not None:
        document["s3ObjectKey"] = keys
    trigger = parse_trigger(sns_event(("sns-1", json.dumps(document))))
    assert trigger.objects == () and trigger.rejected == ()
    assert trigger.notices == ("CloudTrail SNS message naming no log file (validation message)",)


def test_cloudtrail_message_bad_keys_are_rejected_and_good_ones_kept() -> None:
    trigger = parse_trigger(sns_event(("sns-7", cloudtrail_message([KEY, 5, "", "a\x00b", KEY2]))))
    assert trigger.objects == (ObjectRef(BUCKET, KEY), ObjectRef(BUCKET, KEY2))
    assert trigger.rejected == (
        Rejected("sns-7", "Records[0].Sns.Message: s3ObjectKey[1]: invalid (a number), expected a string"),
        Rejected("sns-7", "Records[0].Sns.Message: s3ObjectKey[2]: empty"),
        Rejected("sns-7", "Records[0].Sns.Message: s3ObjectKey[3]: contains a NUL character"),
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json at all", "Records[0].Sns.Message: not JSON"),
        ("[1, 2]", "Records[0].Sns.Message: JSON a list, expected an object"),
        (json.dumps({"hello": "world"}), "Records[0].Sns.Message: unknown message shape (top-level keys 'hello')"),
        (cloudtrail_message(KEY, bucket="Bad Bucket"), "Records[0].Sns.Message: s3Bucket: not a valid S3 bucket name"),
        (cloudtrail_message({"k": KEY}), "Records[0].Sns.Message: s3ObjectKey: invalid (an object)"),
        (json.dumps({"Records": "x"}), "Records[0].Sns.Message: 'Records' is a string, expected a list"),
        (json.dumps({"Records": [{"eventSource": "aws:sqs"}]}), "Records[0].Sns.Message: Records[0] is not an S3"),
        (sns_envelope(cloudtrail_message(KEY)), "Records[0].Sns.Message: unknown message shape"),
        ("[" * 100_000, "Records[0].Sns.Message: not JSON"),
        ("1" * 5000, "Records[0].Sns.Message: not JSON"),
    ],
)
def test_sns_message_that_names_nothing_readable_is_rejected(message: str, reason: str) -> None:
    trigger = parse_trigger(sns_event(("sns-9", message), ("sns-10", cloudtrail_message(KEY2))))
    assert trigger.objects == (ObjectRef(BUCKET, KEY2),)
    assert len(trigger.rejected) == 1
    assert trigger.rejected[0].origin == "sns-9"
    assert trigger.rejected[0].reason.startswith(reason), trigger.rejected[0].reason


def test_sns_record_without_sns_object_is_rejected() -> None:
    trigger = parse_trigger({"Records": [{"EventSource": "aws:sns", "Sns": None}]})
    assert trigger == Trigger(
        TriggerShape.SNS, (), rejected=(Rejected(None, "Records[0].Sns: missing, expected an object"),)
    )


# --- SQS ----------------------------------------------------------------------------------------


def test_sqs_with_s3_notification_keeps_the_message_id_as_origin() -> None:
    trigger = parse_trigger(
        sqs_event(("m1", json.dumps(s3_event(s3_record()))), ("m2", json.dumps(s3_event(s3_record(KEY2)))))
    )
    assert trigger.shape is TriggerShape.SQS
    assert [(ref.key, ref.origin) for ref in trigger.objects] == [(KEY, "m1"), (KEY2, "m2")]


def test_sqs_with_sns_envelope_of_s3_notification() -> None:
    body = sns_envelope(json.dumps(s3_event(s3_record("x+y", encode=False))))
    ref = only_object(parse_trigger(sqs_event(("m1", body))))
    assert (ref.key, ref.origin) == ("x y", "m1")


def test_sqs_with_sns_envelope_of_cloudtrail_message_non_raw_delivery() -> None:
    trigger = parse_trigger(sqs_event(("m1", sns_envelope(cloudtrail_message([KEY, KEY2])))))
    assert trigger.objects == (ObjectRef(BUCKET, KEY, origin="m1"), ObjectRef(BUCKET, KEY2, origin="m1"))


def test_sqs_with_cloudtrail_message_raw_delivery() -> None:
    trigger = parse_trigger(sqs_event(("m1", cloudtrail_message(KEY))))
    assert trigger.objects == (ObjectRef(BUCKET, KEY, origin="m1"),)


@pytest.mark.parametrize("body", ["CloudTrail validation message.", sns_envelope("CloudTrail validation message.")])
def test_sqs_cloudtrail_validation_message_raw_and_wrapped(body: str) -> None:
    trigger = parse_trigger(sqs_event(("m1", body)))
    assert trigger == Trigger(TriggerShape.SQS, (), notices=("CloudTrail SNS validation message",))


def test_sqs_with_s3_test_event() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})
    assert parse_trigger(sqs_event(("m1", body))).notices == (f"s3:TestEvent for bucket {BUCKET}",)


def test_sqs_with_eventbridge_event_from_a_rule_target() -> None:
    trigger = parse_trigger(sqs_event(("m1", json.dumps(eventbridge("a+b")))))
    assert trigger.objects == (ObjectRef(BUCKET, "a+b", size=77, etag="e7a9", origin="m1"),)


def test_sqs_sns_subscription_confirmation_is_a_notice() -> None:
    body = json.dumps({"Type": "SubscriptionConfirmation", "MessageId": "x", "Token": "t", "SubscribeURL": "https://x"})
    trigger = parse_trigger(sqs_event(("m1", body)))
    assert trigger.objects == () and trigger.rejected == ()
    assert trigger.notices == ("SNS SubscriptionConfirmation message (no object; confirm or remove the subscription)",)


def test_sqs_mixed_good_and_bad_records() -> None:
    event = sqs_event(
        ("good-1", json.dumps(s3_event(s3_record()))),
        ("bad-json", "{oops"),
        ("bad-shape", json.dumps({"Type": "Other"})),
        ("no-body", None),
        ("bad-key", json.dumps(s3_event(s3_record("%FF", encode=False)))),
        ("good-2", sns_envelope(cloudtrail_message(KEY2))),
    )
    event["Records"].append({"eventSource": "aws:sqs", "body": cloudtrail_message(KEY)})  # no messageId
    trigger = parse_trigger(event)
    assert [(ref.key, ref.origin) for ref in trigger.objects] == [(KEY, "good-1"), (KEY2, "good-2")]
    assert [r.origin for r in trigger.rejected] == ["bad-json", "bad-shape", "no-body", "bad-key", None]
    reasons = [r.reason for r in trigger.rejected]
    assert reasons[0] == "Records[1].body: not JSON"
    assert reasons[1].startswith("Records[2].body: unknown message shape")
    assert reasons[2] == "Records[3].body: missing, expected JSON text"
    assert reasons[3] == "Records[4].body: Records[0].s3.object.key: not valid UTF-8 once URL-decoded"
    assert reasons[4] == "Records[6].messageId: missing, expected a non-empty printable string"


def test_sqs_rejects_sns_nested_in_sns() -> None:
    body = sns_envelope(sns_envelope(cloudtrail_message(KEY)))
    trigger = parse_trigger(sqs_event(("m1", body)))
    assert trigger.objects == ()
    assert trigger.rejected[0].origin == "m1"
    assert trigger.rejected[0].reason.startswith("Records[0].body: Message: unknown message shape")


# --- EventBridge --------------------------------------------------------------------------------


def test_eventbridge_object_created_key_is_taken_verbatim() -> None:
    trigger = parse_trigger(eventbridge("logs/a+b%2Bc é.json.gz", **{"version-id": "v1"}))
    assert trigger.shape is TriggerShape.EVENTBRIDGE
    assert trigger.objects == (ObjectRef(BUCKET, "logs/a+b%2Bc é.json.gz", version_id="v1", size=77, etag="e7a9"),)


def test_eventbridge_other_detail_types_are_notices() -> None:
    trigger = parse_trigger(eventbridge(detail_type="Object Deleted"))
    assert trigger.objects == () and trigger.rejected == ()
    assert trigger.notices == (f"ignored EventBridge Object Deleted for s3://{BUCKET}/{KEY}",)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**eventbridge(), "detail": None}, "detail: missing, expected an object"),
        (eventbridge(bucket="No"), "detail.bucket.name: not a valid S3 bucket name"),
        (eventbridge(key=""), "detail.object.key: empty"),
        (eventbridge(size=False), "detail.object.size: invalid (a boolean)"),
        (eventbridge(etag=["x"]), "detail.object.etag: invalid (a list)"),
        ({**eventbridge(), "detail-type": 3}, "detail-type: invalid (a number), expected a string"),
    ],
)
def test_malformed_eventbridge_event_is_rejected(event: dict[str, Any], reason: str) -> None:
    trigger = parse_trigger(event)
    assert trigger.shape is TriggerShape.EVENTBRIDGE
    assert trigger.objects == ()
    assert len(trigger.rejected) == 1
    assert trigger.rejected[0].reason.startswith(reason), trigger.rejected[0].reason


def test_eventbridge_from_another_source_is_unknown() -> None:
    with pytest.raises(UnknownTrigger, match=re.escape("source is not aws.s3")):
        parse_trigger({**eventbridge(), "source": "aws.ec2"})


# --- S3 Batch Operations ------------------------------------------------------------------------


def test_batch_2_0() -> None:
    trigger = parse_trigger(batch_event("2.0", task("t1", "logs/my file+1.json.gz", s3VersionId="v9")))
    assert trigger.shape is TriggerShape.BATCH
    assert trigger.objects == (ObjectRef(BUCKET, "logs/my file+1.json.gz", version_id="v9", origin="t1"),)
    assert trigger.batch == BatchJob("2.0", "inv-1", ("t1",))


@pytest.mark.parametrize(
    "arn", [f"arn:aws:s3:::{BUCKET}", f"arn:aws-cn:s3:::{BUCKET}", f"arn:aws-us-gov:s3:::{BUCKET}"]
)
def test_batch_1_0_bucket_comes_from_the_arn(arn: str) -> None:
    entry = task("t1", "caf\u00e9.json.gz", arn=True)
    entry["s3BucketArn"] = arn
    trigger = parse_trigger(batch_event("1.0", entry))
    assert trigger.objects == (ObjectRef(BUCKET, "café.json.gz", origin="t1"),)
    assert trigger.batch == BatchJob("1.0", "inv-1", ("t1",))


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (task("t1", arn=True, s3BucketArn="arn:aws:s3:us-east-1:0123456788:bucket"), "tasks[0].s3BucketArn: invalid"),
        (task("t1", arn=True, s3BucketArn="arn:aws:s3:::Bad_Bucket"), "tasks[0].s3BucketArn: not a valid S3 bucket"),
        (task("t1", s3BucketArn="arn:aws:s3:::other-bucket"), "tasks[0]: s3Bucket and s3BucketArn name different"),
        ({"taskId": "t1", "s3Key": "k"}, "tasks[0]: neither s3Bucket nor s3BucketArn is present"),
        (task("t1", s3Key=""), "tasks[0].s3Key: empty"),
        (task("t1", s3Key="a%00"), "tasks[0].s3Key: contains a NUL character"),
        (task("t1", s3VersionId=12), "tasks[0].s3VersionId: invalid (a number)"),
    ],
)
def test_batch_task_with_bad_fields_is_rejected_but_still_answered(entry: dict[str, Any], reason: str) -> None:
    trigger = parse_trigger(batch_event("2.0", entry, task("t2")))
    assert trigger.objects == (ObjectRef(BUCKET, KEY, origin="t2"),)
    assert len(trigger.rejected) == 1
    assert trigger.rejected[0].origin == "t1"
    assert trigger.rejected[0].reason.startswith(reason), trigger.rejected[0].reason
    assert trigger.batch is not None and trigger.batch.task_ids == ("t1", "t2")


def test_batch_task_without_task_id_cannot_be_answered() -> None:
    trigger = parse_trigger(batch_event("2.0", {"s3Bucket": BUCKET, "s3Key": "k"}, "junk", task("t2")))
    assert [r.reason for r in trigger.rejected] == [
        "tasks[0].taskId: missing, expected a non-empty printable string",
        "tasks[1]: invalid (a string), expected an object",
    ]
    assert all(r.origin is None for r in trigger.rejected)
    assert trigger.batch is not None and trigger.batch.task_ids == ("t2",)


def test_batch_repeated_task_id_is_answered_once() -> None:
    trigger = parse_trigger(batch_event("2.0", task("t1"), task("t1", KEY2)))
    assert trigger.batch is not None and trigger.batch.task_ids == ("t1",)
    assert [ref.key for ref in trigger.objects] == [KEY]
    assert trigger.notices == ("tasks[1]: repeats an earlier taskId; answered once",)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (batch_event("3.0", task()), "invocationSchemaVersion is not 1.0 or 2.0"),
        (batch_event("2.0", task(), invocation_id=""), "without an invocationId"),
        ({**batch_event("2.0"), "tasks": {"t": 1}}, "'tasks' is an object, expected a list"),
    ],
)
def test_batch_event_that_cannot_be_answered_is_unknown(event: dict[str, Any], message: str) -> None:
    with pytest.raises(UnknownTrigger, match=re.escape(message)):
        parse_trigger(event)


def test_batch_response_answers_every_task_in_order() -> None:
    job = BatchJob("2.0", "inv-1", ("t1", "t2"))
    answer = batch_response(job, {"t2": ("PermanentFailure", "bad key"), "t1": ("Succeeded", "3 records")})
    assert answer == {
        "invocationSchemaVersion": "2.0",
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": "inv-1",
        "results": [
            {"taskId": "t1", "resultCode": "Succeeded", "resultString": "3 records"},
            {"taskId": "t2", "resultCode": "PermanentFailure", "resultString": "bad key"},
        ],
    }
    json.dumps(answer)  # must be serializable as the Lambda's return value


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"t1": ("Succeeded", "")}, "1 task(s) of invocation inv-1 have no result: ['t2']"),
        ({"t1": ("Succeeded", ""), "t2": ("Succeeded", ""), "t3": ("Succeeded", "")}, "not in the job: ['t3']"),
        ({"t1": ("Succeeded", ""), "t2": ("Failed", "")}, "resultCode must be one of"),
        ({"t1": ("Succeeded", ""), "t2": ("Succeeded", None)}, "resultString must be a string"),
        ({"t1": ("Succeeded", ""), "t2": "Succeeded"}, "must be a (resultCode, resultString) pair"),
    ],
)
def test_batch_response_refuses_incomplete_or_invalid_results(results: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        batch_response(BatchJob("2.0", "inv-1", ("t1", "t2")), results)


def test_batch_job_schema_version_is_echoed() -> None:
    trigger = parse_trigger(batch_event("1.0", task(arn=True)))
    assert trigger.batch is not None
    assert batch_response(trigger.batch, {"t1": ("TemporaryFailure", "x")})["invocationSchemaVersion"] == "1.0"


# --- duplicates ---------------------------------------------------------------------------------


def test_duplicate_records_in_one_notification_are_collapsed() -> None:
    trigger = parse_trigger(s3_event(s3_record(), s3_record(size=99), s3_record(KEY2)))
    assert [(ref.key, ref.size) for ref in trigger.objects] == [(KEY, 1234), (KEY2, 1234)]
    assert trigger.duplicates == ()


def test_sns_fan_out_duplicates_are_collapsed() -> None:
    message = cloudtrail_message([KEY, KEY])
    trigger = parse_trigger(sns_event(("a", message), ("b", message)))
    assert trigger.objects == (ObjectRef(BUCKET, KEY),)


def test_duplicates_across_sqs_messages_keep_the_first_origin_and_record_the_other() -> None:
    body = json.dumps(s3_event(s3_record()))
    trigger = parse_trigger(sqs_event(("m1", body), ("m2", sns_envelope(cloudtrail_message(KEY))), ("m3", body)))
    assert trigger.objects == (ObjectRef(BUCKET, KEY, size=1234, etag="0123abcd", origin="m1"),)
    assert trigger.duplicates == (("m2", "m1"), ("m3", "m1"))


def test_duplicate_batch_tasks_keep_both_task_ids() -> None:
    trigger = parse_trigger(batch_event("2.0", task("t1"), task("t2")))
    assert trigger.objects == (ObjectRef(BUCKET, KEY, origin="t1"),)
    assert trigger.duplicates == (("t2", "t1"),)
    assert trigger.batch is not None and trigger.batch.task_ids == ("t1", "t2")


def test_other_versions_of_one_key_are_not_duplicates() -> None:
    trigger = parse_trigger(s3_event(s3_record(versionId="v1"), s3_record(versionId="v2"), s3_record()))
    assert [ref.version_id for ref in trigger.objects] == ["v1", "v2", None]


# --- unknown events -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "the event is null, not a JSON object"),
        ([1], "the event is a list, not a JSON object"),
        ("Records", "the event is a string, not a JSON object"),
        ({}, "unrecognized trigger: an empty object"),
        ({"detail": {}}, "unrecognized trigger: top-level keys 'detail'"),
        ({"Records": {}}, "'Records' is an object, expected a list"),
        ({"Records": [{"eventSource": "aws:kinesis"}]}, "no entry of 'Records' comes from aws:s3, aws:sqs or aws:sns"),
        ({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}, "top-level keys 's3Bucket', 's3ObjectKey'"),
    ],
)
def test_unknown_events_raise_unknown_trigger(event: Any, message: str) -> None:
    with pytest.raises(UnknownTrigger, match=re.escape(message)):
        parse_trigger(event)


def test_unknown_trigger_is_a_value_error_that_names_keys_but_never_values() -> None:
    event = {f"key{i}": f"value{i}" for i in range(13)}
    event["evil\nkey" + "x" * 200] = "password=hunter2"
    with pytest.raises(ValueError) as caught:
        parse_trigger(event)
    assert isinstance(caught.value, UnknownTrigger)
    message = str(caught.value)
    assert "'key0'" in message and "'key9'" in message and "'key10'" not in message
    assert "(14 keys)" in message
    assert "value" not in message and "hunter2" not in message
    assert "\n" not in message


# --- location -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "location"),
    [
        (ObjectRef(BUCKET, KEY), f"s3://{BUCKET}/{KEY}"),
        (ObjectRef(BUCKET, KEY, version_id="v1.x"), f"s3://{BUCKET}/{KEY}?versionId=v1.x"),
        (ObjectRef("b-b", "my file é+%20.json"), "s3://b-b/my file é+%20.json"),
        (ObjectRef("b-b", "a\nALERT: fake\r\t\x00\x7f"), "s3://b-b/a\\nALERT: fake\\r\\t\\x00\\x7f"),
        (ObjectRef("b-b", "x\u202eexe.gz\u2028\x85"), "s3://b-b/x\\u202eexe.gz\\u2028\\x85"),
        (ObjectRef("b-b", "k?versionId=forged"), "s3://b-b/k\\x3fversionId=forged"),
        (ObjectRef("b-b", "back\\slash\\n"), "s3://b-b/back\\\\slash\\\\n"),
    ],
)
def test_location(ref: ObjectRef, location: str) -> None:
    assert ref.location == location


# --- properties ---------------------------------------------------------------------------------

VOCABULARY = [
    "Records",
    "eventSource",
    "EventSource",
    "aws:s3",
    "aws:sqs",
    "aws:sns",
    "eventName",
    "ObjectCreated:Put",
    "ObjectRemoved:Delete",
    "s3",
    "bucket",
    "name",
    "object",
    "key",
    "size",
    "eTag",
    "versionId",
    "messageId",
    "body",
    "Sns",
    "Message",
    "MessageId",
    "Type",
    "Notification",
    "s3Bucket",
    "s3ObjectKey",
    "Event",
    "s3:TestEvent",
    "Bucket",
    "source",
    "aws.s3",
    "detail-type",
    "Object Created",
    "detail",
    "etag",
    "version-id",
    "invocationSchemaVersion",
    "1.0",
    "2.0",
    "invocationId",
    "tasks",
    "taskId",
    "s3Key",
    "s3VersionId",
    "s3BucketArn",
    BUCKET,
    "arn:aws:s3:::b-b",
    "CloudTrail validation message.",
    "SubscriptionConfirmation",
    KEY,
    "%FF",
    "%00",
    "",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(VOCABULARY)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=8), children, max_size=5)
        | children.map(lambda value: json.dumps(value))
    ),  # JSON text, as in SQS bodies and SNS messages
    max_leaves=25,
)


SAMPLE_EVENTS = [json.loads(path.read_text()) for path in sorted(SAMPLES.glob("*.json"))] + [
    s3_event(s3_record(), s3_record(KEY2, name="ObjectRemoved:Delete")),
    sqs_event(
        ("m1", json.dumps(eventbridge())), ("m2", cloudtrail_message(KEY)), ("m3", "CloudTrail validation message.")
    ),
    batch_event("1.0", task(arn=True), task("t2", KEY2)),
]


JSON_TEXT = "<json text>"  # a path step into a string that holds JSON (SQS bodies, SNS messages)
DELETE = object()


def nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value`` that a mutation can hit, including inside JSON text."""
    found = [path]
    if isinstance(value, dict):
        for name, item in value.items():
            found += nodes(item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += nodes(item, (*path, index))
    elif isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            found += nodes(json.loads(value), (*path, JSON_TEXT))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the node at ``path`` replaced by ``new`` (or removed, for DELETE)."""
    if not path:
        return {} if new is DELETE else new
    step, rest = path[0], path[1:]
    if step == JSON_TEXT:
        return json.dumps(replaced(json.loads(value), rest, new))
    copy = dict(value) if isinstance(value, dict) else list(value)
    child = replaced(copy[step], rest, new)
    if child is DELETE:
        del copy[step]
    else:
        copy[step] = child
    return copy


@st.composite
def mutated_samples(draw: st.DrawFn) -> Any:
    """A real event with one to three of its parts (anywhere, even inside JSON text) removed or replaced."""
    event = draw(st.sampled_from(SAMPLE_EVENTS))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(nodes(event)))
        event = replaced(event, path, draw(st.just(DELETE) | st.sampled_from(VOCABULARY) | json_values))
    return event


def assert_well_formed(trigger: Trigger) -> None:
    """What every parse result promises, whatever the input."""
    assert isinstance(trigger, Trigger)
    assert isinstance(trigger.shape, TriggerShape)
    identities = [(ref.bucket, ref.key, ref.version_id) for ref in trigger.objects]
    assert len(identities) == len(set(identities))
    for ref in trigger.objects:
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", ref.bucket)
        assert ref.key and "\x00" not in ref.key and len(ref.key.encode("utf-8")) <= 1024
        assert ref.size is None or (type(ref.size) is int and ref.size >= 0)
        assert not re.search(r"[\x00-\x1f\x7f]", ref.location)
        assert ref.origin is None or isinstance(ref.origin, str)
    for rejected in trigger.rejected:
        assert isinstance(rejected.reason, str) and rejected.reason
    assert all(isinstance(notice, str) and "\n" not in notice for notice in trigger.notices)
    if trigger.shape is TriggerShape.BATCH:
        assert trigger.batch is not None
        assert {ref.origin for ref in trigger.objects} <= set(trigger.batch.task_ids)
        answer = batch_response(trigger.batch, {t: ("Succeeded", "") for t in trigger.batch.task_ids})
        assert [r["taskId"] for r in answer["results"]] == list(trigger.batch.task_ids)
    else:
        assert trigger.batch is None
    if trigger.shape is TriggerShape.SQS:
        assert all(ref.origin for ref in trigger.objects)


def parse_or_unknown(event: Any) -> None:
    try:
        trigger = parse_trigger(event)
    except UnknownTrigger as exc:
        assert str(exc).startswith("unrecognized trigger")
        assert "\n" not in str(exc)
    else:
        assert_well_formed(trigger)


@PROPS
@given(json_values)
def test_any_json_value_gives_a_trigger_or_unknown_trigger(event: Any) -> None:
    parse_or_unknown(event)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_samples())
def test_mutated_real_events_give_a_trigger_or_unknown_trigger(event: Any) -> None:
    parse_or_unknown(event)


@PROPS
@given(st.text() | st.binary().map(lambda b: b.decode("latin-1")))
def test_any_sqs_body_or_sns_message_is_parsed_or_rejected(text: str) -> None:
    for event in (sqs_event(("m1", text)), sns_event(("s1", text))):
        trigger = parse_trigger(event)
        assert_well_formed(trigger)
        assert trigger.objects or trigger.notices or trigger.rejected


buckets = st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
keys = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=400
).filter(lambda key: len(key.encode("utf-8")) <= 1024)


def encode(key: str, safe: str) -> str:
    return quote_plus(key, safe=safe)


ROUND_TRIPS = {
    "s3": lambda b, k, safe: s3_event(s3_record(encode(k, safe), bucket=b, encode=False)),
    "sqs-s3": lambda b, k, safe: sqs_event(
        ("m", json.dumps(s3_event(s3_record(encode(k, safe), bucket=b, encode=False))))
    ),
    "sns-s3": lambda b, k, safe: sns_event(
        ("m", json.dumps(s3_event(s3_record(encode(k, safe), bucket=b, encode=False))))
    ),
    "sqs-sns-s3": lambda b, k, safe: sqs_event(
        ("m", sns_envelope(json.dumps(s3_event(s3_record(encode(k, safe), bucket=b, encode=False)))))
    ),
    "sns-cloudtrail": lambda b, k, safe: sns_event(("m", cloudtrail_message([k], bucket=b))),
    "sns-cloudtrail-string": lambda b, k, safe: sns_event(("m", cloudtrail_message(k, bucket=b))),
    "sqs-cloudtrail-raw": lambda b, k, safe: sqs_event(("m", cloudtrail_message([k], bucket=b))),
    "sqs-sns-cloudtrail": lambda b, k, safe: sqs_event(("m", sns_envelope(cloudtrail_message([k], bucket=b)))),
    "eventbridge": lambda b, k, safe: eventbridge(k, bucket=b),
    "sqs-eventbridge": lambda b, k, safe: sqs_event(("m", json.dumps(eventbridge(k, bucket=b)))),
    "batch-2.0": lambda b, k, safe: batch_event("2.0", {"taskId": "t", "s3Bucket": b, "s3Key": encode(k, safe)}),
    "batch-1.0": lambda b, k, safe: batch_event(
        "1.0", {"taskId": "t", "s3BucketArn": f"arn:aws:s3:::{b}", "s3Key": encode(k, safe)}
    ),
}


@PROPS
@given(st.sampled_from(sorted(ROUND_TRIPS)), buckets, keys, st.sampled_from(["", "/", "/:@"]))
def test_bucket_and_key_round_trip_through_every_shape(shape: str, bucket: str, key: str, safe: str) -> None:
    trigger = parse_trigger(ROUND_TRIPS[shape](bucket, key, safe))
    assert trigger.rejected == () and trigger.notices == ()
    assert [(ref.bucket, ref.key) for ref in trigger.objects] == [(bucket, key)]


@PROPS
@given(
    st.lists(
        st.tuples(buckets, keys, st.none() | st.from_regex(r"\A[!-~]{1,20}\Z")), min_size=2, max_size=2, unique=True
    )
)
def test_distinct_objects_have_distinct_locations_without_control_characters(
    refs: list[tuple[str, str, str | None]],
) -> None:
    first, second = (ObjectRef(*ref).location for ref in refs)
    assert first != second
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", first + second)


# --- the samples in events/triggers -------------------------------------------------------------


def log_key(account: str, region: str, stamp: str, unique: str, product: str = "CloudTrail") -> str:
    """The S3 key CloudTrail gives a log file (``stamp`` is YYYYMMDDTHHmmZ)."""
    day = f"{stamp[0:4]}/{stamp[4:6]}/{stamp[6:8]}"
    return f"AWSLogs/{account}/{product}/{region}/{day}/{account}_{product}_{region}_{stamp}_{unique}.json.gz"


ACCT = "123456789012"
EXPECTED_SAMPLES: dict[str, tuple[TriggerShape, list[str], tuple[str, ...]]] = {
    "s3-put.json": (TriggerShape.S3, [log_key(ACCT, "us-east-1", "20230719T2120Z", "lyIYTCjJDpQZjSqL")], ()),
    "s3-test-event.json": (TriggerShape.S3, [], (f"s3:TestEvent for bucket {BUCKET}",)),
    "sqs-s3.json": (
        TriggerShape.SQS,
        [
            log_key(ACCT, "us-east-1", "20230504T2355Z", "uuluzfkp7Gt0Mdx4"),
            log_key(ACCT, "us-east-1", "20230827T0340Z", "KMUMc5GP61WBzY1p"),
        ],
        (),
    ),
    "sns-s3.json": (TriggerShape.SNS, [log_key(ACCT, "us-east-2", "20211213T1655Z", "y1Zbpnm6kXpYmqug")], ()),
    "sqs-sns-cloudtrail.json": (
        TriggerShape.SQS,
        [
            log_key("218007301253", "us-east-1", "20230710T1205Z", "SjF3IkuNXJkoHyar"),
            log_key("218007301253", "us-east-1", "20230710T1215Z", "YMDRJwtmC82bUwAo"),
            log_key("218007301253", "us-east-1", "20230710T1225Z", "4iD2boYSOwmb6sWd"),
        ],
        (),
    ),
    "sns-cloudtrail.json": (TriggerShape.SNS, [log_key(ACCT, "us-east-2", "20180306T2035Z", "cKE8EACnVZcZkaRp")], ()),
    "sns-cloudtrail-validation.json": (TriggerShape.SNS, [], ("CloudTrail SNS validation message",)),
    "eventbridge-object-created.json": (
        TriggerShape.EVENTBRIDGE,
        [log_key(ACCT, "us-east-1", "20230102T0255Z", "gEUcRwquCASnmet4", product="CloudTrail-Insight")],
        (),
    ),
    "s3-batch-2.0.json": (
        TriggerShape.BATCH,
        [log_key("777777777777", "us-east-1", "20230719T2130Z", "W0ITdqvyzDInaTNW")],
        (),
    ),
    "s3-batch-1.0.json": (
        TriggerShape.BATCH,
        [log_key("888888888888", "us-east-1", "20230719T2130Z", "qkcbjOKE7e3V1JPY")],
        (),
    ),
    "sqs-eventbridge.json": (TriggerShape.SQS, [log_key(ACCT, "us-east-1", "20230719T2120Z", "lyIYTCjJDpQZjSqL")], ()),
    "step-functions-batch.json": (
        TriggerShape.STEP_FUNCTIONS,
        [
            log_key(ACCT, "us-east-1", "20230719T2120Z", "lyIYTCjJDpQZjSqL"),
            log_key(ACCT, "us-east-1", "20230504T2355Z", "uuluzfkp7Gt0Mdx4"),
            log_key(ACCT, "us-east-1", "20230827T0340Z", "KMUMc5GP61WBzY1p"),
        ],
        (),
    ),
}


def test_every_sample_file_is_checked() -> None:
    assert sorted(path.name for path in SAMPLES.glob("*.json")) == sorted(EXPECTED_SAMPLES)
    assert (SAMPLES / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED_SAMPLES))
def test_sample_event_yields_the_expected_objects(name: str) -> None:
    shape, expected_keys, notices = EXPECTED_SAMPLES[name]
    event = json.loads((SAMPLES / name).read_text())
    trigger = parse_trigger(event)
    assert trigger.shape is shape
    assert [ref.key for ref in trigger.objects] == expected_keys
    assert trigger.notices == notices
    assert trigger.rejected == ()
    for ref in trigger.objects:
        assert ref.bucket == BUCKET
        data = (LOGS / ref.key).read_bytes()  # every sample names a real file of the demo tree
        assert ref.size in (None, len(data))
        assert ref.etag in (None, hashlib.md5(data).hexdigest())
        if shape is TriggerShape.SQS:
            assert ref.origin in {record["messageId"] for record in event["Records"]}
        if shape is TriggerShape.BATCH:
            assert trigger.batch is not None and ref.origin in trigger.batch.task_ids
    if shape is TriggerShape.SQS:
        for record in event["Records"]:
            assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
