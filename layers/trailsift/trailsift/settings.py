"""The function's configuration, read once from environment variables and checked before any file is read.

The names are the ones ``template.yaml`` sets; a wrong value fails the cold start with a message
naming the variable, instead of surfacing later as a confusing error on some file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from trailsift.errors import TrailsiftError
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_RECORD_BYTES
from trailsift.rules import RulesError, parse_rules_setting

ALERT_TOPIC_ARN = "TRAILSIFT_ALERT_TOPIC_ARN"
INDEX_TABLE = "TRAILSIFT_INDEX_TABLE"
EVENT_BUS = "TRAILSIFT_EVENT_BUS"
BUCKETS = "TRAILSIFT_BUCKETS"
KEY_PREFIX = "TRAILSIFT_KEY_PREFIX"
RULES = "TRAILSIFT_RULES"
RETENTION_DAYS = "TRAILSIFT_RETENTION_DAYS"
MAX_DECOMPRESSED_MIB = "TRAILSIFT_MAX_DECOMPRESSED_MIB"
MAX_RECORD_KIB = "TRAILSIFT_MAX_RECORD_KIB"
MAX_OBJECT_MIB = "TRAILSIFT_MAX_OBJECT_MIB"
DEFAULT_MAX_OBJECT_BYTES = 128 << 20
"""Refuse objects larger than this before reading them: 2.5 times CloudTrail's largest file (50 MB)."""
FETCH_CONCURRENCY = "TRAILSIFT_FETCH_CONCURRENCY"
FAILURE_QUEUE_URL = "TRAILSIFT_FAILURE_QUEUE_URL"
ACCOUNTS = "TRAILSIFT_ACCOUNTS"
DEADLINE_MARGIN_SECONDS = "TRAILSIFT_DEADLINE_MARGIN_SECONDS"
ALERT_CHATBOT = "TRAILSIFT_ALERT_CHATBOT"
ALERT_RATE_LIMIT = "TRAILSIFT_ALERT_RATE_LIMIT"
ALERT_RATE_WINDOW_MINUTES = "TRAILSIFT_ALERT_RATE_WINDOW_MINUTES"
ALERT_GROUP_MAX_EVENTS = "TRAILSIFT_ALERT_GROUP_MAX_EVENTS"
MAX_GROUP_EVENTS = 500  # trailsift.grouping.MAX_GROUP_EVENTS: every event ID of a group fits its alert

