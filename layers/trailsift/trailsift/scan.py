"""Scan one log file: bytes in, matched records out. The one path every input (local file, S3 object) takes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from trailsift.engine import RuleEngine
from trailsift.projection import raw_records
from trailsift.reader import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    STREAM_ABOVE_BYTES,
    Entry,
    RecordProblem,
    decompress,
    document_entries,
    iter_log_records,
)


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

    A file read whole is first decoded through the engine's projection (only the fields the rules
    read); only the records that match are then parsed in full. Files that are streamed, or that
    the projection cannot read exactly, take the plain path; both give the same result.
    Raises :class:`~trailsift.reader.LogFileError` for a file that cannot be read and
    :class:`~trailsift.reader.NotALogFile` for content that is not an event file.
    """
    if not data or len(data) > STREAM_ABOVE_BYTES:
        return scan_plain(data, source, engine, limit=limit)
    document = decompress(data, source, limit=limit)
    projected = _scan_projected(document, source, engine)
    if projected is not None:
        return projected
    return _scan_entries(document_entries(document, source), source, engine)


def scan_plain(
    data: bytes,
    source: str,
    engine: RuleEngine,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> ScanResult:
    """The plain path of :func:`scan_log_file`: every record parsed in full and matched (the reference)."""
    return _scan_entries(iter_log_records(data, source, limit=limit), source, engine)


def _scan_entries(entries: Iterable[Entry], source: str, engine: RuleEngine) -> ScanResult:
    """Match every entry parsed in full."""
    result = ScanResult(source)
    match = engine.match
    for index, entry in entries:
        if type(entry) is dict:
            result.records += 1
            names = match(entry)
            if names:
                result.matches.append(Match(source, index, entry, names))
        else:
            result.problems.append(entry)
    return result


def _scan_projected(document: bytes, source: str, engine: RuleEngine) -> ScanResult | None:
    """The fast path, or None when the document must take the plain path.

    msgspec does not check the UTF-8 of strings it skips, which orjson refuses; a document that is
    not ASCII is checked here, so both paths refuse the same documents.
    """
    if not document.isascii():
        try:
            document.decode()
        except UnicodeDecodeError:
            return None
    views = engine.projection.decode(document)
    if views is None:
        return None
    result = ScanResult(source, records=len(views))
    candidates = engine.candidates(views)
    if candidates:
        texts = raw_records(document)
        match = engine.match
        for index in candidates:
            try:
                record = orjson.loads(memoryview(texts[index]))
            except orjson.JSONDecodeError:
                return None  # JSON msgspec accepts and orjson refuses: the plain path says why
            names = match(record)
            if names:
                result.matches.append(Match(source, index, record, names))
    return result
