"""Evaluate a rule set against records: compile once, then tell for each record which rules match.

Most selectors name the exact values they care about (``eventName Equals [...]``,
``userIdentity.type Equals [Root]``), and most records match no rule, so the engine indexes each
such selector under those values: a record only runs the selectors that could match its values,
plus the few that name none. The result is the same as evaluating every selector (the property
tests hold the engine to a plain reference evaluator).

Before any record is parsed in full, :meth:`RuleEngine.candidates` reads the few fields those
indexes (and the other selectors' include conditions) name from a :class:`RecordProjection` of
the whole file, a column at a time, and keeps only the records that could match.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import compress, count
from typing import Any

from trailsift.fields import ValueGetter, value_getter
from trailsift.projection import ColumnGetter, FieldsAbsent, RecordProjection
from trailsift.rules import RuleSet
from trailsift.selectors import INCLUDE_OPERATORS, EventSelector, RecordTest, compile_selector, never, value_test

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


Guard = tuple[str, Callable[[str], bool], "frozenset[str] | None"]
"""A field, the test one of its values must pass for a record to possibly match, and that test as a set when it is one."""


def guards(rules: RuleSet) -> tuple[Guard, ...] | None:
    """What a record must hold to possibly match some rule; None when any record may (no guard applies).

    An indexed selector needs one of its index values (merged per field into one set); any other
    selector needs a value that its first field selector with an include operator accepts; a
    selector of exclude operators only can match anything.
    """
    wanted: dict[str, set[str]] = defaultdict(set)
    found: list[Guard] = []
    for rule in rules:
        for selector in rule.selectors:
            key = index_key(selector)
            if key is not None:
                wanted[key[0]].update(key[1])
                continue
            including = [
                (fs.field, test)
                for fs in selector.field_selectors
                if (test := value_test(fs, INCLUDE_OPERATORS)) is not never
            ]
            if not including:
                return None
            found.append((*including[0], None))
    for field, values in sorted(wanted.items()):
        members = frozenset(values)
        found.append((field, members.__contains__, members))
    return tuple(found)


_STRING_OR_NONE = frozenset({str, type(None)})


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
        self._guards = guards(rules)
        self.projection = RecordProjection(field for field, _, _ in self._guards or ())
        self._columns: tuple[tuple[ColumnGetter, Callable[[str], bool], frozenset[str] | None], ...] = tuple(
            (self.projection.column(field), accepts, members) for field, accepts, members in self._guards or ()
        )

    def candidates(self, views: Sequence[Any]) -> list[int]:
        """Positions of the records (projected by :attr:`projection`) that could match a rule, in order.

        Every record that :meth:`match` would match is among them; a value the projection cannot
        test as one string (an array, a number, an aliased field) keeps its record.
        """
        if self._guards is None:
            return list(range(len(views)))
        if type(views) is FieldsAbsent:  # no record holds a guarded field
            return []
        found: list[int] = []
        for column_of, accepts, members in self._columns:
            column = column_of(views)
            if column.count(None) == len(column):  # no record holds the field (often: its key is absent)
                continue
            kinds = set(map(type, column))
            if not kinds <= _STRING_OR_NONE:
                found += [i for i, value in enumerate(column) if value is not None and (type(value) is not str or accepts(value))]
            elif members is not None:
                if not members.isdisjoint(column):
                    found += compress(count(), map(members.__contains__, column))
            elif str in kinds:
                if "" in column:
                    found += [i for i, value in enumerate(column) if value is not None and accepts(value)]
                else:  # the positions of values (non-empty strings) at C speed, then the test on those only
                    found += [i for i in compress(count(), column) if accepts(column[i])]
        return sorted(set(found)) if len(self._columns) > 1 else found

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
