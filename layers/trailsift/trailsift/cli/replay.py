"""``trailsift replay``: replay local log files through the rules.

One bad file never stops the others: it is counted as failed (with the reason) and the replay goes
on; files that are not event files are counted as skipped (with the reason).

Files are scanned here, or with ``jobs`` above 1 in that many worker processes, batches of files at
a time; either way each file gives one :class:`FileOutcome`, and this process accounts for them in
file order, so the matches, the summary and the progress calls are the same.
"""

from __future__ import annotations

import argparse
import gc
import marshal
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from trailsift.cli.command import CommandError, ExitCode, positive_int
from trailsift.cli.report import ProgressBar, jsonl_line, summary_text, table_header, table_row
from trailsift.cli.sources import LocalFile, discover
from trailsift.engine import RuleEngine
from trailsift.projection import paused_gc
from trailsift.reader import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
    LogFileError,
    NotALogFile,
    ReadLimits,
    RecordProblem,
)
from trailsift.rules import RuleSet, RulesError, default_rules, load_rules, load_selector_rules
from trailsift.scan import Match, scan_log_file
from trailsift.text import for_terminal


@dataclass
class ReplaySummary:
    """Counts and reasons gathered while replaying."""

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    records: int = 0
    record_problems: list[tuple[str, int, str]] = field(default_factory=list)
    matches_per_rule: Counter[str] = field(default_factory=Counter)
    matched_records: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


Progress = Callable[[int, ReplaySummary], None]


class FileOutcome(NamedTuple):
    """What scanning one file gave: a plain tuple, cheap to send back from a worker process.

    At most one reason is set: ``skipped`` (not an event file), ``failed`` (not a readable log file)
    or ``unreadable`` (the system refused to read it: a failure, or a skip when the file is empty,
    which only the process that accounts for it tells, as it holds the file's :class:`LocalFile`).
    """

    records: int = 0
    matches: Sequence[Match] = ()
    problems: Sequence[RecordProblem] = ()
    skipped: str | None = None
    failed: str | None = None
    unreadable: str | None = None


def scan_file(location: str, engine: RuleEngine, limits: ReadLimits) -> FileOutcome:
    """Read and scan one file; the errors that are the file's own become its outcome, any other is raised."""
    try:
        result = scan_log_file(
            data=_read_bytes(location),
            source=location,
            engine=engine,
            limit=limits.max_decompressed_bytes,
            max_record_bytes=limits.max_record_bytes,
        )
    except NotALogFile as exc:
        return FileOutcome(skipped=exc.reason)
    except LogFileError as exc:
        return FileOutcome(failed=exc.detail)
    except OSError as exc:
        return FileOutcome(unreadable=f"cannot read: {exc.strerror or exc}")
    return FileOutcome(result.records, result.matches, result.problems)


def replay(
    files: Iterable[LocalFile],
    engine: RuleEngine,
    summary: ReplaySummary,
    *,
    limits: ReadLimits = ReadLimits(),
    progress: Progress | None = None,
    jobs: int = 1,
    start_method: str | None = None,
) -> Iterator[Match]:
    """Yield every match of every readable file, in file order then record order, filling ``summary``.

    Files are chosen by name (no stat): an empty one among them is read as zero bytes, which the
    reader skips as a "zero-byte object", the reason discovery gives when it looks at sizes.

    ``jobs`` above 1 scans the files in that many worker processes (started with ``start_method``,
    default :func:`default_start_method`) when there are enough of them to gain from it; the
    result is the same as with ``jobs=1``, which scans every file in this process. An error of a
    worker that is not a file's own is raised here as ``jobs=1`` raises it.
    """
    if jobs > 1:
        files = list(files)
        locations = [local.location for local in files if local.readable_by_name]
        if worth_workers(locations):
            outcomes = _outcomes_in_workers(locations, engine, limits, jobs, start_method or default_start_method())
            with closing(outcomes):
                yield from _account_files(files, lambda _local: next(outcomes), summary, progress)
            return
    yield from _account_files(files, lambda local: scan_file(local.location, engine, limits), summary, progress)


