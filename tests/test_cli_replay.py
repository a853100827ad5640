"""replay: every readable file scanned in order, bad files counted as failed, others as skipped, never stopping."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import REPO
from conftest import write_log_file as write_into
from trailsift.cli import main
from trailsift.cli import replay as replay_module
from trailsift.cli.plan import Window, parse_time, plan
from trailsift.engine import RuleEngine
from trailsift.logfile import classify_key
from trailsift.cli.replay import (
    FileOutcome,
    RemoteFile,
    ReplaySummary,
    _read_bytes,
    _remote_batches,
    replay,
    replay_remote,
    s3_fetcher,
)
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


# --- replay straight from S3, and the same selection of local files ---------------------------------

BUCKET = "trail-replay"
ORG = "o-abcdefghij"
SYNTH = REPO.parent / "shared" / "tools" / "synth_corpus.py"
DAY = "2026-11-20"


def stop_logging(event_id: str, account: str, when: str) -> dict:
    return record(event_id, "StopLogging", eventTime=when, recipientAccountId=account, eventSource="cloudtrail.amazonaws.com",
                  userIdentity={"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/mallory"})


def boundary_files(accounts: list[str]) -> dict[str, bytes]:
    """Files either side of the synthetic day (one per account), an Insights file, a digest and a probe, by key."""
    first, second = accounts
    files = {}
    for account, stamp, folder, owner in ((first, "20261119T2355Z", "2026/11/19", first),
                                          (second, "20261121T0010Z", "2026/11/21", f"{ORG}/{second}"),
                                          (second, "20261121T0020Z", "2026/11/21", f"{ORG}/{second}")):
        key = (f"AWSLogs/{owner}/CloudTrail/us-east-1/{folder}/"
               f"{account}_CloudTrail_us-east-1_{stamp}_AbCdEfGhIjKlMnOp.json.gz")
        files[key] = gzip.compress(json.dumps({"Records": [stop_logging(f"edge-{stamp}", account, "2026-11-20T23:59:00Z")]}).encode())
    insight = f"{first}_CloudTrail-Insight_us-east-1_20261120T1000Z_AbCdEfGhIjKlMnOp.json.gz"
    files[f"AWSLogs/{first}/CloudTrail-Insight/us-east-1/2026/11/20/{insight}"] = gzip.compress(
        json.dumps({"Records": [{"eventVersion": "1.08", "eventType": "AwsCloudTrailInsight", "eventID": "i1",
                                 "eventCategory": "Insight", "awsRegion": "us-east-1"}]}).encode())
    digest = f"{first}_CloudTrail-Digest_us-east-1_trail_us-east-1_20261120T100000Z.json.gz"
    files[f"AWSLogs/{first}/CloudTrail-Digest/us-east-1/2026/11/20/{digest}"] = gzip.compress(b'{"logFiles": []}')
    files[f"AWSLogs/{first}/Config/ConfigWritabilityCheckFile"] = b""
    return files


@pytest.fixture(scope="module")
def trail_bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """moto's server on 127.0.0.1 with a trail bucket: a synthetic day of two accounts (the second under an
    organization id), files on the days either side, Insights, a digest and a probe. Yields the endpoint
    and a folder holding the bucket's event files (``CloudTrail/`` only) under their keys."""
    import boto3

    from trailsift.cli.local import moto_server

    synth = tmp_path_factory.mktemp("synth")
    done = subprocess.run([sys.executable, str(SYNTH), str(synth), "--events", "150", "--accounts", "2",
                           "--day", DAY, "--seed", "5"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    accounts = sorted(path.name for path in (synth / "AWSLogs").iterdir())
    objects = {}
    for path in sorted(synth.rglob("*.json.gz")):
        key = path.relative_to(synth).as_posix()
        if key.startswith(f"AWSLogs/{accounts[1]}/"):
            key = key.replace("AWSLogs/", f"AWSLogs/{ORG}/", 1)
        objects[key] = path.read_bytes()
    objects.update(boundary_files(accounts))
    events = tmp_path_factory.mktemp("events")
    for key, data in objects.items():
        if "/CloudTrail/" in key:
            write_into(events, data, key, gz=False)
    with moto_server() as url:
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for key, data in objects.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        yield url, events


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def without_elapsed(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith("elapsed: "))


def download_plan(url: str, folder: Path, **options: Any) -> list[str]:
    """The planned files downloaded under ``folder/<bucket>/<key>``: the same files, on disk."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    found = plan(s3, BUCKET, **options)
    for file in found.files:
        write_into(folder / BUCKET, s3.get_object(Bucket=BUCKET, Key=file.key)["Body"].read(), file.key, gz=False)
    return [file.key for file in found.files]


FORMATS = {"text": [], "jsonl": ["--format", "jsonl"], "jsonl-with-record": ["--format", "jsonl", "--with-record"]}


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_s3_replay_prints_what_the_same_files_on_disk_print(
    trail_bucket: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, fmt: str, jobs: int,
) -> None:
    url, _ = trail_bucket
    monkeypatch.setattr(replay_module, "WORKER_MIN_FILES", 2)  # jobs=2: worker processes even for these few files
    window = ["--since", DAY, "--until", "2026-11-21"]
    code, remote_out, remote_err = run_cli(capsys, "--jobs", str(jobs), *FORMATS[fmt], *window,
                                           f"s3://{BUCKET}", "--endpoint-url", url)
    keys = download_plan(url, tmp_path, window=Window(parse_time(DAY), parse_time("2026-11-21")))
    monkeypatch.chdir(tmp_path)
    local_code, local_out, _ = run_cli(capsys, "--jobs", "1", *FORMATS[fmt], BUCKET)
    assert (code, without_elapsed(remote_out.replace(f"s3://{BUCKET}/", f"{BUCKET}/"))) == (
        local_code, without_elapsed(local_out))
    assert code == 0
    if fmt == "text":  # files shown by their key, relative to the location given
        assert f"files shown relative to s3://{BUCKET}/" in remote_out and "\nAWSLogs/" in remote_out
        assert f"s3://{BUCKET}/AWSLogs/" not in remote_out
    else:
        assert f"s3://{BUCKET}/AWSLogs/" in remote_out
    assert "20261121T0010Z" in remote_out  # the window's last event, delivered in the padding after --until
    assert "20261119T2355Z" not in remote_out and "20261121T0020Z" not in remote_out
    assert len(keys) > 100 and any("20261121T0010Z" in key for key in keys)
    assert not any("20261119" in key or "20261121T0020Z" in key or "Insight" in key for key in keys)
    assert remote_err.startswith(f"trailsift: s3://{BUCKET}/: {len(keys)} files (")
    if fmt == "text":
        assert f"files: {len(keys)} read, 0 skipped, 0 failed" in remote_out


def test_local_selection_is_the_planners(trail_bucket: tuple[str, Path], capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The bucket's event files on disk, selected by --since/--until/--accounts/--regions, replay as the bucket does."""
    url, events = trail_bucket
    accounts = sorted(path.name for path in (events / "AWSLogs").iterdir() if path.name != ORG)
    monkeypatch.chdir(events.parent)
    for options in (
        ["--since", "2026-11-20T06:00Z", "--until", "2026-11-20T18:00:00+00:00"],
        ["--until", "2026-11-21", "--delivery-padding", "0"],
        ["--since", "2026-11-20T23:00Z"],
        ["--accounts", f"{accounts[0]},999999999999", "--regions", "us-west-2", "--regions", "us-east-1"],
    ):
        remote = run_cli(capsys, "--jobs", "1", *options, f"s3://{BUCKET}", "--endpoint-url", url)
        local = run_cli(capsys, "--jobs", "1", *options, events.name)
        assert remote[0] == local[0] == 0
        assert without_elapsed(remote[1].replace(f"s3://{BUCKET}/", f"{events.name}/")) == without_elapsed(local[1])
        assert local[2] == ""  # every local file carries its account, region and time
        assert "records:" in local[1] and "files: 0 read" not in local[1], options


def test_dry_run_prints_the_plan_and_downloads_nothing(trail_bucket: tuple[str, Path], capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = trail_bucket
    monkeypatch.setattr(replay_module, "s3_fetcher", None)  # any download would fail
    code, out, err = run_cli(capsys, "--dry-run", "--since", DAY, "--until", "2026-11-21", f"s3://{BUCKET}",
                             "--endpoint-url", url)
    assert code == 0 and err == ""
    assert out.startswith(f"plan: s3://{BUCKET}/\nwindow: files delivered from 2026-11-20T00:00:00Z to 2026-11-21T00:00:00Z")
    assert f"organizations: 1 ({ORG})" in out and "insights: not included" in out
    assert "keys skipped:\n  outside the window: 1\n" in out
    assert "prefixes not listed:\n  digest file: 1\n  Insights file (not asked for): 1\n  not an event file: 1\n" in out
    code, out, _ = run_cli(capsys, "--dry-run", "--format", "jsonl", "--include-insights", "--since", DAY,
                           "--until", "2026-11-21", f"s3://{BUCKET}", "--endpoint-url", url)
    files = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(files) > 100
    assert [file["insights"] for file in files].count(True) == 1
    assert all(file["uri"] == f"s3://{BUCKET}/{file['key']}" and file["bucket"] == BUCKET for file in files)
    assert {file["organizationId"] for file in files} == {None, ORG}


@pytest.mark.parametrize("argv, message", [
    (["--since", "2026-11-31", "s3://trail-replay"], "--since: not a time: '2026-11-31' (day is out of range for month)"),
    (["--until", "tomorrow", "s3://trail-replay"], "--until: not a time: 'tomorrow'; use 2026-11-01 or 2026-11-01T06:00Z (UTC)"),
    (["--since", "2026-11-20T06:00", "s3://trail-replay"], "--since: '2026-11-20T06:00' has no time zone; add Z for UTC, as in 2026-11-01T06:00Z"),
    (["--since", "2026-11-20", "--until", "2026-11-20", "s3://trail-replay"],
     "--since 2026-11-20T00:00:00Z is not before --until 2026-11-20T00:00:00Z"),
    (["--since", "2026-11-21", "--until", "2026-11-20T12:00Z", "LOCAL"],
     "--since 2026-11-21T00:00:00Z is not before --until 2026-11-20T12:00:00Z"),
    (["s3://no-such-bucket"], "bucket 'no-such-bucket' does not exist"),
    (["s3://"], "'s3://' names no bucket: use s3://BUCKET[/PREFIX]"),
    (["s3:///AWSLogs/"], "'s3:///AWSLogs/' names no bucket: use s3://BUCKET[/PREFIX]"),
    (["s3://x/"], "not a bucket name: 'x'"),
    (["--accounts", "12345", "s3://trail-replay"], "--accounts: not an account id (12 digits): '12345'"),
    (["--accounts", " , ", "s3://trail-replay"], "--accounts names none"),
    (["--regions", "useast1", "s3://trail-replay"], "--regions: not a region name (as us-east-1): 'useast1'"),
    (["s3://trail-replay", "LOCAL"], "give local paths or s3:// locations, not both"),
    (["--dry-run", "LOCAL"], "--dry-run plans s3:// locations only"),
])
def test_bad_input_is_one_line_and_exit_2(trail_bucket: tuple[str, Path], capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    url, events = trail_bucket
    argv = [str(events) if arg == "LOCAL" else arg for arg in argv]
    code, out, err = run_cli(capsys, *argv, "--endpoint-url", url)
    assert (code, out, err) == (2, "", f"trailsift: error: {message}\n")


def test_bad_numbers_are_argparse_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--download-concurrency", "0"], ["--delivery-padding", "-1"], ["--delivery-padding", "x"]):
        with pytest.raises(SystemExit) as exited:
            main(["replay", *argv, "s3://trail-replay"])
        assert exited.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith("trailsift: error: argument")


def good_file(number: int, event: str = "StopLogging") -> bytes:
    return gzip.compress(json.dumps({"Records": [record(f"e{number}"), record(f"m{number}", event)]}).encode())


def remote_files(count: int, size: int = 10) -> list[RemoteFile]:
    keys = [name(f"20240101T{n // 60:02d}{n % 60:02d}Z", f"{n:016d}") for n in range(count)]
    return [RemoteFile(BUCKET, key, size, f"s3://{BUCKET}/{key}") for key in keys]


def remote_outcome(files: list[RemoteFile], fetch: Any, engine: RuleEngine, **options: Any) -> tuple[list, tuple]:
    summary = ReplaySummary()
    matches = [(m.source, m.index, m.record, m.rules) for m in replay_remote(files, fetch, engine, summary, **options)]
    return matches, (summary.files_read, summary.skipped, summary.failed, summary.records, summary.record_problems,
                     dict(summary.matches_per_rule), summary.matched_records)


def test_objects_that_cannot_be_downloaded_fail_or_are_skipped_and_the_replay_goes_on(
    trail_bucket: tuple[str, Path], engine: RuleEngine
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=trail_bucket[0], region_name="us-east-1")
    s3.create_bucket(Bucket=f"{BUCKET}-gets")
    files = [RemoteFile(f"{BUCKET}-gets", file.object_key, file.size, file.location) for file in remote_files(4)]
    s3.put_object(Bucket=f"{BUCKET}-gets", Key=files[0].object_key, Body=good_file(0))
    s3.put_object(Bucket=f"{BUCKET}-gets", Key=files[2].object_key, Body=b"\x1f\x8b\x08\x00garbage-garbage")
    s3.put_object(Bucket=f"{BUCKET}-gets", Key=files[3].object_key, Body=good_file(3, "DeleteTrail"))
    fetch = s3_fetcher(s3)
    matches, (read, skipped, failed, *_) = remote_outcome(files, fetch, engine, download_concurrency=2)
    assert [(source, index) for source, index, _, _ in matches] == [(files[0].location, 1), (files[3].location, 1)]
    assert read == 2
    assert skipped == [(files[1].location, "object deleted after it was listed")]
    assert [location for location, _ in failed] == [files[2].location]
    assert failed[0][1].startswith("corrupt gzip data")

    class Denied:
        def get_object(self, **_: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    assert s3_fetcher(Denied())(files[0]) == FileOutcome(failed="cannot download: AccessDenied: Access Denied")  # type: ignore[arg-type]


def test_downloads_run_bounded_and_in_order(engine: RuleEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most --download-concurrency at once, at most twice that (and PREFETCH_BYTES) ahead of the scan."""
    files = remote_files(40, size=1000)
    lock = threading.Lock()
    state = {"running": 0, "most": 0, "scanned": 0, "ahead": 0}

    def fetch(file: RemoteFile) -> bytes:
        number = files.index(file)
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            state["ahead"] = max(state["ahead"], number - state["scanned"])
        time.sleep(0.002)
        with lock:
            state["running"] -= 1
        return good_file(number)

    def progress(done: int, _: ReplaySummary) -> None:
        with lock:
            state["scanned"] = done

    summary = ReplaySummary()
    matches = list(replay_remote(files, fetch, engine, summary, progress=progress, download_concurrency=3))
    assert [m.source for m in matches] == [file.location for file in files]
    assert summary.files_read == 40 and 2 <= state["most"] <= 3 and state["ahead"] <= 6
    monkeypatch.setattr(replay_module, "PREFETCH_BYTES", 1500)  # one file and a half: one ahead at most
    state.update(most=0, ahead=0, scanned=0)
    assert len(list(replay_remote(files, fetch, engine, ReplaySummary(), progress=progress, download_concurrency=3))) == 40
    assert state["most"] == 1 and state["ahead"] <= 1


def test_worker_processes_give_what_one_process_gives_for_objects(engine: RuleEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    files = remote_files(30)
    bodies = {file.location: good_file(n, ("StopLogging", "GetObject", "DeleteTrail")[n % 3]) for n, file in enumerate(files)}
    bodies[files[4].location] = b"not gzip, not json"
    bodies[files[9].location] = gzip.compress(b'{"Records": [1, {"eventName": "StopLogging"}]}')

    def fetch(file: RemoteFile) -> bytes | FileOutcome:
        return FileOutcome(skipped="object deleted after it was listed") if file is files[7] else bodies[file.location]

    monkeypatch.setattr(replay_module, "WORKER_MIN_FILES", 2)
    monkeypatch.setattr(replay_module, "MAX_BATCH_BYTES", 25)  # a few files a batch: several batches out at once
    used: list[int] = []
    in_workers = replay_module._in_workers

    def counted(batches, processes, *args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(processes)
        return in_workers(batches, processes, *args, **kwargs)

    monkeypatch.setattr(replay_module, "_in_workers", counted)
    expected = remote_outcome(files, fetch, engine, jobs=1)
    assert used == []
    assert remote_outcome(files, fetch, engine, jobs=2) == expected
    assert used == [2]
    matches, (read, skipped, failed, records, problems, per_rule, _) = expected
    assert read == 28 and len(skipped) == 1 and len(failed) == 1 and problems == [(files[9].location, 0, "record is a number, expected an object")]
    assert per_rule == {"trail": 20} and len(matches) == 20  # files 0, 2, 3, 5, 6, 8 ... less 9, and 9 once


def test_an_error_in_a_worker_is_raised_as_one_process_raises_it_for_objects(engine: RuleEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    files = remote_files(12)
    broken = files[5].location
    scan = replay_module.scan_log_file

    def failing(*, data: bytes, source: str, engine: RuleEngine, **limits: int) -> Any:
        if source == broken:
            raise RuntimeError(f"bug while scanning {source}")
        return scan(data=data, source=source, engine=engine, **limits)

    monkeypatch.setattr(replay_module, "scan_log_file", failing)
    monkeypatch.setattr(replay_module, "WORKER_MIN_FILES", 2)
    monkeypatch.setattr(replay_module, "MAX_BATCH_BYTES", 25)

    def until_error(jobs: int) -> tuple[list, str]:
        found = []
        with pytest.raises(RuntimeError) as raised:
            for match in replay_remote(files, lambda file: good_file(files.index(file)), engine, ReplaySummary(), jobs=jobs):
                found.append((match.source, match.index))
        return found, str(raised.value)

    expected = until_error(1)
    assert until_error(2) == expected and len(expected[0]) == 5 and expected[1] == f"bug while scanning {broken}"


@given(sizes=st.lists(st.integers(0, 40 * 1024**2), max_size=400), jobs=st.integers(1, 8))
def test_remote_batches_hold_every_file_once_within_bounds(sizes: list[int], jobs: int) -> None:
    counts = _remote_batches(sizes, jobs)
    assert sum(counts) == len(sizes) and all(count >= 1 for count in counts)
    start = 0
    for count in counts:
        batch = sizes[start : start + count]
        assert count <= replay_module.MAX_BATCH_FILES
        assert count == 1 or sum(batch) <= replay_module.MAX_BATCH_BYTES
        start += count


def test_local_paths_are_selected_by_their_names(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, write_log_file, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "999999999999"
    rules = tmp_path_factory.mktemp("rules") / "rules.json"
    rules.write_text(json.dumps({"rules": [{"name": "trail", "selectors": [
        {"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}]}]}))
    write_log_file([record("w0", "StopLogging")], name("20240101T0005Z"))
    write_log_file([record("p0", "StopLogging")], name("20240102T0015Z"))  # past --until and its padding
    write_log_file([record("d0", "StopLogging")], name("20240102T0014Z"))  # in the padding
    write_log_file([record("o0", "StopLogging")], f"AWSLogs/{other}/CloudTrail/us-east-1/2024/01/01/{other}_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz")
    write_log_file([record("r0", "StopLogging")], f"elsewhere/{ACCT}_CloudTrail_eu-west-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz")
    write_log_file([record("u0", "StopLogging")], "export/records.json", gz=False)  # no layout: kept, said once
    write_log_file([record("u1", "StopLogging")], "export/more.json", gz=False)
    write_log_file([record("i0", "StopLogging")], f"AWSLogs/{ACCT}/CloudTrail-Insight/us-east-1/2024/01/01/{INSIGHT}")
    code = main(["replay", "--rules", str(rules), "--format", "jsonl", "--since", "2024-01-01", "--until", "2024-01-02",
                 "--accounts", ACCT, "--regions", "us-east-1", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert sorted(json.loads(line)["eventID"] for line in out.splitlines()) == ["d0", "i0", "u0", "u1", "w0"]
    assert err == ("trailsift: 2 file(s) carry no account, region or delivery time in their names (not CloudTrail's "
                   "layout): replayed whatever --since/--until/--accounts/--regions say\n")
    code = main(["replay", "--rules", str(rules), "--format", "jsonl", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and len(out.splitlines()) == 8  # no selection: every file, nothing said


def test_a_pool_broken_before_a_batch_is_sent_leaves_that_batch_to_this_process() -> None:
    """A worker that dies between two submissions breaks the pool: the next batch is then failed, not raised,
    so it and the rest are scanned here (it used to raise BrokenProcessPool, now and then)."""
    from concurrent.futures.process import BrokenProcessPool

    class Broken:
        def submit(self, *_: Any) -> Any:
            raise BrokenProcessPool("a child process terminated abruptly")

    future = replay_module._submit(Broken(), replay_module._scan_batch, ["f"])  # type: ignore[arg-type]
    assert isinstance(future.exception(), BrokenProcessPool) and replay_module._result(future) is None



# --- output that fits: the table, its options, the exit status, colour, the progress bar -------------

from trailsift.cli.terminal import display_width  # noqa: E402

TIME = re.compile(r"\b(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\b")
ROW = re.compile(r"^ *(\d+)  (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  (\w+) ")
LONG_RULE = "a-rule-with-the-longest-name-a-rule-may-have-" + "x" * 83  # 128 characters
LONG_VALUES = [
    record("long-0", "StopLogging", awsRegion="ap-isob-central-3r-and-then-some-more-region-name",
           eventTime="2024-01-01T00:00:09Z",
           userIdentity={"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/" + "Role" * 50
                         + "/botocore-session-" + "9" * 80},
           userAgent="aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off " * 8,
           sourceIPAddress="2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    record("long-1", "Put" + "AVeryLongOperationName" * 6, eventTime="2024-01-01T00:00:01Z",
           userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/\x1b[31mred\x1b[0m-" + "ü" * 90},
           sourceIPAddress="ec2-frontend-api.amazonaws.com.and.a.very.long.suffix.example.com"),
    record("long-2", "StopLogging", eventTime="2024-01-01T00:00:05Z", awsRegion="東京" * 20,
           userIdentity={"type": "Root", "arn": "arn:aws:iam::123456789012:root"}),
]


def long_rules(tmp_path: Path) -> Path:
    rules = tmp_path.with_name(tmp_path.name + "-long-rules.json")  # beside the folder replayed, not in it
    rules.write_text(json.dumps({"rules": [
        {"name": LONG_RULE, "severity": "high",
         "selectors": [{"FieldSelectors": [{"Field": "eventName", "StartsWith": ["Stop", "Put"]}]}]},
        {"name": "trail", "severity": "critical",
         "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}]},
        {"name": "quiet", "severity": "info",
         "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["DescribeInstances"]}]}]},
    ]}))
    return rules


def text_lines(out: str) -> list[str]:
    assert out.endswith("\n")
    return out[:-1].split("\n")


def assert_fits(out: str, width: int) -> None:
    for line in text_lines(out):
        assert display_width(line) <= width, (width, line)
        assert "\x1b" not in line and "\r" not in line


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("options", [[], ["--sort", "time"], ["--summary"], ["--min-severity", "high"]])
def test_every_text_line_fits_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, events_logs: Path, tmp_path: Path,
    write_log_file, columns: int, options: list[str],
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run_cli(capsys, *options, str(events_logs))
    assert code == 0 and err == ""
    assert_fits(out, columns)
    assert "records: 213 scanned" in out
    write_log_file(LONG_VALUES, name("20240101T0005Z"))
    write_log_file(b"not gzip at all", name("20240101T0010Z" + "_" + "z" * 150), gz=False)  # a failure, a long name
    code, out, err = run_cli(capsys, "--rules", str(long_rules(tmp_path)), *options, str(tmp_path))
    assert code == 1 and err == ""
    assert_fits(out, columns)
    assert "files failed:" in out


def rows(out: str) -> list[tuple[int, str, str]]:
    return [(int(found[1]), found[2], found[3]) for line in text_lines(out) if (found := ROW.match(line))]


@pytest.mark.parametrize("columns", ["80", "120", "400"])
def test_the_table_names_files_relative_to_the_path_given_with_every_rule_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_log_file, columns: str,
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    path = write_log_file(LONG_VALUES, name("20240101T0005Z"))
    code, out, _ = run_cli(capsys, "--rules", str(long_rules(tmp_path)), str(tmp_path))
    assert code == 0
    table = out.split("\n\n")[0]
    assert str(tmp_path) not in table  # under the folder given, named from there
    assert name("20240101T0005Z") in "".join(line.strip() for line in table.split("\n"))  # maybe folded
    assert f"filesshownrelativeto{tmp_path}{os.sep}elapsed:" in re.sub(r"\s", "", out)  # maybe folded
    assert [(index, severity) for index, _, severity in rows(out)] == [(0, "critical"), (1, "high"), (2, "critical")]
    # a file given by name is named by its name alone
    code, out, _ = run_cli(capsys, "--rules", str(long_rules(tmp_path)), str(path))
    assert path.name in "".join(line.strip() for line in text_lines(out)) and "AWSLogs" not in out.split("\n\n")[0]


def test_rule_names_are_never_cut_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_log_file,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    write_log_file(LONG_VALUES, name("20240101T0005Z"))
    code, out, _ = run_cli(capsys, "--rules", str(long_rules(tmp_path)), str(tmp_path))
    table = out.split("\n\n")[0]
    assert "…" in table  # what gives way is cut, visibly
    assert "a-rule-with-the-" in table and "x" * 20 in table
    pieces = [piece for line in table.split("\n") for piece in line.split() if set(piece) <= set(LONG_RULE)]
    assert LONG_RULE in "".join(pieces)  # the folded rule name, read down its column, is whole


def test_severity_in_the_table_and_in_jsonl(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                            events_logs: Path) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = run_cli(capsys, str(events_logs))
    severities = Counter(severity for _, _, severity in rows(out))
    assert severities == {"critical": 5, "high": 2, "medium": 15, "low": 1}
    assert "by severity: 5 critical, 2 high, 15 medium, 1 low" in out
    code, out, _ = run_cli(capsys, "--format", "jsonl", str(events_logs))
    matches = [json.loads(line) for line in out.splitlines()]
    assert Counter(match["severity"] for match in matches) == severities
    (leave,) = [match for match in matches if match["eventName"] == "LeaveOrganization"]
    assert leave["rules"] == ["unauthorized-api-calls", "organizations-changes"] and leave["severity"] == "high"


def test_sort_time_limit_and_summary(capsys: pytest.CaptureFixture[str], events_logs: Path) -> None:
    code, out, _ = run_cli(capsys, str(events_logs))
    in_files = [time for _, time, _ in rows(out)]
    assert len(in_files) == 23 and in_files != sorted(in_files)  # file order by default
    code, out, _ = run_cli(capsys, "--sort", "time", str(events_logs))
    by_time = [time for _, time, _ in rows(out)]
    assert by_time == sorted(in_files)
    code, out, _ = run_cli(capsys, "--sort", "time", "--limit", "4", str(events_logs))
    assert [time for _, time, _ in rows(out)] == sorted(in_files)[:4]
    assert "records: 213 scanned, 23 matched" in out and "shown: 4 of 23 (--limit 4)" in out
    code, out, _ = run_cli(capsys, "--limit", "3", str(events_logs))
    assert [time for _, time, _ in rows(out)] == in_files[:3]
    code, out, _ = run_cli(capsys, "--limit", "30", str(events_logs))
    assert len(rows(out)) == 23 and "shown:" not in out
    code, out, _ = run_cli(capsys, "--format", "jsonl", "--limit", "2", str(events_logs))
    assert len(out.splitlines()) == 2
    code, out, _ = run_cli(capsys, "--format", "jsonl", "--sort", "time", "--limit", "5", str(events_logs))
    assert [json.loads(line)["eventTime"] for line in out.splitlines()] == sorted(in_files)[:5]
    code, out, _ = run_cli(capsys, "--summary", str(events_logs))
    assert code == 0 and rows(out) == [] and not TIME.search(out)
    assert out.startswith("files: 19 read, 5 skipped, 0 failed\nrecords: 213 scanned, 23 matched\n")
    assert "shown: none of 23 (--summary)" in out and "matches per rule:" in out
    code, out, err = run_cli(capsys, "--summary", "--format", "jsonl", str(events_logs))
    assert (code, out) == (2, "") and "--summary" in err


def test_min_severity_leaves_out_rows_and_counts_and_says_so(capsys: pytest.CaptureFixture[str],
                                                              events_logs: Path) -> None:
    code, out, _ = run_cli(capsys, "--min-severity", "high", str(events_logs))
    assert code == 0
    assert {severity for _, _, severity in rows(out)} == {"high", "critical"} and len(rows(out)) == 7
    assert "records: 213 scanned, 7 matched" in out
    assert "--min-severity high: 9 rule(s) below it not run (unauthorized-api-calls," in out
    per_rule = out.split("matches per rule:\n")[1].split("files skipped:")[0]
    assert "security-group-changes" not in per_rule and "cloudtrail-changes" in per_rule
    code, out, _ = run_cli(capsys, "--format", "jsonl", "--min-severity", "CRITICAL", str(events_logs))
    assert {json.loads(line)["severity"] for line in out.splitlines()} == {"critical"}
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--min-severity", "urgent", str(events_logs)])
    assert exited.value.code == 2 and "not a severity: 'urgent'" in capsys.readouterr().err


@pytest.mark.parametrize("files, options, code", [
    (["quiet"], [], 0),
    (["trail"], [], 0),
    (["trail"], ["--fail-on", "critical"], 3),
    (["trail"], ["--fail-on", "info"], 3),
    (["low"], ["--fail-on", "medium"], 0),  # a match below it
    (["quiet"], ["--fail-on", "info"], 0),  # nothing matched at all
    (["quiet", "broken"], [], 1),
    (["quiet", "broken"], ["--fail-on", "low"], 1),  # a failed file and no finding: 1
    (["trail", "broken"], ["--fail-on", "critical"], 3),  # a failed file and a finding: 3 wins
    (["trail", "broken"], ["--fail-on", "critical", "--format", "jsonl"], 3),
    (["trail"], ["--fail-on", "critical", "--min-severity", "critical", "--summary"], 3),
    (["trail"], ["--fail-on", "high", "--limit", "1"], 3),
])
def test_fail_on_exit_status(capsys: pytest.CaptureFixture[str], tmp_path: Path, write_log_file,
                             files: list[str], options: list[str], code: int) -> None:
    contents = {
        "quiet": [record("q0")],
        "trail": [record("t0", "StopLogging", eventSource="cloudtrail.amazonaws.com"),
                  record("t1", "StopLogging", eventSource="cloudtrail.amazonaws.com")],
        "low": [record("l0", "DescribeTrails", errorCode="AccessDenied")],
    }
    for number, kind in enumerate(files):
        stamp = f"20240101T00{number}5Z"
        if kind == "broken":
            (tmp_path / name(stamp)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name(stamp)).write_bytes(gzip.compress(b'{"Records": [')[:-3])
        else:
            write_log_file(contents[kind], name(stamp))
    got, out, err = run_cli(capsys, *options, str(tmp_path))
    assert got == code, (out, err)
    if "--fail-on" in options:
        said = out if "--format" not in options else err
        assert re.search(r"--fail-on \w+: \d+ matched record\(s\) at or above it; (exit status 3|passed)", said)
        assert ("exit status 3" in said) == (code == 3)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty, no_color, option, coloured", [
    (True, None, [], True),
    (True, "1", [], False),
    (False, None, [], False),
    (True, None, ["--color", "never"], False),
    (False, "1", ["--color", "always"], True),
])
def test_colour_on_a_terminal_only_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], events_logs: Path,
    tty: bool, no_color: str | None, option: list[str], coloured: bool,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    stdout = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["replay", *option, str(events_logs)]) == 0
    out = stdout.getvalue()
    assert ("\x1b[" in out) == coloured
    if coloured:
        assert "\x1b[1;31mcritical\x1b[0m" in out
        plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
        assert all(display_width(line) <= 80 for line in plain.split("\n"))
        uncoloured = io.StringIO()
        monkeypatch.setattr(sys, "stdout", uncoloured)
        assert main(["replay", "--color", "never", str(events_logs)]) == 0
        assert without_elapsed(plain) == without_elapsed(uncoloured.getvalue())  # colour moves nothing


def test_progress_bar_on_a_terminal_fits_and_leaves_nothing(tmp_path: Path, write_log_file) -> None:
    """The command run with its stderr on a pseudo-terminal 80 columns wide (and no COLUMNS): the bar redraws
    one line, never wider than the terminal, and clears it before the table is printed."""
    import fcntl
    import pty
    import struct
    import termios

    for number in range(250):
        write_log_file([record(f"e{number}", "StopLogging" if number % 50 == 0 else "DescribeInstances")],
                       name(f"20240101T{number // 60:02d}{number % 60:02d}Z", uid=f"AbCdEfGhIjKlMn{number % 100:02d}"))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    script = Path(sys.executable).with_name("trailsift")
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([str(script), "replay", "--jobs", "1", str(tmp_path)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    written = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        written += chunk
    out = process.communicate(timeout=60)[0].decode()
    os.close(master)
    assert process.returncode == 0
    assert "files: 250 read" in out
    bar = written.decode()
    assert "%" in bar and "/250 files" in bar
    assert "\n" not in bar  # one line, redrawn: no stale lines
    segments = bar.split("\r")
    assert len(segments) > 10
    assert all(len(segment) <= 80 for segment in segments), max(segments, key=len)
    assert bar.endswith("\r") and segments[-2].strip() == ""  # cleared at the end
