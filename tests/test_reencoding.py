"""Replaying the real corpus gives the same matches however its JSON is written.

The shared corpus (about 3,700 real records) is rewritten as other valid JSON encodings of the same
records: other whitespace, shuffled key order, and ``\\uXXXX`` escapes of arbitrary characters in
keys and values (``"\\u0053topLogging"`` is ``StopLogging``). Each file is also written big enough to
take the streaming reader. The matches (file position, eventID, rules) must not change.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import orjson
import pytest

from trailsift.engine import RuleEngine
from trailsift.reader import iter_log_records
from trailsift.rules import default_rules
from trailsift.scan import scan_log_file

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cloudtrail"


def real_documents() -> list[tuple[str, list]]:
    docs = []
    for path in sorted(SHARED.rglob("*.json*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            docs.append((str(path.relative_to(SHARED)), json.loads(handle.read())["Records"]))
    assert sum(len(records) for _, records in docs) > 3500, "the shared corpus is missing"
    return docs


def write_json(value: object, rng: random.Random, out: list[str]) -> None:
    """A JSON writer that varies whitespace, key order and escapes at random."""
    ws = lambda: rng.choice(["", "", " ", "\n", "\t", "  \r\n "])  # noqa: E731
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        out.append("{" + ws())
        for position, (key, item) in enumerate(items):
            if position:
                out.append(ws() + "," + ws())
            write_string(key, rng, out)
            out.append(ws() + ":" + ws())
            write_json(item, rng, out)
        out.append(ws() + "}")
    elif isinstance(value, list):
        out.append("[" + ws())
        for position, item in enumerate(value):
            if position:
                out.append(ws() + "," + ws())
            write_json(item, rng, out)
        out.append(ws() + "]")
    elif isinstance(value, str):
        write_string(value, rng, out)
    else:
        out.append(json.dumps(value))


def write_string(text: str, rng: random.Random, out: list[str]) -> None:
    pieces = ['"']
    for char in text:
        if char in '"\\' or ord(char) < 0x20 or rng.random() < 0.15:
            if ord(char) > 0xFFFF:
                pieces.append(json.dumps(char)[1:-1])  # surrogate pair escape
            else:
                pieces.append(f"\\u{ord(char):04x}" if rng.random() < 0.5 else f"\\u{ord(char):04X}")
        elif char == "/" and rng.random() < 0.5:
            pieces.append("\\/")
        else:
            pieces.append(char)
    pieces.append('"')
    out.append("".join(pieces))


def matches_of(data: bytes, engine: RuleEngine) -> list[tuple[int, str, tuple[str, ...]]]:
    result = scan_log_file(data, "x", engine)
    return [(m.index, m.record.get("eventID"), m.rules) for m in result.matches]


@pytest.fixture(scope="module")
def corpus():
    return real_documents()


@pytest.mark.parametrize("seed", [1, 2])
def test_reencoded_corpus_gives_the_same_matches(corpus, seed):
    engine = RuleEngine(default_rules())
    rng = random.Random(seed)
    total_matches = 0
    for name, records in corpus:
        plain = gzip.compress(orjson.dumps({"Records": records}))
        out: list[str] = []
        write_json({"Records": records}, rng, out)
        rewritten = "".join(out).encode()
        assert orjson.loads(rewritten) == {"Records": records}, name
        expected = matches_of(plain, engine)
        assert matches_of(gzip.compress(rewritten), engine) == expected, name
        total_matches += len(expected)
    assert total_matches > 300  # the comparison covered many matches, not none


def test_streamed_and_whole_reads_agree_on_the_real_corpus(corpus):
    """One big file of every real record, read whole and streamed, gives the same entries."""
    records = [record for _, recs in corpus for record in recs]
    rng = random.Random(3)
    out: list[str] = []
    write_json({"Records": records}, rng, out)
    data = gzip.compress("".join(out).encode(), compresslevel=1)
    whole = list(iter_log_records(data, "big", stream_above=1 << 40))
    streamed = list(iter_log_records(data, "big", stream_above=0, chunk_bytes=50_000))
    assert len(whole) == len(records)
    assert streamed == whole


def test_sensitive_names_outside_the_selected_fields_do_not_match():
    """A record that mentions StopLogging in its user agent or parameters is not a StopLogging call."""
    engine = RuleEngine(default_rules())
    record = {
        "eventVersion": "1.08",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "DescribeTrails",
        "userAgent": "StopLogging",
        "requestParameters": {"eventName": "StopLogging", "note": '"eventName":"StopLogging"'},
        "errorMessage": "AccessDenied",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/Root"},
        "eventID": "e1",
    }
    assert engine.match(record) == ()
    assert engine.match({**record, "eventName": "StopLogging"}) == ("cloudtrail-changes",)