_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
# An event bus name ("default" included) or its ARN, as PutEvents takes either in EventBusName.
_EVENT_BUS = re.compile(r"[/.\-_A-Za-z0-9]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[/.\-_A-Za-z0-9]{1,256}")
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_QUEUE_URL = re.compile(r"https?://[A-Za-z0-9.:-]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DIGITS = re.compile(r"[0-9]+")


class SettingsError(TrailsiftError, ValueError):
    """An environment variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """What one deployment of the function is configured to do (the pipeline reads its knobs from here too)."""

    alert_topic_arn: str | None = None
    index_table: str | None = None
    event_bus: str | None = None  # an EventBridge bus name or ARN: every match of an eventbus rule is put there
    buckets: frozenset[str] = frozenset()  # empty: any bucket (local runs); the template always sets it
    key_prefix: str = ""
    accounts: frozenset[str] = frozenset()  # empty: any account; else only log files of these accounts
    rules: str = ""  # packs and/or one document: "" (the default pack), "default,ssm", "ssm:<parameter name>", "s3://bucket/key"
    retention_days: int = 90
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES  # compressed: the object is held whole while it is read
    fetch_concurrency: int = 16
    max_bytes_ahead: int = 256 << 20  # compressed bytes fetched ahead of the scan (sizes from the trigger)
    failure_queue_url: str | None = None  # permanent failures are dead-lettered here instead of retried
    # Time kept in reserve before the function's timeout: no object starts, and no retry sleep begins, inside it.
    deadline_margin_ms: int = 10_000
    # The alert topic's https subscribers get the AWS Chatbot custom notification instead of the JSON document.
    alert_chatbot: bool = False
    # At most this many alerts per rule per window of event time (0: no bound); the rest fold into one summary.
    alert_rate_limit: int = 20
    alert_rate_window_seconds: int = 3600
    # Events in one grouped alert at most (1: one alert per event, whatever the rules' group_by).
    alert_group_max_events: int = MAX_GROUP_EVENTS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate the ``TRAILSIFT_*`` variables; raise :class:`SettingsError` on the first bad one."""
        topic = env.get(ALERT_TOPIC_ARN, "").strip() or None
        if topic is not None and not _TOPIC_ARN.fullmatch(topic):
            raise SettingsError(f"{ALERT_TOPIC_ARN}: not an SNS topic ARN: {topic!r}")
        table = env.get(INDEX_TABLE, "").strip() or None
        if table is not None and not _TABLE.fullmatch(table):
            raise SettingsError(f"{INDEX_TABLE}: not a DynamoDB table name: {table!r}")
        bus = env.get(EVENT_BUS, "").strip() or None
        if bus is not None and not _EVENT_BUS.fullmatch(bus):
            raise SettingsError(f"{EVENT_BUS}: not an EventBridge event bus name or ARN: {bus!r}")
        buckets = frozenset(name.strip() for name in env.get(BUCKETS, "").split(",") if name.strip())
        for name in buckets:
            if not _BUCKET.fullmatch(name):
                raise SettingsError(f"{BUCKETS}: not an S3 bucket name: {name!r}")
        rules = env.get(RULES, "").strip()
        try:
            location = parse_rules_setting(rules).location
        except RulesError as exc:
            raise SettingsError(f"{RULES}: {exc}") from None
        if location is not None and location.startswith("s3://") and not _is_s3_uri(location):
            raise SettingsError(f"{RULES}: not an s3://bucket/key location: {location!r}")
        accounts = frozenset(a.strip() for a in env.get(ACCOUNTS, "").split(",") if a.strip())
        for account in accounts:
            if not re.fullmatch(r"[0-9]{12}", account):
                raise SettingsError(f"{ACCOUNTS}: not an AWS account id: {account!r}")
        queue = env.get(FAILURE_QUEUE_URL, "").strip() or None
        if queue is not None and not _QUEUE_URL.fullmatch(queue):
            raise SettingsError(f"{FAILURE_QUEUE_URL}: not an SQS queue URL: {queue!r}")
        return cls(
            accounts=accounts,
            failure_queue_url=queue,
            alert_topic_arn=topic,
            index_table=table,
            event_bus=bus,
            buckets=buckets,
            key_prefix=env.get(KEY_PREFIX, ""),
            rules=rules,
            retention_days=_positive(env, RETENTION_DAYS, 90),
            max_decompressed_bytes=_positive(env, MAX_DECOMPRESSED_MIB, DEFAULT_MAX_DECOMPRESSED_BYTES >> 20) << 20,
            max_record_bytes=_positive(env, MAX_RECORD_KIB, DEFAULT_MAX_RECORD_BYTES >> 10) << 10,
            max_object_bytes=_positive(env, MAX_OBJECT_MIB, DEFAULT_MAX_OBJECT_BYTES >> 20) << 20,
            fetch_concurrency=min(_positive(env, FETCH_CONCURRENCY, 16), 64),
            deadline_margin_ms=_positive(env, DEADLINE_MARGIN_SECONDS, 10) * 1000,
            alert_chatbot=_flag(env, ALERT_CHATBOT),
            alert_rate_limit=_count(env, ALERT_RATE_LIMIT, 20),
            alert_rate_window_seconds=_bounded(env, ALERT_RATE_WINDOW_MINUTES, 60, 1440) * 60,
            alert_group_max_events=_bounded(env, ALERT_GROUP_MAX_EVENTS, MAX_GROUP_EVENTS, MAX_GROUP_EVENTS),
        )


def _is_s3_uri(text: str) -> bool:
    bucket, _, key = text.removeprefix("s3://").partition("/")
    return text.startswith("s3://") and bool(_BUCKET.fullmatch(bucket)) and bool(key)


def _flag(env: Mapping[str, str], name: str) -> bool:
    """``true`` or ``false`` (any case; empty or unset: false), as the template's parameters say them."""
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    return raw == "true"


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A count where 0 means "none" (no bound); else as :func:`_positive`."""
    return 0 if env.get(name, "").strip() == "0" else _positive(env, name, default)


def _bounded(env: Mapping[str, str], name: str, default: int, most: int) -> int:
    """A positive integer of at most ``most``; more is refused, naming the limit."""
    value = _positive(env, name, default)
    if value > most:
        raise SettingsError(f"{name}: at most {most}, got {value}")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not _DIGITS.fullmatch(raw):  # int() would also take "1_000", "+5" and non-ASCII digits like "٣"
        raise SettingsError(f"{name}: expected a positive integer, got {raw!r}")
    try:
        value = int(raw)
    except ValueError:  # more digits than int() converts
        raise SettingsError(f"{name}: expected a positive integer, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name}: expected a positive integer, got {raw!r}")
    return value
