"""Read log files from S3: one GET per object (its version when the trigger names one), errors sorted by what to do."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from trailsift.pipeline import ObjectDenied, ObjectGone
from trailsift.triggers import ObjectRef

__all__ = ["ObjectDenied", "ObjectGone", "S3ObjectSource"]

# MethodNotAllowed: the version named is a delete marker.
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound", "MethodNotAllowed"})
# InvalidArgument: a malformed version id, which no retry can fix.
_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidObjectState", "InvalidArgument"})


class S3ObjectSource:
    """Fetches whole objects through a boto3 S3 client (whose standard retry mode handles throttling and 5xx)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def fetch(self, ref: ObjectRef) -> bytes:
        """The object's bytes; :class:`ObjectGone` or :class:`ObjectDenied` for the permanent failures."""
        params = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            params["VersionId"] = ref.version_id
        try:
            response = self._client.get_object(**params)
            with response["Body"] as body:
                return body.read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                raise ObjectGone(f"{ref.location}: {code}") from None
            if code in _DENIED:
                raise ObjectDenied(f"{ref.location}: {code}") from None
            raise
