"""Scan one log file: bytes in, matched records out. The one path every input (local file, S3 object) takes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson

from trailsift.engine import RuleEngine
from trailsift.projection import is_utf8, paused_gc, raw_entries, raw_records
from trailsift.reader import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
    Entry,
    LogFileError,
    RecordProblem,
    batches,
    document_entries,
    iter_log_records,
    numbered_entries,
    open_log_file,
)
from trailsift.record import principal

if TYPE_CHECKING:
    import msgspec


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
        return {
            "file": self.source,
            "index": self.index,
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventSource": record.get("eventSource"),
            "eventTime": record.get("eventTime"),
            "awsRegion": record.get("awsRegion"),
            "recipientAccountId": record.get("recipientAccountId"),
            "principal": principal(record),
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
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    stream_above: int | None = None,
    chunk_bytes: int | None = None,
) -> ScanResult:
    """Read ``data`` as a log file and match every record against ``engine``'s rules.

    Records are first decoded through the engine's projection (only the fields the rules read),
    the whole document at once when it is at most ``max_record_bytes`` (or ``stream_above``) decompressed, else in
    batches of whole records while it is decompressed, in bounded memory. Only the records that
    could match are then parsed in full and matched. What the projection cannot read exactly takes
    the plain path (the whole document, or the one batch); every way gives the same result.
    Raises :class:`~trailsift.reader.LogFileError` for a file that cannot be read (too large, a
    record over ``max_record_bytes``, invalid) and :class:`~trailsift.reader.NotALogFile` for
    content that is not an event file.
    """
    opened = open_log_file(
        data, source, limit=limit, max_record_bytes=max_record_bytes, stream_above=stream_above, chunk_bytes=chunk_bytes
    )
    if isinstance(opened, bytes):
        projected = _scan_projected(opened, source, engine)
        if projected is not None:
            return projected
        return _scan_entries(document_entries(opened, source), source, engine)
    result = ScanResult(source)
    for batch in batches(opened, source, max_record_bytes=max_record_bytes, project=engine.projection.decode_records):
        if batch.views is None:
            _scan_entries(numbered_entries(batch.entries or (), batch.first), source, engine, result)
            continue
        try:
            _match_candidates(batch.views, raw_entries, batch.text, batch.first, result, engine)
        except orjson.JSONDecodeError as exc:  # JSON msgspec accepts and orjson refuses, as the plain path does
            raise LogFileError(source, f"not valid JSON: {exc}") from None
    return result


def scan_plain(
    data: bytes,
    source: str,
    engine: RuleEngine,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    stream_above: int | None = None,
    chunk_bytes: int | None = None,
) -> ScanResult:
    """The plain path of :func:`scan_log_file`: every record parsed in full and matched (the reference)."""
    return _scan_entries(
        iter_log_records(
            data,
            source,
            limit=limit,
            max_record_bytes=max_record_bytes,
            stream_above=stream_above,
            chunk_bytes=chunk_bytes,
        ),
        source,
        engine,
    )


def _scan_entries(
    entries: Iterable[Entry], source: str, engine: RuleEngine, result: ScanResult | None = None
) -> ScanResult:
    """Match every entry parsed in full (adding to ``result`` when given)."""
    result = result if result is not None else ScanResult(source)
    match = engine.match
    for index, entry in entries:
        if type(entry) is dict:
            result.records += 1
            names = match(entry)
            if names:
                result.matches.append(Match(source, index, entry, names))
        else:
            result.problems.append(cast(RecordProblem, entry))  # an entry is a dict or a RecordProblem
    return result


def _scan_projected(document: bytes, source: str, engine: RuleEngine) -> ScanResult | None:
    """The fast path, or None when the document must take the plain path.

    A document that is not valid UTF-8 takes the plain path (see :func:`~trailsift.projection.is_utf8`).
    """
    if not is_utf8(document):
        return None
    views = engine.projection.decode(document)
    if views is None:
        return None
    result = ScanResult(source)
    try:
        _match_candidates(views, raw_records, document, 0, result, engine)
    except orjson.JSONDecodeError:
        return None  # JSON msgspec accepts and orjson refuses: the plain path says why
    return result


def _match_candidates(
    views: Sequence[Any],
    texts_of: Callable[[bytes], list[msgspec.Raw]],
    text: bytes,
    first: int,
    result: ScanResult,
    engine: RuleEngine,
) -> None:
    """Add ``views``' records to ``result`` and match those that could match (orjson's refusal of one is raised).

    ``texts_of(text)`` gives the raw text of every record, in order; ``first`` is the index of the
    first of them in the file's ``Records``.
    """
    result.records += len(views)
    candidates = engine.candidates(views)
    if not candidates:
        return
    texts = texts_of(text)
    match = engine.match
    source = result.source
    with paused_gc():  # the candidates' dicts hold no cycles: collections here would find nothing
        for position in candidates:
            record = orjson.loads(memoryview(texts[position]))
            names = match(record)
            if names:
                result.matches.append(Match(source, first + position, record, names))
