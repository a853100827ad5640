"""Dead letters have Lambda's on-failure shape and replay exactly the object that failed."""

from __future__ import annotations

from datetime import datetime, timezone

from trailsift.dead_letter import MAX_REASON_CHARS, PERMANENT_FAILURE, dead_letter
from trailsift.triggers import TriggerShape, parse_trigger, ObjectRef

REF = ObjectRef("trail-bucket", "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/a b+é.json.gz", "v1", 10, "e")


def test_shape_is_lambdas_on_failure_record() -> None:
    letter = dead_letter(REF, "corrupt gzip", request_id="req-1", function_arn="arn:fn",
                         now=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert letter["version"] == "1.0" and letter["timestamp"] == "2024-01-02T03:04:05.000Z"
    assert letter["requestContext"] == {"requestId": "req-1", "functionArn": "arn:fn",
                                        "condition": PERMANENT_FAILURE, "approximateInvokeCount": 1}
    assert letter["responsePayload"] == {"errorType": PERMANENT_FAILURE, "errorMessage": "corrupt gzip"}


def test_payload_replays_exactly_that_object() -> None:
    trigger = parse_trigger(dead_letter(REF, "x", request_id="r", function_arn="f")["requestPayload"])
    assert trigger.shape is TriggerShape.S3 and trigger.objects == (REF,)


def test_reason_is_bounded() -> None:
    letter = dead_letter(REF, "y" * 10_000, request_id="r", function_arn="f")
    assert len(letter["responsePayload"]["errorMessage"]) == MAX_REASON_CHARS
