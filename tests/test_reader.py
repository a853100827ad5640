"""reader: every way a log file can be unreadable raises an error naming the file (and record, where one applies)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from isal import isal_zlib

from trailsift.reader import (
    LogFileError,
    NotALogFile,
    RecordProblem,
    decompress,
    document_entries,
    iter_log_records,
)


@dataclass
class Content:
    """What a file gave: its records with their index, the entries skipped, and how many entries in all."""

    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[RecordProblem] = field(default_factory=list)
    total: int = 0


def collect(entries: Iterable[tuple[int, Any]]) -> Content:
    content = Content()
    for index, entry in entries:
        if isinstance(entry, RecordProblem):
            content.problems.append(entry)
        else:
            content.records.append((index, entry))
        content.total = index + 1
    return content


def read_log_file(data: bytes, source: str, **kwargs: Any) -> Content:
    return collect(iter_log_records(data, source, **kwargs))


SOURCE = "s3://bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"
RECORD = {"eventVersion": "1.09", "eventID": "e-1", "eventName": "StopLogging", "eventTime": "2024-01-01T00:01:00Z"}


def document(records: list) -> bytes:
    return json.dumps({"Records": records}).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def refused(data: bytes, **kwargs) -> LogFileError:
    with pytest.raises(LogFileError) as info:
        read_log_file(data, SOURCE, **kwargs)
    error = info.value
    assert error.source == SOURCE
    assert str(error).startswith(f"{SOURCE}: "), str(error)
    assert error.index is None
    return error


@pytest.fixture(scope="module")
def real_gz(shared_cloudtrail) -> bytes:
    """A real delivery file of 156 records (about 15 KB compressed)."""
    path = (
        shared_cloudtrail / "invictus/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/"
        "218007301253_CloudTrail_us-east-1_20230710T1215Z_YMDRJwtmC82bUwAo.json.gz"
    )
    return path.read_bytes()


# --- readable files --------------------------------------------------------------------------


def test_reads_real_file(real_gz: bytes) -> None:
    content = read_log_file(real_gz, SOURCE)
    assert content.total == len(content.records) == 156
    assert [index for index, _ in content.records] == list(range(156))
    assert content.problems == []
    assert all(record["eventVersion"] for _, record in content.records)


def test_plain_json_with_gz_name_is_accepted() -> None:
    """S3 clients may decode Content-Encoding: gzip on the way: the magic bytes decide, not the name."""
    content = read_log_file(document([RECORD]), SOURCE)
    assert content.records == [(0, RECORD)]
    assert content.total == 1


def test_multi_member_gzip() -> None:
    raw = document([RECORD, {**RECORD, "eventID": "e-2"}])
    middle = len(raw) // 2
    data = gz(raw[:middle]) + gz(raw[middle:])
    content = read_log_file(data, SOURCE)
    assert [record["eventID"] for _, record in content.records] == ["e-1", "e-2"]
    assert decompress(data, SOURCE) == raw


def test_multi_member_gzip_with_empty_member_and_zero_padding() -> None:
    raw = document([RECORD])
    data = gz(b"") + gz(raw) + gz(b"") + b"\x00" * 16
    assert decompress(data, SOURCE) == raw


def test_empty_records_list() -> None:
    content = read_log_file(gz(b'{"Records": []}'), SOURCE)
    assert content.records == [] and content.total == 0 and content.problems == []


# --- gzip faults -----------------------------------------------------------------------------


def test_corrupt_gzip() -> None:
    error = refused(b"\x1f\x8b\x08\x00" + b"\xff" * 200)
    assert "corrupt gzip" in error.reason


def test_corrupt_crc(real_gz: bytes) -> None:
    broken = bytearray(real_gz)
    broken[-8] ^= 0xFF  # first byte of the CRC-32 in the trailer
    error = refused(bytes(broken))
    assert "corrupt gzip" in error.reason


@pytest.mark.parametrize("keep", ["half", "header", "no-trailer"])
def test_truncated_gzip(real_gz: bytes, keep: str) -> None:
    cut = {"half": len(real_gz) // 2, "header": 6, "no-trailer": len(real_gz) - 4}[keep]
    error = refused(real_gz[:cut])
    assert "truncated gzip" in error.reason


def test_trailing_garbage_after_gzip() -> None:
    error = refused(gz(document([RECORD])) + b"garbage")
    assert "trailing garbage" in error.reason


def test_gzip_of_non_json() -> None:
    error = refused(gz(b"this is not JSON, it is a log line\n"))
    assert error.reason.startswith("not valid JSON")


def test_gzip_of_truncated_json() -> None:
    error = refused(gz(document([RECORD])[:-10]))
    assert error.reason.startswith("not valid JSON")


@pytest.mark.parametrize("compressed", [True, False])
def test_non_utf8_bytes(compressed: bool) -> None:
    raw = b'{"Records": [{"eventName": "Caf\xe9"}]}'  # Latin-1, not UTF-8
    error = refused(gz(raw) if compressed else raw)
    assert error.reason.startswith("not valid JSON")
    assert "UTF-8" in error.reason


# --- documents that are not event files --------------------------------------------------------


def test_zero_byte_object_is_not_a_log_file() -> None:
    with pytest.raises(NotALogFile) as info:
        read_log_file(b"", SOURCE)
    assert info.value.source == SOURCE
    assert str(info.value) == f"{SOURCE}: zero-byte object"


@pytest.mark.parametrize("raw", [b"", b"  \n\t ", b"\n"])
def test_empty_document(raw: bytes) -> None:
    error = refused(gz(raw))
    assert error.reason == "empty file (no JSON document)"
    if raw:  # whitespace only, uncompressed
        assert refused(raw).reason == "empty file (no JSON document)"


@pytest.mark.parametrize(
    ("raw", "word"),
    [(b"[]", "a list"), (b'[{"eventName": "x"}]', "a list"), (b'"Records"', "a string"), (b"42", "a number"),
     (b"null", "null"), (b"true", "a boolean")],
)
def test_top_level_not_an_object(raw: bytes, word: str) -> None:
    error = refused(gz(raw))
    assert error.reason == f"top-level JSON is {word}, expected an object with 'Records'"


def test_no_records_key() -> None:
    error = refused(gz(b'{"records": [], "eventName": "x"}'))
    assert error.reason == "no 'Records' key (top-level keys: eventName, records)"
    assert refused(gz(b"{}")).reason == "no 'Records' key (top-level keys: none)"


@pytest.mark.parametrize(
    ("value", "word"),
    [({"eventName": "x"}, "an object"), ("[]", "a string"), (None, "null"), (3, "a number"), (False, "a boolean")],
)
def test_records_not_a_list(value, word: str) -> None:
    error = refused(gz(json.dumps({"Records": value}).encode()))
    assert error.reason == f"'Records' is {word}, expected a list"


def test_digest_content_is_not_a_log_file() -> None:
    digest = {
        "awsAccountId": "123456789012",
        "digestStartTime": "2023-07-19T21:00:00Z",
        "digestEndTime": "2023-07-19T22:00:00Z",
        "logFiles": [],
    }
    with pytest.raises(NotALogFile) as info:
        read_log_file(gz(json.dumps(digest).encode()), SOURCE)
    assert info.value.source == SOURCE
    assert "digest" in info.value.reason
    assert str(info.value).startswith(f"{SOURCE}: ")


def test_sample_digest_file_is_not_a_log_file(events_logs) -> None:
    (path,) = events_logs.glob("AWSLogs/*/CloudTrail-Digest/*/*/*/*/*.json.gz")
    with pytest.raises(NotALogFile):
        read_log_file(path.read_bytes(), str(path))


# --- records that are not objects ----------------------------------------------------------------


def test_records_that_are_not_objects_are_reported_with_index_and_others_kept() -> None:
    entries = [RECORD, 5, "text", None, [RECORD], True, 1.5, {**RECORD, "eventID": "e-7"}]
    content = read_log_file(gz(document(entries)), SOURCE)
    assert content.total == 8
    assert [(index, record["eventID"]) for index, record in content.records] == [(0, "e-1"), (7, "e-7")]
    assert content.problems == [
        RecordProblem(1, "record is a number, expected an object"),
        RecordProblem(2, "record is a string, expected an object"),
        RecordProblem(3, "record is null, expected an object"),
        RecordProblem(4, "record is a list, expected an object"),
        RecordProblem(5, "record is a boolean, expected an object"),
        RecordProblem(6, "record is a number, expected an object"),
    ]


def test_log_file_error_with_record_index_names_file_and_record() -> None:
    error = LogFileError(SOURCE, "too large", index=3)
    assert str(error) == f"{SOURCE} record 3: too large"
    assert error.index == 3


def test_document_entries_directly() -> None:
    content = collect(document_entries(document([RECORD, 1]), "local.json"))
    assert content.records == [(0, RECORD)]
    assert content.problems == [RecordProblem(1, "record is a number, expected an object")]


# --- decompression limit -------------------------------------------------------------------------


def test_decompression_limit_refuses_without_allocating_the_output() -> None:
    zeros = gzip.compress(b"\x00" * (10 * 1024 * 1024), compresslevel=9, mtime=0)
    assert len(zeros) < 64 * 1024
    limit = 1024 * 1024

    tracemalloc.start()
    try:
        # the measurement sees what isal allocates: inflating it all costs the whole 10 MB
        tracemalloc.reset_peak()
        assert len(isal_zlib.decompress(zeros, 31)) == 10 * 1024 * 1024
        full_peak = tracemalloc.get_traced_memory()[1]

        tracemalloc.reset_peak()
        with pytest.raises(LogFileError) as info:
            read_log_file(zeros, SOURCE, limit=limit)
        limited_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert full_peak > 10 * 1024 * 1024
    assert limited_peak < 5 * 1024 * 1024, f"peak {limited_peak} bytes while refusing"
    assert info.value.source == SOURCE
    assert info.value.reason == f"decompresses to more than {limit} bytes; refused"


def test_decompression_limit_boundary() -> None:
    raw = document([RECORD])
    data = gz(raw)
    assert decompress(data, SOURCE, limit=len(raw)) == raw
    with pytest.raises(LogFileError, match="more than"):
        decompress(data, SOURCE, limit=len(raw) - 1)


def test_decompression_limit_counts_all_members() -> None:
    raw = document([RECORD])
    data = gz(raw) + gz(raw)
    assert len(decompress(data, SOURCE, limit=2 * len(raw))) == 2 * len(raw)
    with pytest.raises(LogFileError, match="more than"):
        decompress(data, SOURCE, limit=2 * len(raw) - 1)