def _account_files(
    files: Iterable[LocalFile],
    scan: Callable[[LocalFile], FileOutcome],
    summary: ReplaySummary,
    progress: Progress | None,
) -> Iterator[Match]:
    """Scan each file the name says is worth reading with ``scan``, in order, and account for it in ``summary``."""
    for done, local in enumerate(files, 1):
        if not local.readable_by_name:
            summary.skipped.append((local.location, local.key.reason))
        else:
            yield from _account(local, scan(local), summary)
        if progress is not None:
            progress(done, summary)
    summary.finished = time.perf_counter()


def _account(local: LocalFile, outcome: FileOutcome, summary: ReplaySummary) -> Iterator[Match]:
    """Add one file's outcome to ``summary`` and yield its matches, counting each as it goes."""
    source = local.location
    if outcome.skipped is not None:
        summary.skipped.append((source, outcome.skipped))
    elif outcome.failed is not None:
        summary.failed.append((source, outcome.failed))
    elif outcome.unreadable is not None:
        if local.readable:
            summary.failed.append((source, outcome.unreadable))
        else:  # empty, and so skipped before any attempt to read it, as when sizes came first
            summary.skipped.append((source, local.key.reason))
    else:
        summary.files_read += 1
        summary.records += outcome.records
        summary.record_problems.extend((source, p.index, p.reason) for p in outcome.problems)
        for match in outcome.matches:
            summary.matched_records += 1
            summary.matches_per_rule.update(match.rules)
            yield match


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def default_start_method() -> str:
    """``fork`` on Linux (workers start in milliseconds, the rules already loaded), else ``spawn``.

    macOS has ``fork`` too, but forking a process there is unsafe once system frameworks are loaded.
    """
    return "fork" if sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods() else "spawn"


WORKER_MIN_FILES = 256
"""From this many files on, worker processes always pay: starting them costs far less than scanning the files."""
WORKER_MIN_BYTES = 16 * 1024**2
"""Fewer files pay when they hold this many compressed bytes together (about a second's scan)."""
BATCHES_PER_JOB = 8
"""Batches are sized so each worker gets about this many: they then finish at about the same time."""
MAX_BATCH_FILES = 128
"""At most this many files a batch, so results come back steadily and a batch's results stay small."""
BATCHES_AHEAD_PER_JOB = 2
"""Batches sent ahead of the one being accounted for, per worker: enough to keep every worker busy,
few enough that results waiting for their turn stay bounded in memory."""


def worth_workers(locations: Sequence[str]) -> bool:
    """Whether scanning these files in worker processes can beat scanning them here.

    One file is never split, so a single file (of any size) is scanned here; a few small files too,
    as starting workers costs more than they do. Sizes are only looked at when there are few files.
    """
    if len(locations) < 2:
        return False
    return len(locations) >= WORKER_MIN_FILES or sum(map(_size, locations)) >= WORKER_MIN_BYTES


def _size(location: str) -> int:
    """The file's size in bytes, 0 when it cannot be known (reading it will tell why)."""
    try:
        return os.stat(location).st_size
    except OSError:
        return 0


