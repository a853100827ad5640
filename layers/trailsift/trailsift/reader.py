"""Turn the bytes of one CloudTrail log file into its records, or into an error that names the fault.

A log file is gzip of one JSON document ``{"Records": [...]}``. Everything that can go wrong with
one (corrupt or truncated gzip, a decompression bomb, non-JSON, a digest file, a missing or
mistyped ``Records``) raises :class:`LogFileError` naming the file; a single record that is not an
object is reported as a :class:`RecordProblem` and skipped, so the file's other records still count.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
from isal import isal_zlib

from trailsift.errors import TrailsiftError
from trailsift.streaming import NotStreamable, Projector, RecordBatch, StreamError, record_batches

GZIP_MAGIC = b"\x1f\x8b"
_INPUT_STEP = 1 << 18
_MIN_CHUNK_BYTES = 1 << 12
DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024**3
"""Refuse files that expand past this: 40 times CloudTrail's largest file (50 MB compressed), reached in seconds."""
DEFAULT_MAX_RECORD_BYTES = 2 * 1024**2
"""Refuse a record longer than this: 8 times CloudTrail's largest record (256 KB), a small part of the memory."""
STREAM_CHUNK_BYTES = 1024**2
"""Decompressed bytes per step of a streamed file (at most half the record limit, so a batch seldom needs a size check)."""
_GZIP_ERRORS = (cast("type[Exception]", isal_zlib.error), zlib.error)
"""What a corrupt gzip stream raises (isal's stub calls ``error`` an instance; it is a class, ``IsalError``)."""


@dataclass(frozen=True)
class ReadLimits:
    """The two limits on one file's content: what it may decompress to, and how long one record may be."""

    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES


class LogFileError(TrailsiftError):
    """A log file that cannot be read; ``retryable`` is False because the bytes will not change."""

    def __init__(self, source: str, reason: str, *, index: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.index = index
        super().__init__(f"{source} {self.detail}" if index is not None else f"{source}: {reason}")

    @property
    def detail(self) -> str:
        """The reason, after the record it concerns when there is one (what a report beside the file's name says)."""
        return f"record {self.index}: {self.reason}" if self.index is not None else self.reason


class NotALogFile(TrailsiftError):
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
        if len(data) <= chunk_size:
            yield data
        else:
            yield from (data[start : start + chunk_size] for start in range(0, len(data), chunk_size))
        return
    produced = 0
    view = memoryview(data)
    start = 0
    while True:  # one gzip member at a time
        inflater = isal_zlib.decompressobj(31)
        while not inflater.eof:
            if start >= len(view):
                raise LogFileError(source, "truncated gzip data (the stream ends before its end marker)")
            # Feed the input a slice at a time: a call's unconsumed tail is a copy, so feeding it all
            # at once would copy the rest of a 50 MB file on every chunk (quadratic time).
            pending: bytes | memoryview = view[start : start + _INPUT_STEP]
            start += len(pending)
            while True:
                try:
                    chunk = inflater.decompress(pending, min(chunk_size, limit - produced + 1))
                except _GZIP_ERRORS as exc:
                    raise LogFileError(source, f"corrupt gzip data ({exc})") from None
                produced += len(chunk)
                if produced > limit:
                    raise LogFileError(source, f"decompresses to more than {limit} bytes; refused")
                if chunk:
                    yield chunk
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and len(chunk) < chunk_size):
                    break
        start -= len(inflater.unused_data)
        if start >= len(view):
            return
        if view[start : start + 2] != GZIP_MAGIC:
            if bytes(view[start:]).strip(b"\x00"):
                raise LogFileError(source, "trailing garbage after the gzip data")
            return


def _single_member(data: bytes, limit: int) -> bytes | None:
    """The usual file in one call: one complete gzip member within ``limit``; None for anything else."""
    if data[:2] != GZIP_MAGIC:
        return None
    inflater = isal_zlib.decompressobj(31)
    try:
        whole = inflater.decompress(data, limit + 1)
    except _GZIP_ERRORS:
        return None
    return whole if inflater.eof and not inflater.unused_data and len(whole) <= limit else None


