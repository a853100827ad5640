"""replay: every readable file scanned in order, bad files counted as failed, others as skipped, never stopping."""

from __future__ import annotations

import errno
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trailsift.cli import replay as replay_module
from trailsift.engine import RuleEngine
from trailsift.logfile import classify_key
from trailsift.cli.replay import ReplaySummary, _read_bytes, replay
from trailsift.reader import ReadLimits
from trailsift.rules import default_rules, parse_rules
from trailsift.cli.sources import discover

ACCT = "123456789012"


def name(stamp: str, uid: str = "AbCdEfGhIjKlMnOp") -> str:
    return f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/01/01/{ACCT}_CloudTrail_us-east-1_{stamp}_{uid}.json.gz"


def record(event_id: str, event_name: str = "DescribeInstances", **extra) -> dict:
    return {"eventVersion": "1.09", "eventID": event_id, "eventName": event_name,
            "eventTime": "2024-01-01T00:00:00Z", "awsRegion": "us-east-1", **extra}


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine(parse_rules({"rules": [
        {"name": "trail", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail"]}]}]},
        {"name": "denied", "selectors": [{"FieldSelectors": [{"Field": "errorCode", "StartsWith": ["AccessDenied"]}]}]},
    ]}))


def run(paths, engine, **kwargs):
    summary = ReplaySummary()
    matches = list(replay(discover(paths), engine, summary, **kwargs))
    return matches, summary


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path, write_log_file, engine) -> None:
    first = write_log_file([record("a0"), record("a1", "StopLogging")], name("20240101T0005Z"))
    bad = tmp_path / name("20240101T0010Z")
    bad.write_bytes(gzip.compress(b'{"Records": [')[:-3])
    last = write_log_file([record("c0", "DeleteTrail", errorCode="AccessDenied")], name("20240101T0015Z"))
    matches, summary = run([tmp_path], engine)
    assert [(m.source, m.index, m.record["eventID"], m.rules) for m in matches] == [
        (str(first), 1, "a1", ("trail",)),
        (str(last), 0, "c0", ("trail", "denied")),
    ]
    assert summary.files_read == 2
    assert summary.records == 3
    assert summary.matched_records == 2
    assert summary.matches_per_rule == {"trail": 2, "denied": 1}
    assert len(summary.failed) == 1
    assert summary.failed[0][0] == str(bad)
    assert "truncated gzip" in summary.failed[0][1]
    assert summary.skipped == []


def test_skip_reasons(tmp_path: Path, write_log_file, engine) -> None:
    digest_name = f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2024/01/01/{ACCT}_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T010000Z.json.gz"
    write_log_file({"digestStartTime": "x", "logFiles": []}, digest_name)
    write_log_file(b"", f"AWSLogs/{ACCT}/Config/ConfigWritabilityCheckFile", gz=False)
    write_log_file(b"", name("20240101T0020Z"), gz=False)  # zero bytes
    write_log_file({"digestStartTime": "x", "logFiles": []}, name("20240101T0025Z"))  # digest content, event name
    write_log_file(b"hello", "notes.txt", gz=False)
    write_log_file([record("r0")], f"AWSLogs/999999999999/CloudTrail/us-east-1/2024/01/01/{ACCT}_CloudTrail_us-east-1_20240101T0030Z_AbCdEfGhIjKlMnOp.json.gz")
    matches, summary = run([tmp_path], engine)
    assert matches == []
    reasons = {Path(source).name: reason for source, reason in summary.skipped}
    assert reasons == {
        Path(digest_name).name: "CloudTrail digest file (integrity hashes, no events)",
        "ConfigWritabilityCheckFile": "AWS Config writability probe, not a log file",
        Path(name("20240101T0020Z")).name: "zero-byte object",
        Path(name("20240101T0025Z")).name: "CloudTrail digest file (integrity hashes, no events)",
        "notes.txt": "not a CloudTrail log file name",
        f"{ACCT}_CloudTrail_us-east-1_20240101T0030Z_AbCdEfGhIjKlMnOp.json.gz": "file name disagrees with its AWSLogs/ path",
    }
    assert summary.files_read == 0 and summary.failed == [] and summary.records == 0


