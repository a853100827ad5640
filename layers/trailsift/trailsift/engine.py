"""Evaluate a rule set against records: compile once, then tell for each record which rules match.

Most rules name the API calls they care about (``eventName Equals [...]``), and most records match
no rule, so the engine indexes those selectors by event name: a record only runs the selectors that
could match its name, plus the few that do not name one. The result is the same as evaluating every
selector (the property tests hold the engine to a plain reference evaluator).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from trailsift.fields import value_getter
from trailsift.rules import RuleSet
from trailsift.selectors import EventSelector, RecordTest, compile_selector

_event_names = value_getter("eventName")


def _indexed_names(selector: EventSelector) -> frozenset[str] | None:
    """Event names one of which a record must have to match ``selector``; None if it does not say."""
    best: frozenset[str] | None = None
    for fs in selector.field_selectors:
        if fs.field == "eventName" and not fs.values("StartsWith") and not fs.values("EndsWith"):
            names = frozenset(fs.values("Equals"))
            if names and (best is None or len(names) < len(best)):
                best = names
    return best


class RuleEngine:
    """Compiled rules; :meth:`match` gives the names of the rules a record matches, in rule order."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._names = rules.names
        by_name: dict[str, list[tuple[int, RecordTest]]] = defaultdict(list)
        unindexed: list[tuple[int, RecordTest]] = []
        for position, rule in enumerate(rules):
            for selector in rule.selectors:
                test = compile_selector(selector)
                names = _indexed_names(selector)
                if names is None:
                    unindexed.append((position, test))
                else:
                    for name in names:
                        by_name[name].append((position, test))
        self._by_name = dict(by_name)
        self._unindexed = tuple(unindexed)

    def match(self, record: dict[str, Any]) -> tuple[str, ...]:
        matched: set[int] = set()
        for position, test in self._unindexed:
            if position not in matched and test(record):
                matched.add(position)
        for name in _event_names(record):
            for position, test in self._by_name.get(name, ()):
                if position not in matched and test(record):
                    matched.add(position)
        if not matched:
            return ()
        return tuple(self._names[position] for position in sorted(matched))
