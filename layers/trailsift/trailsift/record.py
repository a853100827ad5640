"""Facts read off one CloudTrail record (who, where, when, which event), tolerant of schema drift.

Records come from files anyone able to write to the bucket could forge, so every accessor checks
types and lengths and answers ``None`` rather than trusting a field's presence or shape.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

# eventID is a UUID in practice; anything else that is short and printable is kept as given.
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_TEXT = 1024  # longest principal/account/region we carry into keys and subjects


def _text(value: object, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        size = len(value.encode())
    except UnicodeEncodeError:  # a lone surrogate: not text any AWS API would accept
        return None
    return value if size <= limit else None


def nested(mapping: Any, *path: str) -> Any:
    """The value at ``path`` of nested objects (``nested(record, "userIdentity", "type")``), ``None`` where a step
    is missing or not an object: a record's shape is never trusted."""
    for name in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(name)
    return mapping


def event_key(record: dict[str, Any]) -> str:
    """A stable identifier for the event: its ``eventID`` when well formed, else a hash of the record.

    The same record always gives the same key, which is what makes alerts and index rows idempotent.
    """
    event_id = record.get("eventID")
    if isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id):
        return event_id
    digest = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"sha256-{digest[:40]}"


def principal(record: dict[str, Any]) -> str | None:
    """Who acted, the one definition trailsift shows (alert subjects and bodies, replay's tables and JSON lines).

    ``userIdentity.arn`` (Root, IAMUser, AssumedRole, ...), else ``invokedBy`` (an AWS service acting
    with no ARN of its own: the service's name says more than the type ``AWSService``), else
    ``userIdentity.type``; ``None`` without a ``userIdentity`` object. Each must be non-empty text of
    bounded length (``MAX_TEXT`` bytes, 64 for the type), or the next one is tried.
    """
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return None
    return _text(identity.get("arn")) or _text(identity.get("invokedBy")) or _text(identity.get("type"), 64)


def principal_arn(record: dict[str, Any]) -> str | None:
    """``userIdentity.arn`` alone (what the index's principal query is keyed on)."""
    identity = record.get("userIdentity")
    return _text(identity.get("arn")) if isinstance(identity, dict) else None


def account(record: dict[str, Any], default: str | None = None) -> str | None:
    """The account the event was recorded in: ``recipientAccountId``, else ``userIdentity.accountId``."""
    identity = record.get("userIdentity")
    found = _text(record.get("recipientAccountId"), 64)
    if found is None and isinstance(identity, dict):
        found = _text(identity.get("accountId"), 64)
    return found or default


def field_text(record: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str | None:
    """A top-level string field (``eventName``, ``awsRegion``, ``eventTime``, ...) or ``None``."""
    return _text(record.get(name), limit)
