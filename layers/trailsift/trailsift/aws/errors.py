"""One line a person can act on for an AWS error met by the command line (``query``, ``redrive``)."""

from __future__ import annotations


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
