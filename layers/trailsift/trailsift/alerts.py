"""Turn a matched event into one SNS alert: an ASCII subject, an e-mail-readable body, filterable attributes.

Everything shown comes from the masked record (see :mod:`trailsift.masking`), so no credential a
record carries reaches a subscriber. Event text is attacker-controlled: it is shown through
:mod:`trailsift.text` (escaped in the body and attributes, printable ASCII in the subject), and the
alert always fits SNS's 256 KB limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from trailsift import record as rec
from trailsift.jsonout import BULKY_FIELDS, render_json, utf8_prefix
from trailsift.masking import mask_secrets
from trailsift.rules import Rule, Severity
from trailsift.scan import Match
from trailsift.text import ascii_subject, one_line

MAX_MESSAGE_BYTES = 262_144  # SNS: message + subject + attributes of one publish
MAX_SUBJECT_CHARS = 99  # SNS: "under 100 characters"
MAX_ATTRIBUTE_CHARS = 512  # keeps filter-policy attributes small; longer values are cut
MAX_FIELD_CHARS = 512  # longest event value shown in the human part of the body
MAX_DESCRIPTION_CHARS = 300
MAX_RULES_LISTED = 20
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}

@dataclass(frozen=True)
class Alert:
    """One SNS message for one matched event (however many alert rules it matched).

    ``message`` is the readable text: SNS's ``default``, which e-mail (and every protocol not named in
    ``per_protocol``) receives. ``per_protocol`` maps an SNS protocol (``sqs``, ``lambda``, ``http``,
    ``https``) to the message its subscribers receive instead; when it is not empty the alert is
    published with ``MessageStructure`` ``json`` (:meth:`sns_message`), and SNS's 256 KB limit applies
    to that whole structure, every copy included (:meth:`size`).
    """

    event_key: str
    subject: str
    message: str
    attributes: dict[str, dict[str, str]]
    per_protocol: dict[str, str] = field(default_factory=dict)

    @property
    def message_structure(self) -> str | None:
        """``"json"`` when subscribers of some protocol receive their own message, else ``None``."""
        return "json" if self.per_protocol else None

    def sns_message(self) -> str:
        """The ``Message`` to publish: the text, or ``{"default": text, "<protocol>": ...}`` as JSON text."""
        if not self.per_protocol:
            return self.message
        return orjson.dumps({"default": self.message, **self.per_protocol}).decode()

    def size(self) -> int:
        """The bytes SNS counts against its 256 KB limit: message (every protocol's copy), subject and
        attribute names, types, values."""
        total = _structure_size(self.message, self.per_protocol) + len(self.subject.encode())
        for name, attribute in self.attributes.items():
            total += len(name.encode()) + len(attribute["DataType"].encode())
            total += len(attribute["StringValue"].encode())
        return total


def _structure_size(message: str, per_protocol: dict[str, str]) -> int:
    """Bytes of :meth:`Alert.sns_message`, without building it twice for the plain text."""
    if not per_protocol:
        return len(message.encode())
    return len(orjson.dumps({"default": message, **per_protocol}))


def _clean(value: Any, limit: int = MAX_FIELD_CHARS) -> str:
    """Event text as one line of a mail body (a newline in ``userAgent`` cannot forge lines): see :func:`one_line`."""
    return one_line(value if isinstance(value, str) else str(value), limit)


def _short_principal(arn: str) -> str:
    """The resource part of an ARN (``user/alice`` of ``arn:aws:iam::1:user/alice``), else the text itself."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[5]:
        return parts[5]
    return arn


def _fit(principal: str, room: int) -> str:
    """Shorten a principal to ``room`` characters, keeping its last path part (the user or session name)."""
    if len(principal) <= room:
        return principal
    path, slash, name = principal.rpartition("/")
    if slash and len(name) + 8 <= room:
        return path[: room - len(name) - 4] + ".../" + name
    return ascii_subject(principal, room)


def _subject(severity: Severity, record: dict[str, Any]) -> str:
    """``[high] StopLogging by arn:... in us-east-1 (failed: AccessDenied)``, always a valid SNS subject."""
    event = ascii_subject(rec.field_text(record, "eventName") or "unknown event", 40)
    head = f"[{severity.value}] {event}"
    region = rec.field_text(record, "awsRegion")
    tail = f" in {ascii_subject(region, 24)}" if region else ""
    error = rec.field_text(record, "errorCode")
    hint = f" (failed: {ascii_subject(error, 30)})" if error else ""
    who = rec.principal(record)
    if who is None:
        candidates = [head + tail + hint, head + tail]
    else:
        full = ascii_subject(who)
        short = ascii_subject(_short_principal(who))
        candidates = [f"{head} by {full}{tail}{hint}", f"{head} by {short}{tail}{hint}", f"{head} by {short}{tail}"]
    for subject in candidates:
        if len(subject) <= MAX_SUBJECT_CHARS:
            return subject
    room = MAX_SUBJECT_CHARS - len(head) - len(" by ") - len(tail)
    return f"{head} by {_fit(ascii_subject(_short_principal(who or '')), room)}{tail}"


def _yes_no(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return "yes" if value.lower() in ("true", "yes") else "no"
    return None


def _get(mapping: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(name)
    return mapping


def _scalar(value: Any) -> str | None:
    """A value worth a line in the body: non-empty text or a number; objects and lists are left to the JSON."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, str) and not value:
        return None
    return _clean(value)


def _human(match: Match, rules: Sequence[Rule], severity: Severity, record: dict[str, Any],
           key: str, log_location: str) -> str:
    """The readable part of the body: rules, who, what, where, when, error and where the record lives."""
    lines = [f"trailsift alert ({severity.value})", "", "Rules:"]
    for rule in rules[:MAX_RULES_LISTED]:
        description = f": {_clean(rule.description, MAX_DESCRIPTION_CHARS)}" if rule.description else ""
        lines.append(f"  - {_clean(rule.name)} [{rule.severity.value}]{description}")
    if len(rules) > MAX_RULES_LISTED:
        lines.append(f"  ... and {len(rules) - MAX_RULES_LISTED} more")

    identity = record.get("userIdentity")
    mfa = _yes_no(_get(identity, "sessionContext", "attributes", "mfaAuthenticated"))
    if mfa is None:
        mfa = _yes_no(_get(record, "additionalEventData", "MFAUsed"))
    source, name = _scalar(record.get("eventSource")), _scalar(record.get("eventName"))
    sections: list[tuple[str, list[tuple[str, str | None]]]] = [
        ("Who", [
            ("principal", _scalar(rec.principal(record))),
            ("identity type", _scalar(_get(identity, "type"))),
            ("access key", _scalar(_get(identity, "accessKeyId"))),
            ("MFA", mfa),
            ("invoked by", _scalar(_get(identity, "invokedBy"))),
        ]),
        ("What", [
            ("event", " / ".join(part for part in (source, name) if part) or "unknown event"),
            ("read-only", _yes_no(record.get("readOnly"))),
        ]),
        ("Where", [
            ("account", _scalar(rec.account(record))),
            ("region", _scalar(record.get("awsRegion"))),
            ("source IP", _scalar(record.get("sourceIPAddress"))),
            ("user agent", _scalar(record.get("userAgent"))),
        ]),
        ("When", [("event time", _scalar(record.get("eventTime")))]),
        ("Error", [
            ("code", _scalar(record.get("errorCode"))),
            ("message", _scalar(record.get("errorMessage"))),
        ]),
        ("Record", [
            ("event ID", _scalar(record.get("eventID")) or _clean(key)),
            ("log file", _clean(log_location, 1024)),
            ("index", str(match.index)),
        ]),
    ]
    for title, fields in sections:
        shown = [(label, value) for label, value in fields if value]
        if shown:
            lines += ["", f"{title}:"]
            lines += [f"  {label + ':':<15} {value}" for label, value in shown]
    return "\n".join(lines)


def _attributes(rules: Sequence[Rule], severity: Severity, record: dict[str, Any]) -> dict[str, dict[str, str]]:
    """SNS message attributes for subscription filter policies; only those with a value."""
    names: list[str] = []
    for rule in rules:
        if len(orjson.dumps([*names, rule.name])) > MAX_ATTRIBUTE_CHARS:
            break
        names.append(rule.name)
    attributes = {
        "rule": {"DataType": "String.Array", "StringValue": orjson.dumps(names).decode()},
        "severity": {"DataType": "String", "StringValue": severity.value},
    }
    values = {
        "eventName": rec.field_text(record, "eventName"),
        "eventSource": rec.field_text(record, "eventSource"),
        "account": rec.account(record),
        "region": rec.field_text(record, "awsRegion"),
    }
    for name, value in values.items():
        if value:
            attributes[name] = {"DataType": "String", "StringValue": one_line(value, MAX_ATTRIBUTE_CHARS)}
    return attributes


def format_alert(match: Match, rules: Sequence[Rule], log_location: str) -> Alert:
    """Build the alert for ``match``; ``rules`` are the alert rules it matched, in rule order.

    The severity is the highest of the rules'. When the alert would pass SNS's 256 KB limit, the event
    JSON is trimmed (``requestParameters``, ``responseElements``, ``additionalEventData`` and
    ``serviceEventDetails`` become ``"[trimmed: N bytes]"``, then the text is cut) and a marker line
    says where the full record is. Raises ValueError when ``rules`` is empty.
    """
    if not rules:
        raise ValueError(f"format_alert: no rules given for the match at {match.source}:{match.index}")
    severity = max((rule.severity for rule in rules), key=_SEVERITY_RANK.__getitem__)
    key = rec.event_key(match.record)
    masked = mask_secrets(match.record).value
    record = masked if isinstance(masked, dict) else {}
    subject = _subject(severity, record)
    attributes = _attributes(rules, severity, record)
    human = _human(match, rules, severity, record, key, log_location) + "\n\nEvent JSON:\n"
    event_json = render_json(masked)
    alert = Alert(key, subject, human + event_json.decode(), attributes)
    if alert.size() <= MAX_MESSAGE_BYTES:
        return alert

    marker = (f"\n[trimmed: event was {len(event_json)} bytes; full record in {_clean(log_location, 1024)}"
              f" at index {match.index}, eventID {_clean(key)}]")
    budget = MAX_MESSAGE_BYTES - (alert.size() - len(event_json)) - len(marker.encode())
    trimmed = dict(record)
    for name in BULKY_FIELDS:
        if name in trimmed:
            trimmed[name] = f"[trimmed: {len(render_json(trimmed[name]))} bytes]"
    trimmed_json = render_json(trimmed)
    body = trimmed_json.decode() if len(trimmed_json) <= budget else utf8_prefix(trimmed_json, budget - 4) + "\n..."
    return Alert(key, subject, human + body + marker, attributes)
