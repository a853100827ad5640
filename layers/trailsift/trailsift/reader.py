"""Turn the bytes of one CloudTrail log file into its records, or into an error that names the fault.

A log file is gzip of one JSON document ``{"Records": [...]}``. Everything that can go wrong with
one (corrupt or truncated gzip, a decompression bomb, non-JSON, a digest file, a missing or
mistyped ``Records``) raises :class:`LogFileError` naming the file; a single record that is not an
object is reported as a :class:`RecordProblem` and skipped, so the file's other records still count.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from isal import isal_zlib

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024**3
"""Refuse files that expand past this (CloudTrail's 50 MB compressed files stay well below)."""


class LogFileError(Exception):
    """A log file that cannot be read; ``retryable`` is False because the bytes will not change."""

    def __init__(self, source: str, reason: str, *, index: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.index = index
        where = f"{source} record {index}" if index is not None else source
        super().__init__(f"{where}: {reason}")


class NotALogFile(Exception):
    """Content that is recognizably not an event file (a digest file): skipped, not failed."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class RecordProblem:
    """One entry of ``Records`` that was skipped, and why."""

    index: int
    reason: str


@dataclass
class LogFileContent:
    """The records of one file with their 0-based position in ``Records``."""

    source: str
    records: list[tuple[int, dict[str, Any]]]
    problems: list[RecordProblem] = field(default_factory=list)
    total: int = 0  # entries in Records, including skipped ones

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(self.records)


def decompress(data: bytes, source: str, *, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> bytes:
    """Gunzip ``data`` (all members) if it is gzip, refusing output past ``limit`` bytes.

    Plain (already decompressed) JSON is returned as is: S3 clients may decode
    ``Content-Encoding: gzip`` on the way, so the magic bytes decide, not the name.
    """
    if data[:2] != GZIP_MAGIC:
        return data
    pieces: list[bytes] = []
    produced = 0
    rest = data
    while rest:
        inflater = isal_zlib.decompressobj(31)
        try:
            chunk = inflater.decompress(rest, limit - produced + 1)
        except (isal_zlib.error, zlib.error) as exc:
            raise LogFileError(source, f"corrupt gzip data ({exc})") from None
        produced += len(chunk)
        if produced > limit:
            raise LogFileError(source, f"decompresses to more than {limit} bytes; refused")
        pieces.append(chunk)
        if not inflater.eof:
            raise LogFileError(source, "truncated gzip data (the stream ends before its end marker)")
        rest = inflater.unused_data
        if rest and rest[:2] != GZIP_MAGIC:
            if rest.strip(b"\x00"):
                raise LogFileError(source, "trailing garbage after the gzip data")
            break
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def parse_log_document(raw: bytes, source: str) -> LogFileContent:
    """Parse decompressed JSON into records; raise for a document that is not a CloudTrail event file."""
    if not raw.strip():
        raise LogFileError(source, "empty file (no JSON document)")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LogFileError(source, f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise LogFileError(source, f"top-level JSON is {_type_name(document)}, expected an object with 'Records'")
    if "Records" not in document:
        if "digestStartTime" in document or "logFiles" in document:
            raise NotALogFile(source, "CloudTrail digest file (integrity hashes, no events)")
        keys = ", ".join(sorted(map(str, document))[:5]) or "none"
        raise LogFileError(source, f"no 'Records' key (top-level keys: {keys})")
    entries = document["Records"]
    if not isinstance(entries, list):
        raise LogFileError(source, f"'Records' is {_type_name(entries)}, expected a list")
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[RecordProblem] = []
    for index, entry in enumerate(entries):
        if type(entry) is dict:
            records.append((index, entry))
        else:
            problems.append(RecordProblem(index, f"record is {_type_name(entry)}, expected an object"))
    return LogFileContent(source, records, problems, len(entries))


def read_log_file(data: bytes, source: str, *, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> LogFileContent:
    """Decompress and parse one log file's bytes (``source`` names it in every error)."""
    if not data:
        raise NotALogFile(source, "zero-byte object")
    return parse_log_document(decompress(data, source, limit=limit), source)