def test_unnamed_json_and_plain_json_with_gz_name_are_read(tmp_path: Path, write_log_file, engine) -> None:
    write_log_file([record("u0", "StopLogging")], "export/records.json", gz=False)
    write_log_file([record("p0", "StopLogging")], name("20240101T0005Z"), gz=False)  # .json.gz name, plain bytes
    matches, summary = run([tmp_path], engine)
    assert sorted(m.record["eventID"] for m in matches) == ["p0", "u0"]
    assert summary.files_read == 2 and summary.failed == [] and summary.skipped == []


def test_records_that_are_not_objects_keep_true_indexes(tmp_path: Path, write_log_file, engine) -> None:
    path = write_log_file([1, "x", record("r2", "StopLogging"), None, record("r4", "StopLogging")])
    matches, summary = run([path], engine)
    assert [(m.index, m.record["eventID"]) for m in matches] == [(2, "r2"), (4, "r4")]
    assert summary.records == 2
    assert summary.record_problems == [
        (str(path), 0, "record is a number, expected an object"),
        (str(path), 1, "record is a string, expected an object"),
        (str(path), 3, "record is null, expected an object"),
    ]


def test_failures_name_the_reason(tmp_path: Path, write_log_file, engine) -> None:
    write_log_file(b"\x1f\x8b\x08\x00garbage-garbage-garbage", name("20240101T0005Z", "A000000000000000"), gz=False)
    write_log_file(b"not json", name("20240101T0005Z", "B000000000000000"))
    write_log_file([], name("20240101T0005Z", "C000000000000000"))  # readable, no records
    write_log_file({"records": []}, name("20240101T0005Z", "D000000000000000"))
    write_log_file({"Records": {}}, name("20240101T0005Z", "E000000000000000"))
    _, summary = run([tmp_path], engine)
    failed = {Path(source).name[-24:-8]: reason for source, reason in summary.failed}
    assert set(failed) == {"A000000000000000", "B000000000000000", "D000000000000000", "E000000000000000"}
    assert failed["A000000000000000"].startswith("corrupt gzip data")
    assert failed["B000000000000000"].startswith("not valid JSON")
    assert failed["D000000000000000"] == "no 'Records' key (top-level keys: records)"
    assert failed["E000000000000000"] == "'Records' is an object, expected a list"
    assert summary.files_read == 1


def test_unreadable_file_is_a_failure_not_a_crash(tmp_path: Path, write_log_file, engine) -> None:
    gone = write_log_file([record("g0")], name("20240101T0005Z", "A000000000000000"))
    kept = write_log_file([record("k0", "StopLogging")], name("20240101T0010Z", "B000000000000000"))
    files = list(discover([tmp_path]))
    gone.unlink()  # removed between discovery and reading
    summary = ReplaySummary()
    matches = list(replay(files, engine, summary))
    assert [m.source for m in matches] == [str(kept)]
    assert summary.failed == [(str(gone), "cannot read: No such file or directory")]


def test_decompression_limit_is_passed_on(tmp_path: Path, write_log_file, engine) -> None:
    write_log_file([record(f"e{i}") for i in range(50)])
    _, summary = run([tmp_path], engine, limits=ReadLimits(max_decompressed_bytes=100))
    assert summary.failed and "more than 100 bytes" in summary.failed[0][1]
    _, summary = run([tmp_path], engine, limits=ReadLimits(max_record_bytes=100), jobs=2)
    assert summary.failed and "record 0: record is larger than the limit of 100 bytes" in summary.failed[0][1]
    _, summary = run([tmp_path], engine)
    assert summary.failed == [] and summary.records == 50


def test_progress_and_timing(tmp_path: Path, write_log_file, engine) -> None:
    for i in range(3):
        write_log_file([record(f"e{i}")], name(f"20240101T00{i}5Z"))
    write_log_file(b"x", str(Path(name("20240101T0000Z")).parent / "zz-skip.txt"), gz=False)
    calls = []
    before = time.perf_counter()
    summary = ReplaySummary()
    matches = replay(discover([tmp_path]), engine, summary, progress=lambda done, s: calls.append((done, s.records)))
    assert summary.finished is None
    running = summary.elapsed
    time.sleep(0.01)
    assert summary.elapsed > running + 0.005  # still counting until the replay ends (slept 0.01 s)
    list(matches)
    after = time.perf_counter()
    assert calls == [(1, 1), (2, 2), (3, 3), (4, 3)]
    assert summary.finished is not None and summary.started <= summary.finished <= after
    elapsed = summary.elapsed
    assert 0.005 < elapsed <= after - before  # the replay's own time, the sleep above included
    time.sleep(0.01)
    assert summary.elapsed == elapsed  # frozen once finished


