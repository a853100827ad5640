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
    try:
        stamp = match.group("stamp")  # YYYYMMDDTHHmmZ; datetime() is ten times cheaper than strptime
        delivered = datetime(
            int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]), tzinfo=timezone.utc
        )
    except ValueError:  # digits in place but no such moment (month 13, 24:60, ...)
        return LogFileKey(key, LogFileKind.OTHER, f"impossible delivery time {match.group('stamp')} in file name")
    return LogFileKey(
        key,
        kind,
        "CloudTrail Insights file" if kind is LogFileKind.INSIGHTS else "CloudTrail event file",
        account=match.group("account"),
        organization_id=org,
        region=match.group("region"),
        delivered_at=delivered,
    )
