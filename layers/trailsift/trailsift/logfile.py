"""Recognize CloudTrail log files by their S3 key or local path, without reading them.

CloudTrail writes event files, Insights files, digest files and (through AWS Config) probe objects
into the same bucket; only the first two hold events. The key alone tells which is which, so the
processor can skip the others before paying for a GET.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from functools import lru_cache


class LogFileKind(str, Enum):
    """What an object in a trail bucket is."""

    EVENTS = "events"  # <account>_CloudTrail_<region>_<stamp>_<id>.json.gz
    INSIGHTS = "insights"  # <account>_CloudTrail-Insight_<region>_<stamp>_<id>.json.gz
    DIGEST = "digest"  # CloudTrail-Digest: hourly integrity digests, no events
    CONFIG_CHECK = "config-check"  # AWS Config's ConfigWritabilityCheckFile probe
    FOLDER = "folder"  # zero-byte "folder" marker ending in '/'
    UNNAMED_JSON = "unnamed-json"  # a .json/.json.gz whose name is not CloudTrail's (local replay only)
    OTHER = "other"  # anything else

    @property
    def holds_events(self) -> bool:
        return self in (LogFileKind.EVENTS, LogFileKind.INSIGHTS)


_STAMP = r"(?P<stamp>\d{8}T\d{4}Z)"
_EVENT_NAME = re.compile(
    r"^(?P<account>\d{12})_CloudTrail(?P<insight>-Insight)?_(?P<region>[a-z0-9-]+)_"
    + _STAMP
    + r"_(?P<unique>[A-Za-z0-9]{16})\.json(?:\.gz)?$"
)
_DIGEST_NAME = re.compile(r"^\d{12}_CloudTrail-Digest_.*\.json(?:\.gz)?$")
_LAYOUT = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<account>\d{12})/"
    r"(?P<product>CloudTrail(?:-Insight|-Digest)?|Config)/"
    r"(?:(?P<region>[a-z0-9-]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/)?"
)
# The whole key of an event or Insights file where CloudTrail puts it, from the first ``AWSLogs/`` on:
# ``AWSLogs/[<org>/]<account>/CloudTrail[-Insight]/<region>/YYYY/MM/DD/<name>``; the back-references
# make the name's account, product and region those of the path. Groups: org, account, product, region,
# stamp. Its classes are those of _LAYOUT and _EVENT_NAME or narrower ([0-9] for \d, which also takes
# other scripts' digits), so every key it accepts is an event or Insights file for the general rules too.
_FULL_EVENT_KEY = re.compile(
    r"AWSLogs/(?:(o-[a-z0-9]{10,32})/)?([0-9]{12})/(CloudTrail(?:-Insight)?)/([a-z0-9-]+)/[0-9]{4}/[0-9]{2}/[0-9]{2}/"
    r"\2_\3_\4_([0-9]{8}T[0-9]{4}Z)_[A-Za-z0-9]{16}\.json(?:\.gz)?$"
)
_EVENTS_REASON = "CloudTrail event file"
_INSIGHTS_REASON = "CloudTrail Insights file"
_EVENTS = (LogFileKind.EVENTS, _EVENTS_REASON)
_INSIGHTS = (LogFileKind.INSIGHTS, _INSIGHTS_REASON)


@dataclass(frozen=True)
class LogFileKey:
    """A key (or path) and what it says about the file: kind, account, organization, region, delivery time."""

    key: str
    kind: LogFileKind
    reason: str
    account: str | None = None
    organization_id: str | None = None
    region: str | None = None
    delivered_at: datetime | None = None

    @property
    def holds_events(self) -> bool:
        return self.kind.holds_events


def classify_key(key: str, *, size: int | None = None) -> LogFileKey:
    """Tell what the object at ``key`` is; ``size`` (when known) catches zero-byte objects.

    Only the file name decides the kind; the ``AWSLogs/...`` layout around it, when present, adds the
    organization id and must agree with the name (a mismatch is suspicious and not trusted).
    """
    return _classify_full_event_key(key, size) or _classify_any_key(key, size)


def _classify_full_event_key(key: str, size: int | None) -> LogFileKey | None:
    """What :func:`_classify_any_key` says of a well-formed event or Insights key in its full layout, else None.

    Nearly every key is one of these, and one regex match and a cached time classify it in well under half
    the general rules' time. The ``AWSLogs/`` looked at is the key's first, where ``_LAYOUT.search`` looks.
    """
    if size == 0:
        return None
    at = key.find("AWSLogs/")
    if at < 0 or (at and key[at - 1] != "/"):
        return None
    match = _FULL_EVENT_KEY.match(key, at)
    if match is None:
        return None
    org, account, product, region, stamp = match.groups()
    delivered = _delivery_time(stamp)
    if delivered is None:
        return None
    kind, reason = _EVENTS if product == "CloudTrail" else _INSIGHTS
    return LogFileKey(key, kind, reason, account=account, organization_id=org, region=region, delivered_at=delivered)


@lru_cache(maxsize=4096)
def _delivery_time(stamp: str) -> datetime | None:
    """The moment a ``YYYYMMDDTHHmmZ`` stamp names, or None (month 13, 24:60, ...); cached: files share stamps."""
    try:  # datetime() is ten times cheaper than strptime
        return datetime(
            int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]), tzinfo=timezone.utc
        )
    except ValueError:
        return None


def _classify_any_key(key: str, size: int | None) -> LogFileKey:
    """The general classification of :func:`classify_key`, for every key whatever its shape."""
    name = key.rsplit("/", 1)[-1]
    layout = _LAYOUT.search(key)
    org = layout.group("org") if layout else None

    if key.endswith("/") or name == "":
        return LogFileKey(key, LogFileKind.FOLDER, "folder marker (key ends with '/')")
    if name == "ConfigWritabilityCheckFile":
        return LogFileKey(key, LogFileKind.CONFIG_CHECK, "AWS Config writability probe, not a log file")
    if _DIGEST_NAME.match(name) or (layout and layout.group("product") == "CloudTrail-Digest"):
        return LogFileKey(key, LogFileKind.DIGEST, "CloudTrail digest file (integrity hashes, no events)")
    if size == 0:
        return LogFileKey(key, LogFileKind.OTHER, "zero-byte object")

    match = _EVENT_NAME.match(name)
    if match is None:
        if name.endswith((".json", ".json.gz")):
            return LogFileKey(key, LogFileKind.UNNAMED_JSON, "JSON file without a CloudTrail log file name")
        return LogFileKey(key, LogFileKind.OTHER, "not a CloudTrail log file name")

    kind = LogFileKind.INSIGHTS if match.group("insight") else LogFileKind.EVENTS
    if layout:
        expected = "CloudTrail-Insight" if kind is LogFileKind.INSIGHTS else "CloudTrail"
        if (
            layout.group("account") != match.group("account")
            or layout.group("product") != expected
            or (layout.group("region") not in (None, match.group("region")))
        ):
            return LogFileKey(key, LogFileKind.OTHER, "file name disagrees with its AWSLogs/ path")
    delivered = _delivery_time(match.group("stamp"))
    if delivered is None:  # digits in place but no such moment
        return LogFileKey(key, LogFileKind.OTHER, f"impossible delivery time {match.group('stamp')} in file name")
    return LogFileKey(
        key,
        kind,
        _INSIGHTS_REASON if kind is LogFileKind.INSIGHTS else _EVENTS_REASON,
        account=match.group("account"),
        organization_id=org,
        region=match.group("region"),
        delivered_at=delivered,
    )
