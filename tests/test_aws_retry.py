"""One retry policy for every adapter: what is retried, and how long the waits may be."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from trailsift.aws.retry import Backoff, error_code, is_retryable


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "error",
    [
        client_error("Throttling"),
        client_error("SlowDown", 503),
        client_error("ProvisionedThroughputExceededException"),
        client_error("RequestThrottled"),
        client_error("InternalServerError", 500),
        client_error("SomethingNew", 502),  # any 5xx
        client_error("TransactionConflictException"),
        EndpointConnectionError(endpoint_url="https://sns"),
        ConnectTimeoutError(endpoint_url="https://sns"),
        ReadTimeoutError(endpoint_url="https://sns"),
    ],
)
def test_transient_errors_are_retryable(error: Exception) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [client_error("AccessDenied", 403), client_error("ValidationException"), client_error("NotFound", 404),
     ValueError("bug"), KeyError("x")],
)
def test_permanent_errors_and_bugs_are_not(error: Exception) -> None:
    assert not is_retryable(error)


def test_error_code_reads_aws_errors_and_names_others() -> None:
    assert error_code(client_error("Throttling")) == ("Throttling", "Throttling!")
    assert error_code(ValueError("bad")) == ("ValueError", "bad")


def test_backoff_doubles_its_cap_with_full_jitter_and_respects_the_maximum() -> None:
    slept: list[float] = []
    backoff = Backoff(0.1, 1.0, slept.append)
    for attempt in range(1, 8):
        for _ in range(50):
            backoff.wait(attempt)
    caps = [min(1.0, 0.1 * 2**attempt) for attempt in range(1, 8) for _ in range(50)]
    assert all(0 <= s <= cap for s, cap in zip(slept, caps, strict=True))
    assert max(slept[-50:]) > 0.5  # late waits really are long: the cap grows until the maximum
