"""Cut a ``{"Records": [...]}`` document into batches of whole records while it is still being decompressed.

A 50 MB delivery file is hundreds of megabytes of JSON and gigabytes as Python objects. This module
keeps memory to about one record limit plus one chunk, and time linear in the bytes, whatever the
file holds: each batch is the text of some consecutive entries of ``Records`` wrapped as a JSON array,
decoded in one call by the caller's projection (or by orjson), so the per-record work happens in C.

Where a batch ends is guessed, then proven: a guess is the last place in the buffer where one object
closes and the next opens (``},{``, preferring the first key of the first record after it, which
CloudTrail writes in every record), and a guess is right exactly when the batch decodes. JSON is read
left to right, so a batch that starts where an entry starts and decodes as an array ends where an
entry ends; a wrong guess (inside a string, or inside a record) fails to decode at its very end.
When guesses keep failing until more than a record limit of bytes is pending, an exact scanner
(a possessive regular expression of bounded depth, then msgspec for one entry) decides, and a
record longer than the limit is refused with its index.

Only the shape CloudTrail writes is streamed (``Records`` as the first key); anything else raises
:class:`NotStreamable` before any batch is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from trailsift.errors import TrailsiftError
from trailsift.projection import is_utf8

__all__ = ["NotStreamable", "RecordBatch", "StreamError", "record_batches"]

_WS = b" \t\r\n"
_SPACES = re.compile(rb"[ \t\r\n]*+")
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"')
_HEADER_BYTES = 64
_FIRST_KEY = re.compile(rb'\{[ \t\r\n]*+"([A-Za-z0-9_]{1,64})"')
_ANY_CUT = re.compile(rb"\}[ \t\r\n]*+,[ \t\r\n]*+\{")
_ANY_COMMA = re.compile(rb",")
_GUESS_WINDOW = 1 << 9  # the first window looked at for guesses, from the end; it grows 4 times at each miss
_MAX_GUESSES = 3
_BYTE = re.compile(r"\(byte ([0-9]+)\)")
_RAW = msgspec.json.Decoder(msgspec.Raw)


def _balanced(depth: int) -> bytes:
    """A possessive pattern for text with brackets nested at most ``depth`` deep and every string whole."""
    string = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
    inner = rb'(?:[^"{}\[\]]++|' + string + rb")*+"
    for _ in range(depth):
        inner = rb'(?:[^"{}\[\]]++|' + string + rb"|[\[{]" + inner + rb"[\]}])*+"
    return inner


# Whole objects (up to 16 levels deep) separated by commas: possessive, so linear and never backtracking.
_OBJECTS = re.compile(rb"[ \t\r\n]*+\{" + _balanced(15) + rb"\}(?:[ \t\r\n]*+,[ \t\r\n]*+\{" + _balanced(15) + rb"\})*+", re.S)


class NotStreamable(TrailsiftError):
    """The document does not start with ``{"Records": [``; ``consumed`` is the part of it in hand."""

    def __init__(self, consumed: bytes) -> None:
        super().__init__("document does not start with Records")
        self.consumed = consumed


class StreamError(TrailsiftError, ValueError):
    """The document is invalid, truncated or has a record over the limit; ``index`` is the entry concerned, if one is."""

    def __init__(self, reason: str, *, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


@dataclass(frozen=True)
class RecordBatch:
    """Consecutive entries of ``Records``: the index of the first, their text as a JSON array, and what decoded it.

    Exactly one of ``views`` (the projection's, when it could read every entry) and ``entries``
    (orjson's values, for anything else) is set.
    """

    first: int
    text: bytes
    views: Sequence[Any] | None
    entries: list[Any] | None

    @property
    def count(self) -> int:
        return len(self.views if self.views is not None else self.entries or ())


Projector = Callable[[bytes], "Sequence[Any] | None"]
"""Decodes a JSON array text of records into views; None when it cannot (orjson then decides); raises
``msgspec.DecodeError`` when the text is not JSON."""


class _Splitter:
    """The state of one document: the bytes not yet given out, and where the next entry starts."""

    def __init__(self, chunks: Iterator[bytes], project: Projector | None, max_record_bytes: int) -> None:
        self.chunks = chunks
        self.project = project
        self.limit = max_record_bytes
        self.buf = b""
        self.pos = 0  # where the next entry (or the closing bracket) starts in buf
        self.base = 0  # offset of buf[0] in the document
        self.searched = 0  # guesses were looked for up to here (a later search starts near it)
        self.index = 0  # index of the entry at pos
        self.ended = False
        self.signature: re.Pattern[bytes] | None = None
        self.proven = False  # a cut before the signature was right once: trust it alone from then on

    # -- buffer ---------------------------------------------------------------------------------

    def more(self) -> bool:
        """Append the next chunk, dropping what was given out; False at the end of the document."""
        chunk = next(self.chunks, None)
        if chunk is None:
            self.ended = True
            return False
        keep = self.buf[self.pos :]
        self.base += self.pos
        self.searched = max(0, self.searched - self.pos)
        self.buf = keep + chunk if keep else chunk
        self.pos = 0
        return True

    def skip_ws(self) -> int | None:
        """Advance past whitespace (however long a run, in bounded memory); the next byte, or None at the end."""
        while True:
            pos = self.pos = _SPACES.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if pos < len(self.buf):
                return self.buf[pos]
            if not self.more():
                return None

    # -- guesses --------------------------------------------------------------------------------

    def learn_signature(self) -> None:
        """Prefer cuts before the first record's first key: CloudTrail writes the same key first in every record."""
        found = _FIRST_KEY.match(self.buf, self.pos)
        pattern = rb"\}[ \t\r\n]*+,[ \t\r\n]*+\{[ \t\r\n]*+\"" + found.group(1) + b'"' if found else _ANY_CUT.pattern
        self.signature = re.compile(pattern)

    def guesses(self, low: int, high: int, *, scalar: bool) -> Iterator[tuple[int, re.Pattern[bytes]]]:
        """Places in ``buf[low:high]`` where an object closes before ``,{``, last first, positioned just after the ``}``.

        Cuts before the signature come first; any ``},{`` only while the signature has not been right
        once (inside records, ``},{`` separates the objects of arrays: a record of 100,000 resources
        would otherwise cost failed decodes on every chunk). When the entry at ``pos`` is not an object
        (``scalar``), any comma is a guess too, so a run of such entries is cut in batches like records are.
        """
        assert self.signature is not None
        patterns: tuple[re.Pattern[bytes], ...] = (self.signature,)
        if not self.proven and self.signature.pattern != _ANY_CUT.pattern:
            patterns += (_ANY_CUT,)
        if scalar:
            patterns += (_ANY_COMMA,)
        for pattern in patterns:
            found_any = False
            end = high
            window = _GUESS_WINDOW
            while end > low:
                start = max(low, end - window)
                found = [m.start() + (pattern is not _ANY_COMMA) for m in pattern.finditer(self.buf, start, min(high, end + 256))]
                for cut in reversed(found):
                    if cut <= end:
                        found_any = True
                        yield cut, pattern
                end = start
                window *= 4
            if found_any:
                return

    # -- batches --------------------------------------------------------------------------------

    def batch(self, cut: int, *, exact: bool = False) -> RecordBatch | None:
        """The entries in ``buf[pos:cut]`` as a batch, or None when ``cut`` is not where an entry ends.

        A guess (``exact`` False) that fails is only a wrong guess, wherever the error lies: it may
        reach past the end of ``Records``. Only an exact cut's failure is the document's fault.
        """
        text = b"".join((b"[", memoryview(self.buf)[self.pos : cut], b"]"))  # one copy (a + b + c makes three)
        views = None
        if self.project is not None and is_utf8(text):
            try:
                views = self.project(text)
            except msgspec.DecodeError:
                if not exact:
                    return None  # not JSON: a wrong guess, no need to ask orjson
        entries = None
        if views is None:
            try:
                entries = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                at = _byte_position(text, exc.pos)
                if at >= len(text) - 1 or not exact:
                    return None  # the guess was inside an entry (the text is fine up to its end) or past them
                raise StreamError(f"not valid JSON at byte {self.base + self.pos + at - 1}: {exc.msg}") from None
        return RecordBatch(self.index, text, views, entries)

    def take(self, batch: RecordBatch, cut: int) -> RecordBatch:
        if len(batch.text) - 2 > self.limit:
            self.check_sizes(batch)
        self.pos = cut
        self.index += batch.count
        return batch

    def check_sizes(self, batch: RecordBatch) -> None:
        """Refuse a batch holding an entry longer than the limit (only batches longer than it can)."""
        for position, raw in enumerate(msgspec.json.decode(batch.text, type=list[msgspec.Raw])):
            if len(raw) > self.limit:
                raise self.too_large(batch.first + position)

    def too_large(self, index: int) -> StreamError:
        return StreamError(f"record is larger than the limit of {self.limit} bytes (max record size)", index=index)

    def exact_cut(self) -> int | None:
        """Where the last whole entry after ``pos`` ends, found exactly; None when the entry at ``pos`` is incomplete."""
        found = _OBJECTS.match(self.buf, self.pos)
        if found is not None and found.end() > self.pos:
            return found.end()
        view = memoryview(self.buf)[self.pos :]
        try:
            _RAW.decode(view)
        except msgspec.DecodeError as exc:
            message = str(exc)
            if "truncated" in message:
                return None
            number = _BYTE.search(message)
            if "trailing characters" in message and number is not None:
                # msgspec counts from 1: "(byte N)" names view[N - 1], the first byte after the entry
                return self.pos + len(bytes(view[: int(number.group(1)) - 1]).rstrip(_WS))
            return self.pos + len(view)  # invalid: let orjson say why
        except RecursionError:
            raise StreamError("record nests deeper than the parser allows (about 990 levels)", index=self.index) from None
        return self.pos + len(bytes(view).rstrip(_WS))

    def open_records(self) -> None:
        """Read ``{"Records": [`` (any whitespace, the key in any JSON spelling); else raise :class:`NotStreamable`."""
        def expect(byte: bytes) -> None:
            if self.skip_ws() != byte[0]:
                raise NotStreamable(self.buf)
            self.pos += 1

        expect(b"{")
        self.skip_ws()
        while len(self.buf) - self.pos < _HEADER_BYTES and self.more():
            pass
        key = _STRING.match(self.buf, self.pos, self.pos + _HEADER_BYTES)
        try:
            name = orjson.loads(key.group()) if key is not None else None
        except orjson.JSONDecodeError:
            name = None
        if key is None or name != "Records":
            raise NotStreamable(self.buf)
        self.pos = key.end()
        expect(b":")
        expect(b"[")

    def final_cut(self) -> int | None:
        """At the end of the document: just after the last ``}`` before the closing ``]``, the likely end of the last entry."""
        close = self.buf.rfind(b"]", self.pos)
        last = self.buf.rfind(b"}", self.pos, close) if close > 0 else -1
        return last + 1 if last >= 0 and not self.buf[last + 1 : close].strip(_WS) else None

    def next_batch(self) -> RecordBatch | None:
        """The next batch of whole entries, reading more as needed; None after the closing bracket."""
        while True:
            first = self.skip_ws()
            if first is None:
                raise StreamError("the document ends inside Records", index=self.index)
            if first == ord("]"):
                if self.index:  # after a comma (the first entry needs none): "[...,]" as the whole parse refuses it
                    raise StreamError("not valid JSON: a comma before the end of Records", index=self.index)
                self.pos += 1
                return None
            if self.signature is None:
                self.learn_signature()
            end = len(self.buf)
            tried = 0
            for cut, pattern in self.guesses(max(self.pos, self.searched - 256), end, scalar=first != ord("{")):
                batch = self.batch(cut)
                if batch is not None:
                    self.proven = self.proven or pattern is self.signature
                    return self.take(batch, cut)
                tried += 1
                if tried == _MAX_GUESSES:
                    break
            self.searched = end
            if self.ended:
                last = self.final_cut()
                batch = self.batch(last) if last is not None else None
                if batch is not None and last is not None:
                    return self.take(batch, last)
            if self.ended or end - self.pos > self.limit:
                sure = self.exact_cut()
                if sure is not None:
                    batch = self.batch(sure, exact=True)
                    if batch is None:  # a single entry that is invalid to its very end
                        raise StreamError("not valid JSON: the record ends unexpectedly", index=self.index)
                    return self.take(batch, sure)
                if self.ended:
                    raise StreamError("the document ends inside a record", index=self.index)
                raise self.too_large(self.index)
            self.more()

    def separator(self) -> bool:
        """After a batch: True when another entry follows (``,`` consumed), False at ``]``."""
        byte = self.skip_ws()
        if byte == ord(","):
            self.pos += 1
            return True
        if byte == ord("]"):
            self.pos += 1
            return False
        found = "the end of the document" if byte is None else repr(chr(byte))
        raise StreamError(f"expected ',' or ']' after record {self.index - 1}, found {found}", index=self.index - 1)

    def check_tail(self) -> None:
        """After ``]``: the closing ``}``, or more members (valid, no second Records, within the record limit)."""
        tail = self.buf[self.pos :]
        while self.more():
            tail = self.buf
            if len(tail) > self.limit:
                raise StreamError(f"more than {self.limit} bytes after Records (max record size)")
        tail = tail.strip(_WS)
        if tail == b"}":
            return
        if tail.startswith(b","):
            # Parsed as the document's own end (after a Records of 0), so that a trailing comma is an
            # error as in the whole document; then its members alone, for a second Records.
            try:
                orjson.loads(b'{"Records":0' + tail)
            except orjson.JSONDecodeError as exc:
                raise StreamError(f"not valid JSON after Records: {exc.msg}") from None
            if "Records" not in orjson.loads(b"{" + tail[1:]):
                return
            raise StreamError("a second 'Records' key after the first")
        raise StreamError("not valid JSON after Records" if tail else "the document ends after Records without '}'")


def _byte_position(text: bytes, position: int) -> int:
    """The byte offset of orjson's error ``position``, which counts characters (as ``json`` does)."""
    if text.isascii():
        return position
    try:
        return len(text.decode()[:position].encode())
    except UnicodeDecodeError:  # orjson stopped at the invalid byte: count bytes up to it
        return len(text[:position])


def record_batches(
    chunks: Iterator[bytes], *, max_record_bytes: int, project: Projector | None = None
) -> Iterator[RecordBatch]:
    """Yield the entries of ``Records`` as batches, in order, while ``chunks`` (the decompressed document) arrive.

    ``project`` decodes a batch's text into views (returning None when it cannot); without it, or
    when it cannot, orjson parses the batch. Raises :class:`NotStreamable` before yielding anything
    when the document has another shape, and :class:`StreamError` for invalid JSON, a truncated
    document, an entry longer than ``max_record_bytes``, or content after ``Records`` that the
    plain parse would read differently. Memory stays within about ``max_record_bytes`` plus one chunk.
    """
    if max_record_bytes < 1:
        raise ValueError(f"max_record_bytes must be positive, got {max_record_bytes}")
    splitter = _Splitter(chunks, project, max_record_bytes)
    splitter.open_records()
    while True:
        batch = splitter.next_batch()
        if batch is None:
            break
        yield batch
        if not splitter.separator():
            break
    splitter.check_tail()
