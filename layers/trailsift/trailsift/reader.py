"""Turn the bytes of one CloudTrail log file into its records, or into an error that names the fault.

A log file is gzip of one JSON document ``{"Records": [...]}``. Everything that can go wrong with
one (corrupt or truncated gzip, a decompression bomb, non-JSON, a digest file, a missing or
mistyped ``Records``) raises :class:`LogFileError` naming the file; a single record that is not an
object is reported as a :class:`RecordProblem` and skipped, so the file's other records still count.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from isal import isal_zlib

from trailsift.streaming import NotStreamable, StreamError, stream_records

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024**3
"""Refuse files that expand past this (CloudTrail's 50 MB compressed files stay well below)."""
STREAM_ABOVE_BYTES = 2 * 1024**2
"""Compressed files larger than this are read record by record in bounded memory."""
STREAM_CHUNK_BYTES = 8 * 1024**2


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


def inflate(
    data: bytes, source: str, *, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES, chunk_size: int = STREAM_CHUNK_BYTES
) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``data`` (every gzip member) in pieces of at most ``chunk_size``.

    Raises :class:`LogFileError` for corrupt or truncated gzip and as soon as the output passes
    ``limit`` bytes, so a decompression bomb never costs more than one chunk of memory. Plain
    (already decompressed) JSON passes through: S3 clients may decode ``Content-Encoding: gzip`` on
    the way, so the magic bytes decide, not the name.
    """
    if data[:2] != GZIP_MAGIC:
        if len(data) > limit:
            raise LogFileError(source, f"larger than {limit} bytes; refused")
        yield data
        return
    produced = 0
    rest = data
    while True:
        inflater = isal_zlib.decompressobj(31)
        pending = rest
        while not inflater.eof:
            try:
                chunk = inflater.decompress(pending, min(chunk_size, limit - produced + 1))
            except (isal_zlib.error, zlib.error) as exc:
                raise LogFileError(source, f"corrupt gzip data ({exc})") from None
            produced += len(chunk)
            if produced > limit:
                raise LogFileError(source, f"decompresses to more than {limit} bytes; refused")
            pending = inflater.unconsumed_tail
            if chunk:
                yield chunk
            elif not pending and not inflater.eof:
                raise LogFileError(source, "truncated gzip data (the stream ends before its end marker)")
        rest = inflater.unused_data
        if not rest:
            return
        if rest[:2] != GZIP_MAGIC:
            if rest.strip(b"\x00"):
                raise LogFileError(source, "trailing garbage after the gzip data")
            return


def _single_member(data: bytes, limit: int) -> bytes | None:
    """The usual file in one call: one complete gzip member within ``limit``; None for anything else."""
    if data[:2] != GZIP_MAGIC:
        return None
    inflater = isal_zlib.decompressobj(31)
    try:
        whole = inflater.decompress(data, limit + 1)
    except (isal_zlib.error, zlib.error):
        return None
    return whole if inflater.eof and not inflater.unused_data and len(whole) <= limit else None


def decompress(data: bytes, source: str, *, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> bytes:
    """The whole decompressed content of ``data`` (see :func:`inflate`, which also explains every refusal)."""
    whole = _single_member(data, limit)
    if whole is not None:
        return whole
    pieces = list(inflate(data, source, limit=limit, chunk_size=limit + 1))
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


Entry = tuple[int, "dict[str, Any] | RecordProblem"]


def _document_entries(raw: bytes, source: str) -> list[Any]:
    """The ``Records`` list of a whole decompressed document."""
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
    return entries


def _entries(values: Iterable[Any]) -> Iterator[Entry]:
    for index, entry in enumerate(values):
        if type(entry) is dict:
            yield index, entry
        else:
            yield index, RecordProblem(index, f"record is {_type_name(entry)}, expected an object")


def _streamed(data: bytes, source: str, limit: int) -> Iterator[Entry]:
    chunks = inflate(data, source, limit=limit)
    try:
        yield from _entries(stream_records(chunks))
    except NotStreamable as exc:
        # Another layout (Records not first): parse the whole document after all.
        raw = exc.consumed + b"".join(chunks)
        yield from _entries(_document_entries(raw, source))
    except StreamError as exc:
        raise LogFileError(source, f"not valid JSON: {exc}") from None


def iter_log_records(
    data: bytes,
    source: str,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    stream_above: int = STREAM_ABOVE_BYTES,
) -> Iterator[Entry]:
    """Yield ``(index, record)`` for each object of ``Records`` and ``(index, RecordProblem)`` for the rest.

    Files larger than ``stream_above`` (compressed) are decompressed and split record by record, in
    bounded memory; smaller ones are parsed whole, which is faster. Both give the same entries.
    Raises :class:`LogFileError` (naming ``source``) or :class:`NotALogFile`; a streamed file can
    raise after some entries were yielded, so callers keep a file's results until it is done.
    """
    if not data:
        raise NotALogFile(source, "zero-byte object")
    if len(data) > stream_above:
        return _streamed(data, source, limit)
    return document_entries(decompress(data, source, limit=limit), source)


def document_entries(document: bytes, source: str) -> Iterator[Entry]:
    """The entries of a whole decompressed document, as :func:`iter_log_records` yields them."""
    return _entries(_document_entries(document, source))


def parse_log_document(raw: bytes, source: str) -> LogFileContent:
    """Parse a whole decompressed document into a :class:`LogFileContent`."""
    return _content(source, document_entries(raw, source))


def _content(source: str, entries: Iterable[Entry]) -> LogFileContent:
    content = LogFileContent(source, [])
    for index, entry in entries:
        if type(entry) is dict:
            content.records.append((index, entry))
        else:
            content.problems.append(entry)
        content.total = index + 1
    return content


def read_log_file(data: bytes, source: str, *, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> LogFileContent:
    """Decompress and parse one log file's bytes (``source`` names it in every error)."""
    return _content(source, iter_log_records(data, source, limit=limit))
