"""A Powertools Parameters provider for S3 objects: rules kept in S3 get the same caching as SSM parameters."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import BaseProvider


class S3ObjectProvider(BaseProvider):
    """A Powertools parameters provider whose parameters are S3 objects named ``bucket/key``."""

    def __init__(self, client: Any) -> None:
        super().__init__(client=client)
        self._client = client

    def _get(self, name: str, **sdk_options: Any) -> bytes:
        bucket, _, key = name.partition("/")
        return self._client.get_object(Bucket=bucket, Key=key, **sdk_options)["Body"].read()

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError("rules are read one object at a time")
