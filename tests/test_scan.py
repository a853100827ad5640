"""The fast path of scan_log_file (projection, candidates, full parse of those only) equals the plain path.

Documents are random records under random rule sets, written as random valid JSON (whitespace, key
order, ``\\uXXXX`` escapes), and small documents broken at random; the plain path
(:func:`scan_plain`, every record parsed in full) is the reference.
"""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_reencoding import write_json
from tests.test_selectors_properties import Rules, build_engine, records, rule_sets
from trailsift.engine import RuleEngine
from trailsift.reader import LogFileError, NotALogFile
from trailsift.rules import default_rules
from trailsift.scan import ScanResult, scan_log_file, scan_plain

# 150 examples a property: five properties over whole generated log files are the suite's largest hypothesis cost (300
# took 3 CPU-minutes of a suite that must stay under 15 minutes on 2 cores).
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
DEFAULT = RuleEngine(default_rules())


def outcome(result: ScanResult) -> tuple[Any, ...]:
    return (
        result.records,
        [(m.index, m.record, m.rules) for m in result.matches],
        [(p.index, p.reason) for p in result.problems],
    )


def either(scan: Any, data: bytes, engine: RuleEngine) -> tuple[Any, ...]:
    """What a scan gives: its outcome, or the kind and reason of its refusal."""
    try:
        return ("ok", outcome(scan(data, "x", engine)))
    except (LogFileError, NotALogFile) as exc:
        return (type(exc).__name__, exc.reason)


def encoded(record_list: list[dict[str, Any]], rng: random.Random) -> bytes:
    out: list[str] = []
    write_json({"Records": record_list}, rng, out)
    return "".join(out).encode()


@SETTINGS
@given(rules=rule_sets, record_list=st.lists(records, max_size=6), rng=st.randoms(use_true_random=False))
def test_fast_path_equals_plain_path(rules: Rules, record_list: list[dict[str, Any]], rng: random.Random) -> None:
    engine = build_engine(rules)
    document = encoded(record_list, rng)
    data = gzip.compress(document)
    assert engine.projection.decode(document) is not None  # the fast path really ran
    assert outcome(scan_log_file(data, "x", engine)) == outcome(scan_plain(data, "x", engine))


@SETTINGS
@given(rules=rule_sets, record_list=st.lists(records, min_size=1, max_size=6), rng=st.randoms(use_true_random=False))
def test_every_matching_record_is_a_candidate(
    rules: Rules, record_list: list[dict[str, Any]], rng: random.Random
) -> None:
    engine = build_engine(rules)
    views = engine.projection.decode(encoded(record_list, rng))
    assert views is not None
    candidates = engine.candidates(views)
    assert candidates == sorted(set(candidates))
    assert {i for i, record in enumerate(record_list) if engine.match(record)} <= set(candidates)


def test_candidates_are_few_on_real_records() -> None:
    # the point of the guards: a benign record is not a candidate, a sensitive one is
    document = json.dumps(
        {
            "Records": [
                {"eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com", "userIdentity": {"type": "IAMUser"}},
                {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "userIdentity": {"type": "IAMUser"}},
                {"eventName": "GetObject", "errorCode": "AccessDenied", "userIdentity": {"type": "AssumedRole"}},
                {"eventName": "GetObject", "errorCode": "NoSuchKey", "userIdentity": {"type": "AssumedRole"}},
                {"eventName": "ListBuckets", "userIdentity": {"type": "Root"}},
            ]
        }
    ).encode()
    views = DEFAULT.projection.decode(document)
    assert views is not None
    assert DEFAULT.candidates(views) == [1, 2, 4]


BREAKERS = [
    b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\\ud800", b"\\x", b"\n", b"\x00", b"1e999", b"-", b"01",
    b"NaN", b"]", b"}", b"[", b"{", b",", b":", b'"', b"\\", b"\xc3\xa9", b"true", b"nul", b" ",
]


BROKEN_DOCUMENTS = {
    "record_list": st.lists(records, min_size=1, max_size=3),
    "rng": st.randoms(use_true_random=False),
    "cut": st.floats(0, 1),
    "breaker": st.sampled_from(BREAKERS),
    "action": st.sampled_from(["insert", "replace", "truncate"]),
}
"""The arguments of :func:`broken` documents (with the records to encode), for every broken-document property."""


def broken(document: bytes, cut: float, breaker: bytes, action: str) -> bytes:
    """``document`` gzipped after ``breaker`` is inserted or written over at ``cut`` of it, or cut there."""
    at = int(cut * len(document))
    if action == "insert":
        document = document[:at] + breaker + document[at:]
    elif action == "replace":
        document = document[:at] + breaker + document[at + len(breaker) :]
    else:
        document = document[:at]
    return gzip.compress(document)


