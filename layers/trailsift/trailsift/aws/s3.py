"""Read log files from S3: one GET per object (its version when the trigger names one), errors sorted by what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from trailsift.pipeline import ObjectDenied, ObjectGone, ObjectTooLarge
from trailsift.settings import DEFAULT_MAX_OBJECT_BYTES
from trailsift.triggers import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef

__all__ = ["ObjectDenied", "ObjectGone", "ObjectTooLarge", "S3ObjectSource"]

# MethodNotAllowed: the version named is a delete marker.
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound", "MethodNotAllowed"})
# InvalidArgument: a malformed version id, which no retry can fix.
_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidObjectState", "InvalidArgument"})


class S3ObjectSource:
    """Fetches whole objects through a boto3 S3 client (whose standard retry mode handles throttling and 5xx).

    An object is held whole while it is scanned, so one larger than ``max_bytes`` is refused
    (:class:`ObjectTooLarge`) after reading at most one byte more, whatever its trigger said.
    """

    def __init__(self, client: S3Client, *, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> None:
        self._client = client
        self._max_bytes = max_bytes

    def fetch(self, ref: ObjectRef) -> bytes:
        """The object's bytes; :class:`ObjectGone`, :class:`ObjectDenied` or :class:`ObjectTooLarge` for the permanent failures."""
        params: GetObjectRequestTypeDef = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            params["VersionId"] = ref.version_id
        try:
            response = self._client.get_object(**params)
            length = response.get("ContentLength")
            if isinstance(length, int) and length > self._max_bytes:
                response["Body"].close()
                raise ObjectTooLarge(ref.location, self._max_bytes, length)
            with response["Body"] as body:
                data: bytes = body.read(self._max_bytes + 1)
            if len(data) > self._max_bytes:
                raise ObjectTooLarge(ref.location, self._max_bytes)
            return data
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                raise ObjectGone(f"{ref.location}: {code}") from None
            if code in _DENIED:
                raise ObjectDenied(f"{ref.location}: {code}") from None
            raise
