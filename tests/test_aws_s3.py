"""trailsift.aws.s3: the S3 reader against moto, and its sorting of S3 errors into gone / denied / retry."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from trailsift.aws.s3 import ObjectDenied, ObjectGone, ObjectTooLarge, S3ObjectSource
from trailsift.triggers import ObjectRef

BUCKET = "trailsift-test-bucket"
KEY = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/some file é.json.gz"


@pytest.fixture
def s3(aws: Any) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_fetch_returns_the_object_bytes(s3: Any) -> None:
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    assert S3ObjectSource(s3).fetch(ObjectRef(BUCKET, KEY)) == body


def test_fetch_honours_the_version_id(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"first version")["VersionId"]
    new = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"second version")["VersionId"]
    assert old != new
    source = S3ObjectSource(s3)
    assert source.fetch(ObjectRef(BUCKET, KEY, version_id=old)) == b"first version"
    assert source.fetch(ObjectRef(BUCKET, KEY, version_id=new)) == b"second version"
    assert source.fetch(ObjectRef(BUCKET, KEY)) == b"second version"


@pytest.mark.parametrize("size", [1001, 50_000])
def test_an_object_over_the_limit_is_refused(s3: Any, size: int) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"x" * size)
    with pytest.raises(ObjectTooLarge, match="larger than the limit of 1000 bytes") as caught:
        S3ObjectSource(s3, max_bytes=1000).fetch(ObjectRef(BUCKET, KEY))
    assert f"s3://{BUCKET}/{KEY}" in str(caught.value)
    assert S3ObjectSource(s3, max_bytes=size).fetch(ObjectRef(BUCKET, KEY)) == b"x" * size


def test_missing_key_is_gone(s3: Any) -> None:
    with pytest.raises(ObjectGone, match="NoSuchKey") as caught:
        S3ObjectSource(s3).fetch(ObjectRef(BUCKET, "AWSLogs/nothing-here.json.gz"))
    assert f"s3://{BUCKET}/AWSLogs/nothing-here.json.gz" in str(caught.value)


def test_missing_version_is_gone(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"x")
    with pytest.raises(ObjectGone, match="NoSuchVersion"):
        S3ObjectSource(s3).fetch(ObjectRef(BUCKET, KEY, version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"))


def test_missing_bucket_is_gone(s3: Any) -> None:
    with pytest.raises(ObjectGone, match="NoSuchBucket"):
        S3ObjectSource(s3).fetch(ObjectRef("no-such-bucket-here", KEY))


class _FailingClient:
    """A stand-in S3 client whose get_object raises the ClientError given (moto enforces no IAM by default)."""

    def __init__(self, code: str, status: int) -> None:
        self.error = ClientError(
            {"Error": {"Code": code, "Message": f"simulated {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "GetObject",
        )
        self.calls: list[dict[str, Any]] = []

    def get_object(self, **params: Any) -> Any:
        self.calls.append(params)
        raise self.error


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidObjectState"])
def test_refused_reads_are_denied(code: str) -> None:
    client = _FailingClient(code, 403)
    with pytest.raises(ObjectDenied, match=code) as caught:
        S3ObjectSource(client).fetch(ObjectRef(BUCKET, KEY, version_id="v1"))
    assert client.calls == [{"Bucket": BUCKET, "Key": KEY, "VersionId": "v1"}]
    assert not isinstance(caught.value, ObjectGone)


@pytest.mark.parametrize(("code", "status"), [("Throttling", 503), ("SlowDown", 503), ("InternalError", 500)])
def test_transient_errors_propagate_unchanged(code: str, status: int) -> None:
    client = _FailingClient(code, status)
    with pytest.raises(ClientError) as caught:
        S3ObjectSource(client).fetch(ObjectRef(BUCKET, KEY))
    assert caught.value is client.error  # not wrapped: the pipeline counts it as retryable
    assert not isinstance(caught.value, (ObjectGone, ObjectDenied))
    assert client.calls == [{"Bucket": BUCKET, "Key": KEY}]  # no VersionId when the trigger names none
