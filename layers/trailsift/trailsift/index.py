"""Turn a matched record into DynamoDB index rows (plain Python values), one per (event, rule).

The key ``EVENT#<event_key>`` / ``RULE#<rule>`` makes writing the same event twice rewrite the same
row. Records are untrusted: key attributes DynamoDB would refuse (empty, too long) are left out, so the
row is simply absent from that index, and an item that would pass DynamoDB's 400 KB limit is trimmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trailsift.jsonout import BULKY_FIELDS, render_json, utf8_prefix
from trailsift.logfile import classify_key
from trailsift.masking import mask_secrets
from trailsift.record import account, event_key, field_text, principal_arn
from trailsift.rules import Rule
from trailsift.scan import Match

# The table, exactly as template.yaml declares IndexTable (tests/test_index.py compares the two).
PARTITION_KEY, SORT_KEY = "pk", "sk"
TABLE_KEYS: dict[str, str] = {PARTITION_KEY: "HASH", SORT_KEY: "RANGE"}
GSI_BY_RULE, GSI_BY_PRINCIPAL, GSI_BY_ACCOUNT = "by-rule", "by-principal", "by-account"
TIME_KEY = "ts"  # <eventTime>#<event_key>: the range key of every GSI
GSI_KEYS: dict[str, tuple[str, str]] = {
    GSI_BY_RULE: ("rule", TIME_KEY),
    GSI_BY_PRINCIPAL: ("principal", TIME_KEY),
    GSI_BY_ACCOUNT: ("account", TIME_KEY),
}
KEY_ATTRIBUTES: dict[str, str] = {  # every attribute used in a key, with its DynamoDB type
    PARTITION_KEY: "S", SORT_KEY: "S", "rule": "S", "principal": "S", "account": "S", TIME_KEY: "S",
}
PROJECTED_ATTRIBUTES: tuple[str, ...] = (
    "eventID", "eventTime", "eventName", "eventSource", "region", "sourceIPAddress", "severity", "errorCode",
    "logFile", "rule", "principal", "account",  # every index carries the others' keys: no second read
)
TTL_ATTRIBUTE = "expires_at"
# create_table's arguments but the name (local runs and tests build the table from this; TTL is set apart).
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind} for name, kind in KEY_ATTRIBUTES.items()],
    "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in TABLE_KEYS.items()],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(PROJECTED_ATTRIBUTES)},
        }
        for index, (hash_key, range_key) in GSI_KEYS.items()
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
EVENT_PREFIX, RULE_PREFIX = "EVENT#", "RULE#"

# DynamoDB's item limit is 400 KB counting attribute names and values; stay under it in either reading
# of "KB" and leave room for the rounding of numbers (at most 21 bytes each).
MAX_ITEM_BYTES = 400 * 1000
NUMBER_BYTES = 21
UNKNOWN_TIME = "unknown"
_MAX_TIME = 64  # a real eventTime is 20 characters; anything longer is not one


def _dumps(value: Any) -> str:
    """Compact JSON text; what orjson cannot render (too deep, huge ints, odd keys) is simplified first."""
    return render_json(value, option=0).decode()


def attribute_size(name: str, value: Any) -> int:
    """Bytes DynamoDB counts for one attribute (name plus value), numbers counted at their maximum."""
    if isinstance(value, bool):
        size = 1
    elif isinstance(value, (int, float)):
        size = NUMBER_BYTES
    elif isinstance(value, str):
        size = len(value.encode())
    else:
        raise TypeError(f"index items hold str, int and bool only, not {type(value).__name__}")
    return len(name.encode()) + size


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for a whole item (an upper bound)."""
    return sum(attribute_size(name, value) for name, value in item.items())


def fit_event(event: Any, budget: int) -> tuple[str, bool]:
    """The event as JSON text of at most ``budget`` bytes, and whether it had to be trimmed.

    The bulky request/response fields go first; if that is not enough the text is cut (and then is
    no longer valid JSON: readers keep it as text).
    """
    text = _dumps(event)
    if len(text.encode()) <= budget:
        return text, False
    if isinstance(event, Mapping):
        text = _dumps({key: value for key, value in event.items() if key not in BULKY_FIELDS})
    return utf8_prefix(text.encode(), budget), True


def _event_time(record: dict[str, Any]) -> str:
    return field_text(record, "eventTime", _MAX_TIME) or UNKNOWN_TIME


def index_items(
    match: Match,
    rules: Sequence[Rule],
    log_location: str,
    *,
    indexed_at: int,
    retention_days: int,
) -> list[dict[str, Any]]:
    """One index row per rule in ``rules`` (the index-destined rules ``match`` matched), ready to write."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    record = match.record
    key = event_key(record)
    event_time = _event_time(record)
    common: dict[str, Any] = {
        PARTITION_KEY: f"{EVENT_PREFIX}{key}",
        TIME_KEY: f"{event_time}#{key}",
        "eventID": key,
        "eventTime": event_time,
        "recordIndex": match.index,
        "indexedAt": indexed_at,
        TTL_ATTRIBUTE: indexed_at + retention_days * 86400,
    }
    optional = {
        "principal": principal_arn(record),
        "account": account(record) or (classify_key(log_location).account if log_location else None),
        "eventName": field_text(record, "eventName"),
        "eventSource": field_text(record, "eventSource"),
        "region": field_text(record, "awsRegion"),
        "sourceIPAddress": field_text(record, "sourceIPAddress"),
        "errorCode": field_text(record, "errorCode"),
        "logFile": log_location or None,
    }
    common.update((name, value) for name, value in optional.items() if value is not None)

    event = mask_secrets(record).value
    text = _dumps(event)
    text_bytes = len(text.encode())
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            continue
        seen.add(rule.name)
        item = {**common, SORT_KEY: f"{RULE_PREFIX}{rule.name}", "rule": rule.name, "severity": rule.severity.value}
        room = MAX_ITEM_BYTES - item_size(item) - len(b"event")
        if text_bytes <= room:
            item["event"] = text
        else:
            room -= attribute_size("trimmed", True) + attribute_size("eventBytes", 0)
            item["event"], _ = fit_event(event, room)
            item["trimmed"] = True
            item["eventBytes"] = text_bytes
        items.append(item)
    return items
