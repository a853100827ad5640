"""CloudTrail advanced event selectors: parse and validate them, compile them, check CloudTrail would accept them.

The semantics are those of ``shared/docs/selectors.md``: a selector list matches when ANY selector
matches, a selector when ALL its field selectors match, and a field selector looks at the set of
string values the record holds for its field (include operators need one value to satisfy one
condition; exclude operators fail the field selector as soon as one value satisfies one).
Validation happens once, before anything runs, and every message points at the fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trailsift.errors import TrailsiftError
from trailsift.fields import MANY, single_value_getter, value_getter

INCLUDE_OPERATORS = ("Equals", "StartsWith", "EndsWith")
EXCLUDE_OPERATORS = ("NotEquals", "NotStartsWith", "NotEndsWith")
OPERATORS = INCLUDE_OPERATORS + EXCLUDE_OPERATORS

# CloudTrail's own fields and the operators CloudTrail allows on each (selectors.md, "Validation").
CLOUDTRAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "readOnly": ("Equals",),
    "eventCategory": ("Equals",),
    "resources.type": ("Equals",),
    "sessionCredentialFromConsole": ("Equals", "NotEquals"),
    **{
        name: OPERATORS
        for name in (
            "eventName",
            "eventSource",
            "eventType",
            "resources.ARN",
            "userIdentity.arn",
            "errorCode",
            "vpcEndpointId",
        )
    },
}
CLOUDTRAIL_MAX_VALUES = 500
_FIELD_NAME = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
_MAX_NAME = 1000
_MAX_FIELD = 1000
_MAX_VALUE = 2048

Record = dict[str, Any]
RecordTest = Callable[[Record], bool]


class SelectorError(TrailsiftError, ValueError):
    """A selector set that is not valid; the message names the selector, field selector, operator and value."""


@dataclass(frozen=True)
class FieldSelector:
    """One ``{"Field": ..., "<Operator>": [values]}`` condition."""

    field: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...]  # (operator, values) in OPERATORS order

    def values(self, operator: str) -> tuple[str, ...]:
        return dict(self.conditions).get(operator, ())

    def to_json(self) -> dict[str, Any]:
        return {"Field": self.field, **{op: list(vals) for op, vals in self.conditions}}


@dataclass(frozen=True)
class EventSelector:
    """One advanced event selector: a name and the field selectors that must all match."""

    name: str | None
    field_selectors: tuple[FieldSelector, ...]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name} if self.name is not None else {}
        out["FieldSelectors"] = [fs.to_json() for fs in self.field_selectors]
        return out


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _selector_label(index: int, name: object) -> str:
    return f"selector {index} ({name!r})" if isinstance(name, str) else f"selector {index}"


def _parse_field_selector(raw: object, where: str) -> FieldSelector:
    if not isinstance(raw, Mapping):
        raise SelectorError(f"{where}: must be an object with 'Field' and operators, got {_describe(raw)}")
    unknown = [key for key in raw if key not in OPERATORS and key != "Field"]
    if unknown:
        hint = _near_miss(unknown[0], OPERATORS + ("Field",))
        raise SelectorError(
            f"{where}: unknown key {unknown[0]!r}{hint}; operators are {', '.join(OPERATORS)}"
        )
    if "Field" not in raw:
        raise SelectorError(f"{where}: missing 'Field'")
    field = raw["Field"]
    if not isinstance(field, str):
        raise SelectorError(f"{where}: 'Field' must be a string, got {_describe(field)}")
    if not 1 <= len(field) <= _MAX_FIELD or not _FIELD_NAME.fullmatch(field):
        raise SelectorError(
            f"{where}: bad field name {_describe(field)}: 1-{_MAX_FIELD} characters of [A-Za-z0-9_] "
            "in dot-separated parts (no empty parts, spaces or wildcards)"
        )
    where = f"{where} (Field {field!r})"
    conditions: list[tuple[str, tuple[str, ...]]] = []
    for operator in OPERATORS:
        if operator not in raw:
            continue
        values = raw[operator]
        at = f"{where}, operator {operator!r}"
        if not isinstance(values, list):
            raise SelectorError(f"{at}: must be a list of strings, got {_describe(values)}")
        if not values:
            raise SelectorError(f"{at}: empty list; give at least one value")
        for position, value in enumerate(values):
            if not isinstance(value, str):
                raise SelectorError(f"{at}, value {position}: must be a string, got {_describe(value)}")
            if not 1 <= len(value) <= _MAX_VALUE:
                problem = "empty string" if not value else f"{len(value)} characters (at most {_MAX_VALUE})"
                raise SelectorError(f"{at}, value {position}: {problem}")
        conditions.append((operator, tuple(values)))
    if not conditions:
        raise SelectorError(f"{where}: no operator; give at least one of {', '.join(OPERATORS)}")
    allowed = CLOUDTRAIL_FIELDS.get(field)
    if allowed is not None:
        for operator, values in conditions:
            if operator not in allowed:
                raise SelectorError(
                    f"{where}, operator {operator!r}: {field} accepts only {' and '.join(allowed)}"
                )
        if field == "readOnly":
            for position, value in enumerate(dict(conditions)["Equals"]):
                if value not in ("true", "false"):
                    raise SelectorError(
                        f"{where}, operator 'Equals', value {position}: readOnly is 'true' or 'false', "
                        f"got {value!r}"
                    )
    return FieldSelector(field, tuple(conditions))


def _near_miss(word: object, choices: Sequence[str]) -> str:
    if not isinstance(word, str):  # YAML can give non-string keys (1:, on:, yes:)
        return ""
    lowered = word.lower().replace("_", "").replace("-", "")
    for choice in choices:
        if choice.lower() == lowered:
            return f" (did you mean {choice!r}? keys are case-sensitive)"
    return ""


def _parse_selector(raw: object, index: int, context: str) -> EventSelector:
    name = raw.get("Name") if isinstance(raw, Mapping) else None
    where = f"{context}{_selector_label(index, name)}"
    if not isinstance(raw, Mapping):
        raise SelectorError(f"{where}: must be an object with 'FieldSelectors', got {_describe(raw)}")
    unknown = [key for key in raw if key not in ("Name", "FieldSelectors")]
    if unknown:
        hint = _near_miss(unknown[0], ("Name", "FieldSelectors"))
        raise SelectorError(f"{where}: unknown key {unknown[0]!r}{hint}; expected 'Name' and 'FieldSelectors'")
    if name is not None and (not isinstance(name, str) or len(name) > _MAX_NAME):
        raise SelectorError(f"{where}: 'Name' must be a string of at most {_MAX_NAME} characters")
    if "FieldSelectors" not in raw:
        raise SelectorError(f"{where}: missing 'FieldSelectors'")
    field_selectors = raw["FieldSelectors"]
    if not isinstance(field_selectors, list):
        raise SelectorError(f"{where}: 'FieldSelectors' must be a list, got {_describe(field_selectors)}")
    if not field_selectors:
        raise SelectorError(f"{where}: 'FieldSelectors' is empty; give at least one field selector")
    parsed = tuple(
        _parse_field_selector(item, f"{where}, field selector {position}")
        for position, item in enumerate(field_selectors)
    )
    return EventSelector(name, parsed)


def parse_selectors(document: object, *, context: str = "") -> tuple[EventSelector, ...]:
    """Validate and parse a selector set: a JSON list of advanced event selectors, or the object
    ``aws cloudtrail get-event-selectors`` or ``get-event-data-store`` prints (its ``AdvancedEventSelectors``;
    the other keys, ``TrailARN``, ``EventDataStoreArn``, ``BillingMode``..., are not read here).

    ``context`` prefixes every message (``"rule 'x': "``). Raises :class:`SelectorError`.
    """
    if isinstance(document, Mapping):
        if "AdvancedEventSelectors" in document:
            document = document["AdvancedEventSelectors"]
            context = f"{context}AdvancedEventSelectors: "
        elif "EventSelectors" in document:
            raise SelectorError(
                f"{context}basic 'EventSelectors' are not supported; use 'AdvancedEventSelectors' "
                "(aws cloudtrail put-event-selectors --advanced-event-selectors)"
            )
        elif "FieldSelectors" in document:
            raise SelectorError(f"{context}expected a list of selectors; wrap this selector in [ ]")
        else:
            raise SelectorError(
                f"{context}expected a list of advanced event selectors or an object with "
                "'AdvancedEventSelectors'"
            )
    if not isinstance(document, list):
        raise SelectorError(f"{context}expected a list of advanced event selectors, got {_describe(document)}")
    if not document:
        raise SelectorError(f"{context}the selector list is empty; give at least one selector")
    return tuple(_parse_selector(raw, index, context) for index, raw in enumerate(document))


# ---------------------------------------------------------------------------------------------
# Compatibility with CloudTrail itself


def cloudtrail_compatibility(selectors: Sequence[EventSelector]) -> list[str]:
    """Reasons CloudTrail's own ``put-event-selectors`` would refuse these (valid) selectors; empty if none."""
    problems: list[str] = []
    total = 0
    for index, selector in enumerate(selectors):
        label = _selector_label(index, selector.name)
        fields = [fs.field for fs in selector.field_selectors]
        for position, fs in enumerate(selector.field_selectors):
            total += sum(len(values) for _, values in fs.conditions)
            if fs.field not in CLOUDTRAIL_FIELDS:
                problems.append(  # the list of CloudTrail's fields is the caller's to say, once
                    f"{label}, field selector {position}: {fs.field!r} is an extended field"
                )
        if "eventCategory" not in fields:
            problems.append(f"{label}: no 'eventCategory' field selector (CloudTrail requires one)")
        if fields.count("resources.type") > 1:
            problems.append(f"{label}: more than one 'resources.type' field selector")
    if total > CLOUDTRAIL_MAX_VALUES:
        problems.append(f"{total} values over all conditions; CloudTrail allows at most {CLOUDTRAIL_MAX_VALUES}")
    return problems


