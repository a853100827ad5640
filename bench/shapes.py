"""Log files of every hostile or unusual shape, written as gzip without ever holding them in memory.

Used by ``bench/shapes_bench.py`` (throughput and peak memory of each shape) and by
``tests/test_hostile_files.py`` (each shape's disposition under an address-space limit). Each shape
is a prefix, a repeated unit and a suffix, so any size can be asked for.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHILD_PRELUDE", "SHAPES", "Shape", "write_shape"]

CHILD_PRELUDE = r"""
import json, sys, time

def peak_mb():  # this process's own peak RSS: VmHWM (ru_maxrss keeps the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

sys.path.insert(0, sys.argv[2])  # the library, from the checkout
from trailsift.engine import RuleEngine
from trailsift.reader import LogFileError
from trailsift.rules import default_rules
from trailsift.scan import scan_log_file

engine = RuleEngine(default_rules())
data = open(sys.argv[1], "rb").read()

def scan_outcome(source):  # what reading the file gave: read (with counts) or refused (with why)
    try:
        result = scan_log_file(data, source, engine)
    except LogFileError as exc:
        return {"disposition": "refused", "reason": exc.reason, "index": exc.index, "message": str(exc)}
    return {"disposition": "read", "records": result.records, "matches": len(result.matches),
            "problems": len(result.problems)}
"""
"""The start of the child process that reads one file (``argv``: the file, the library's folder), for bench and tests."""


def _record(index: int, **extra: object) -> bytes:
    record = {"eventVersion": "1.08", "eventName": "GetObject", "eventSource": "s3.amazonaws.com", "n": index}
    record.update(extra)
    return json.dumps(record, separators=(",", ":")).encode()


_ESCAPES = ('\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00' * 6000).encode()  # about 100 KB of escapes


@dataclass(frozen=True)
class Shape:
    """``prefix + unit * n + suffix``; ``separator`` goes between units; ``refused`` names the limit that stops it."""

    name: str
    what: str
    prefix: bytes
    unit: bytes
    suffix: bytes
    separator: bytes = b""
    refused: str | None = None  # a phrase of the refusal's reason, or None when the file is read

    def units_for(self, size: int) -> int:
        return max(1, (size - len(self.prefix) - len(self.suffix)) // (len(self.unit) + len(self.separator)))


SHAPES = {
    shape.name: shape
    for shape in (
        Shape(
            "huge-string",
            "one record whose one string never ends within the limit",
            b'{"Records":[{"eventName":"',
            b"A" * 65536,
            b'"}]}',
            refused="larger than the limit",
        ),
        Shape("whitespace", "whitespace between the records", b'{"Records":[' + _record(0) + b",", b" " * 65536, _record(1) + b"]}"),
        Shape(
            "whitespace-in-record",
            "whitespace inside one record",
            b'{"Records":[{"eventName":',
            b" " * 65536,
            b'"x"}]}',
            refused="larger than the limit",
        ),
        Shape("tiny-records", "millions of empty records", b'{"Records":[', b"{}", b"]}", separator=b","),
        Shape(
            "small-records",
            "millions of small records (a version and a name)",
            b'{"Records":[',
            b'{"eventVersion":"1.08","eventName":"GetObject"}',
            b"]}",
            separator=b",",
        ),
        Shape(
            "deep-nesting",
            "records nested 900 levels deep (within every parser's limit)",
            b'{"Records":[',
            b'{"eventVersion":"1.08","eventName":"GetObject","a":' + b"[" * 900 + b"]" * 900 + b"}",
            b"]}",
            separator=b",",
        ),
        Shape(
            "too-deep",
            "one record nested deeper than JSON parsers allow",
            b'{"Records":[{"eventName":"x","a":',
            b"[" * 65536,
            b"]}",
            refused="deeper than",
        ),
        Shape(
            "huge-arrays",
            "records each holding an array of 100,000 small objects",
            b'{"Records":[',
            _record(0, resources=[{"ARN": "a"}] * 100_000),
            b"]}",
            separator=b",",
        ),
        Shape(
            "escapes",
            "records whose strings are long runs of escapes",
            b'{"Records":[',
            _record(0, userAgent="@@").replace(b"@@", _ESCAPES),
            b"]}",
            separator=b",",
        ),
    )
}


def write_shape(path: Path, shape: Shape, size: int) -> int:
    """Write ``shape`` at about ``size`` decompressed bytes to ``path`` as gzip; return the decompressed size."""
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)
    units = shape.units_for(size)
    block_units = max(1, (1 << 20) // (len(shape.unit) + len(shape.separator)))
    block = (shape.unit + shape.separator) * block_units
    written = 0
    with path.open("wb") as out:
        out.write(squeeze.compress(shape.prefix))
        written += len(shape.prefix)
        remaining = units
        while remaining > block_units:
            out.write(squeeze.compress(block))
            written += len(block)
            remaining -= block_units
        tail = (shape.unit + shape.separator) * (remaining - 1) + shape.unit
        out.write(squeeze.compress(tail + shape.suffix))
        written += len(tail) + len(shape.suffix)
        out.write(squeeze.flush())
    return written
