"""The event bus: one EventBridge event per matched event, sent once through the delivery ledger.

Each event has ``Source`` :data:`SOURCE` and ``DetailType`` :data:`DETAIL_TYPE`, ``Time`` the API call's
``eventTime``, and a ``Detail`` a rule's event pattern can filter on (``severity``, ``rules``,
``eventName``, ``eventSource``, ``account``, ``region``, ``principal``) around the masked record. Its
schema is versioned (``detail.schema``). An event that would pass PutEvents' 256 KB entry limit is
trimmed as alerts are: the bulky request and response fields first, then the record is cut down to its
identifying fields; ``detail.trimmed`` then says so and where the full record is.

Sending is :class:`trailsift.aws.eventbridge.EventPublisher` (PutEvents, 10 at a time, failed entries
resent); exactly-once is :func:`trailsift.sinks.once.send_once` with the ledger in the index table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from trailsift import record as rec
from trailsift.jsonout import render_json, without_bulk
from trailsift.lazy import Lazy
from trailsift.masking import mask_secrets
from trailsift.rules import Destination, Rule, Severity
from trailsift.scan import Match
from trailsift.sinks.base import Delivered, Routed, SinkContext, register
from trailsift.sinks.once import Ledger, Publisher, ledger_for, send_once

__all__ = ["BusEvent", "DETAIL_TYPE", "EventBusSink", "SCHEMA", "SOURCE", "bus_event"]

SOURCE = "trailsift"
DETAIL_TYPE = "CloudTrail Event Matched"
SCHEMA = "trailsift.match/1"
BUS_LEDGER_KIND = "BUS"  # ledger items BUS#<event key> / BUS
MAX_ENTRY_BYTES = 256 * 1024 - 1  # PutEvents: an entry "must be less than 256KB", as EventBridge counts it
TIME_BYTES = 14  # what EventBridge counts for an entry's Time
MAX_RULES_LISTED = 100
IDENTIFYING_FIELDS = (
    "eventVersion", "eventID", "eventTime", "eventSource", "eventName", "eventType", "eventCategory",
    "awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "recipientAccountId", "readOnly",
)
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


@dataclass(frozen=True)
class BusEvent:
    """One PutEvents entry (without ``EventBusName``, which the publisher adds) for one matched event."""

    event_key: str
    entry: dict[str, Any]

    def size(self) -> int:
        """The bytes EventBridge counts against its limit: Time, Source, DetailType and Detail."""
        entry = self.entry
        size = TIME_BYTES if "Time" in entry else 0
        return size + sum(len(str(entry[name]).encode()) for name in ("Source", "DetailType", "Detail"))


def _event_time(record: dict[str, Any]) -> datetime | None:
    text = rec.field_text(record, "eventTime", 64)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def bus_event(match: Match, rules: Sequence[Rule], log_location: str, *, backfill: bool = False) -> BusEvent:
    """The event for ``match``; ``rules`` are the event-bus rules it matched, in rule order (at least one);
    ``backfill``: a backfill's event, which says so (``detail.backfill``), so a rule can leave it out.

    Everything in it comes from the masked record (:func:`trailsift.masking.mask_secrets`). Raises
    ValueError when ``rules`` is empty.
    """
    if not rules:
        raise ValueError(f"bus_event: no rules given for the match at {match.source}:{match.index}")
    severity = max((rule.severity for rule in rules), key=_SEVERITY_RANK.__getitem__)
    key = rec.event_key(match.record)
    masked = mask_secrets(match.record).value
    record: dict[str, Any] = masked if isinstance(masked, dict) else {}
    listed = rules[:MAX_RULES_LISTED]
    detail: dict[str, Any] = {
        "schema": SCHEMA,
        "severity": severity.value,
        "rules": [rule.name for rule in listed],
        "ruleDetails": [
            {"name": rule.name, "severity": rule.severity.value, "description": rule.description} for rule in listed
        ],
        "eventKey": key,
        "eventName": rec.field_text(record, "eventName"),
        "eventSource": rec.field_text(record, "eventSource"),
        "account": rec.account(record),
        "region": rec.field_text(record, "awsRegion"),
        "principal": rec.principal(record),
        "logFile": log_location,
        "recordIndex": match.index,
        "record": masked,
    }
    if len(rules) > MAX_RULES_LISTED:
        detail["rulesNotListed"] = len(rules) - MAX_RULES_LISTED
    if backfill:
        detail["backfill"] = True
    detail = {name: value for name, value in detail.items() if value is not None}
    entry: dict[str, Any] = {"Source": SOURCE, "DetailType": DETAIL_TYPE}
    moment = _event_time(record)
    if moment is not None:
        entry["Time"] = moment
    event = _with_detail(key, entry, detail)
    if event.size() <= MAX_ENTRY_BYTES:
        return event
    full_bytes = len(render_json(masked, option=0))
    trimmed = without_bulk(record)
    detail["trimmed"] = {"recordBytes": full_bytes, "fullRecordIn": log_location, "recordIndex": match.index}
    event = _with_detail(key, entry, {**detail, "record": trimmed})
    if event.size() <= MAX_ENTRY_BYTES:
        return event
    identifying = {name: rec.field_text(record, name) for name in IDENTIFYING_FIELDS}
    identifying["principal"] = rec.principal(record)
    cut = {name: value for name, value in identifying.items() if value is not None}
    return _with_detail(key, entry, {**detail, "record": cut, "ruleDetails": []})


def _with_detail(key: str, entry: dict[str, Any], detail: dict[str, Any]) -> BusEvent:
    return BusEvent(key, {**entry, "Detail": render_json(detail, option=0).decode()})


@register
class EventBusSink:
    """Events for the matches of event-bus rules; ``deliver`` answers how many EventBridge accepted."""

    destination: ClassVar[Destination] = Destination.EVENTBUS
    metric: ClassVar[str] = "BusEventsPut"
    notifies: ClassVar[bool] = True

    def __init__(
        self, publisher: Publisher[BusEvent], ledger: Ledger[BusEvent] | None = None, *, backfill: bool = False
    ) -> None:
        self.publisher = publisher
        self.ledger = ledger
        self.backfill = backfill  # a backfill's events say so: ``detail.backfill`` is true

    @classmethod
    def from_context(cls, context: SinkContext) -> EventBusSink | None:
        """Configured by ``TRAILSIFT_EVENT_BUS`` (a bus name or ARN); the ledger needs the index table."""
        bus = context.settings.event_bus
        if bus is None:
            return None

        def publisher() -> Publisher[BusEvent]:
            from trailsift.aws.eventbridge import EventPublisher

            return EventPublisher(context.client("events"), bus, deadline=context.deadline)

        return cls(Lazy(publisher), ledger_for(context, BUS_LEDGER_KIND), backfill=context.backfill is not None)

    def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
        events = [bus_event(item.match, item.rules, log_location, backfill=self.backfill) for item in routed]
        return send_once(events, self.publisher, self.ledger, noun="event")
