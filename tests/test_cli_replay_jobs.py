"""replay --jobs: worker processes give exactly what one process gives.

The same matches in the same order (file order, then record order), the same summary, the same
progress calls, the same command-line output and exit status, whatever the number of jobs and the
start method; errors that are not a file's own are raised as one process raises them.
"""

from __future__ import annotations

import errno
import gzip
import json
import multiprocessing
import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_log_file
from trailsift.cli import replay as replay_module
from trailsift.cli import _parser, main
from trailsift.engine import RuleEngine
from trailsift.reader import RecordProblem
from trailsift.cli.replay import (
    MAX_BATCH_FILES,
    FileOutcome,
    ReplaySummary,
    _batches,
    available_cores,
    replay,
    worth_workers,
)
from trailsift.rules import parse_rules
from trailsift.scan import Match
from trailsift.cli.sources import discover

ACCT = "123456789012"
RULES = {"rules": [
    {"name": "trail", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail"]}]}]},
    {"name": "denied", "selectors": [{"FieldSelectors": [{"Field": "errorCode", "StartsWith": ["AccessDenied"]}]}]},
]}
ENGINE = RuleEngine(parse_rules(RULES))
EVENT_NAMES = ("DescribeInstances", "StopLogging", "GetObject", "DeleteTrail", "ListBuckets")
KINDS = ("good", "good", "good", "problems", "corrupt", "not-json", "no-records", "digest-name", "digest-content",
         "empty", "not-a-log", "plain-json")


def log_name(number: int) -> str:
    """A CloudTrail event file name, distinct per ``number``, spread over a few days' folders."""
    day, stamp = 1 + number % 5, f"20240101T{number // 60 % 24:02d}{number % 60:02d}Z"
    return f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/01/{day:02d}/{ACCT}_CloudTrail_us-east-1_{stamp}_{number:016d}.json.gz"


def records(rng: random.Random, file: int) -> list[dict[str, Any]]:
    """Up to a dozen records; some match "trail", some "denied", some both."""
    out = []
    for index in range(rng.randint(0, 12)):
        extra = {"errorCode": "AccessDenied"} if rng.random() < 0.15 else {}
        out.append({"eventVersion": "1.09", "eventID": f"{file}-{index}", "eventName": rng.choice(EVENT_NAMES),
                    "eventTime": "2024-01-01T00:00:00Z", "awsRegion": "us-east-1", **extra})
    return out


def write_file(root: Path, kind: str, number: int, rng: random.Random) -> None:
    """One file of ``kind``: read with matches, read with records that are not objects, failed or skipped."""
    name = log_name(number)
    if kind == "good":
        write_log_file(root, records(rng, number), name)
    elif kind == "problems":
        write_log_file(root, [1, *records(rng, number), None, "x"], name)
    elif kind == "corrupt":
        write_log_file(root, gzip.compress(b'{"Records": [')[:-3], name, gz=False)
    elif kind == "not-json":
        write_log_file(root, b"not json", name)
    elif kind == "no-records":
        write_log_file(root, {"records": []}, name)
    elif kind == "digest-name":
        digest = f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2024/01/01/{ACCT}_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T{number % 10000:04d}00Z.json.gz"
        write_log_file(root, {"digestStartTime": "x", "logFiles": []}, digest)
    elif kind == "digest-content":
        write_log_file(root, {"digestStartTime": "x", "logFiles": []}, name)
    elif kind == "empty":
        write_log_file(root, b"", name, gz=False)
    elif kind == "not-a-log":
        write_log_file(root, b"hello", f"notes/{number}.txt", gz=False)
    else:
        write_log_file(root, records(rng, number), f"export/{number}.json", gz=False)


def build_corpus(root: Path, kinds: list[str], seed: int) -> Path:
    rng = random.Random(seed)
    for number, kind in enumerate(kinds):
        write_file(root, kind, number, rng)
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixty good files and every other kind of file a few times, in shuffled order."""
    kinds = [*["good"] * 60, *[kind for kind in KINDS for _ in range(3)]]
    random.Random(7).shuffle(kinds)
    return build_corpus(tmp_path_factory.mktemp("corpus"), kinds, seed=7)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workers for any two files or more (not only for many), and the ``jobs`` of each run that used them."""
    used: list[int] = []
    in_workers = replay_module._outcomes_in_workers

    def counted(locations, engine, limit, jobs, start_method):  # type: ignore[no-untyped-def]
        used.append(jobs)
        return in_workers(locations, engine, limit, jobs, start_method)

    monkeypatch.setattr(replay_module, "WORKER_MIN_FILES", 2)
    monkeypatch.setattr(replay_module, "_outcomes_in_workers", counted)
    return used


def outcome(paths: list[Path], jobs: int, **kwargs: Any) -> tuple[list[tuple], tuple, list[tuple]]:
    """Every match, the summary and every progress call of a replay, as comparable values."""
    summary = ReplaySummary()
    calls: list[tuple] = []

    def progress(done: int, s: ReplaySummary) -> None:
        calls.append((done, s.files_read, s.records, s.matched_records, len(s.skipped), len(s.failed), len(s.record_problems)))

    matches = [(m.source, m.index, m.record, m.rules)
               for m in replay(discover(paths), ENGINE, summary, progress=progress, jobs=jobs, **kwargs)]
    facts = (summary.files_read, summary.skipped, summary.failed, summary.records, summary.record_problems,
             dict(summary.matches_per_rule), summary.matched_records)
    return matches, facts, calls


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_give_what_one_process_gives(corpus: Path, workers: list[int], jobs: int) -> None:
    expected = outcome([corpus], 1)
    assert outcome([corpus], jobs) == expected
    assert workers == [jobs]
    matches, (files_read, skipped, failed, _, problems, per_rule, _), _ = expected
    assert matches and files_read and skipped and failed and problems and set(per_rule) == {"trail", "denied"}


def test_matches_come_in_file_order_then_record_order(corpus: Path, workers: list[int]) -> None:
    position = {local.location: number for number, local in enumerate(discover([corpus]))}
    matches, _, _ = outcome([corpus], 2)
    assert workers == [2]
    places = [(position[source], index) for source, index, _, _ in matches]
    assert len(places) > 20 and places == sorted(places) and len(set(places)) == len(places)


def test_spawned_workers_give_what_one_process_gives(corpus: Path, workers: list[int]) -> None:
    assert outcome([corpus], 2, start_method="spawn") == outcome([corpus], 1)
    assert workers == [2]


@pytest.mark.parametrize("options", [[], ["--format", "jsonl"], ["--format", "jsonl", "--with-record"]],
                         ids=["text", "jsonl", "jsonl-with-record"])
def test_command_line_output_and_exit_status_are_the_same_for_any_jobs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path, workers: list[int], options: list[str]
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))

    def run(jobs: int) -> tuple[int, str, str]:
        code = main(["replay", "--rules", str(rules), "--jobs", str(jobs), *options, str(corpus)])
        out, err = capsys.readouterr()
        return code, "\n".join(line for line in out.split("\n") if not line.startswith("elapsed: ")), err

    expected = run(1)
    assert expected[0] == 1 and "failed" in (expected[1] + expected[2])
    assert run(2) == expected
    assert run(3) == expected
    assert workers == [2, 3]


