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

from typing import Any

TOTAL_ATTEMPTS = 3  # HTTP requests for one API call at most: the first and two retries
RETRY_MODE = "standard"


def client_config(**options: Any) -> Any:
    """A botocore ``Config`` with the retry policy; ``options`` (timeouts, pool size) are passed through."""
    from botocore.config import Config

    return Config(retries={"mode": RETRY_MODE, "total_max_attempts": TOTAL_ATTEMPTS}, **options)


def new_client(
    service: str,
    *,
    session: Any = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    **options: Any,
) -> Any:
    """A boto3 client for ``service`` with the retry policy, from ``session`` (default: boto3's default session).

    ``options`` go into the client's ``Config`` (see :func:`client_config`).
    """
    import boto3

    maker = session if session is not None else boto3
    return maker.client(service, endpoint_url=endpoint_url, region_name=region_name, config=client_config(**options))
