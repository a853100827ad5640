"""Split a ``{"Records": [...]}`` document into its records while it is still being decompressed.

A 50 MB delivery file is about a gigabyte of JSON and several gigabytes as Python objects; this
module keeps memory to one decompressed chunk plus one record. It only handles the shape
CloudTrail writes (``Records`` as the first key); anything else raises :class:`NotStreamable` and
the caller parses the whole document instead. Every record is parsed by orjson, so invalid JSON
anywhere is still an error, and the records are exactly those of the plain full parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

_WS = b" \t\r\n"
_HEADER = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"Records"[ \t\r\n]*:[ \t\r\n]*\[')
# Where an object element of an array can end: a '}' followed by ',{' (next element) or ']'.
# Object members are followed by ',"key"' instead, so they are never candidates.
_OBJECT_END = re.compile(rb"\}[ \t\r\n]*(?=,[ \t\r\n]*\{|\])")
_ANY_END = re.compile(rb"[,\]]")
# Exact fallback: consume strings and non-bracket bytes, stop on a bracket.
# Possessive quantifiers (Python 3.11+): no backtracking, so a huge string crossing a chunk costs no memory.
_TO_BRACKET = re.compile(rb'(?:[^"{}\[\]]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
_SPACES = re.compile(rb"[ \t\r\n]*+")
_MAX_TRIALS = 8
_HEADER_BYTES = 64


class NotStreamable(Exception):
    """The document does not start with ``{"Records": [``; ``consumed`` is what was read so far."""

    def __init__(self, consumed: bytes) -> None:
        super().__init__("document does not start with Records")
        self.consumed = consumed


class StreamError(ValueError):
    """The JSON is invalid or ends early; the message says where."""


class _Buffer:
    """Decompressed bytes not yet consumed, refilled from the chunk iterator."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.data = b""
        self.pos = 0
        self.offset = 0  # absolute position of data[0] in the document

    def more(self) -> bool:
        chunk = next(self.chunks, None)
        if chunk is None:
            return False
        self.offset += self.pos
        self.data = self.data[self.pos :] + chunk
        self.pos = 0
        return True

    def skip_ws(self) -> int | None:
        """Advance past whitespace; return the next byte, or None at the end of the document."""
        while True:
            data = self.data
            pos = self.pos = _SPACES.match(data, self.pos).end()
            if pos < len(data):
                return data[pos]
            if not self.more():
                return None


_OPENERS = (ord("{"), ord("["))


def _container_end(data: bytes, start: int) -> int | None:
    """Index just past the object or array at ``data[start]``, or None if it is not complete in ``data``."""
    depth = 0
    pos = start
    while True:
        pos = _TO_BRACKET.match(data, pos).end()
        if pos >= len(data):
            return None
        if data[pos] in _OPENERS:
            depth += 1
        elif data[pos] in (ord("}"), ord("]")):
            depth -= 1
            if depth == 0:
                return pos + 1
        else:  # an unterminated string: wait for more data
            return None
        pos += 1


def _element(buf: _Buffer) -> Any:
    """Parse the array element at ``buf.pos`` and advance past it.

    Candidate ends found by a regex are tried with orjson (a slice that parses whole is exactly the
    element); after a few misses, or when no candidate is left, an exact brace scanner decides.
    """
    first = buf.data[buf.pos]
    is_container = first in _OPENERS
    pattern = _OBJECT_END if first == ord("{") else _ANY_END
    search_from = buf.pos
    trials = 0 if first != ord("[") else _MAX_TRIALS  # arrays go straight to the exact scanner
    while True:
        found = pattern.search(buf.data, search_from) if trials < _MAX_TRIALS or not is_container else None
        if found is not None:
            value = _parse(buf, found.start() + 1 if is_container else found.start(), final=False)
            if value is not _INCOMPLETE:
                return value
            trials += 1
            search_from = found.end()
            continue
        if is_container:
            end = _container_end(buf.data, buf.pos)
            if end is not None:
                return _parse(buf, end, final=True)
        consumed = buf.pos
        if not buf.more():
            return _parse(buf, len(buf.data), final=True)  # raises with orjson's message
        search_from = max(0, search_from - consumed)


_INCOMPLETE = object()


def _parse(buf: _Buffer, end: int, *, final: bool) -> Any:
    try:
        value = orjson.loads(memoryview(buf.data)[buf.pos : end])
    except orjson.JSONDecodeError as exc:
        if final:
            raise StreamError(f"invalid JSON at byte {buf.offset + buf.pos + exc.pos}: {exc.msg}") from None
        return _INCOMPLETE
    buf.pos = end
    return value


def stream_records(chunks: Iterator[bytes]) -> Iterator[Any]:
    """Yield every element of ``Records`` as it is complete (dicts, or whatever else the array holds).

    Raises :class:`NotStreamable` before yielding anything when the document has another shape, and
    :class:`StreamError` for invalid JSON, a truncated document, or content after ``Records`` that
    the plain parse would read differently.
    """
    buf = _Buffer(chunks)
    while len(buf.data) < _HEADER_BYTES and buf.more():
        pass
    header = _HEADER.match(buf.data)
    if header is None:
        raise NotStreamable(buf.data)
    buf.pos = header.end()
    if buf.skip_ws() == ord("]"):
        buf.pos += 1
    else:
        while True:
            if buf.skip_ws() is None:
                raise StreamError("the document ends inside Records")
            yield _element(buf)
            separator = buf.skip_ws()
            if separator == ord(","):
                buf.pos += 1
                continue
            if separator == ord("]"):
                buf.pos += 1
                break
            raise StreamError(
                f"expected ',' or ']' after a record at byte {buf.offset + buf.pos}, "
                + ("found the end of the document" if separator is None else f"found {chr(separator)!r}")
            )
    _check_tail(buf)


def _check_tail(buf: _Buffer) -> None:
    """After ``]``: the closing ``}``, or more members that must be valid and must not repeat Records."""
    rest = buf.data[buf.pos :]
    while buf.more():
        rest = buf.data
    tail = rest.strip(_WS)
    if tail == b"}":
        return
    if tail.startswith(b","):
        try:
            members = orjson.loads(b"{" + tail[1:])
        except orjson.JSONDecodeError as exc:
            raise StreamError(f"invalid JSON after Records: {exc.msg}") from None
        if isinstance(members, dict) and "Records" not in members:
            return
        raise StreamError("a second 'Records' key after the first")
    raise StreamError("invalid JSON after Records" if tail else "the document ends after Records without '}'")
