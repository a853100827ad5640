"""``trailsift replay``: replay log files through the rules, from the local disk or straight from S3.

One bad file never stops the others: it is counted as failed (with the reason) and the replay goes
on; files that are not event files are counted as skipped (with the reason).

Files are scanned here, or with ``jobs`` above 1 in that many worker processes, batches of files at
a time; either way each file gives one :class:`FileOutcome`, and this process accounts for them in
file order, so the matches, the summary and the progress calls are the same.

``s3://bucket[/prefix]`` locations are planned by :mod:`trailsift.cli.plan` (a window, accounts,
regions), downloaded in order by a thread pool a bounded number of files and bytes ahead of the
scan, and scanned from memory as files on disk are: the output is what a replay of the same files
downloaded to a folder prints, the files named ``s3://bucket/key``. ``--since``/``--until``/
``--accounts``/``--regions`` select local files by what their names say in the same way.
"""

from __future__ import annotations

import argparse
import gc
import marshal
import multiprocessing
import os
import re
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property, partial
from itertools import chain, islice
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

import orjson

from trailsift.cli.command import CommandError, ExitCode, positive_int
from trailsift.cli.plan import (
    DEFAULT_DELIVERY_PADDING,
    DEFAULT_LIST_CONCURRENCY,
    Plan,
    Selection,
    Window,
    human_size,
    parse_s3_uri,
    plan,
)
from trailsift.cli.report import (
    Findings,
    MatchRow,
    ProgressBar,
    Severities,
    Shown,
    common_base,
    jsonl_line,
    local_base,
    match_table_lines,
    relative_to,
    rules_at_least,
    s3_base,
    severity_at_least,
    summary_text,
)
from trailsift.cli.terminal import COLOR_CHOICES, MIN_WIDTH, terminal_width, use_colour
from trailsift.cli.rules_input import add_rules_option, load_and_warn
from trailsift.cli.sources import LocalFile, discover
from trailsift.engine import RuleEngine
from trailsift.logfile import LogFileKey, classify_key
from trailsift.projection import paused_gc
from trailsift.reader import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
    LogFileError,
    NotALogFile,
    ReadLimits,
    RecordProblem,
)
from trailsift.rules import RuleSet, RulesError, Severity
from trailsift.scan import Match, scan_log_file
from trailsift.text import for_terminal

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_Item = TypeVar("_Item")


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


class ReplayFile(Protocol):
    """A file to replay, local or in S3: where it is (its name in the output) and what its name says it is."""

    @property
    def location(self) -> str: ...

    @property
    def key(self) -> LogFileKey: ...

    @property
    def readable(self) -> bool: ...

    @property
    def readable_by_name(self) -> bool: ...


def scan_file(location: str, engine: RuleEngine, limits: ReadLimits) -> FileOutcome:
    """Read and scan one file; the errors that are the file's own become its outcome, any other is raised."""
    try:
        data = _read_bytes(location)
    except OSError as exc:
        return FileOutcome(unreadable=f"cannot read: {exc.strerror or exc}")
    return scan_data(data, location, engine, limits)


def scan_data(data: bytes, location: str, engine: RuleEngine, limits: ReadLimits) -> FileOutcome:
    """Scan one file's bytes, read from ``location``; the errors that are the file's own become its outcome."""
    try:
        result = scan_log_file(
            data=data,
            source=location,
            engine=engine,
            limit=limits.max_decompressed_bytes,
            max_record_bytes=limits.max_record_bytes,
        )
    except NotALogFile as exc:
        return FileOutcome(skipped=exc.reason)
    except LogFileError as exc:
        return FileOutcome(failed=exc.detail)
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


@dataclass(frozen=True)
class RemoteFile:
    """An S3 object to replay: ``location`` (``s3://bucket/key``, escaped) names it in the output."""

    bucket: str
    object_key: str
    size: int
    location: str

    @classmethod
    def planned(cls, found: Plan) -> list[RemoteFile]:
        """The files of a plan, in its order."""
        return [cls(found.bucket, file.key, file.size, found.uri(file)) for file in found.files]

    @cached_property
    def key(self) -> LogFileKey:
        """What the key and size say the object is."""
        return classify_key(self.object_key, size=self.size)

    @property
    def readable(self) -> bool:
        return self.key.holds_events

    @property
    def readable_by_name(self) -> bool:
        return self.key.holds_events


