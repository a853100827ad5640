"""A Powertools Parameters provider for S3 objects: rules kept in S3 get the same caching as SSM parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import BaseProvider

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3ObjectProvider(BaseProvider):
    """A Powertools parameters provider whose parameters are S3 objects named ``bucket/key``."""

    def __init__(self, client: S3Client) -> None:
        super().__init__(client=client)  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self._client = client

    def _get(self, name: str, **sdk_options: Any) -> bytes:  # Any: passed through to GetObject as Powertools does
        bucket, _, key = name.partition("/")
        return self._client.get_object(Bucket=bucket, Key=key, **sdk_options)["Body"].read()

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError("rules are read one object at a time")
