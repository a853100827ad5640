"""Turn a matched event into one SNS alert: an ASCII subject, an e-mail-readable body, filterable attributes.

Everything shown comes from the masked record (see :mod:`trailsift.masking`), so no credential a
record carries reaches a subscriber. Event text is attacker-controlled: it is shown through
:mod:`trailsift.text` (escaped in the body and attributes, printable ASCII in the subject), and the
alert always fits SNS's 256 KB limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from trailsift import record as rec
from trailsift.alert_document import AlertEvent, RecordMode, alert_document
from trailsift.chatbot import chatbot_notification
from trailsift.console import console_link
from trailsift.grouping import AlertGroup
from trailsift.jsonout import render_json, utf8_prefix, without_bulk
from trailsift.masking import mask_secrets
from trailsift.principals import principal_of
from trailsift.ratebound import HeldBack
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
    event_keys: tuple[str, ...] = ()
    """Every event the alert is about (a group: :func:`format_group`; a summary: its ledger key, then the
    events it holds back); left empty, the one event ``event_key``. Sending the alert settles each in the
    delivery ledger (:func:`trailsift.sinks.once.send_covering`)."""

    def __post_init__(self) -> None:
        if not self.event_keys:
            object.__setattr__(self, "event_keys", (self.event_key,))

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


MIN_EVENT_CHARS = 12  # an event name is cut no shorter than this to make room in a subject


def _subject(severity: Severity, record: dict[str, Any]) -> str:
    """``[high] StopLogging by role/Admin in us-east-1 (failed: AccessDenied)``, always a valid SNS subject.

    The principal is shown by the one rule (:mod:`trailsift.principals`). When the line would pass 99
    characters, the error hint goes first, then the region, then the session name is cut to 12
    characters, then left out, then the event name is cut; the role name and the account marker stay.
    """
    prefix = f"[{severity.value}] "
    event = ascii_subject(rec.field_text(record, "eventName") or "unknown event", 40)
    region = rec.field_text(record, "awsRegion")
    tail = f" in {ascii_subject(region, 24)}" if region else ""
    error = rec.field_text(record, "errorCode")
    hint = f" (failed: {ascii_subject(error, 30)})" if error else ""
    principal = principal_of(record)
    if principal is None:
        candidates = [prefix + event + tail + hint, prefix + event + tail]
        who = ""
    else:
        shown = ascii_subject(principal.shown)
        candidates = [f"{prefix}{event} by {shown}{tail}{hint}", f"{prefix}{event} by {shown}{tail}",
                      f"{prefix}{event} by {shown}", f"{prefix}{event} by {ascii_subject(principal.form(12))}"]
        who = f" by {ascii_subject(principal.form(0))}"
    for subject in candidates:
        if len(subject) <= MAX_SUBJECT_CHARS:
            return subject
    room = MAX_SUBJECT_CHARS - len(prefix) - len(who)
    if room < MIN_EVENT_CHARS:  # only a principal of extraordinary length: cut it too, from its end
        who = ascii_subject(who, MAX_SUBJECT_CHARS - len(prefix) - MIN_EVENT_CHARS)
        room = MIN_EVENT_CHARS
    return prefix + ascii_subject(event, room) + who


def _yes_no(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return "yes" if value.lower() in ("true", "yes") else "no"
    return None


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
    principal = principal_of(record)
    mfa = _yes_no(rec.nested(identity, "sessionContext", "attributes", "mfaAuthenticated"))
    if mfa is None:
        mfa = _yes_no(rec.nested(record, "additionalEventData", "MFAUsed"))
    source, name = _scalar(record.get("eventSource")), _scalar(record.get("eventName"))
    sections: list[tuple[str, list[tuple[str, str | None]]]] = [
        ("Who", [
            ("principal", _scalar(principal.shown) if principal else None),
            ("ARN", _scalar(principal.arn) if principal and principal.arn != principal.shown else None),
            ("identity type", _scalar(rec.nested(identity, "type"))),
            ("access key", _scalar(rec.nested(identity, "accessKeyId"))),
            ("MFA", mfa),
            ("invoked by", _scalar(rec.nested(identity, "invokedBy"))),
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
            ("console", console_link(record)),
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


@dataclass(frozen=True)
class AlertOptions:
    """How a deployment formats its alerts (from its settings).

    ``chatbot``: the ``https`` protocol's message is the AWS Chatbot custom notification
    (:mod:`trailsift.chatbot`) instead of the JSON document, so a Chatbot subscription shows the alert;
    every other HTTPS subscriber then receives that notification too (see the README's "Alerts").
    ``index_table``: named in the Chatbot's next steps (the ``trailsift query`` command).
    ``label``: ``[label] `` starts every subject (a backfill's ``[backfill]``), the document's included.
    """

    chatbot: bool = False
    index_table: str | None = None
    label: str = ""

    def marked(self, subject: str) -> str:
        """``subject`` with ``[label] `` before it, still a valid SNS subject (cut at its end when too long)."""
        return ascii_subject(f"[{self.label}] {subject}", MAX_SUBJECT_CHARS) if self.label else subject


JSON_PROTOCOLS = ("sqs", "lambda", "http", "https")  # the protocols that receive the JSON document


def per_protocol(document: dict[str, Any], options: AlertOptions) -> dict[str, str]:
    """The message of each protocol other than ``default``: the document as JSON text (the Chatbot
    notification for ``https`` with ``options.chatbot``)."""
    text = render_json(document, option=0).decode()
    out = dict.fromkeys(JSON_PROTOCOLS, text)
    if options.chatbot:
        out["https"] = render_json(chatbot_notification(document, index_table=options.index_table), option=0).decode()
    return out


def _escaped_size(text: str) -> int:
    """Bytes ``text`` takes as a JSON string inside the message structure (quotes left out)."""
    return len(orjson.dumps(text)) - 2


def fit_alert(key: str, subject: str, attributes: dict[str, dict[str, str]], human: str, events: Sequence[AlertEvent],
              rules: Sequence[Rule], options: AlertOptions, about: Mapping[str, Any] | None = None) -> Alert:
    """The alert with the text ``human`` followed by each event's JSON, and the JSON document of
    ``events``, fitted into SNS's 256 KB counting every protocol's copy.

    In order, until it fits: everything; the bulky fields of each record trimmed (in the text and in
    the document); the document without records and the text's event JSON cut, with a marker line
    saying where the full record is; then (groups) the document lists fewer event summaries, and at
    last fewer event IDs. ``about`` is the document's kind of alert (see :func:`alert_document`).
    Raises ValueError when ``events`` is empty.
    """
    if not events:
        raise ValueError("fit_alert: an alert is about at least one event")

    def alert(text: str, records: RecordMode, max_events: int | None = None, max_ids: int | None = None) -> Alert:
        document = alert_document(events, rules, subject, records=records, max_events=max_events,
                                  max_event_ids=max_ids, about=about)
        return Alert(key, subject, text, attributes, per_protocol(document, options))

    full_json = "\n\n".join(render_json(event.record).decode() for event in events)
    whole = alert(human + full_json, "full")
    if whole.size() <= MAX_MESSAGE_BYTES:
        return whole
    first = events[0]
    marker = (f"\n[trimmed: event was {len(full_json.encode())} bytes; full record in "
              f"{_clean(first.match.source, 1024)} at index {first.match.index}, eventID {_clean(first.key)}]")
    trimmed_json = "\n\n".join(render_json(without_bulk(event.record)).decode() for event in events)
    trimmed = alert(human + trimmed_json + marker, "trimmed")
    if trimmed.size() <= MAX_MESSAGE_BYTES:
        return trimmed
    max_events: int | None = None
    max_ids: int | None = None
    bare = alert(human + marker, "none")
    while bare.size() > MAX_MESSAGE_BYTES:  # a group too large to list: fewer summaries, then fewer IDs
        over = bare.size() - MAX_MESSAGE_BYTES
        if max_events is None or max_events > 0:
            listed = len(events) if max_events is None else max_events
            max_events = max(0, listed - max(1, listed // 4))
        else:
            named = len(events) if max_ids is None else max_ids
            if named <= 1:
                raise ValueError(f"fit_alert: {key}: the alert passes {MAX_MESSAGE_BYTES} bytes by {over} without records")
            max_ids = max(1, named - max(1, named // 4))
        bare = alert(human + marker, "none", max_events, max_ids)
    room = MAX_MESSAGE_BYTES - bare.size() - _escaped_size("\n...")
    if room <= 0:
        return bare
    cut = utf8_prefix(trimmed_json.encode(), room)
    while cut and _escaped_size(cut) > room:
        cut = utf8_prefix(cut.encode(), len(cut.encode()) - (_escaped_size(cut) - room) - 16)
    return alert(human + cut + "\n..." + marker, "none", max_events, max_ids)


def format_alert(match: Match, rules: Sequence[Rule], log_location: str,
                 options: AlertOptions = AlertOptions()) -> Alert:
    """Build the alert for ``match``; ``rules`` are the alert rules it matched, in rule order.

    The severity is the highest of the rules'. The text (SNS's ``default``: e-mail) is the readable
    body then the event JSON; SQS, Lambda and HTTP(S) subscribers receive the ``trailsift.alert/1``
    document (:mod:`trailsift.alert_document`), or with ``options.chatbot`` HTTPS the Chatbot
    notification. What would pass SNS's 256 KB is trimmed as :func:`fit_alert` says, with a marker
    line saying where the full record is. Raises ValueError when ``rules`` is empty.
    """
    if not rules:
        raise ValueError(f"format_alert: no rules given for the match at {match.source}:{match.index}")
    severity = max((rule.severity for rule in rules), key=_SEVERITY_RANK.__getitem__)
    key = rec.event_key(match.record)
    masked = mask_secrets(match.record).value
    record = masked if isinstance(masked, dict) else {}
    subject = _subject(severity, record)
    subject = options.marked(subject)
    attributes = _attributes(rules, severity, record)
    human = _human(match, rules, severity, record, key, log_location) + "\n\nEvent JSON:\n"
    return fit_alert(key, subject, attributes, human, [AlertEvent(match, record)], rules, options)


MAX_SUMMARY_IDS = 1000  # event IDs a summary's text lists; its query lists every one


def _masked(match: Match) -> dict[str, Any]:
    masked = mask_secrets(match.record).value
    return masked if isinstance(masked, dict) else {}


def _severity(rules: Sequence[Rule]) -> Severity:
    return max((rule.severity for rule in rules), key=_SEVERITY_RANK.__getitem__)


def _group_event_label(group: AlertGroup) -> str:
    """What a group's subject says instead of one event name: ``500 AuthorizeSecurityGroupIngress``, or
    ``4 security-group-changes events`` when the names differ."""
    names = group.event_names
    if len(names) == 1:
        return f"{len(group)} {next(iter(names))}"
    label = f"{len(group)} {group.rule.name} events"
    return label if len(label) <= 40 else f"{len(group)} events"


def format_group(group: AlertGroup, log_location: str, options: AlertOptions = AlertOptions()) -> Alert:
    """The alert for a group of matches (:mod:`trailsift.grouping`); a group of one is exactly
    :func:`format_alert`'s alert.

    A larger group's subject counts its events (``[medium] 500 AuthorizeSecurityGroupIngress by ...``;
    the failure hint only when every event failed with the same code); its ``eventName`` attribute is a
    ``String.Array`` of its event names when they differ (a filter policy matches any); its text is the rules, the group's
    lines (how many events, which names and resources, the time span, every event ID), the first event
    shown as a single alert shows it, then every event's JSON; the JSON document lists every event
    (:func:`fit_alert` trims records, then summaries, to fit). ``event_keys`` are the group's events.
    """
    first = group.items[0]
    if len(group) == 1:
        return format_alert(first.match, first.rules, log_location, options)
    rules = group.rules
    severity = _severity(rules)
    records = [_masked(match) for match in group.matches]
    key = group.event_keys[0]
    shown = {**records[0], "eventName": _group_event_label(group)}
    if len({rec.field_text(record, "errorCode") for record in records}) != 1:
        shown.pop("errorCode", None)
    subject = _subject(severity, shown)
    subject = options.marked(subject)
    attributes = _attributes(rules, severity, records[0])
    names = [one_line(name, MAX_ATTRIBUTE_CHARS) for name in group.event_names]
    if len(names) > 1:  # every name of the group: a filter policy on eventName matches any element of an array
        shown_names: list[str] = []
        for name in names:
            if len(orjson.dumps([*shown_names, name])) > MAX_ATTRIBUTE_CHARS:
                break
            shown_names.append(name)
        attributes["eventName"] = {"DataType": "String.Array", "StringValue": orjson.dumps(shown_names).decode()}
    title, listed, details = _human(first.match, rules, severity, records[0], key, log_location).split("\n\n", 2)
    human = "\n\n".join([
        title, listed, "\n".join(group.summary_lines(records)), f"First event:\n\n{details}",
        f"Events JSON ({len(group)}):\n",
    ])
    events = [AlertEvent(match, record) for match, record in zip(group.matches, records)]
    grouped_by = {name: value for name, value in group.key}
    alert = fit_alert(key, subject, attributes, human, events, rules, options,
                      about={"kind": "group", "groupedBy": {"rule": group.rule.name, **grouped_by}})
    return replace(alert, event_keys=group.event_keys)


def _shown_principal(record: dict[str, Any]) -> str:
    """A record's principal by the one rule (:mod:`trailsift.principals`), ``unknown`` without one."""
    principal = principal_of(record)
    return principal.shown if principal is not None else "unknown"


