"""An evaluator of Sigma rules written for the tests, independent of trailsift's converter and selectors.

It walks what pySigma parsed, as Sigma defines it: the condition as written (``and``, ``or``,
``not``, ``1 of``/``all of`` patterns, resolved by pySigma), each detection (a map: all its items;
a list: any of them), each item (any of its values, ``all``: every one; ``neq``: negated), each
value against every value the record holds for the field (a dotted path, walking objects and
fanning out over arrays). Strings are Sigma strings with ``*`` and ``?`` wildcards; they compare
case-sensitively: the ``cased`` semantics, which a conversion to CloudTrail's case-sensitive
selectors promises to be exact for (``ignore_case=True`` gives Sigma's default instead: case-insensitive
but for ``cased`` values).
"""

from __future__ import annotations

import re
from typing import Any

from sigma.conditions import ConditionAND, ConditionIdentifier, ConditionNOT, ConditionOR, ConditionSelector
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaBool, SigmaCasedString, SigmaNull, SigmaNumber, SigmaString, SpecialChars

__all__ = ["matches", "record_values", "set_path", "sigma_values"]


def record_values(record: Any, path: str) -> list[str]:
    """The scalar values at ``path`` (objects walked by key, arrays fanned out), as text."""
    nodes = [record]
    for key in path.split("."):
        found: list[Any] = []
        for node in nodes:
            for item in node if isinstance(node, list) else [node]:
                if isinstance(item, dict) and key in item:
                    found.append(item[key])
        nodes = found
    out: list[str] = []
    for node in nodes:
        for item in node if isinstance(node, list) else [node]:
            if isinstance(item, bool):
                out.append("true" if item else "false")
            elif isinstance(item, (str, int)):
                out.append(str(item))
    return out


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at the dotted ``path`` of ``record``, making the objects on the way."""
    *parents, last = path.split(".")
    node = record
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def _pattern(value: SigmaString, ignore_case: bool) -> re.Pattern[str]:
    text = "".join(
        ".*" if part is SpecialChars.WILDCARD_MULTI else "." if part is SpecialChars.WILDCARD_SINGLE else re.escape(part)
        for part in value.s
    )
    return re.compile(text, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _value_matches(value: Any, held: list[str], ignore_case: bool) -> bool:
    if isinstance(value, SigmaNull):
        return not held
    if isinstance(value, SigmaBool):
        return ("true" if value.boolean else "false") in held
    if isinstance(value, SigmaNumber):
        return str(value.number) in held
    if isinstance(value, SigmaString):
        pattern = _pattern(value, ignore_case and not isinstance(value, SigmaCasedString))
        return any(pattern.fullmatch(text) for text in held)
    raise AssertionError(f"the reference evaluator does not know {type(value).__name__}")


def _item(item: SigmaDetectionItem, record: dict[str, Any], ignore_case: bool) -> bool:
    assert item.field is not None, "keyword searches are not evaluated"
    held = record_values(record, item.field)
    results = [_value_matches(value, held, ignore_case) for value in item.value] or [not held]
    result = all(results) if item.value_linking is ConditionAND else any(results)
    return not result if item.negated else result


def _detection(detection: SigmaDetection, record: dict[str, Any], ignore_case: bool) -> bool:
    results = [
        _detection(item, record, ignore_case) if isinstance(item, SigmaDetection) else _item(item, record, ignore_case)
        for item in detection.detection_items
    ]
    return all(results) if detection.item_linking is ConditionAND else any(results)


def _condition(node: Any, rule: SigmaRule, record: dict[str, Any], ignore_case: bool) -> bool:
    detections = rule.detection
    if isinstance(node, ConditionIdentifier):
        return _detection(detections.detections[node.identifier], record, ignore_case)
    if isinstance(node, ConditionSelector):
        names = [ref.identifier for ref in node.resolve_referenced_detections(detections)]
        results = [_detection(detections.detections[name], record, ignore_case) for name in names]
        return all(results) if node.cond_class is ConditionAND else any(results)
    if isinstance(node, ConditionNOT):
        return not _condition(node.args[0], rule, record, ignore_case)
    if isinstance(node, ConditionAND):
        return all(_condition(arg, rule, record, ignore_case) for arg in node.args)
    if isinstance(node, ConditionOR):
        return any(_condition(arg, rule, record, ignore_case) for arg in node.args)
    raise AssertionError(f"unexpected condition node {node!r}")


def matches(rule: SigmaRule, record: dict[str, Any], *, ignore_case: bool = False) -> bool:
    """Whether the Sigma rule matches the record (its conditions ORed), with the cased semantics by default."""
    return any(
        _condition(condition.parse(postprocess=False), rule, record, ignore_case)
        for condition in rule.detection.parsed_condition
    )


def sigma_values(rule: SigmaRule) -> list[tuple[str, str]]:
    """Every (field, value as text) a rule's detections name, wildcards dropped: to build hits and near misses."""
    out: list[tuple[str, str]] = []

    def walk(detection: SigmaDetection) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                walk(item)
                continue
            if item.field is None:
                continue
            for value in item.value:
                if isinstance(value, SigmaString):
                    out.append((item.field, "".join(p for p in value.s if isinstance(p, str))))
                elif isinstance(value, SigmaBool):
                    out.append((item.field, "true" if value.boolean else "false"))
                elif isinstance(value, SigmaNumber):
                    out.append((item.field, str(value.number)))

    for detection in rule.detection.detections.values():
        walk(detection)
    return out
