"""Group the alert matches that arrive together into one alert each: same rule, same principal (by default).

A burst (``terraform apply`` touching 200 security groups, one person tearing a network down) lands
in one or a few CloudTrail files; one alert per event pages 200 times. The alert sink groups the
matches of one log file (one :meth:`~trailsift.sinks.base.Sink.deliver` call) by a key: the event's
*primary rule* (:func:`primary_rule`) and the values of the fields that rule's ``group_by`` names
(``["principal"]`` unless the rule says otherwise; ``[]`` or ``false``: one alert per event). An event
that matched several alert rules is in exactly one group, under its primary rule, and the group lists
the other rules too (as an alert about one event lists all its rules): every matched event is in exactly
one alert. A group of one is an alert about one event and reads exactly as one always did.

Across files and invocations nothing waits: the first alert of a burst goes out as soon as its file is
read. What limits a burst spread over many files is the rate bound (:mod:`trailsift.ratebound`): at
most N alerts per rule per window, the rest folded into one summary pointing at the index.

Pure: no AWS, no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from trailsift import record as rec
from trailsift import settings
from trailsift.rules import DEFAULT_GROUP_BY, GROUP_BY_FIELDS, Rule, Severity
from trailsift.scan import Match
from trailsift.text import one_line

__all__ = [
    "DEFAULT_GROUP_BY",
    "GROUP_FIELDS",
    "MAX_GROUP_EVENTS",
    "AlertGroup",
    "Matched",
    "group_matches",
    "primary_rule",
    "resources",
]

GROUP_FIELDS: Mapping[str, Callable[[dict[str, Any]], str | None]] = {
    "principal": rec.principal,
    "account": rec.account,
    "region": lambda record: rec.field_text(record, "awsRegion"),
    "eventName": lambda record: rec.field_text(record, "eventName"),
    "eventSource": lambda record: rec.field_text(record, "eventSource"),
    "sourceIPAddress": lambda record: rec.field_text(record, "sourceIPAddress"),
    "errorCode": lambda record: rec.field_text(record, "errorCode"),
}
"""The fields a rule's ``group_by`` may name, and how each is read off a record (``None``: absent)."""
assert tuple(GROUP_FIELDS) == GROUP_BY_FIELDS, "rules.GROUP_BY_FIELDS and GROUP_FIELDS name the same fields"
MAX_GROUP_EVENTS = settings.MAX_GROUP_EVENTS
"""Events in one alert at most (``TRAILSIFT_ALERT_GROUP_MAX_EVENTS`` may lower it): a larger burst in one
file makes several alerts of this many. Every event ID of a group is listed in its alert (text and JSON
document); 500 keeps that inside SNS's 256 KB (tests/test_alerts.py checks it)."""
MAX_RESOURCES_SHOWN = 20
MAX_NAMES_SHOWN = 20
_RANK = {severity: rank for rank, severity in enumerate(Severity)}
_RESOURCE_PARAMETER = re.compile(r"[A-Za-z]*(Id|Name|Arn|ARN|Ids)")


class Matched(Protocol):
    """A match with the alert rules it matched, in rule order (:class:`~trailsift.sinks.base.Routed` is one)."""

    @property
    def match(self) -> Match: ...

    @property
    def rules(self) -> tuple[Rule, ...]: ...


def primary_rule(rules: Sequence[Rule]) -> Rule:
    """The rule an event's alert is filed (and grouped) under: the first, in rule order, of those at the
    highest severity. So an event that matched a critical rule set to one alert per event (root use) and a
    medium rule that groups is alerted alone, under the critical one. Raises ValueError when empty."""
    if not rules:
        raise ValueError("primary_rule: no rules")
    top = max(_RANK[rule.severity] for rule in rules)
    return next(rule for rule in rules if _RANK[rule.severity] == top)


def _key(item: Matched) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The group an item belongs to: its primary rule's name and its ``group_by`` values (or its event key)."""
    rule = primary_rule(item.rules)
    record = item.match.record
    if not rule.group_by:
        return rule.name, (("event", rec.event_key(record)),)
    return rule.name, tuple((name, GROUP_FIELDS[name](record) or "") for name in rule.group_by)


