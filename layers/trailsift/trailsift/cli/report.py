"""Render results for people (tables, a summary) and for programs (JSON lines): replay's matches and
query's index rows; :func:`cell` makes every table's cells safe to print."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import orjson

from trailsift.rules import RuleSet
from trailsift.scan import Match
from trailsift.text import for_terminal

if TYPE_CHECKING:  # replay renders its results with this module
    from trailsift.cli.replay import ReplaySummary

_COLUMNS = (("eventTime", 20), ("rules", 28), ("eventName", 28), ("principal", 44), ("awsRegion", 14),
            ("sourceIPAddress", 22), ("file:index", 0))
_LIST_LIMIT = 20


def jsonl_line(match: Match, *, with_record: bool = False) -> bytes:
    """One JSON object per match; ``with_record`` adds the whole record under ``record``."""
    summary = match.summary()
    if with_record:
        summary["record"] = match.record
    return orjson.dumps(summary) + b"\n"


def cell(value: object, width: int) -> str:
    """``value`` as one table cell: event text is attacker-controlled, so unsafe characters are replaced
    (:func:`trailsift.text.for_terminal`), then cut to ``width`` (0: no limit) and padded."""
    text = for_terminal("" if value is None else str(value), width)
    return text.ljust(width) if width else text


def table_header() -> str:
    return "  ".join(cell(name, width) for name, width in _COLUMNS).rstrip()


def table_row(match: Match) -> str:
    summary = match.summary()
    values = {
        **summary,
        "rules": ",".join(match.rules),
        "file:index": f"{match.source}:{match.index}",
    }
    return "  ".join(cell(values[name], width) for name, width in _COLUMNS).rstrip()


# `trailsift query`: one index row per line (keys are the row's attribute names, titles the header).
_INDEX_COLUMNS = (("eventTime", "time", 20), ("rule", "rule", 28), ("severity", "severity", 8),
                  ("eventName", "eventName", 28), ("principal", "principal", 44), ("account", "account", 12),
                  ("region", "region", 14), ("sourceIPAddress", "source IP", 22), ("errorCode", "error", 0))


def index_table_header() -> str:
    return "  ".join(cell(title, width) for _, title, width in _INDEX_COLUMNS).rstrip()


def index_table_row(row: dict[str, Any]) -> str:
    """One index row as a table line, every cell stripped of control characters."""
    return "  ".join(cell(row.get(name), width) for name, _, width in _INDEX_COLUMNS).rstrip()


def _listed(title: str, items: Sequence[str]) -> list[str]:
    lines = [f"{title}:"]
    lines += [f"  {for_terminal(item)}" for item in items[:_LIST_LIMIT]]
    if len(items) > _LIST_LIMIT:
        lines.append(f"  ... and {len(items) - _LIST_LIMIT} more")
    return lines


def summary_text(summary: ReplaySummary, rules: RuleSet) -> str:
    """The closing summary: files read/skipped/failed, records scanned, matches per rule, time."""
    rate = summary.records / summary.elapsed if summary.elapsed > 0 else 0.0
    lines = [
        "",
        f"files: {summary.files_read} read, {len(summary.skipped)} skipped, {len(summary.failed)} failed",
        f"records: {summary.records} scanned, {summary.matched_records} matched"
        + (f", {len(summary.record_problems)} skipped (not objects)" if summary.record_problems else ""),
        f"elapsed: {summary.elapsed:.2f} s ({rate:,.0f} records/s)",
        "matches per rule:",
    ]
    width = max((len(name) for name in rules.names), default=0)
    for rule in rules:
        lines.append(f"  {rule.name.ljust(width)}  {summary.matches_per_rule.get(rule.name, 0):>8}  [{rule.severity.value}]")
    if summary.record_problems:
        lines += _listed("records skipped", [f"{src} record {i}: {why}" for src, i, why in summary.record_problems])
    if summary.skipped:
        lines += _listed("files skipped", [f"{src}: {why}" for src, why in summary.skipped])
    if summary.failed:
        lines += _listed("files failed", [f"{src}: {why}" for src, why in summary.failed])
    return "\n".join(lines) + "\n"


class ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent elsewhere or for short work."""

    def __init__(self, total: int, stream: IO[str] = sys.stderr, *, min_files: int = 200) -> None:
        self.total = total
        self.stream = stream
        self.enabled = total >= min_files and getattr(stream, "isatty", lambda: False)()
        self._last = -1

    def __call__(self, done: int, summary: ReplaySummary) -> None:
        if not self.enabled:
            return
        percent = done * 100 // max(self.total, 1)
        if percent == self._last and done != self.total:
            return
        self._last = percent
        filled = percent * 30 // 100
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%  {done}/{self.total} files  "
            f"{summary.records} records  {summary.matched_records} matches"
        )
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()
