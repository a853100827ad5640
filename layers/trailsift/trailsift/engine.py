"""Evaluate a rule set against records: compile once, then tell for each record which rules match.

Most selectors name the exact values they care about (``eventName Equals [...]``,
``userIdentity.type Equals [Root]``), and most records match no rule, so the engine indexes each
such selector under those values: a record only runs the selectors that could match its values,
plus the few that name none. The result is the same as evaluating every selector (the property
tests hold the engine to a plain reference evaluator).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from trailsift.fields import ValueGetter, value_getter
from trailsift.rules import RuleSet
from trailsift.selectors import EventSelector, RecordTest, compile_selector

INDEX_PREFERENCE = ("eventName", "eventSource")
"""Fields preferred as index keys: present in nearly every record and very selective."""

Entry = tuple[int, RecordTest]


def index_key(selector: EventSelector) -> tuple[str, frozenset[str]] | None:
    """The field and values one of which a record must hold to match ``selector``; None if none is said.

    A field selector with ``Equals`` and no ``StartsWith``/``EndsWith`` qualifies; eventName is
    preferred, then the qualifying field with the fewest values.
    """
    candidates = [
        (fs.field, frozenset(fs.values("Equals")))
        for fs in selector.field_selectors
        if fs.values("Equals") and not fs.values("StartsWith") and not fs.values("EndsWith")
    ]
    if not candidates:
        return None

    def rank(candidate: tuple[str, frozenset[str]]) -> tuple[int, int]:
        field, values = candidate
        preferred = INDEX_PREFERENCE.index(field) if field in INDEX_PREFERENCE else len(INDEX_PREFERENCE)
        return preferred, len(values)

    return min(candidates, key=rank)


class RuleEngine:
    """Compiled rules; :meth:`match` gives the names of the rules a record matches, in rule order."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._names = rules.names
        tables: dict[str, dict[str, list[Entry]]] = defaultdict(lambda: defaultdict(list))
        unindexed: list[Entry] = []
        for position, rule in enumerate(rules):
            for selector in rule.selectors:
                test = compile_selector(selector)
                key = index_key(selector)
                if key is None:
                    unindexed.append((position, test))
                else:
                    field, values = key
                    for value in values:
                        tables[field][value].append((position, test))
        self._indexes: tuple[tuple[ValueGetter, dict[str, list[Entry]]], ...] = tuple(
            (value_getter(field), dict(table)) for field, table in tables.items()
        )
        self._unindexed = tuple(unindexed)

    def match(self, record: dict[str, Any]) -> tuple[str, ...]:
        matched: set[int] = set()
        for position, test in self._unindexed:
            if position not in matched and test(record):
                matched.add(position)
        for get, table in self._indexes:
            for value in get(record):
                for position, test in table.get(value, ()):
                    if position not in matched and test(record):
                        matched.add(position)
        if not matched:
            return ()
        return tuple(self._names[position] for position in sorted(matched))