def format_summary(held: HeldBack, log_location: str, options: AlertOptions = AlertOptions()) -> Alert:
    """The one summary of a rule's alerts the rate bound held back in a window ("and 183 more"): how many
    events and groups, by whom, and the ``trailsift query`` command that lists every match of the rule in
    the window (later ones included: they are not alerted one by one either). ``event_key`` is the
    summary's ledger key; ``event_keys`` that key, then every event it holds back."""
    rule, window = held.rule, held.window
    matches = [match for group in held.groups for match in group.matches]
    records = [_masked(match) for match in matches]
    severity = rule.severity
    minutes = window.seconds // 60
    subject = ascii_subject(
        f"[{severity.value}] {rule.name}: past {held.limit} alerts in {minutes} min, {held.events} more held back",
        MAX_SUBJECT_CHARS,
    )
    subject = options.marked(subject)
    principals = list(dict.fromkeys(_shown_principal(record) for record in records))
    names = list(dict.fromkeys(rec.field_text(record, "eventName") or "unknown event" for record in records))
    keys = held.event_keys
    lines = [
        f"trailsift alert summary ({severity.value})", "",
        f"Rule {_clean(rule.name)} [{severity.value}] reached its {held.limit} alerts for events of",
        f"{window.since} to {window.until} (the rate bound: at most {held.limit} per rule per {minutes} minutes).",
        f"Held back here: {held.events} more event(s) in {len(held.groups)} group(s). Later matches of this rule in",
        "the window are not alerted one by one either; every match is in the index. List them:", "",
        f"  {held.query(options.index_table)}", "",
        f"  {'principals:':<15} {', '.join(_clean(p, 256) for p in principals[:20])}"
        + (f", and {len(principals) - 20} more" if len(principals) > 20 else ""),
        f"  {'events:':<15} {', '.join(_clean(n, 128) for n in names[:20])}"
        + (f", and {len(names) - 20} more" if len(names) > 20 else ""),
        f"  {'log file:':<15} {_clean(log_location, 1024)}",
        "  event IDs:",
        *(f"    {_clean(key, 128)}" for key in keys[:MAX_SUMMARY_IDS]),
    ]
    if len(keys) > MAX_SUMMARY_IDS:
        lines.append(f"    ... and {len(keys) - MAX_SUMMARY_IDS} more (the query lists them)")
    human = "\n".join(lines) + "\n\nEvents JSON:\n"
    attributes = _attributes([rule], severity, records[0])
    events = [AlertEvent(match, record) for match, record in zip(matches, records)]
    rate_bound = {"limit": held.limit, "windowStart": window.since, "windowEnd": window.until,
                  "heldBack": held.events, "query": held.query(options.index_table)}
    alert = fit_alert(held.key, subject, attributes, human, events, [rule], options,
                      about={"kind": "summary", "rateBound": rate_bound})
    return replace(alert, event_keys=(held.key, *keys))