Fetch = Callable[[RemoteFile], "bytes | FileOutcome"]
"""Download one object: its bytes, or the outcome of a file that could not be downloaded."""

DOWNLOAD_CONCURRENCY = 16
"""Objects downloaded at once by default (the function's FetchConcurrency)."""
PREFETCH_BYTES = 64 * 1024**2
"""Bytes (by listed size) downloaded ahead of the scan at most, besides the one file always allowed."""
MAX_BATCH_BYTES = 16 * 1024**2
"""Bytes a batch sent to a worker process holds at most (a larger file is a batch of its own)."""


def replay_remote(
    files: Sequence[RemoteFile],
    fetch: Fetch,
    engine: RuleEngine,
    summary: ReplaySummary,
    *,
    limits: ReadLimits = ReadLimits(),
    progress: Progress | None = None,
    jobs: int = 1,
    start_method: str | None = None,
    download_concurrency: int = DOWNLOAD_CONCURRENCY,
) -> Iterator[Match]:
    """What :func:`replay` gives for the same files on disk, for objects downloaded with ``fetch``.

    ``download_concurrency`` downloads run at once, in file order, at most :data:`PREFETCH_BYTES`
    (and twice ``download_concurrency`` files) ahead of the scan, so memory stays bounded whatever
    the number of files. ``jobs`` above 1 scans them in worker processes, as :func:`replay` does.
    """
    wanted = [file for file in files if file.readable_by_name]
    downloads = prefetched(wanted, fetch, download_concurrency)
    with closing(downloads):
        if jobs > 1 and _remote_worth_workers(wanted):
            outcomes = _remote_outcomes_in_workers(
                wanted, downloads, engine, limits, jobs, start_method or default_start_method()
            )
            with closing(outcomes):
                yield from _account_files(files, lambda _file: next(outcomes), summary, progress)
            return
        here = partial(_scan_item, engine=engine, limits=limits)
        yield from _account_files(files, lambda _file: here(_labelled(next(downloads))), summary, progress)


def _labelled(download: tuple[RemoteFile, bytes | FileOutcome]) -> tuple[str, bytes | FileOutcome]:
    file, got = download
    return file.location, got


def _scan_item(item: tuple[str, bytes | FileOutcome], engine: RuleEngine, limits: ReadLimits) -> FileOutcome:
    """The outcome of a downloaded file: scanned, or the outcome of its failed download."""
    location, got = item
    return got if isinstance(got, FileOutcome) else scan_data(got, location, engine, limits)


