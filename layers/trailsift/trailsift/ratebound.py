"""At most N alerts per rule per window: what a burst spread over many files and invocations may page.

Grouping (:mod:`trailsift.grouping`) makes one alert of a rule and principal per log file, but CloudTrail
delivers every five minutes or so per account and region, and a long burst (an hour-long ``terraform
apply``, a compromised key enumerating everything) still sends one alert per file. The rate bound admits
at most ``limit`` alerts per rule per window of ``window_seconds``; the groups past it are *held back*
and folded into one summary alert per rule and window ("and 183 more") naming the ``trailsift query``
that lists them. Nothing is lost: every match is in the index whatever the alerts do.

Windows are cut on the events' own time (``eventTime``, the group's earliest), not on the clock of the
invocation, so the summary's query (``--rule R --since START --until END``) lists exactly the window,
a retried or redelivered file falls in the window it fell in the first time, and a window is the same
for every invocation. A record without a readable time falls in the window of ``now``.

The admission is idempotent per group (:meth:`RateBound.admit` takes the group's id, its first event
key): a retry of the same group is admitted again without taking a second place, so retries and
duplicate deliveries never eat the bound. With an index table the count is shared by every invocation
(:class:`trailsift.aws.ratebound.RateCounter`, a conditional update in the table); without one it is
this invocation's alone (:class:`InvocationBound`).

Pure: no AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from trailsift.grouping import AlertGroup
from trailsift.rules import Rule

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RATE_WINDOW_SECONDS",
    "HeldBack",
    "InvocationBound",
    "SUMMARY_PREFIX",
    "RateBound",
    "Window",
    "window_of",
]

DEFAULT_RATE_LIMIT = 20
"""Alerts per rule per window by default: a person reads 20 alerts of one kind in an hour; the 21st of
the same rule is noise that hides the next rule's first, and the index holds them all anyway."""
DEFAULT_RATE_WINDOW_SECONDS = 3600
SUMMARY_PREFIX = "summary:"  # a summary's ledger key: summary:<rule>:<window start>


@dataclass(frozen=True, order=True)
class Window:
    """A window of event time: ``[start, start + seconds)``, in Unix seconds."""

    start: int
    seconds: int

    @property
    def end(self) -> int:
        return self.start + self.seconds

    def iso(self, at: int) -> str:
        return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def since(self) -> str:
        """The start as ``trailsift query --since`` takes it (``2024-01-01T10:00:00Z``)."""
        return self.iso(self.start)

    @property
    def until(self) -> str:
        """The end as ``trailsift query --until`` takes it (not included)."""
        return self.iso(self.end)


def window_of(group: AlertGroup, seconds: int, now: Callable[[], float] = time.time) -> Window:
    """The window holding the group's earliest event time (``now`` when no member's time parses)."""
    if seconds < 1:
        raise ValueError(f"a window is at least one second, got {seconds}")
    moment: float | None = None
    span = group.time_span
    if span is not None:
        try:
            parsed = datetime.fromisoformat(span[0])
            moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            moment = None
    if moment is None:
        moment = now()
    start = int(moment // seconds * seconds)
    return Window(start, seconds)


class RateBound(Protocol):
    """Decides whether one more alert of a rule may go out in a window."""

    limit: int

    def admit(self, rule: str, window: Window, group_id: str) -> bool:
        """True when the alert named ``group_id`` may go out: fewer than ``limit`` alerts of ``rule`` were
        admitted in ``window``, or this one was admitted before (idempotent)."""
        ...


@dataclass
class InvocationBound:
    """The bound kept in memory: this invocation's alone (the deployment has no index table)."""

    limit: int
    admitted: dict[tuple[str, Window], set[str]] = field(default_factory=dict)

    def admit(self, rule: str, window: Window, group_id: str) -> bool:
        ids = self.admitted.setdefault((rule, window), set())
        if group_id in ids or len(ids) < self.limit:
            ids.add(group_id)
            return True
        return False


@dataclass(frozen=True)
class HeldBack:
    """The groups of one rule the rate bound held back in one window, for its summary alert."""

    rule: Rule
    window: Window
    groups: tuple[AlertGroup, ...]
    limit: int

    @property
    def key(self) -> str:
        """The summary's ledger key: one summary per rule and window."""
        return f"{SUMMARY_PREFIX}{self.rule.name}:{self.window.start}"

    @property
    def event_keys(self) -> tuple[str, ...]:
        return tuple(key for group in self.groups for key in group.event_keys)

    @property
    def events(self) -> int:
        return sum(len(group) for group in self.groups)

    def query(self, table: str | None = None) -> str:
        """The ``trailsift query`` command that lists every match of the rule in the window."""
        where = f" --table {table}" if table else ""
        return f"trailsift query --rule {self.rule.name} --since {self.window.since} --until {self.window.until}{where}"