def _batches(locations: Sequence[str], jobs: int) -> list[Sequence[str]]:
    """``locations`` cut, in order, into about :data:`BATCHES_PER_JOB` batches per job (fewer files: one each)."""
    size = min(MAX_BATCH_FILES, max(1, -(-len(locations) // (jobs * BATCHES_PER_JOB))))
    return [locations[start : start + size] for start in range(0, len(locations), size)]


def _outcomes_in_workers(
    locations: Sequence[str], engine: RuleEngine, limits: ReadLimits, jobs: int, start_method: str
) -> Generator[FileOutcome, None, None]:
    """The outcome of each file, in order, scanned in ``jobs`` worker processes a batch at a time.

    When a batch fails in a worker (an error that is not a file's own, or a worker that died), the
    workers are stopped and that batch and the rest are scanned here: a genuine error is then
    raised at the same file as with ``jobs=1``, after the same matches. The workers are stopped
    too when the caller stops early (Ctrl-C, a closed pipe); they ignore SIGINT, so only this
    process sees Ctrl-C, and are terminated, so nothing waits on them.
    """
    batches = _batches(locations, jobs)
    executor = ProcessPoolExecutor(
        min(jobs, len(batches)),
        mp_context=multiprocessing.get_context(start_method),
        initializer=_start_worker,
        initargs=(engine.rules, limits),
    )
    try:
        delivered = yield from _delivered(executor, batches, jobs * BATCHES_AHEAD_PER_JOB)
    except BaseException:
        _terminate(executor)
        raise
    _terminate(executor)
    yield from (scan_file(location, engine, limits) for batch in batches[delivered:] for location in batch)


def _delivered(
    executor: ProcessPoolExecutor, batches: Sequence[Sequence[str]], ahead: int
) -> Generator[FileOutcome, None, int]:
    """Yield the outcomes of ``batches`` in order, at most ``ahead`` batches out at once; return how many
    batches were delivered, fewer than all when one failed in its worker.

    Once every batch is back the workers are let go, before the last outcomes are yielded: the
    caller takes exactly one outcome per file, so it never resumes this past the last one.
    """
    pending: deque[Future[bytes | list[FileOutcome]]] = deque(
        executor.submit(_scan_batch, batch) for batch in batches[:ahead]
    )
    for done, batch in enumerate(batches):
        packed = _result(pending.popleft())
        if packed is None:
            return done
        if done + ahead < len(batches):
            pending.append(executor.submit(_scan_batch, batches[done + ahead]))
        elif not pending:
            executor.shutdown()
        yield from _unpack(batch, packed)
    return len(batches)


def _result(future: Future[bytes | list[FileOutcome]]) -> bytes | list[FileOutcome] | None:
    """A batch's packed outcomes, or None when its worker raised or died (the caller then scans it itself)."""
    try:
        return future.result()
    except Exception:
        return None


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop ``executor`` now: drop the batches not started and terminate its workers, busy or not.

    What Python 3.14's ``ProcessPoolExecutor.terminate_workers()`` does; older versions have only the
    private ``_processes`` to reach the workers (``shutdown`` clears it, so it is read first).
    """
    workers = list((executor._processes or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()


_worker_scan: Callable[[str], FileOutcome] | None = None
"""In a worker process: :func:`scan_file` bound to the worker's own engine and limits."""


def _start_worker(rules: RuleSet, limits: ReadLimits) -> None:
    """Set up a worker process: build its engine once, and leave Ctrl-C to the parent (which stops it).

    The objects the worker starts with (a forked parent's, or its imports) live as long as it does:
    frozen, the collector no longer walks them, which saves time and, after a fork, copies of the
    parent's memory pages.
    """
    global _worker_scan
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_scan = partial(scan_file, engine=RuleEngine(rules), limits=limits)
    gc.freeze()


def _scan_batch(locations: Sequence[str]) -> bytes | list[FileOutcome]:
    """In a worker process: the outcome of each file of a batch, in order, packed by :func:`_pack`."""
    scan = _worker_scan
    if scan is None:
        raise RuntimeError("_scan_batch runs in a worker process set up by _start_worker")
    return _pack([scan(location) for location in locations])


def _pack(outcomes: list[FileOutcome]) -> bytes | list[FileOutcome]:
    """``outcomes`` as marshal data of plain tuples, or as they are when marshal cannot hold them.

    Records are JSON values, which marshal keeps exactly and writes and reads about twice as fast as
    pickle does the same outcomes (pickle remembers every object it writes); the batch's results
    cross between processes as that one ``bytes``. Something other than JSON values (which the
    readers do not make) leaves the outcomes to pickle.
    """
    plain = [
        (
            outcome.records,
            [(match.index, match.record, match.rules) for match in outcome.matches],
            [(problem.index, problem.reason) for problem in outcome.problems],
            outcome.skipped,
            outcome.failed,
            outcome.unreadable,
        )
        for outcome in outcomes
    ]
    try:
        return marshal.dumps(plain)
    except ValueError:
        return outcomes


def _unpack(locations: Sequence[str], packed: bytes | list[FileOutcome]) -> list[FileOutcome]:
    """The outcomes :func:`_pack` packed for the files at ``locations``, as scanning them here gives them.

    The records' dicts hold no cycles, so the collector is held while they are built (a fifth less time).
    """
    if not isinstance(packed, bytes):
        return packed
    with paused_gc():
        return [
            FileOutcome(
                records,
                [Match(source=location, index=index, record=record, rules=rules) for index, record, rules in matches],
                [RecordProblem(index=index, reason=reason) for index, reason in problems],
                skipped,
                failed,
                unreadable,
            )
            for location, (records, matches, problems, skipped, failed, unreadable) in zip(
                locations, marshal.loads(packed)
            )
        ]


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_CHUNK = 1 << 16


def _read_bytes(location: str) -> bytes:
    """The file's bytes, as ``Path.read_bytes()`` gives them (up to end of file), in about 30% less time.

    One ``fstat`` sizes the first read, and no buffered file object is built; the end of the file is
    still found by a read that returns nothing, so a file that grew is read whole.
    """
    fd = os.open(location, _READ_FLAGS)
    try:
        chunks = [os.read(fd, os.fstat(fd).st_size or _CHUNK)]
        while chunks[-1]:
            chunks.append(os.read(fd, _CHUNK))
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) <= 2 else b"".join(chunks)


# --- the command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``replay`` command's options."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--rules", metavar="FILE", help="a rules file (JSON or YAML); default: the built-in pack")
    source.add_argument(
        "--selectors", metavar="FILE", help="a JSON list of advanced event selectors, or get-event-selectors output"
    )
    parser.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format (default: text)")
    parser.add_argument("--with-record", action="store_true", help="jsonl: include the whole record of each match")
    parser.add_argument(
        "--max-decompressed-bytes",
        type=positive_int,
        default=DEFAULT_MAX_DECOMPRESSED_BYTES,
        metavar="N",
        help="refuse files that decompress past N bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--max-record-bytes",
        type=positive_int,
        default=DEFAULT_MAX_RECORD_BYTES,
        metavar="N",
        help="refuse files holding a record longer than N bytes (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=available_cores(),
        metavar="N",
        help="scan files in N worker processes; the output is the same for any N (default: the cores available, %(default)s)",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")


def _rules(args: argparse.Namespace) -> RuleSet:
    """The rules ``--rules`` or ``--selectors`` name, or the built-in pack."""
    if args.rules:
        return load_rules(args.rules)
    if args.selectors:
        return load_selector_rules(args.selectors)
    return default_rules()


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift replay``: the matches on stdout, as a table and summary or as JSON lines.

    FAILED when some files failed (the rest is still reported); a usage :class:`CommandError`, before
    anything is read, for invalid rules or a path that does not exist.
    """
    try:
        rules = _rules(args)
        files = list(discover(args.paths))
    except (RulesError, FileNotFoundError) as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    engine = RuleEngine(rules)
    summary = ReplaySummary()
    out = sys.stdout
    progress = ProgressBar(len(files)) if args.format == "text" else None
    limits = ReadLimits(args.max_decompressed_bytes, args.max_record_bytes)
    matches = replay(files, engine, summary, limits=limits, progress=progress, jobs=args.jobs)
    if args.format == "jsonl":
        binary = out.buffer
        for match in matches:
            binary.write(jsonl_line(match, with_record=args.with_record))
        binary.flush()
        for location, reason in summary.failed:
            print(for_terminal(f"trailsift: failed: {location}: {reason}"), file=sys.stderr)
        for location, index, reason in summary.record_problems:
            print(for_terminal(f"trailsift: skipped: {location} record {index}: {reason}"), file=sys.stderr)
    else:
        rows = [table_row(match) for match in matches]
        if progress is not None and progress.enabled:
            sys.stderr.write("\n")
        if rows:
            out.write(table_header() + "\n" + "\n".join(rows) + "\n")
        else:
            out.write("no matches\n")
        out.write(summary_text(summary, rules))
    return ExitCode.FAILED if summary.failed else ExitCode.OK
