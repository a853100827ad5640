"""Every boto3 client trailsift creates, and the one retry policy for whole calls they share.

Whole calls (throttling, 5xx, dropped connections, timeouts) are retried by botocore's ``standard``
retry mode only, at most :data:`TOTAL_ATTEMPTS` HTTP requests per API call, with its exponential
backoff and jitter and its client-wide retry quota. The adapters never retry a whole call again: their
own loops (:func:`trailsift.aws.retry.retry_failed_entries`) resend only the entries a batch call
reports as failed, which botocore cannot see. Layering the two used to multiply: one throttled
BatchWriteItem could make 8 x 6 = 48 requests against a service asking for less traffic.

The policy is set here, in the client's ``Config``, so neither ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS``
nor a profile's settings change it for the function, the command line or the local stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, TypedDict, overload

if TYPE_CHECKING:  # the stubs are a development dependency: the function never imports them
    from typing import Unpack

    from boto3.session import Session
    from botocore.client import BaseClient
    from botocore.config import Config
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

TOTAL_ATTEMPTS: Final = 3  # HTTP requests for one API call at most: the first and two retries
RETRY_MODE: Final = "standard"


class ClientOptions(TypedDict, total=False):
    """The ``Config`` settings a caller may pass through besides the retry policy."""

    connect_timeout: float
    read_timeout: float
    max_pool_connections: int
    tcp_keepalive: bool
    user_agent_extra: str


def client_config(**options: Unpack[ClientOptions]) -> Config:
    """A botocore ``Config`` with the retry policy; ``options`` (timeouts, pool size) are passed through."""
    from botocore.config import Config

    return Config(retries={"mode": RETRY_MODE, "total_max_attempts": TOTAL_ATTEMPTS}, **options)


class NewClientArgs(ClientOptions, total=False):
    """The keyword arguments of :func:`new_client`."""

    session: Session | None
    endpoint_url: str | None
    region_name: str | None


# One overload per service trailsift calls, so that each caller holds the stub package's client type.
@overload
def new_client(service: Literal["cloudformation"], **arguments: Unpack[NewClientArgs]) -> CloudFormationClient: ...
@overload
def new_client(service: Literal["dynamodb"], **arguments: Unpack[NewClientArgs]) -> DynamoDBClient: ...
@overload
def new_client(service: Literal["events"], **arguments: Unpack[NewClientArgs]) -> EventBridgeClient: ...
@overload
def new_client(service: Literal["lambda"], **arguments: Unpack[NewClientArgs]) -> LambdaClient: ...
@overload
def new_client(service: Literal["s3"], **arguments: Unpack[NewClientArgs]) -> S3Client: ...
@overload
def new_client(service: Literal["sns"], **arguments: Unpack[NewClientArgs]) -> SNSClient: ...
@overload
def new_client(service: Literal["sqs"], **arguments: Unpack[NewClientArgs]) -> SQSClient: ...
@overload
def new_client(service: Literal["ssm"], **arguments: Unpack[NewClientArgs]) -> SSMClient: ...
@overload
def new_client(service: Literal["stepfunctions"], **arguments: Unpack[NewClientArgs]) -> SFNClient: ...
@overload
def new_client(service: str, **arguments: Unpack[NewClientArgs]) -> BaseClient: ...
def new_client(
    service: str,
    *,
    session: Session | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    **options: Unpack[ClientOptions],
) -> BaseClient:
    """A boto3 client for ``service`` with the retry policy, from ``session`` (default: boto3's default session).

    ``options`` go into the client's ``Config`` (see :func:`client_config`).
    """
    import boto3

    maker: Callable[..., BaseClient] = session.client if session is not None else boto3.client
    return maker(service, endpoint_url=endpoint_url, region_name=region_name, config=client_config(**options))