def test_a_file_that_cannot_be_opened_fails_or_is_skipped_as_with_one_process(
    tmp_path: Path, workers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty file the system refuses is skipped (as when sizes came first), any other fails; workers are forked
    with the refusal in place."""
    build_corpus(tmp_path, ["good", "empty", "good", "empty", "good"], seed=1)

    def denied(location: str) -> bytes:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), location)

    monkeypatch.setattr(replay_module, "_read_bytes", denied)
    expected = outcome([tmp_path], 1)
    assert outcome([tmp_path], 2) == expected
    assert workers == [2]
    _, (_, skipped, failed, *_), _ = expected
    assert [reason for _, reason in skipped] == ["zero-byte object"] * 2
    assert [reason for _, reason in failed] == ["cannot read: Permission denied"] * 3


def assert_stopped(children: list[multiprocessing.process.BaseProcess]) -> None:
    """Every one of ``children`` ends within seconds (the pool's own thread may be the one that reaps it)."""
    deadline = time.monotonic() + 30
    while any(child.is_alive() for child in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(child.is_alive() for child in children)


def matches_until_error(paths: list[Path], jobs: int) -> tuple[list[tuple], type[BaseException], str]:
    """The matches a replay yields before it raises, and what it raises (type and message)."""
    found: list[tuple] = []
    with pytest.raises(Exception) as raised:
        for match in replay(discover(paths), ENGINE, ReplaySummary(), jobs=jobs):
            found.append((match.source, match.index, match.rules))
    return found, type(raised.value), str(raised.value)


def test_an_error_in_a_worker_is_raised_as_one_process_raises_it(
    corpus: Path, workers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a file's own error (a bug): the same matches come first, then the same exception, and no worker is left."""
    readable = [local.location for local in discover([corpus]) if local.readable_by_name]
    broken = readable[len(readable) // 2]
    scan = replay_module.scan_log_file

    def failing(*, data: bytes, source: str, engine: RuleEngine, **limits: int) -> Any:
        if source == broken:
            raise RuntimeError(f"bug while scanning {source}")
        return scan(data=data, source=source, engine=engine, **limits)

    monkeypatch.setattr(replay_module, "scan_log_file", failing)
    expected = matches_until_error([corpus], 1)
    assert matches_until_error([corpus], 2) == expected
    assert workers == [2]
    found, error, message = expected
    assert found and error is RuntimeError and message == f"bug while scanning {broken}"
    assert_stopped(multiprocessing.active_children())


def test_a_worker_that_dies_does_not_stop_the_replay(
    corpus: Path, workers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files of a dead worker (and those after them) are scanned in this process: the result is the same."""
    expected = outcome([corpus], 1)
    parent = os.getpid()
    readable = [local.location for local in discover([corpus]) if local.readable_by_name]
    fatal = readable[len(readable) // 3]
    scan = replay_module.scan_log_file

    def dying(*, data: bytes, source: str, engine: RuleEngine, **limits: int) -> Any:
        if source == fatal and os.getpid() != parent:
            os._exit(3)
        return scan(data=data, source=source, engine=engine, **limits)

    monkeypatch.setattr(replay_module, "scan_log_file", dying)
    assert outcome([corpus], 2) == expected
    assert workers == [2]


def test_stopping_early_stops_the_workers(corpus: Path, workers: list[int]) -> None:
    """A consumer that stops (Ctrl-C, a closed pipe) closes the replay: the workers are terminated, none waits."""
    matches = replay(discover([corpus]), ENGINE, ReplaySummary(), jobs=2)
    next(matches)
    children = multiprocessing.active_children()
    assert children and workers == [2]
    matches.close()
    assert_stopped(children)


def test_a_single_file_is_scanned_in_this_process(
    tmp_path: Path, write_log_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However large: one file cannot be split, so starting workers would only cost time."""
    path = write_log_file([{"eventName": "StopLogging"}])
    monkeypatch.setattr(replay_module, "WORKER_MIN_BYTES", 1)
    monkeypatch.setattr(replay_module, "ProcessPoolExecutor", None)  # any use of it would fail
    summary = ReplaySummary()
    assert [m.rules for m in replay(discover([path]), ENGINE, summary, jobs=4)] == [("trail",)]
    assert summary.files_read == 1


def test_worth_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many files always; a few files when they are large together; one file never."""
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"x" * 10)
    large.write_bytes(b"x" * 1000)
    monkeypatch.setattr(replay_module, "WORKER_MIN_FILES", 4)
    monkeypatch.setattr(replay_module, "WORKER_MIN_BYTES", 1000)
    assert not worth_workers([])
    assert not worth_workers([str(large)])
    assert not worth_workers([str(small)] * 3)
    assert not worth_workers([str(small), str(tmp_path / "missing")])
    assert worth_workers([str(small)] * 4)
    assert worth_workers([str(small), str(large)])


@given(count=st.integers(0, 2000), jobs=st.integers(1, 16))
def test_batches_hold_every_file_once_in_order(count: int, jobs: int) -> None:
    locations = [f"f{n}" for n in range(count)]
    batches = _batches(locations, jobs)
    assert [location for batch in batches for location in batch] == locations
    assert all(0 < len(batch) <= MAX_BATCH_FILES for batch in batches)
    assert len({len(batch) for batch in batches[:-1]}) <= 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
REASONS = st.text(max_size=30)


@st.composite
def outcomes(draw: st.DrawFn, location: str) -> FileOutcome:
    """What a file can give: its records, matches and problems, or one reason it was not read."""
    reason = draw(st.sampled_from([None, "skipped", "failed", "unreadable"]))
    if reason is not None:
        return FileOutcome(**{reason: draw(REASONS)})
    matches = draw(st.lists(st.tuples(st.integers(0, 10**6), st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4),
                                      st.lists(st.sampled_from(["trail", "denied", "x"]), min_size=1, unique=True).map(tuple)),
                            max_size=3))
    problems = draw(st.lists(st.tuples(st.integers(0, 10**6), REASONS), max_size=3))
    return FileOutcome(draw(st.integers(0, 10**6)), [Match(location, index, record, rules) for index, record, rules in matches],
                       [RecordProblem(index, why) for index, why in problems])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 4))
def test_outcomes_cross_between_processes_unchanged(data: st.DataObject, count: int) -> None:
    """A worker packs a batch's outcomes as marshal data of JSON values; they come back equal, types included."""
    locations = [f"AWSLogs/f{n}.json.gz" for n in range(count)]
    sent = [data.draw(outcomes(location)) for location in locations]
    packed = replay_module._pack(sent)
    assert isinstance(packed, bytes)
    received = replay_module._unpack(locations, packed)
    assert listed(received) == listed(sent)
    assert [type(v) for o in received for m in o.matches for v in m.record.values()] == [
        type(v) for o in sent for m in o.matches for v in m.record.values()]


def listed(sent: list[FileOutcome]) -> list[FileOutcome]:
    """``sent`` with its sequences as lists: an empty tuple and an empty list are the same empty outcome."""
    return [o._replace(matches=list(o.matches), problems=list(o.problems)) for o in sent]


def test_outcomes_marshal_cannot_hold_are_sent_as_they_are() -> None:
    """A value that is not JSON (which no reader makes) leaves the outcomes to pickle, unchanged."""
    sent = [FileOutcome(1, [Match("f", 0, {"amount": Decimal("1.5")}, ("x",))])]
    assert replay_module._unpack(["f"], replay_module._pack(sent)) == sent


def corpora() -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(KINDS), min_size=2, max_size=40)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=corpora(), seed=st.integers(0, 1000), jobs=st.integers(2, 3))
def test_any_corpus_gives_the_same_with_workers(workers: list[int], kinds: list[str], seed: int, jobs: int) -> None:
    with tempfile.TemporaryDirectory() as directory:  # a fresh one per example
        root = build_corpus(Path(directory), kinds, seed)
        assert outcome([root], jobs) == outcome([root], 1)


def test_jobs_option(events_logs: Path) -> None:
    assert _parser().parse_args(["replay", str(events_logs)]).jobs == available_cores()
    assert _parser().parse_args(["replay", "--jobs", "3", str(events_logs)]).jobs == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit):
            _parser().parse_args(["replay", "--jobs", bad, str(events_logs)])
    assert 1 <= available_cores() <= (os.cpu_count() or 1)
