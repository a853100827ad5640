"""What every ``trailsift`` command shares: its exit codes, the error that stops it, its argument types.

A command returns an :class:`ExitCode` when it ran, or raises :class:`CommandError` when it cannot
run or stops; :func:`trailsift.cli.main` prints the error as one line on stderr and exits with its
code, so no command prints its own errors or a traceback.
"""

from __future__ import annotations

import argparse
from enum import IntEnum
from typing import NoReturn
from urllib.parse import urlsplit

from trailsift.errors import TrailsiftError
from trailsift.text import for_terminal


class ExitCode(IntEnum):
    """The exit status of every command."""

    OK = 0
    """Done, and nothing to report."""
    FAILED = 1
    """Done but not all of it: files that failed, messages kept in the queue, selectors CloudTrail
    would refuse, or an AWS error that stopped the command."""
    USAGE = 2
    """Nothing run: invalid usage, or invalid rules or selectors."""
    FOUND = 3
    """Done, and ``replay --fail-on SEVERITY`` found a match at or above that severity (for CI). It wins
    over FAILED: a replay that found what CI stops on exits 3 even when some files failed (they are
    still reported); with no such match, failed files give 1."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT), as a shell reports a process its signal ended."""


class CommandError(TrailsiftError):
    """A command that cannot run or go on: ``message`` says why in one line, ``code`` is the exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code

    @property
    def line(self) -> str:
        """The message on one line: a multi-line message (a YAML error's context) has its lines joined, and
        what a file or a record put in it cannot drive the terminal (:func:`trailsift.text.for_terminal`)."""
        return for_terminal(" ".join(part.strip() for part in str(self).splitlines() if part.strip()))


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def endpoint_url(text: str) -> str:
    """An argparse type: an ``http://`` or ``https://`` URL with a host, as botocore takes for an endpoint."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a URL: {text!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {text!r}")
    try:  # what botocore refuses it would raise as a ValueError when the client is made
        from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url
    except ImportError:  # no boto3: the command says so itself
        return text
    if not (is_valid_endpoint_url(text) or is_valid_ipv6_endpoint_url(text)):
        raise argparse.ArgumentTypeError(f"not an endpoint URL botocore accepts: {text!r}")
    return text


class Parser(argparse.ArgumentParser):
    """The parser of ``trailsift`` and of each command: a usage error is one line on stderr like every other
    error, ``trailsift: error: <what argparse says>; see trailsift COMMAND --help``, exit status 2 (argparse
    alone prints the whole usage first, under a prefix of its own)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"trailsift: error: {for_terminal(message)}; see {self.prog} --help\n")