def decompress(data: bytes, source: str, *, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> bytes:
    """The whole decompressed content of ``data`` (see :func:`inflate`, which also explains every refusal)."""
    whole = _single_member(data, limit)
    if whole is not None:
        return whole
    pieces = list(inflate(data, source, limit=limit, chunk_size=limit + 1))
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _type_name(value: object) -> str:
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


def numbered_entries(values: Iterable[object], start: int = 0) -> Iterator[Entry]:
    """``(index, record)`` for each object of ``values`` and ``(index, RecordProblem)`` for the rest, from ``start``."""
    for index, entry in enumerate(values, start):
        if type(entry) is dict:
            yield index, entry
        else:
            yield index, RecordProblem(index, f"record is {_type_name(entry)}, expected an object")


def open_document(
    data: bytes,
    source: str,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    whole_up_to: int = DEFAULT_MAX_RECORD_BYTES,
    chunk_size: int = STREAM_CHUNK_BYTES,
) -> bytes | Iterator[bytes]:
    """The decompressed document whole when it is at most ``whole_up_to`` bytes, else its chunks as they come.

    The choice is made on decompressed bytes as they arrive, never on the compressed size, so the
    compression ratio cannot decide the memory. Raises :class:`NotALogFile` for a zero-byte object
    and :class:`LogFileError` as :func:`inflate` does (a streamed file may raise while it is read).
    """
    if not data:
        raise NotALogFile(source, "zero-byte object")
    whole = _single_member(data, min(whole_up_to, limit))
    if whole is not None:
        return whole
    chunks = inflate(data, source, limit=limit, chunk_size=chunk_size)
    first: list[bytes] = []
    size = 0
    for chunk in chunks:
        first.append(chunk)
        size += len(chunk)
        if size > whole_up_to:
            return itertools.chain(first, chunks)
    return first[0] if len(first) == 1 else b"".join(first)


def batches(
    chunks: Iterator[bytes],
    source: str,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    project: Projector | None = None,
) -> Iterator[RecordBatch]:
    """The batches of a streamed document (see :func:`~trailsift.streaming.record_batches`), errors naming ``source``.

    Only CloudTrail's own layout (``Records`` first) is streamed; a large document of another
    shape is refused rather than read whole, and a large digest file is skipped.
    """
    try:
        yield from record_batches(chunks, max_record_bytes=max_record_bytes, project=project)
    except NotStreamable as exc:
        if b'"digestStartTime"' in exc.consumed or b'"logFiles"' in exc.consumed:
            raise NotALogFile(source, "CloudTrail digest file (integrity hashes, no events)") from None
        raise LogFileError(
            source,
            f"a document larger than {max_record_bytes} bytes must begin with "
            '{"Records": [ as CloudTrail writes it; this one does not',
        ) from None
    except StreamError as exc:
        raise LogFileError(source, exc.reason, index=exc.index) from None


def open_log_file(
    data: bytes,
    source: str,
    *,
    limit: int,
    max_record_bytes: int,
    stream_above: int | None = None,
    chunk_bytes: int | None = None,
) -> bytes | Iterator[bytes]:
    """:func:`open_document` with the choices every reader makes by default: stream past the record
    limit, in chunks of at most half of it, so that a whole document cannot hold a record over the
    limit and a streamed batch seldom needs its records' sizes checked. ``stream_above`` and
    ``chunk_bytes`` override those choices (tests and benchmarks use them to force either path).
    """
    if max_record_bytes < 1:
        raise ValueError(f"max_record_bytes must be positive, got {max_record_bytes}")
    if chunk_bytes is None:
        chunk_bytes = min(STREAM_CHUNK_BYTES, max(_MIN_CHUNK_BYTES, max_record_bytes // 2))
    whole_up_to = max_record_bytes if stream_above is None else stream_above
    return open_document(data, source, limit=limit, whole_up_to=whole_up_to, chunk_size=chunk_bytes)


def iter_log_records(
    data: bytes,
    source: str,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    stream_above: int | None = None,
    chunk_bytes: int | None = None,
) -> Iterator[Entry]:
    """Yield ``(index, record)`` for each object of ``Records`` and ``(index, RecordProblem)`` for the rest.

    A document of at most ``max_record_bytes`` (or ``stream_above``) decompressed bytes is parsed
    whole; a larger one is decompressed and cut into batches of whole records in bounded memory,
    and a record longer than ``max_record_bytes`` refuses the file. Both give the same entries.
    Raises :class:`LogFileError` (naming ``source``) or :class:`NotALogFile`; a streamed file can
    raise after some entries were yielded, so callers keep a file's results until it is done.
    """
    opened = open_log_file(
        data, source, limit=limit, max_record_bytes=max_record_bytes, stream_above=stream_above, chunk_bytes=chunk_bytes
    )
    if isinstance(opened, bytes):
        return document_entries(opened, source)
    return _streamed_entries(batches(opened, source, max_record_bytes=max_record_bytes))


def _streamed_entries(found: Iterable[RecordBatch]) -> Iterator[Entry]:
    for batch in found:
        yield from numbered_entries(batch.entries or (), batch.first)


def document_entries(document: bytes, source: str) -> Iterator[Entry]:
    """The entries of a whole decompressed document, as :func:`iter_log_records` yields them."""
    return numbered_entries(_document_entries(document, source))