def prefetched(
    files: Sequence[RemoteFile], fetch: Fetch, concurrency: int, budget: int | None = None
) -> Generator[tuple[RemoteFile, bytes | FileOutcome], None, None]:
    """Each of ``files`` with what ``fetch`` gave, in order, downloaded ``concurrency`` at a time ahead of the caller.

    At most ``2 * concurrency`` files and ``budget`` bytes (default :data:`PREFETCH_BYTES`) are
    downloading or downloaded and not yet taken, but always at least one file. Closing the generator
    drops the downloads not begun; those under way finish in their threads.
    """
    budget = PREFETCH_BYTES if budget is None else budget
    executor = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="trailsift-download")
    pending: deque[tuple[RemoteFile, Future[bytes | FileOutcome]]] = deque()
    held = 0
    queue = iter(files)
    upcoming = next(queue, None)
    try:
        while True:
            while upcoming is not None and len(pending) < 2 * concurrency and (not pending or held + upcoming.size <= budget):
                pending.append((upcoming, executor.submit(fetch, upcoming)))
                held += upcoming.size
                upcoming = next(queue, None)
            if not pending:
                return
            file, future = pending.popleft()
            held -= file.size
            yield file, future.result()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def s3_fetcher(client: S3Client) -> Fetch:
    """Download an object with ``client``: its bytes; an object deleted since it was listed is skipped, any
    other AWS error fails the file (botocore has already retried what can be retried)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from trailsift.aws.errors import describe_aws_error

    def fetch(file: RemoteFile) -> bytes | FileOutcome:
        try:
            body = client.get_object(Bucket=file.bucket, Key=file.object_key)["Body"]
            with closing(body):
                return body.read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return FileOutcome(skipped="object deleted after it was listed")
            return FileOutcome(failed=f"cannot download: {describe_aws_error(exc)}")
        except BotoCoreError as exc:
            return FileOutcome(failed=f"cannot download: {describe_aws_error(exc)}")

    return fetch


def select_local(files: Iterable[LocalFile], selection: Selection) -> tuple[list[LocalFile], int]:
    """The files ``selection`` keeps by what their names say (as the planner keeps keys), and how many of those
    kept were kept only because their names say nothing (no account, region or delivery time) although
    they will be read.

    Files that are not event files by name (digests, probes, other files) are kept: the replay reports
    them as skipped, as without a selection. Insights files are judged like event files.
    """
    judge = replace(selection, include_insights=True)
    kept: list[LocalFile] = []
    unplaced = 0
    for local in files:
        named = local.named
        if named.delivered_at is None or named.account is None or named.region is None:
            kept.append(local)
            unplaced += local.readable_by_name
        elif judge.reason(named) is None:
            kept.append(local)
    return kept, unplaced


def _account_files(
    files: Iterable[ReplayFile],
    scan: Callable[[ReplayFile], FileOutcome],
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


def _account(local: ReplayFile, outcome: FileOutcome, summary: ReplaySummary) -> Iterator[Match]:
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


def _remote_worth_workers(files: Sequence[RemoteFile]) -> bool:
    """:func:`worth_workers` for objects, whose sizes the listing gave."""
    if len(files) < 2:
        return False
    return len(files) >= WORKER_MIN_FILES or sum(file.size for file in files) >= WORKER_MIN_BYTES


def _remote_batches(sizes: Sequence[int], jobs: int) -> list[int]:
    """How many files each batch takes, in order: as :func:`_batches` cuts, and no more than
    :data:`MAX_BATCH_BYTES` a batch (but at least one file), since the batch's bytes go to the worker."""
    most = min(MAX_BATCH_FILES, max(1, -(-len(sizes) // (jobs * BATCHES_PER_JOB))))
    counts: list[int] = []
    count = held = 0
    for size in sizes:
        if count and (count >= most or held + size > MAX_BATCH_BYTES):
            counts.append(count)
            count = held = 0
        count += 1
        held += size
    if count:
        counts.append(count)
    return counts


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
    return _in_workers(
        iter(batches),
        min(jobs, len(batches)),
        engine,
        limits,
        start_method,
        jobs * BATCHES_AHEAD_PER_JOB,
        work=_scan_batch,
        here=partial(scan_file, engine=engine, limits=limits),
        label=str,
    )


def _remote_outcomes_in_workers(
    files: Sequence[RemoteFile],
    downloads: Iterator[tuple[RemoteFile, bytes | FileOutcome]],
    engine: RuleEngine,
    limits: ReadLimits,
    jobs: int,
    start_method: str,
) -> Generator[FileOutcome, None, None]:
    """:func:`_outcomes_in_workers` for downloaded objects: each batch takes its files' bytes from ``downloads``
    (in the order of ``files``) when it is sent, so only the batches out hold bytes."""
    counts = _remote_batches([file.size for file in files], jobs)

    def batches() -> Iterator[list[tuple[str, bytes | FileOutcome]]]:
        for count in counts:
            yield [_labelled(download) for download in islice(downloads, count)]

    return _in_workers(
        batches(),
        min(jobs, len(counts)),
        engine,
        limits,
        start_method,
        jobs * BATCHES_AHEAD_PER_JOB,
        work=_scan_data_batch,
        here=partial(_scan_item, engine=engine, limits=limits),
        label=itemgetter(0),
    )


def _in_workers(
    batches: Iterator[Sequence[_Item]],
    processes: int,
    engine: RuleEngine,
    limits: ReadLimits,
    start_method: str,
    ahead: int,
    *,
    work: Callable[[Sequence[_Item]], bytes | list[FileOutcome]],
    here: Callable[[_Item], FileOutcome],
    label: Callable[[_Item], str],
) -> Generator[FileOutcome, None, None]:
    """The outcome of each item of ``batches``, in order: ``work`` gives a batch's in a worker process, ``here``
    one item's in this process (for the batches after one that failed in a worker), ``label`` names an item."""
    executor = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context(start_method),
        initializer=_start_worker,
        initargs=(engine.rules, limits),
    )
    pending: deque[tuple[Sequence[_Item], Future[bytes | list[FileOutcome]]]] = deque()
    try:
        # The workers start now, before the first batch is asked for: for objects that starts the download
        # threads, and a forked worker is better made while this thread is the only one.
        executor.submit(int)
        complete = yield from _delivered(executor, batches, ahead, work, label, pending)
    except BaseException:
        _terminate(executor)
        raise
    _terminate(executor)
    if not complete:
        rest = chain([batch for batch, _ in pending], batches)
        yield from (here(item) for batch in rest for item in batch)


def _delivered(
    executor: ProcessPoolExecutor,
    batches: Iterator[Sequence[_Item]],
    ahead: int,
    work: Callable[[Sequence[_Item]], bytes | list[FileOutcome]],
    label: Callable[[_Item], str],
    pending: deque[tuple[Sequence[_Item], Future[bytes | list[FileOutcome]]]],
) -> Generator[FileOutcome, None, bool]:
    """Yield the outcomes of ``batches`` in order, at most ``ahead`` batches out at once (in ``pending``); return
    whether every batch was delivered: when one failed in its worker, it is left first in ``pending``.

    Once every batch is back the workers are let go, before the last outcomes are yielded: the
    caller takes exactly one outcome per file, so it never resumes this past the last one.
    """
    pending.extend((batch, _submit(executor, work, batch)) for batch in islice(batches, ahead))
    while pending:
        batch, future = pending[0]
        packed = _result(future)
        if packed is None:
            return False
        pending.popleft()
        following = next(batches, None)
        if following is not None:
            pending.append((following, _submit(executor, work, following)))
        elif not pending:
            executor.shutdown()
        yield from _unpack([label(item) for item in batch], packed)
    return True


def _submit(
    executor: ProcessPoolExecutor, work: Callable[[Sequence[_Item]], bytes | list[FileOutcome]], batch: Sequence[_Item]
) -> Future[bytes | list[FileOutcome]]:
    """``work(batch)`` sent to a worker; a pool already broken (a worker died since the last batch was sent)
    gives a failed future, so that batch is scanned here like any batch whose worker died."""
    try:
        return executor.submit(work, batch)
    except BrokenProcessPool as exc:
        failed: Future[bytes | list[FileOutcome]] = Future()
        failed.set_exception(exc)
        return failed


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
_worker_scan_item: Callable[[tuple[str, bytes | FileOutcome]], FileOutcome] | None = None
"""In a worker process: :func:`_scan_item` bound to the same."""


def _start_worker(rules: RuleSet, limits: ReadLimits) -> None:
    """Set up a worker process: build its engine once, and leave Ctrl-C to the parent (which stops it).

    The objects the worker starts with (a forked parent's, or its imports) live as long as it does:
    frozen, the collector no longer walks them, which saves time and, after a fork, copies of the
    parent's memory pages.
    """
    global _worker_scan, _worker_scan_item
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = RuleEngine(rules)
    _worker_scan = partial(scan_file, engine=engine, limits=limits)
    _worker_scan_item = partial(_scan_item, engine=engine, limits=limits)
    gc.freeze()


def _scan_batch(locations: Sequence[str]) -> bytes | list[FileOutcome]:
    """In a worker process: the outcome of each file of a batch, in order, packed by :func:`_pack`."""
    scan = _worker_scan
    if scan is None:
        raise RuntimeError("_scan_batch runs in a worker process set up by _start_worker")
    return _pack([scan(location) for location in locations])


def _scan_data_batch(items: Sequence[tuple[str, bytes | FileOutcome]]) -> bytes | list[FileOutcome]:
    """In a worker process: the outcome of each downloaded file of a batch, in order, packed by :func:`_pack`."""
    scan = _worker_scan_item
    if scan is None:
        raise RuntimeError("_scan_data_batch runs in a worker process set up by _start_worker")
    return _pack([scan(item) for item in items])


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
    add_rules_option(parser)
    parser.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format (default: text)")
    parser.add_argument("--with-record", action="store_true", help="jsonl: include the whole record of each match")
    _add_output_arguments(parser)
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
    s3 = add_source_arguments(parser)
    s3.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (what would be listed, read and left out, and why) and download nothing; "
        "--format jsonl prints the files, one JSON object a line",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="log files or folders, or s3://BUCKET[/PREFIX] locations (not both)"
    )


def add_source_arguments(
    parser: argparse.ArgumentParser, *, verb: str = "replay", done: str = "replayed"
) -> argparse._ArgumentGroup:
    """The options that choose the files of local paths and ``s3://`` locations (``--since``... ``--region``), shared by
    every command that reads log files as ``replay`` does (``verb`` and ``done`` say what it does with them, in the
    help); the ``s3://`` group is returned for the command's own options. Read them with :func:`selection_of`."""
    select = parser.add_argument_group(
        "selecting files",
        "By what the key or file name says (CloudTrail's layout and file name); times are UTC, 2026-11-01 or "
        f"2026-11-01T06:00Z. Local files whose names say nothing are {done} (said once on stderr).",
    )
    select.add_argument("--since", metavar="TIME", help="files delivered from TIME on (inclusive)")
    select.add_argument(
        "--until",
        metavar="TIME",
        help="up to TIME (exclusive), and the files delivered up to --delivery-padding after it, which hold the "
        "window's last events",
    )
    select.add_argument(
        "--delivery-padding",
        type=_minutes,
        default=DEFAULT_DELIVERY_PADDING,
        metavar="MINUTES",
        help="how long after --until files are still read (default: %d; CloudTrail delivers within about 15 minutes)"
        % (DEFAULT_DELIVERY_PADDING.total_seconds() // 60),
    )
    select.add_argument(
        "--accounts", action="append", metavar="ID[,ID...]", help="only these accounts (repeat or separate with commas)"
    )
    select.add_argument(
        "--regions", action="append", metavar="REGION[,REGION...]", help="only these regions (repeat or separate with commas)"
    )
    s3 = parser.add_argument_group("s3:// locations")
    s3.add_argument(
        "--include-insights",
        action="store_true",
        help=f"also {verb} Insights files (CloudTrail-Insight/); local Insights files are always read",
    )
    s3.add_argument(
        "--download-concurrency",
        type=positive_int,
        default=DOWNLOAD_CONCURRENCY,
        metavar="N",
        help="objects downloaded at once (default: %(default)s)",
    )
    s3.add_argument("--endpoint-url", metavar="URL", help="an emulated AWS endpoint (e.g. moto server)")
    s3.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")
    return s3


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """What is shown of the matches, and the exit status they give."""
    output = parser.add_argument_group(
        "output",
        "A match's severity is the highest of the rules it matched. The summary counts every match, "
        "whatever --limit and --summary show.",
    )
    output.add_argument(
        "--sort", choices=("file", "time"), default="file", help="file: in file order (default); time: by eventTime"
    )
    output.add_argument("--limit", type=positive_int, metavar="N", help="show at most N matches")
    output.add_argument("--summary", action="store_true", help="text: the summary only, no matches")
    output.add_argument(
        "--min-severity",
        type=severity_at_least,
        metavar="SEVERITY",
        help="run only the rules of SEVERITY or above (info, low, medium, high, critical); the summary names those left out",
    )
    output.add_argument(
        "--fail-on",
        type=severity_at_least,
        metavar="SEVERITY",
        help="exit status 3 when a match of SEVERITY or above is found (for CI), even when files failed",
    )
    output.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="text: colour severities; auto (default): on a terminal, unless NO_COLOR is set",
    )


def _minutes(text: str) -> timedelta:
    """An argparse type: a whole number of minutes, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return timedelta(minutes=value)


_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_REGION_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")


def _names(given: list[str] | None, option: str, pattern: re.Pattern[str], what: str) -> frozenset[str] | None:
    """The names an ``append`` option gave (comma-separated or repeated); a usage error for a bad one."""
    if given is None:
        return None
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    if not names:
        raise CommandError(f"{option} names none", ExitCode.USAGE)
    for name in names:
        if not pattern.fullmatch(name):
            raise CommandError(f"{option}: not {what}: {name!r}", ExitCode.USAGE)
    return frozenset(names)


def selection_of(args: argparse.Namespace) -> Selection:
    """What ``--since``/``--until``/``--accounts``/``--regions``/``--include-insights`` select; usage errors."""
    return Selection(
        Window.parse(args.since, args.until),
        _names(args.accounts, "--accounts", _ACCOUNT_ID, "an account id (12 digits)"),
        _names(args.regions, "--regions", _REGION_NAME, "a region name (as us-east-1)"),
        args.include_insights,
        args.delivery_padding,
    )


def _rules(args: argparse.Namespace) -> RuleSet:
    """The rules ``--rules`` (or ``--selectors``) names, rules or selectors by content, or the built-in pack;
    their warnings (fields no record has) on stderr (:mod:`trailsift.cli.rules_input`)."""
    return load_and_warn(args).rules


def remote_locations(paths: Sequence[str]) -> list[tuple[str, str]] | None:
    """The ``(bucket, prefix)`` of each ``s3://`` path, or None when every path is local; usage errors."""
    remote = [path for path in paths if path[:5].lower() == "s3://"]
    if not remote:
        return None
    if len(remote) < len(paths):
        raise CommandError("give local paths or s3:// locations, not both", ExitCode.USAGE)
    return [parse_s3_uri("s3://" + path[5:]) for path in remote]


def plan_locations(
    args: argparse.Namespace, locations: Sequence[tuple[str, str]], selection: Selection, *, command: str = "replay"
) -> tuple[S3Client, list[Plan]]:
    """An S3 client (``--endpoint-url``, ``--region``) and the plan of each location, for ``trailsift <command>``."""
    from trailsift.aws.clients import new_client
    from trailsift.cli.session import aws_errors, session

    aws = session(command, args.region)
    with aws_errors():
        try:
            client = new_client(
                "s3",
                session=aws,
                endpoint_url=args.endpoint_url,
                max_pool_connections=max(args.download_concurrency, DEFAULT_LIST_CONCURRENCY),
            )
        except ValueError as exc:  # an endpoint URL botocore cannot use
            raise CommandError(f"--endpoint-url: {exc}", ExitCode.USAGE) from None
    found = [
        plan(
            client,
            bucket,
            prefix,
            window=selection.window,
            accounts=selection.accounts,
            regions=selection.regions,
            include_insights=selection.include_insights,
            delivery_padding=selection.delivery_padding,
        )
        for bucket, prefix in locations
    ]
    return client, found


def _print_plans(plans: Sequence[Plan], fmt: str) -> None:
    """``--dry-run``: each plan for people, or each file planned as a JSON line."""
    out = sys.stdout
    if fmt == "jsonl":
        binary = out.buffer
        for found in plans:
            for file in found.files:
                binary.write(orjson.dumps({"uri": found.uri(file), "bucket": found.bucket, **file.as_json()}) + b"\n")
        binary.flush()
        return
    out.write("\n".join("".join(for_terminal(line) + "\n" for line in found.report().splitlines()) for found in plans))


def _say(line: str) -> None:
    print(for_terminal(f"trailsift: {line}"), file=sys.stderr)


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift replay``: the matches on stdout, as a table and summary or as JSON lines.

    FAILED when some files failed (the rest is still reported); a usage :class:`CommandError`, before
    anything is read, for invalid rules, options or locations, a path or bucket that does not exist.
    """
    selection = selection_of(args)
    locations = remote_locations(args.paths)
    if locations is None and args.dry_run:
        raise CommandError("--dry-run plans s3:// locations only", ExitCode.USAGE)
    if args.summary and args.format != "text":
        raise CommandError("--summary is for --format text (jsonl prints matches only)", ExitCode.USAGE)
    try:
        rules = _rules(args)
        local = [] if locations is not None else list(discover(args.paths))
    except (RulesError, FileNotFoundError) as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    rules, left_out = rules_at_least(rules, args.min_severity)
    engine = RuleEngine(rules)
    summary = ReplaySummary()
    limits = ReadLimits(args.max_decompressed_bytes, args.max_record_bytes)
    if locations is not None:
        client, plans = plan_locations(args, locations, selection)
        if args.dry_run:
            _print_plans(plans, args.format)
            return ExitCode.OK
        for found in plans:
            _say(f"{found.location}: {len(found.files)} files ({human_size(found.total_bytes)}) to replay")
            for note in found.notes:
                _say(f"{found.location}: {note}")
        remote = [file for found in plans for file in RemoteFile.planned(found)]
        base = common_base([s3_base(found.location, [found.uri(file) for file in found.files]) for found in plans])
        progress = ProgressBar(len(remote)) if args.format == "text" else None
        matches = replay_remote(
            remote,
            s3_fetcher(client),
            engine,
            summary,
            limits=limits,
            progress=progress,
            jobs=args.jobs,
            download_concurrency=args.download_concurrency,
        )
    else:
        if selection.filters:
            local, unplaced = select_local(local, selection)
            if unplaced:
                _say(
                    f"{unplaced} file(s) carry no account, region or delivery time in their names (not CloudTrail's "
                    "layout): replayed whatever --since/--until/--accounts/--regions say"
                )
        base = common_base([local_base(path) for path in args.paths])
        progress = ProgressBar(len(local)) if args.format == "text" else None
        matches = replay(local, engine, summary, limits=limits, progress=progress, jobs=args.jobs)
    return _write(matches, summary, rules, args, progress, base=base, left_out=left_out)


def _write(
    matches: Iterator[Match],
    summary: ReplaySummary,
    rules: RuleSet,
    args: argparse.Namespace,
    progress: ProgressBar | None,
    *,
    base: str = "",
    left_out: tuple[str, ...] = (),
) -> ExitCode:
    """The matches and summary on stdout (problems on stderr for jsonl), as ``--sort``, ``--limit`` and
    ``--summary`` ask; the file names of the text relative to ``base``.

    FOUND when ``--fail-on`` found a match at or above its severity (even when files failed: CI must
    see the finding), else FAILED when some files failed, else OK.
    """
    out = sys.stdout
    jsonl = args.format == "jsonl"
    severity_of = Severities(rules)
    by_severity: Counter[Severity] = Counter()
    by_time = args.sort == "time"
    shown = Shown(by_time=by_time, limit=args.limit)
    streamed = 0  # jsonl in file order is written as it comes
    try:
        for order, match in enumerate(matches):
            severity = severity_of(match.rules)
            by_severity[severity] += 1
            if args.summary:
                continue
            if jsonl and not by_time:
                if args.limit is None or streamed < args.limit:
                    out.buffer.write(jsonl_line(match, with_record=args.with_record, severity=severity))
                    streamed += 1
                continue
            row = MatchRow.of(match, order, severity)
            item = jsonl_line(match, with_record=args.with_record, severity=severity) if jsonl else row
            shown.add(row.time_key, item)
    finally:
        if progress is not None:
            progress.close()
    findings = Findings(by_severity, streamed, args.limit, args.summary, args.min_severity, left_out, args.fail_on, base)
    if jsonl:
        binary = out.buffer
        lines: list[bytes] = shown.items()
        findings.shown = streamed or len(lines)
        binary.writelines(lines)
        binary.flush()
        for location, reason in summary.failed:
            print(for_terminal(f"trailsift: failed: {location}: {reason}"), file=sys.stderr)
        for location, index, reason in summary.record_problems:
            print(for_terminal(f"trailsift: skipped: {location} record {index}: {reason}"), file=sys.stderr)
        if args.fail_on is not None:
            print(f"trailsift: {findings.fail_on_line()}", file=sys.stderr)
    else:
        rows: list[MatchRow] = shown.items()
        findings.shown = len(rows)
        width = terminal_width(out, minimum=MIN_WIDTH)
        colour = use_colour(args.color, out)
        shown_as = relative_to(base)
        if rows:
            out.write("\n".join(match_table_lines(rows, shown_as, width, colour)) + "\n")
        elif not findings.total:
            out.write("no matches\n")
        text = summary_text(summary, rules, findings, shown_as=shown_as, width=width, colour=colour)
        out.write(text if rows or not findings.total else text.lstrip("\n"))
    if findings.failing:
        return ExitCode.FOUND
    return ExitCode.FAILED if summary.failed else ExitCode.OK
