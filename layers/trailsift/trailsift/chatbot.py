"""An alert as an AWS Chatbot (Amazon Q Developer in chat applications) custom notification.

Chatbot subscribes to an SNS topic with the ``https`` protocol and shows a message in Slack, Microsoft
Teams or Chime only when it is a notification it knows; a custom one is::

    {"version": "1.0", "source": "custom", "id": ...,
     "content": {"textType": "client-markdown", "title": ..., "description": ..., "nextSteps": [...],
                 "keywords": [...]},
     "metadata": {"threadId": ..., "summary": ..., "eventType": ..., "additionalContext": {...}}}

The notification is short (a title, a few lines, next steps), made from the alert's JSON document
(:mod:`trailsift.alert_document`), so it shows nothing the document does not hold. Event text is
attacker-written and the channel renders markdown: every value from a record is shown inside inline
code (backticks removed from it, escaped by :func:`trailsift.text.one_line`, bounded), so a record
cannot forge a link, a mention or formatting. Only the console link, built by
:mod:`trailsift.console` from validated parts, is a link.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trailsift.text import one_line

__all__ = ["MAX_DESCRIPTION_CHARS", "MAX_TITLE_CHARS", "chatbot_notification"]

MAX_TITLE_CHARS = 250
MAX_DESCRIPTION_CHARS = 3000
MAX_VALUE_CHARS = 200
MAX_LISTED = 10  # event names and rules shown in the description
# What may be pasted into a shell as it is: an IAM or STS ARN of the usual characters, an event key, a table name.
_SHELL_SAFE_ARN = re.compile(r"arn:aws[a-z-]{0,16}:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]{1,512}")
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,255}")
_EMOJI = {"critical": ":rotating_light:", "high": ":warning:", "medium": ":large_orange_diamond:",
          "low": ":information_source:", "info": ":information_source:"}


def _code(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``value`` as inline code: one escaped line without backticks, so markdown cannot read it as markup."""
    text = one_line(str(value).replace("`", "'").replace("<", "\u2039").replace(">", "\u203a"), limit)
    return f"`{text}`"


def _plain(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Text written by trailsift or by a rules file (rule names, descriptions): one escaped line, no markup."""
    text = one_line(str(value), limit)
    for char in "`*_~<>|":
        text = text.replace(char, " ")
    return text.replace("](", "] (")  # no markdown link


def chatbot_notification(document: Mapping[str, Any], *, index_table: str | None = None) -> dict[str, Any]:
    """The Chatbot custom notification for an alert's ``trailsift.alert/1`` ``document``.

    ``index_table`` (the deployment's index table) adds the ``trailsift query`` command that shows the
    events in full as a next step.
    """
    severity = str(document.get("severity", ""))
    principal = document.get("principal") or {}
    names = [str(name) for name in document.get("eventNames", [])]
    count = int(document.get("eventCount", 1))
    title = f"{_EMOJI.get(severity, '')} {_plain(document.get('subject', ''), MAX_TITLE_CHARS - 30)}".strip()

    lines: list[str] = []
    who = principal.get("shown")
    lines.append(f"*Who:* {_code(who) if who else 'unknown'}"
                 + (f" ({_code(principal['arn'])})" if principal.get("arn") and principal.get("arn") != who else ""))
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    lines.append(f"*What:* {', '.join(_code(name) for name in names[:MAX_LISTED]) or 'unknown'}{more}"
                 + (f" ({count} events)" if count > 1 else ""))
    where = [f"account {_code(document['account'])}" if document.get("account") else "",
             f"region {_code(document['region'])}" if document.get("region") else ""]
    if any(where):
        lines.append(f"*Where:* {', '.join(part for part in where if part)}")
    first, last = document.get("firstEventTime"), document.get("lastEventTime")
    if first:
        lines.append(f"*When:* {_code(first)}" + (f" to {_code(last)}" if last and last != first else ""))
    errors = [summary.get("errorCode") for summary in document.get("events", []) if summary.get("errorCode")]
    if errors:
        lines.append(f"*Error:* {_code(errors[0])}")
    lines.append(f"*Event ID:* {_code(document.get('eventID', ''))}")
    rules = document.get("rules", [])
    for rule in rules[:MAX_LISTED]:
        description = f": {_plain(rule.get('description'), 150)}" if rule.get("description") else ""
        lines.append(f"*{_plain(rule.get('name'))}* [{_plain(rule.get('severity'))}]{description}")
    if len(rules) > MAX_LISTED:
        lines.append(f"and {len(rules) - MAX_LISTED} more rules")
    description = "\n".join(lines)
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 3] + "..."

    next_steps = []
    link = document.get("consoleLink")
    if isinstance(link, str):
        next_steps.append(f"Open the event in the CloudTrail console: <{link}|event history>")
    event_id = str(document.get("eventID", ""))
    table = index_table if index_table and _SHELL_SAFE.fullmatch(index_table) else None
    if table and _SHELL_SAFE.fullmatch(event_id):
        next_steps.append(f"Read the event in full: `trailsift query --table {table} --event-id {event_id}`")
    arn = principal.get("arn")
    if isinstance(arn, str) and _SHELL_SAFE_ARN.fullmatch(arn):
        where_from = f"--table {table}" if table else "--stack <stack>"
        next_steps.append(f"What else this principal did: `trailsift query --principal {arn} {where_from} --last 7d`")
    return {
        "version": "1.0",
        "source": "custom",
        "id": str(document.get("eventID", "")),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": next_steps,
            "keywords": [severity, *(str(rule.get("name")) for rule in rules[:5])],
        },
        "metadata": {
            "summary": _plain(document.get("subject", ""), MAX_TITLE_CHARS),
            "eventType": "trailsift.alert",
            "additionalContext": {"severity": severity, "rule": str(document.get("rule", ""))},
        },
    }
