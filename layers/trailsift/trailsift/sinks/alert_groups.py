"""How the alert sink turns the events one call claimed into alerts: groups, the rate bound, one summary per window.

:func:`trailsift.sinks.once.send_covering` claims each matched event in the ledger and hands the events
it claimed to :meth:`AlertForming.form`, which

1. groups them (:func:`trailsift.grouping.group_matches`: primary rule and the rule's ``group_by``);
2. asks the rate bound (:mod:`trailsift.ratebound`) to admit each group, by rule and event-time window;
   each admitted group is one alert, covering its events;
3. folds the groups the bound held back into one summary per rule and window
   (:class:`~trailsift.ratebound.HeldBack`), sent at most once per rule and window (a second summary
   would page as often as the alerts it replaces): with a ledger, the summary is itself claimed
   (``ALERT#summary:<rule>:<window start>``); the events of a later call in a window whose summary was
   sent are *settled* (marked sent: the summary's query lists them); those of a window whose summary
   another invocation is sending are *deferred* (released; the call is retried). Without a ledger, one
   summary per rule and window per invocation.

So every claimed event is in exactly one alert, or in none because the summary of its rule and window
went out and points at it in the index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from trailsift import record as rec
from trailsift.grouping import MAX_GROUP_EVENTS, AlertGroup, Matched, group_matches
from trailsift.ratebound import HeldBack, RateBound, Window, window_of
from trailsift.sinks.base import Routed
from trailsift.sinks.once import Covering, EventKey, Formed, Ledger

__all__ = ["AlertForming", "Claimable", "claimables"]

C = TypeVar("C", bound=Covering)


@dataclass(frozen=True)
class Claimable:
    """One matched event on its way to the alert topic, named for the ledger by its event key."""

    event_key: str
    item: Routed


def claimables(routed: Sequence[Routed]) -> list[Claimable]:
    """Each routed match with its event key (a match repeated in a file counts once: the ledger keeps the first)."""
    return [Claimable(rec.event_key(item.match.record), item) for item in routed]


@dataclass
class AlertForming(Generic[C]):
    """Forms one invocation's alerts (see the module docstring); one instance per invocation.

    ``format_group`` and ``format_summary`` build the messages (:func:`trailsift.alerts.format_group`,
    :func:`trailsift.alerts.format_summary`); ``bound`` is ``None`` when the deployment sets no rate limit.
    """

    format_group: Callable[[AlertGroup, str], C]
    format_summary: Callable[[HeldBack, str], C]
    bound: RateBound | None = None
    ledger: Ledger[Any] | None = None
    window_seconds: int = 3600
    max_events: int = MAX_GROUP_EVENTS
    clock: Callable[[], float] = time.time
    summarized: set[tuple[str, Window]] = field(default_factory=set)  # summaries this invocation formed

    def form(self, claimed: list[Claimable], log_location: str) -> Formed[C]:
        """The alerts of the events ``claimed`` (one log file's), in file order of their first event."""
        in_file_order = sorted(claimed, key=lambda c: c.item.match.index)  # a ledger answers in its own order
        groups = group_matches([c.item for c in in_file_order], max_events=self.max_events)
        formed: Formed[C] = Formed()
        held: dict[tuple[str, Window], list[AlertGroup]] = {}
        for group, window in self._by_window(groups):
            if self.bound is not None:
                if not self.bound.admit(group.rule.name, window, group.event_keys[0]):
                    held.setdefault((group.rule.name, window), []).append(group)
                    continue
            formed.messages.append(self.format_group(group, log_location))
        for (name, window), kept in held.items():
            assert self.bound is not None
            summary = HeldBack(kept[0].rule, window, tuple(kept), self.bound.limit)
            keys = list(summary.event_keys)
            if (name, window) in self.summarized and self.ledger is None:
                formed.settled += keys  # this invocation sent the window's summary already
                continue
            if self.ledger is not None:
                claim = self.ledger.claim([EventKey(summary.key)])
                if claim.already_sent:
                    formed.settled += keys
                    continue
                if claim.held_elsewhere:
                    formed.deferred += keys
                    continue
            self.summarized.add((name, window))
            formed.messages.append(self.format_summary(summary, log_location))
        return formed

    def _by_window(self, groups: list[AlertGroup]) -> list[tuple[AlertGroup, Window]]:
        """Each group with its rate window; with a bound, a group whose events span windows is cut at each
        window's edge, so a summary's query (one window) lists every event it settles."""
        out: list[tuple[AlertGroup, Window]] = []
        for group in groups:
            if self.bound is None:
                out.append((group, Window(0, self.window_seconds)))
                continue
            parts: dict[Window, list[Matched]] = {}
            for item in group.items:
                alone = AlertGroup(group.rule, group.key, (item,))
                parts.setdefault(window_of(alone, self.window_seconds, self.clock), []).append(item)
            out += [(AlertGroup(group.rule, group.key, tuple(items)), window) for window, items in parts.items()]
        return out