def test_replay_of_the_sample_tree(events_logs: Path) -> None:
    matches, summary = run([events_logs], RuleEngine(default_rules()))
    assert summary.files_read == 19
    assert len(summary.skipped) == 5
    assert summary.failed == []
    assert summary.records == 213
    assert summary.matched_records == len(matches) == 23
    assert summary.matches_per_rule["cloudtrail-changes"] == 5
    assert summary.matches_per_rule["console-login-without-mfa"] == 1
    assert summary.matches_per_rule["organizations-changes"] == 1
    # every match points at its record: the index is its position in the file's Records
    for match in matches:
        records = json.loads(gzip.decompress(Path(match.source).read_bytes()))["Records"]
        assert records[match.index] == match.record


def test_sample_tree_is_reproducible(tmp_path: Path, events_logs: Path, shared_cloudtrail: Path) -> None:
    """events/build_samples.py recreates events/logs byte for byte (generated and copied files alike)."""
    script = events_logs.parent / "build_samples.py"
    done = subprocess.run([sys.executable, str(script), "--shared", str(shared_cloudtrail), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    rebuilt = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert len(rebuilt) == 23  # everything but the hand-written NOTICE.md
    assert sorted(done.stdout.split()) == sorted(k for k in rebuilt if not k.startswith("LICENSES/"))
    for relative, data in rebuilt.items():
        assert (events_logs / relative).read_bytes() == data, relative


INSIGHT = f"{ACCT}_CloudTrail-Insight_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"


def test_empty_files_chosen_by_name_are_skipped_as_zero_byte_objects(tmp_path: Path, write_log_file, engine) -> None:
    """Files are chosen by name, without a stat: an empty one is skipped with the reason a stat would give."""
    empties = [
        name("20240101T0005Z"),
        f"AWSLogs/{ACCT}/CloudTrail-Insight/us-east-1/2024/01/01/{INSIGHT}",
        "export/records.json",
        "export/records.json.gz",
        f"AWSLogs/999999999999/CloudTrail/us-east-1/2024/01/01/{Path(name('20240101T0005Z')).name}",
        "notes.txt",
    ]
    paths = [write_log_file(b"", relative, gz=False) for relative in empties]
    matches, summary = run([tmp_path], engine)
    assert matches == [] and summary.files_read == 0 and summary.failed == []
    assert sorted(summary.skipped) == sorted((str(path), "zero-byte object") for path in paths)
    assert all(classify_key(path.as_posix(), size=0).reason == "zero-byte object" for path in paths)


def test_an_empty_file_that_cannot_be_opened_is_still_skipped(
    tmp_path: Path, write_log_file, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when discovery looked at sizes first: an empty file is skipped, not failed, readable or not."""
    empty = write_log_file(b"", name("20240101T0005Z", "A000000000000000"), gz=False)
    full = write_log_file([record("f0")], name("20240101T0005Z", "B000000000000000"))

    def denied(location: str) -> bytes:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), location)

    monkeypatch.setattr(replay_module, "_read_bytes", denied)
    _, summary = run([tmp_path], engine)
    assert summary.skipped == [(str(empty), "zero-byte object")]
    assert summary.failed == [(str(full), "cannot read: Permission denied")]


@pytest.mark.parametrize("size", [0, 1, 4095, 65536, 65537, 300_001])
def test_read_bytes_reads_what_path_read_bytes_does(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    assert _read_bytes(str(path)) == path.read_bytes()


def test_read_bytes_reads_to_the_end_whatever_the_size_says() -> None:
    """A file whose size says 0 (Linux's /proc) still reads whole: the end is where a read returns nothing."""
    proc = Path("/proc/self/mounts")
    if not proc.exists():
        pytest.skip("no /proc here")
    assert os.stat(proc).st_size == 0
    data = _read_bytes(str(proc))
    assert data and data == proc.read_bytes()


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_read_bytes_raises_what_path_read_bytes_raises(tmp_path: Path, make: str) -> None:
    path = tmp_path / "x"
    if make == "folder":
        path.mkdir()
    with pytest.raises(OSError) as expected:
        path.read_bytes()
    with pytest.raises(OSError) as got:
        _read_bytes(str(path))
    assert type(got.value) is type(expected.value)
    assert got.value.strerror == expected.value.strerror
