"""What every ``trailsift`` command shares: its exit codes, the error that stops it, its argument types.

A command returns an :class:`ExitCode` when it ran, or raises :class:`CommandError` when it cannot
run or stops; :func:`trailsift.cli.main` prints the error as one line on stderr and exits with its
code, so no command prints its own errors or a traceback.
"""

from __future__ import annotations

import argparse
from enum import IntEnum

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
