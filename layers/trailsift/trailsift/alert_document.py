"""The JSON document SQS, Lambda and HTTP(S) subscribers of the alert topic receive (schema ``trailsift.alert/1``).

One document an alert, about one or more matched events (a group: the same rules, the same principal):
the severity and the rules, the subject, the principal as :mod:`trailsift.principals` shows it with
its full ARN, ``eventIDs`` (every event of the alert), ``eventID`` (the first), the time span, and
``events``: one summary an event (name, source, account, region, time, source IP, error, console
link, log file and index) holding the masked record (:mod:`trailsift.masking`) while it fits.
The schema is shipped with the package (``trailsift/schemas/alert-v1.json``, :data:`SCHEMA_PATH`)
and the README's "Alerts" section documents every field.

Versioning: ``schema`` is ``trailsift.alert/<major>``. Within a major version fields are only added
(a consumer must ignore fields it does not know); a field removed, renamed or given another meaning
makes a new major version. The schema file allows additional properties for that reason.

Size: SNS counts every protocol's copy against its 256 KB, so what goes in is decided by the caller
(:func:`trailsift.alerts.format_alert`) through ``records`` (``"full"``, ``"trimmed"``: the bulky
fields replaced by ``"[trimmed: N bytes]"``, ``"none"``) and ``max_events``; the document says what
was left out (``recordsTrimmed``, ``recordsOmitted``, ``eventsNotListed``).

Pure: no I/O, no AWS. Everything shown comes from masked records; text values are kept as the
record has them (JSON escapes what JSON must); a consumer showing them escapes them for its medium.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trailsift import record as rec
from trailsift.console import console_link
from trailsift.grouping import primary_rule  # the rule an alert is filed and grouped under
from trailsift.jsonout import without_bulk
from trailsift.principals import Principal, principal_of
from trailsift.rules import Rule, Severity
from trailsift.scan import Match

__all__ = [
    "MAX_RULES_LISTED",
    "SCHEMA",
    "SCHEMA_PATH",
    "AlertEvent",
    "RecordMode",
    "alert_document",
    "event_summary",
    "primary_rule",
    "principal_json",
    "s3_parts",
]

SCHEMA = "trailsift.alert/1"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "alert-v1.json"
MAX_RULES_LISTED = 100  # as the event bus's detail; ``rulesNotListed`` counts the rest
MAX_TEXT = 1024  # longest text value of a summary (principal, source IP, error message...)
RecordMode = Literal["full", "trimmed", "none"]
_RANK = {severity: rank for rank, severity in enumerate(Severity)}


@dataclass(frozen=True)
class AlertEvent:
    """One matched event of an alert: the match (its file and index) and its masked record."""

    match: Match
    record: dict[str, Any]  # masked (mask_secrets), never the raw record

    @property
    def key(self) -> str:
        """Its ``eventID`` when well formed, else a hash of the record (:func:`trailsift.record.event_key`)."""
        return rec.event_key(self.match.record)


def s3_parts(location: str) -> tuple[str, str] | None:
    """``(bucket, key)`` of an ``s3://bucket/key`` location (the key as the location shows it), else ``None``."""
    if not location.startswith("s3://"):
        return None
    bucket, slash, key = location[5:].partition("/")
    if not bucket or not slash or not key:
        return None
    return bucket, key.split("?versionId=", 1)[0]


def principal_json(principal: Principal | None) -> dict[str, Any] | None:
    """The ``principal`` object: ``shown`` (the rule's form), ``arn``, ``account``, ``external``."""
    if principal is None:
        return None
    out: dict[str, Any] = {"shown": principal.shown}
    if principal.arn is not None:
        out["arn"] = principal.arn
    if principal.account is not None:
        out["account"] = principal.account
    out["external"] = principal.external
    return out


def _text(record: dict[str, Any], name: str) -> str | None:
    return rec.field_text(record, name, MAX_TEXT)


