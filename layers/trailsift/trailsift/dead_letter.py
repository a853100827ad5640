"""Dead letters for files that can never succeed as they are (corrupt, over the decompression limit, denied).

Retrying such a file only delays the rest, so the function sends it straight to the failure queue,
in the shape of Lambda's own on-failure record (``condition`` ``PermanentFailure``) with, as the
request payload, an S3 notification for that object alone: ``trailsift redrive`` replays Lambda's
records and these the same way, once the cause is fixed (a raised limit, a granted permission).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from trailsift.triggers import ObjectRef, s3_notification

PERMANENT_FAILURE = "PermanentFailure"
MAX_REASON_CHARS = 2000


def dead_letter(ref: ObjectRef, reason: str, *, request_id: str, function_arn: str, now: datetime | None = None) -> dict[str, Any]:
    """The failure-queue record for one object that failed permanently."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "version": "1.0",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": PERMANENT_FAILURE,
            "approximateInvokeCount": 1,
        },
        "requestPayload": s3_notification([ref]),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Handled"},
        "responsePayload": {"errorType": PERMANENT_FAILURE, "errorMessage": reason[:MAX_REASON_CHARS]},
    }
