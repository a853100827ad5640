"""The errors of the AWS adapters, and one line a person can act on for an AWS error met by the command line.

:class:`BatchWriteError` is the root of what the batch adapters raise when some entries were not
published, written or queued: each subclass names them, typed, in ``failed``, so a caller can act on
exactly those (the pipeline releases the alert claims of a failed publish). Nothing here imports
botocore at import time, so the core may catch these without depending on the AWS SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, NamedTuple, TypeVar

from trailsift.errors import TrailsiftError

__all__ = ["BatchWriteError", "FailedEntry", "PublishFailed", "TrailsiftError", "describe_aws_error"]

F = TypeVar("F")


class BatchWriteError(TrailsiftError, RuntimeError, Generic[F]):
    """Some entries of a batch adapter's call were not accepted; ``failed`` lists them (what a subclass says)."""

    def __init__(self, message: str, failed: Sequence[F]) -> None:
        super().__init__(message)
        self.failed: list[F] = list(failed)


class FailedEntry(NamedTuple):
    """A message that was not sent: its event key, and the code and message the service (or the error) gave."""

    event_key: str
    code: str
    message: str


class PublishFailed(BatchWriteError[FailedEntry]):
    """Some messages (alerts, bus events) were not sent; ``failed`` names each, ``published`` counts those that were."""

    def __init__(self, failed: Sequence[FailedEntry], published: int = 0, *, noun: str = "alert") -> None:
        shown = "; ".join(f"{key} ({code}: {message})" for key, code, message in failed[:5])
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        super().__init__(f"{len(failed)} {noun}(s) not published ({published} published): {shown}{more}", failed)
        self.published = published


def describe_aws_error(exc: Exception, *, table: str | None = None, stack: str | None = None) -> str:
    """``code: message``, with the table or stack named when the error is that it does not exist."""
    from botocore.exceptions import ClientError, NoRegionError

    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", str(exc))
        if code == "ResourceNotFoundException" and table is not None:
            return f"table {table!r} not found: {message}"
        if code == "ValidationError" and stack and "does not exist" in message:
            return f"stack {stack!r} not found: {message}"
        return f"{code}: {message}" if code else message
    return str(exc)