def event_summary(event: AlertEvent, records: RecordMode = "full") -> dict[str, Any]:
    """One entry of ``events``: what the event is, where it is, and its masked record unless ``"none"``."""
    record, match = event.record, event.match
    summary: dict[str, Any] = {
        "eventID": event.key,
        "eventName": _text(record, "eventName"),
        "eventSource": _text(record, "eventSource"),
        "eventTime": _text(record, "eventTime"),
        "account": rec.account(record),
        "region": _text(record, "awsRegion"),
        "principal": principal_json(principal_of(record)),
        "sourceIPAddress": _text(record, "sourceIPAddress"),
        "errorCode": _text(record, "errorCode"),
        "errorMessage": _text(record, "errorMessage"),
        "readOnly": record.get("readOnly") if isinstance(record.get("readOnly"), bool) else None,
        "consoleLink": console_link(record),
        "logFile": match.source,
        "recordIndex": match.index,
    }
    parts = s3_parts(match.source)
    if parts is not None:
        summary["logBucket"], summary["logKey"] = parts
    if records == "full":
        summary["record"] = record
    elif records == "trimmed":
        summary["record"] = without_bulk(record)
    return {name: value for name, value in summary.items() if value is not None}


def alert_document(
    events: Sequence[AlertEvent],
    rules: Sequence[Rule],
    subject: str,
    *,
    records: RecordMode = "full",
    max_events: int | None = None,
    max_event_ids: int | None = None,
    about: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``trailsift.alert/1`` document for an alert about ``events`` (in the order shown; the first is
    ``eventID``) that matched ``rules`` (in rule order). ``max_events`` lists only the first summaries
    (``eventsNotListed`` counts the others); ``max_event_ids`` is the last resort of a group too large to
    name every event (``eventIDsNotListed``). ``about`` says what kind of alert it is (``kind``: ``event``,
    ``group`` with ``groupedBy``, ``summary`` with ``rateBound``); without it the kind is ``event`` for one
    event, ``group`` for more. Raises ValueError when ``events`` or ``rules`` is empty."""
    if not events or not rules:
        raise ValueError("alert_document: an alert is about at least one event and one rule")
    first = events[0]
    severity = max((rule.severity for rule in rules), key=_RANK.__getitem__)
    listed_rules = rules[:MAX_RULES_LISTED]
    keys = list(dict.fromkeys(event.key for event in events))
    times = sorted(time for event in events if (time := _text(event.record, "eventTime")) is not None)
    names = list(dict.fromkeys(name for event in events if (name := _text(event.record, "eventName"))))
    shown_events = events if max_events is None else events[: max(max_events, 0)]
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": "event" if len(keys) == 1 else "group",
        **(about or {}),
        "severity": severity.value,
        "rule": primary_rule(rules).name,
        "rules": [
            {"name": rule.name, "severity": rule.severity.value, "description": rule.description}
            for rule in listed_rules
        ],
        "subject": subject,
        "principal": principal_json(principal_of(first.record)),
        "account": rec.account(first.record),
        "region": _text(first.record, "awsRegion"),
        "eventNames": names,
        "eventCount": len(keys),
        "eventIDs": keys if max_event_ids is None else keys[: max(max_event_ids, 1)],
        "eventID": keys[0],
        "firstEventTime": times[0] if times else None,
        "lastEventTime": times[-1] if times else None,
        "consoleLink": console_link(first.record),
        "events": [event_summary(event, records) for event in shown_events],
    }
    if len(rules) > MAX_RULES_LISTED:
        document["rulesNotListed"] = len(rules) - MAX_RULES_LISTED
    if len(document["eventIDs"]) < len(keys):
        document["eventIDsNotListed"] = len(keys) - len(document["eventIDs"])
    if len(shown_events) < len(events):
        document["eventsNotListed"] = len(events) - len(shown_events)
    if records == "trimmed":
        document["recordsTrimmed"] = True
    elif records == "none":
        document["recordsOmitted"] = True
    return {name: value for name, value in document.items() if value is not None}