@SETTINGS
@given(**BROKEN_DOCUMENTS)
def test_broken_documents_get_the_same_answer(
    record_list: list[dict[str, Any]], rng: random.Random, cut: float, breaker: bytes, action: str
) -> None:
    data = broken(encoded(record_list, rng), cut, breaker, action)
    plain = either(scan_plain, data, DEFAULT)
    if plain[0] == "LogFileError" and "infinity" in plain[1]:
        return  # numbers past double range: test_numbers_past_double_range says what happens
    assert either(scan_log_file, data, DEFAULT) == plain


def test_invalid_utf8_in_a_field_no_rule_reads_fails_the_file_on_both_paths() -> None:
    document = b'{"Records":[{"eventName":"StopLogging","userAgent":"\xc0\xaf"}]}'
    for scan in (scan_log_file, scan_plain):
        with pytest.raises(LogFileError, match="not valid JSON"):
            scan(gzip.compress(document), "x", DEFAULT)


def test_valid_non_ascii_takes_the_fast_path() -> None:
    document = '{"Records":[{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","userAgent":"été ☃"}]}'.encode()
    assert DEFAULT.projection.decode(document) is not None
    result = scan_log_file(gzip.compress(document), "x", DEFAULT)
    assert [m.rules for m in result.matches] == [("cloudtrail-changes",)]
    assert result.matches[0].record["userAgent"] == "été ☃"
    assert outcome(result) == outcome(scan_plain(gzip.compress(document), "x", DEFAULT))


def test_numbers_past_double_range() -> None:
    # orjson refuses a number that overflows a double; msgspec skips it unread. In a record that
    # could match, the record is parsed by orjson and the file fails as on the plain path; in a
    # record no rule can match, the fast path never reads the number and the file is processed.
    matching = b'{"Records":[{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","x":1e999}]}'
    for scan in (scan_log_file, scan_plain):
        with pytest.raises(LogFileError, match="infinity"):
            scan(gzip.compress(matching), "x", DEFAULT)
    benign = b'{"Records":[{"eventName":"DescribeInstances","x":1e999},{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}]}'
    result = scan_log_file(gzip.compress(benign), "x", DEFAULT)
    assert result.records == 2 and [m.index for m in result.matches] == [1]


def test_documents_the_projection_cannot_read_take_the_plain_path() -> None:
    # entries that are not objects: the plain path reports them and keeps the rest
    document = b'{"Records":[1,{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}]}'
    assert DEFAULT.projection.decode(document) is None
    result = scan_log_file(gzip.compress(document), "x", DEFAULT)
    assert [m.index for m in result.matches] == [1]
    assert [p.index for p in result.problems] == [0]


def streamed(chunk_bytes: int) -> Any:
    """scan_log_file forced onto the streamed path, decompressing ``chunk_bytes`` at a time."""

    def scan(data: bytes, source: str, engine: RuleEngine) -> ScanResult:
        return scan_log_file(data, source, engine, stream_above=0, chunk_bytes=chunk_bytes)

    return scan


@SETTINGS
@given(
    rules=rule_sets,
    record_list=st.lists(records, max_size=12),
    rng=st.randoms(use_true_random=False),
    chunk_bytes=st.integers(1, 300),
)
def test_streamed_path_equals_whole_and_plain_paths(
    rules: Rules, record_list: list[dict[str, Any]], rng: random.Random, chunk_bytes: int
) -> None:
    """Batches cut anywhere (inside strings, escapes, numbers, multi-byte characters) give the same result."""
    engine = build_engine(rules)
    data = gzip.compress(encoded(record_list, rng))
    whole = outcome(scan_log_file(data, "x", engine))
    assert outcome(streamed(chunk_bytes)(data, "x", engine)) == whole
    assert outcome(scan_plain(data, "x", engine, stream_above=0, chunk_bytes=chunk_bytes)) == whole


@SETTINGS
@given(**BROKEN_DOCUMENTS, chunk_bytes=st.integers(1, 200))
def test_broken_documents_are_refused_alike_streamed(
    record_list: list[dict[str, Any]], rng: random.Random, cut: float, breaker: bytes, action: str, chunk_bytes: int
) -> None:
    """A document the whole path refuses is refused streamed too (the reason may say more, such as a byte offset)."""
    data = broken(encoded(record_list, rng), cut, breaker, action)
    plain = either(scan_plain, data, DEFAULT)
    if plain[0] == "LogFileError" and "infinity" in plain[1]:
        return  # numbers past double range: test_numbers_past_double_range says what happens
    result = either(streamed(chunk_bytes), data, DEFAULT)
    if plain[0] == "ok":
        assert result == plain
    elif result[0] != plain[0]:
        # The one shape streaming reads differently: a document that is not CloudTrail's ``{"Records": [``.
        assert plain[0] == "NotALogFile" or result == ("LogFileError", STREAM_SHAPE_REASON), (plain, result)


STREAM_SHAPE_REASON = (
    'a document larger than 2097152 bytes must begin with {"Records": [ as CloudTrail writes it; this one does not'
)