@dataclass(frozen=True)
class AlertGroup:
    """Matches that make one alert: the same primary rule and the same values of its ``group_by`` fields.

    ``items`` are in file order; ``rules`` are every alert rule a member matched, in the order met (a group
    of one: its rules as given, in rule order). What the alert's text and JSON document need is read here.
    """

    rule: Rule
    key: tuple[tuple[str, str], ...]
    items: tuple[Matched, ...]

    @property
    def matches(self) -> tuple[Match, ...]:
        return tuple(item.match for item in self.items)

    @property
    def records(self) -> tuple[dict[str, Any], ...]:
        """The members' records as read (not masked: whoever shows them masks them)."""
        return tuple(item.match.record for item in self.items)

    @property
    def rules(self) -> tuple[Rule, ...]:
        seen: dict[str, Rule] = {}
        for item in self.items:
            for rule in item.rules:
                seen.setdefault(rule.name, rule)
        return tuple(seen.values())

    @property
    def event_keys(self) -> tuple[str, ...]:
        """Each member's event key (its eventID when well formed), in file order."""
        return tuple(rec.event_key(record) for record in self.records)

    @property
    def group_key(self) -> str:
        """The key as text: ``security-group-changes principal=arn:aws:iam::1:user/alice``."""
        shown = " ".join(f"{name}={value or '-'}" for name, value in self.key)
        return f"{self.rule.name} {shown}"

    @property
    def event_names(self) -> Counter[str]:
        """How many events of each name, in the order first met."""
        return Counter(rec.field_text(record, "eventName") or "unknown event" for record in self.records)

    @property
    def time_span(self) -> tuple[str, str] | None:
        """The earliest and latest ``eventTime`` (as the records write them), or ``None`` when none has one."""
        times = sorted(time for record in self.records if (time := rec.field_text(record, "eventTime", 64)))
        return (times[0], times[-1]) if times else None

    def __len__(self) -> int:
        return len(self.items)

    def summary_lines(self, masked: Sequence[dict[str, Any]] | None = None) -> list[str]:
        """The lines a group's text body adds (none for a group of one): how many events, which event names
        and resources, over what time span, and every event ID. ``masked``: the members' records as shown
        (masked), for the resources; the raw records otherwise."""
        if len(self.items) < 2:
            return []
        records = list(masked) if masked is not None else list(self.records)
        by = ", ".join(name for name, _ in self.key) if self.rule.group_by else ""
        grouped = f" (grouped by rule{', ' + by if by else ''}; one log file)"
        lines = [f"Group: {len(self.items)} events{grouped}"]
        names = self.event_names
        shown = [f"{one_line(name, 128)} x{count}" if count > 1 else one_line(name, 128)
                 for name, count in list(names.items())[:MAX_NAMES_SHOWN]]
        more = f", and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
        lines.append(f"  {'events:':<15} {', '.join(shown)}{more}")
        found = resources(records)
        if found:
            extra = f", and {len(found) - MAX_RESOURCES_SHOWN} more" if len(found) > MAX_RESOURCES_SHOWN else ""
            lines.append(f"  {'resources:':<15} {', '.join(found[:MAX_RESOURCES_SHOWN])}{extra}")
        span = self.time_span
        if span is not None:
            lines.append(f"  {'time span:':<15} {span[0]} to {span[1]}{_duration(*span)}")
        lines.append("  event IDs:")
        lines += [f"    {one_line(key, 128)}" for key in self.event_keys]
        return lines


def _duration(first: str, last: str) -> str:
    """`` (92 s)`` between two eventTimes, or nothing when either does not parse."""
    try:
        seconds = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    except ValueError:
        return ""
    return f" ({seconds:.0f} s)"


def resources(records: Sequence[dict[str, Any]]) -> list[str]:
    """What the events acted on, each once in the order met: the ARNs of ``resources``, else the
    identifiers among the scalar ``requestParameters`` (``groupId``, ``vpcId``, ``policyName``, ...)."""
    found: dict[str, None] = {}
    for record in records:
        listed = record.get("resources")
        entries = [item.get("ARN") for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []
        arns = [arn for arn in entries if isinstance(arn, str) and arn]
        if arns:
            found.update(dict.fromkeys(one_line(arn, 256) for arn in arns))
            continue
        parameters = record.get("requestParameters")
        if isinstance(parameters, dict):
            for name, value in parameters.items():
                if isinstance(value, str) and value and _RESOURCE_PARAMETER.fullmatch(name):
                    found[one_line(value, 256)] = None
    return list(found)


def group_matches(items: Sequence[Matched], *, max_events: int = MAX_GROUP_EVENTS) -> list[AlertGroup]:
    """The groups of ``items`` (the alert matches of one log file, in file order), in the order of their
    first member; a group larger than ``max_events`` is cut into several of at most that many, in order.
    Every item is in exactly one group. Raises ValueError when an item has no rules."""
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1, got {max_events}")
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Matched]] = {}
    for item in items:
        groups.setdefault(_key(item), []).append(item)
    out: list[AlertGroup] = []
    for (_, key), members in groups.items():
        rule = primary_rule(members[0].rules)
        for start in range(0, len(members), max_events):
            out.append(AlertGroup(rule, key, tuple(members[start : start + max_events])))
    return out
