"""Why a record did or did not match: the evaluation of every rule, selector and field selector, step by step.

The engine (:mod:`trailsift.engine`) answers *which* rules match, as fast as it can: indexes,
short-circuits, compiled tests. This module answers *why*, for one record at a time, and evaluates
everything: each field selector's values (read as the engine reads them, :mod:`trailsift.fields`),
the include condition one of them satisfied, the exclude condition one of them hit, and from those
the verdict of each selector (all of its field selectors held) and each rule (one of its selectors
matched), as ``selectors.md`` ("Evaluation") says. A property test holds :func:`explain`'s
verdicts to :meth:`RuleEngine.match <trailsift.engine.RuleEngine.match>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from trailsift.fields import value_getter
from trailsift.rules import Rule, RuleSet
from trailsift.selectors import EXCLUDE_OPERATORS, INCLUDE_OPERATORS, EventSelector, FieldSelector

_TESTS: dict[str, Callable[[str, str], bool]] = {
    "Equals": lambda value, operand: value == operand,
    "StartsWith": lambda value, operand: value.startswith(operand),
    "EndsWith": lambda value, operand: value.endswith(operand),
}
_NEGATED = dict(zip(EXCLUDE_OPERATORS, INCLUDE_OPERATORS, strict=True))
"""An exclude operator and the include operator its values are compared with (NotEquals: Equals, ...)."""


@dataclass(frozen=True)
class Hit:
    """One value of the record that satisfied one condition: ``value`` against ``operator`` ``operand``."""

    operator: str
    operand: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"operator": self.operator, "operand": self.operand, "value": self.value}


def _first_hit(values: Iterable[str], fs: FieldSelector, operators: Iterable[str]) -> Hit | None:
    """The first (value, condition) pair where the value satisfies the condition, conditions compared as their
    include form (a ``NotEquals`` operand is hit by an equal value); None when no value satisfies any."""
    for value in values:
        for operator in operators:
            test = _TESTS[_NEGATED.get(operator, operator)]
            for operand in fs.values(operator):
                if test(value, operand):
                    return Hit(operator, operand, value)
    return None


@dataclass(frozen=True)
class FieldTrace:
    """One field selector against one record: the values the record holds for its field, and what they did."""

    field_selector: FieldSelector
    values: tuple[str, ...]
    included_by: Hit | None
    """The include condition a value satisfied (None: none did, or the field selector has no include operator)."""
    excluded_by: Hit | None
    """The exclude condition a value hit (None: none did)."""

    @property
    def includes(self) -> bool:
        """Whether the field selector has an include operator (``Equals``, ``StartsWith``, ``EndsWith``)."""
        return any(operator in INCLUDE_OPERATORS for operator, _ in self.field_selector.conditions)

    @property
    def held(self) -> bool:
        """Include AND NOT exclude: a value satisfied an include condition (when there are any) and none hit an exclude one."""
        return (self.included_by is not None or not self.includes) and self.excluded_by is None

    @property
    def reason(self) -> str:
        """Why it held or failed, in a few words (values quoted with ``repr``)."""
        if self.excluded_by is not None:
            hit = self.excluded_by
            return f"{hit.value!r} is excluded by {hit.operator} {hit.operand!r}"
        if self.included_by is not None:
            hit = self.included_by
            return f"{hit.value!r} satisfies {hit.operator} {hit.operand!r}"
        if self.includes:
            if not self.values:
                return "no value (the field is missing or null), so no include condition can hold"
            return "no value satisfies an include condition"
        if not self.values:
            return "no value (the field is missing or null), so no exclude condition applies"
        return "no value hits an exclude condition"

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field_selector.field,
            "conditions": {operator: list(operands) for operator, operands in self.field_selector.conditions},
            "values": list(self.values),
            "held": self.held,
            "included_by": self.included_by.to_json() if self.included_by else None,
            "excluded_by": self.excluded_by.to_json() if self.excluded_by else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SelectorTrace:
    """One selector against one record: it matches when every field selector held."""

    selector: EventSelector
    fields: tuple[FieldTrace, ...]

    @property
    def matched(self) -> bool:
        return all(trace.held for trace in self.fields)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.selector.name, "matched": self.matched, "field_selectors": [f.to_json() for f in self.fields]}


@dataclass(frozen=True)
class RuleTrace:
    """One rule against one record: it matches when one of its selectors matched."""

    rule: Rule
    selectors: tuple[SelectorTrace, ...]

    @property
    def matched(self) -> bool:
        return any(trace.matched for trace in self.selectors)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "severity": self.rule.severity.value,
            "matched": self.matched,
            "selectors": [s.to_json() for s in self.selectors],
        }


def explain_field_selector(fs: FieldSelector, record: dict[str, Any]) -> FieldTrace:
    """Evaluate one field selector on ``record``, keeping the values and the conditions that decided."""
    values = value_getter(fs.field)(record)
    return FieldTrace(fs, values, _first_hit(values, fs, INCLUDE_OPERATORS), _first_hit(values, fs, EXCLUDE_OPERATORS))


def explain_selector(selector: EventSelector, record: dict[str, Any]) -> SelectorTrace:
    """Evaluate every field selector of ``selector`` (no short cut: each one's outcome is shown)."""
    return SelectorTrace(selector, tuple(explain_field_selector(fs, record) for fs in selector.field_selectors))


def explain_rule(rule: Rule, record: dict[str, Any]) -> RuleTrace:
    """Evaluate every selector of ``rule``."""
    return RuleTrace(rule, tuple(explain_selector(selector, record) for selector in rule.selectors))


def explain(rules: RuleSet | Iterable[Rule], record: dict[str, Any]) -> tuple[RuleTrace, ...]:
    """Evaluate every rule on ``record``, in rule order; the rules that matched are those whose trace ``matched``."""
    return tuple(explain_rule(rule, record) for rule in rules)


def matched_rules(traces: Iterable[RuleTrace]) -> tuple[str, ...]:
    """The names of the rules that matched, in rule order: what :meth:`RuleEngine.match` gives for the same record."""
    return tuple(trace.rule.name for trace in traces if trace.matched)
