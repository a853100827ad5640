"""AWS from the command line: the session a command's clients come from, what AWS refuses as a
command error, and the outputs of a deployed trailsift stack.

boto3 is imported only when a command that calls AWS runs (``query``, ``redrive``), so the others
start without it; every client comes from :func:`trailsift.aws.clients.new_client`, with the retry
policy the function's clients have.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trailsift.aws.clients import new_client
from trailsift.aws.errors import describe_aws_error
from trailsift.cli.command import CommandError

if TYPE_CHECKING:
    from boto3.session import Session


def session(command: str, region: str | None) -> Session:
    """A boto3 session in ``region`` (None: the AWS configuration's) for ``trailsift <command>``.

    Without boto3 the command stops saying how to install it.
    """
    try:
        import boto3
    except ImportError as exc:
        raise CommandError(f"trailsift {command} needs boto3 ({exc}): pip install 'trailsift[aws]'") from None
    with aws_errors():
        return boto3.session.Session(region_name=region)


@contextmanager
def aws_errors(*, table: str | None = None, stack: str | None = None) -> Iterator[None]:
    """Raise an AWS error of the block as a :class:`CommandError`: one line that names ``table`` or
    ``stack`` when it is the one that does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(describe_aws_error(exc, table=table, stack=stack)) from None


@dataclass(frozen=True)
class StackOutputs:
    """The outputs of a deployed stack, by key."""

    stack: str
    values: Mapping[str, str]

    def require(self, key: str) -> str:
        """The output ``key``; a :class:`CommandError` when the stack has none (not a trailsift stack)."""
        value = self.values.get(key)
        if not value:
            raise CommandError(f"stack {self.stack!r} has no {key} output (is it a trailsift stack?)")
        return value


def stack_outputs(session: Session, stack: str, endpoint_url: str | None) -> StackOutputs:
    """The outputs of the deployed ``stack`` (name or id), as CloudFormation describes them."""
    with aws_errors(stack=stack):
        cloudformation = new_client("cloudformation", session=session, endpoint_url=endpoint_url)
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    values: dict[str, str] = {}
    for description in described:
        for output in description.get("Outputs") or []:
            if output.get("OutputKey") and output.get("OutputValue"):
                values.setdefault(output["OutputKey"], output["OutputValue"])
    return StackOutputs(stack, values)
