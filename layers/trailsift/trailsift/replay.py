"""Replay local log files through the rules: the pipeline behind ``trailsift replay``.

One bad file never stops the others: it is counted as failed (with the reason) and the replay goes
on; files that are not event files are counted as skipped (with the reason).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from trailsift.engine import RuleEngine
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, LogFileError, NotALogFile
from trailsift.scan import Match, scan_log_file
from trailsift.sources import LocalFile


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


def replay(
    files: Iterable[LocalFile],
    engine: RuleEngine,
    summary: ReplaySummary,
    *,
    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    progress: Progress | None = None,
) -> Iterator[Match]:
    """Yield every match of every readable file, in file order then record order, filling ``summary``."""
    for done, local in enumerate(files, 1):
        source = str(local.path)
        if not local.readable:
            summary.skipped.append((source, local.key.reason))
        else:
            try:
                result = scan_log_file(local.path.read_bytes(), source, engine, limit=limit)
            except NotALogFile as exc:
                summary.skipped.append((source, exc.reason))
            except LogFileError as exc:
                summary.failed.append((source, exc.reason))
            except OSError as exc:
                summary.failed.append((source, f"cannot read: {exc.strerror or exc}"))
            else:
                summary.files_read += 1
                summary.records += result.records
                summary.record_problems.extend((source, p.index, p.reason) for p in result.problems)
                for match in result.matches:
                    summary.matched_records += 1
                    summary.matches_per_rule.update(match.rules)
                    yield match
        if progress is not None:
            progress(done, summary)
    summary.finished = time.perf_counter()