# ---------------------------------------------------------------------------------------------
# Compilation


def never(value: str) -> bool:
    """The value test of a field selector without any of the operators asked for: no value passes."""
    return False


def value_test(fs: FieldSelector, operators: tuple[str, str, str]) -> Callable[[str], bool]:
    """True for a value that satisfies one of ``fs``'s conditions among ``operators`` (Equals-, StartsWith-, EndsWith-like).

    Pass :data:`INCLUDE_OPERATORS` or :data:`EXCLUDE_OPERATORS`; a field selector without any of
    them gets a test that is always false.
    """
    equals = frozenset(fs.values(operators[0]))
    starts = fs.values(operators[1])
    ends = fs.values(operators[2])
    if not (equals or starts or ends):
        return never
    if not (starts or ends):
        return equals.__contains__
    return lambda value: value in equals or bool(starts and value.startswith(starts)) or bool(ends and value.endswith(ends))


def compile_field_selector(fs: FieldSelector) -> RecordTest:
    """A predicate on records equivalent to ``fs`` (values read once, conditions as set and tuple tests).

    Most records hold one plain string for a field: that case is tested directly; anything else
    (arrays, numbers, booleans, several resources) takes the general walk over every value.
    """
    single = single_value_getter(fs.field)
    get_all = value_getter(fs.field)
    included = value_test(fs, INCLUDE_OPERATORS)
    excluded = value_test(fs, EXCLUDE_OPERATORS)
    has_include = included is not never

    def test(record: Record) -> bool:
        value = single(record)
        if value is None:
            return not has_include
        if value is MANY:
            values = get_all(record)
            if has_include and not any(included(v) for v in values):
                return False
            return not any(excluded(v) for v in values)
        return (not has_include or included(value)) and not excluded(value)  # type: ignore[arg-type]

    return test


def compile_selector(selector: EventSelector) -> RecordTest:
    """A predicate that is true when every field selector of ``selector`` matches."""
    tests = tuple(compile_field_selector(fs) for fs in selector.field_selectors)
    if len(tests) == 1:
        return tests[0]
    return lambda record: all(test(record) for test in tests)


def compile_selectors(selectors: Sequence[EventSelector]) -> RecordTest:
    """A predicate that is true when any selector matches (CloudTrail's OR across selectors)."""
    tests = tuple(compile_selector(selector) for selector in selectors)
    return lambda record: any(test(record) for test in tests)
