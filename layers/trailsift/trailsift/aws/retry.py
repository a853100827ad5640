"""What is worth another try against AWS, and how long to wait before it: one policy for every adapter.

botocore's standard retry mode already retries whole calls; this covers what it cannot see:
entries a batch call reports as failed (SNS ``Failed``, DynamoDB ``UnprocessedItems``, SQS ``Failed``)
and calls that still fail once botocore has given up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

from trailsift.deadline import Deadline

RETRYABLE_CODES = frozenset(
    {
        # throttling, by service
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "KMSThrottling",
        "KMSThrottlingException",
        # the service's own faults
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        # DynamoDB: a conflicting transaction on the same item; the write may succeed next time
        "TransactionConflictException",
    }
)


def is_retryable(error: BaseException) -> bool:
    """True for throttling, server faults (any 5xx), dropped connections and timeouts."""
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in RETRYABLE_CODES or (isinstance(status, int) and status >= 500)
    return False


def error_code(error: BaseException) -> tuple[str, str]:
    """``(code, message)`` of an AWS error, or of any exception by its type."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return str(details.get("Code") or "ClientError"), str(details.get("Message") or error)
    return type(error).__name__, str(error)


def attempts(max_attempts: int) -> int:
    """``max_attempts`` itself once checked: every adapter tries at least once."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    return max_attempts


class Backoff:
    """Exponential backoff with full jitter: before try ``n + 1`` sleep up to ``base * 2**n`` seconds, capped.

    With a :class:`~trailsift.deadline.Deadline`, a sleep that would end inside the invocation's safety
    margin is not begun: the caller stops retrying and raises what still fails, exactly as when its
    attempts run out, so that Lambda retries it instead of killing the invocation mid-sleep.
    """

    def __init__(
        self, base_delay: float, max_delay: float, sleep: Callable[[float], Any], deadline: Deadline | None = None
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.deadline = deadline
        self._random = random.Random()

    def wait(self, attempt: int) -> bool:
        """Sleep after failed try number ``attempt`` (1-based) and return True; or return False, without
        sleeping, when the deadline leaves no time for the sleep (then no further try may be made)."""
        delay = self._random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        if self.deadline is not None and not self.deadline.permits_sleep(delay):
            return False
        self.sleep(delay)
        return True
