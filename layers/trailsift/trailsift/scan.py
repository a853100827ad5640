"""Scan one log file: bytes in, matched records out. The one path every input (local file, S3 object) takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trailsift.engine import RuleEngine
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, RecordProblem, iter_log_records


@dataclass(frozen=True)
class Match:
    """A record that matched at least one rule, with where it came from."""

    source: str
    index: int  # 0-based position in the file's Records
    record: dict[str, Any]
    rules: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """The identifying fields of the match (what ``--format jsonl`` prints)."""
        record = self.record
        identity = record.get("userIdentity")
        return {
            "file": self.source,
            "index": self.index,
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventSource": record.get("eventSource"),
            "eventTime": record.get("eventTime"),
            "awsRegion": record.get("awsRegion"),
            "recipientAccountId": record.get("recipientAccountId"),
            "principal": identity.get("arn") or identity.get("type") if isinstance(identity, dict) else None,
            "sourceIPAddress": record.get("sourceIPAddress"),
            "errorCode": record.get("errorCode"),
            "rules": list(self.rules),
        }


@dataclass
class ScanResult:
    """What one file gave: its matches, how many records it held, and the records skipped."""

    source: str
    matches: list[Match] = field(default_factory=list)
    records: int = 0
    problems: list[RecordProblem] = field(default_factory=list)


def scan_log_file(
    data: bytes,
    source: str,
    engine: RuleEngine,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> ScanResult:
    """Read ``data`` as a log file and match every record against ``engine``'s rules.

    Raises :class:`~trailsift.reader.LogFileError` for a file that cannot be read and
    :class:`~trailsift.reader.NotALogFile` for content that is not an event file.
    """
    result = ScanResult(source)
    match = engine.match
    for index, entry in iter_log_records(data, source, limit=limit):
        if type(entry) is dict:
            result.records += 1
            names = match(entry)
            if names:
                result.matches.append(Match(source, index, entry, names))
        else:
            result.problems.append(entry)
    return result
