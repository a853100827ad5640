"""Render results for people (tables, a summary, a progress bar) and for programs (JSON lines): replay's
matches and query's index rows; :func:`cell` makes a fixed-width cell safe to print.

The tables fit the terminal (:mod:`trailsift.cli.terminal`): replay's rows are grouped under the
name of their file, relative to the path given; each row has the record's index in its file, its
time, its severity (the highest of the rules it matched), every rule it matched (never cut), its
event name, principal, region and source address. Where that does not fit one line, a row takes two.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import orjson

from trailsift.cli.terminal import (
    DIM,
    GAP,
    HEADING,
    SEVERITY_STYLES,
    Band,
    Column,
    Layout,
    Row,
    Table,
    fold,
    paint,
    terminal_width,
    wrap_lines,
)
from trailsift.rules import RuleSet, Severity
from trailsift.record import principal
from trailsift.scan import Match
from trailsift.text import for_terminal

if TYPE_CHECKING:  # replay renders its results with this module
    from trailsift.cli.replay import ReplaySummary

_LIST_LIMIT = 20
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}
"""Severities from the lowest (info) to the highest (critical)."""
SEVERITY_NAMES = tuple(severity.value for severity in Severity)


def severity_at_least(text: str) -> Severity:
    """An argparse type: a severity's name (info, low, medium, high, critical)."""
    import argparse

    try:
        return Severity(text.strip().lower())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a severity: {text!r}; use one of {', '.join(SEVERITY_NAMES)}"
        ) from None


def rules_at_least(rules: RuleSet, minimum: Severity | None) -> tuple[RuleSet, tuple[str, ...]]:
    """The rules of ``rules`` at or above ``minimum`` (all when None), and the names of those left out."""
    if minimum is None:
        return rules, ()
    floor = SEVERITY_RANK[minimum]
    kept = tuple(rule for rule in rules if SEVERITY_RANK[rule.severity] >= floor)
    below = tuple(rule.name for rule in rules if SEVERITY_RANK[rule.severity] < floor)
    return RuleSet(kept, rules.source), below


class Severities:
    """The severity of a match: the highest of the rules it matched (medium for a name the rules do not hold)."""

    def __init__(self, rules: RuleSet) -> None:
        self._of = {rule.name: rule.severity for rule in rules}

    def __call__(self, names: Iterable[str]) -> Severity:
        found = [self._of.get(name, Severity.MEDIUM) for name in names]
        return max(found, key=SEVERITY_RANK.__getitem__, default=Severity.MEDIUM)


# --- JSON lines -------------------------------------------------------------------------------------


def jsonl_line(match: Match, *, with_record: bool = False, severity: Severity | None = None) -> bytes:
    """One JSON object per match: its summary, ``severity`` when given (the highest of its rules'), and with
    ``with_record`` the whole record under ``record``."""
    summary = match.summary()
    if severity is not None:
        summary["severity"] = severity.value
    if with_record:
        summary["record"] = match.record
    return orjson.dumps(summary) + b"\n"


def cell(value: object, width: int) -> str:
    """``value`` as one table cell: event text is attacker-controlled, so unsafe characters are replaced
    (:func:`trailsift.text.for_terminal`), then cut to ``width`` (0: no limit) and padded."""
    text = for_terminal("" if value is None else str(value), width)
    return text.ljust(width) if width else text


# --- the file names shown ---------------------------------------------------------------------------


def local_base(path: str) -> str:
    """What a local path given to replay makes the files under it relative to: a folder itself (``""`` for the
    current one), a file its folder; as the files' locations spell it (``str(Path(path))``)."""
    from pathlib import Path

    shown = str(Path(path))
    if os.path.isdir(path):
        return "" if shown == "." else shown if shown.endswith(os.sep) else shown + os.sep
    cut = shown.rfind(os.sep)
    return shown[: cut + 1] if cut >= 0 else ""


def s3_base(location: str, files: Iterable[str]) -> str:
    """What ``s3://bucket/prefix`` makes its objects (``files``, their locations) relative to: the prefix when
    it is a folder of theirs (``AWSLogs/`` or a trail's key prefix without its ``/``), else its folder."""
    folder = location if location.endswith("/") else location + "/"
    if all(file.startswith(folder) for file in files):
        return folder
    return location[: location.rfind("/") + 1]


def common_base(bases: Sequence[str]) -> str:
    """The base every one of ``bases`` is under (``""``: none but the current folder); for ``s3://``, never
    less than a bucket."""
    if not bases:
        return ""
    prefix = os.path.commonprefix(list(bases))
    prefix = prefix[: max(prefix.rfind("/"), prefix.rfind(os.sep)) + 1]
    if prefix.startswith("s3://") and "/" not in prefix[len("s3://") :]:
        return ""
    return prefix


def relative_to(base: str) -> Callable[[str], str]:
    """A file's location as shown: relative to ``base`` when it is under it, else whole."""
    if not base:
        return lambda location: location
    return lambda location: location[len(base) :] if location.startswith(base) and len(location) > len(base) else location


# --- replay's table ---------------------------------------------------------------------------------


_NO_TIME = "\uffff"


@dataclass(frozen=True, slots=True)
class MatchRow:
    """What replay's table shows of one match (its record is not kept): ``order`` is its place in file order."""

    order: int
    location: str
    index: int
    time: str | None
    severity: Severity
    rules: tuple[str, ...]
    event: str | None
    principal: str | None
    region: str | None
    address: str | None

    @classmethod
    def of(cls, match: Match, order: int, severity: Severity) -> MatchRow:
        record = match.record
        return cls(order, match.source, match.index, _text(record.get("eventTime")), severity, match.rules,
                   _text(record.get("eventName")), _text(principal(record)), _text(record.get("awsRegion")),
                   _text(record.get("sourceIPAddress")))

    @property
    def time_key(self) -> tuple[str, int]:
        """Sorts by eventTime (ISO 8601, so as text), records without one last, ties in file order."""
        return (self.time or _NO_TIME, self.order)

    def cells(self) -> Row:
        return {
            "index": str(self.index),
            "time": self.time or "",
            "severity": self.severity.value,
            "rules": self.rules,
            "event": self.event or "",
            "principal": self.principal or "",
            "region": self.region or "",
            "address": self.address or "",
        }


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


_INDEX = Column("index", "#", right=True)
_TIME = Column("time", "time")
_SEVERITY = Column("severity", "severity", styled=True)
_RULES = Column("rules", "rule", fold=True)
_EVENT = Column("event", "event")
_PRINCIPAL = Column("principal", "principal", keep_end=True)
_REGION = Column("region", "region")
_ADDRESS = Column("address", "source IP")


def match_layouts(rows: Sequence[MatchRow]) -> tuple[Layout, ...]:
    """Replay's layouts: one line a match when everything fits it without squeezing, else two (in which
    region, from where and who on the second, under the time). In two, the event name gives way before
    a rule name of up to 30 characters folds. The principal, often the longest, comes last: a long one
    then pushes nothing aside."""
    index_width = max([len(_INDEX.title), *(len(str(row.index)) for row in rows)])
    rule_width = min(max([len(_RULES.title), *(len(name) for row in rows for name in row.rules)]), 30)
    one_line: Layout = (Band(((_INDEX, 0), (_TIME, 0), (_SEVERITY, 0), (_RULES, 0), (_EVENT, 20),
                              (_REGION, 12), (_ADDRESS, 15), (_PRINCIPAL, 32))),)
    two_lines: Layout = (
        Band(((_INDEX, 0), (_TIME, 0), (_SEVERITY, 0), (_RULES, rule_width), (_EVENT, 14))),
        Band(((_REGION, 9), (_ADDRESS, 9), (_PRINCIPAL, 20)), indent=index_width + GAP),
    )
    return (one_line, two_lines)


def match_table(rows: Sequence[MatchRow], width: int, colour: bool) -> Table:
    """Replay's table fitted to ``rows`` and ``width``."""
    return Table(match_layouts(rows), width, colour=colour).fit(row.cells() for row in rows)


def match_table_lines(rows: Sequence[MatchRow], shown_as: Callable[[str], str], width: int, colour: bool) -> Iterator[str]:
    """Replay's table: the header, then each row under the name of its file (said again when the file
    changes, as it may in time order); no line wider than ``width``."""
    table = match_table(rows, width, colour)
    yield from table.header()
    previous: str | None = None
    for row in rows:
        if row.location != previous:
            previous = row.location
            for line in heading(for_terminal(shown_as(row.location)), width):
                yield paint(line, HEADING, colour)
        yield from table.render(row.cells())


def heading(name: str, width: int) -> list[str]:
    """A file's name over its rows, folded to ``width``: after a folder's ``/`` when that takes no more lines."""
    tidy = fold(name, width, indent="  ")
    full = fold(name, width, indent="  ", greedy=True)
    return tidy if len(tidy) <= len(full) else full


class Shown:
    """The matches to show, kept as they come: all, or the first ``limit`` in file or time order.

    In time order with a limit, at most twice ``limit`` are held at any time.
    """

    def __init__(self, *, by_time: bool, limit: int | None) -> None:
        self.by_time = by_time
        self.limit = limit
        self._rows: list[tuple[tuple[str, int], Any]] = []

    def add(self, key: tuple[str, int], item: Any) -> None:
        rows = self._rows
        if self.limit is None or len(rows) < self.limit:
            rows.append((key, item))
        elif self.by_time:
            rows.append((key, item))
            if len(rows) >= 2 * self.limit:
                rows.sort(key=_first)
                del rows[self.limit :]

    def items(self) -> list[Any]:
        rows = sorted(self._rows, key=_first) if self.by_time else self._rows
        return [item for _, item in rows[: self.limit]]


def _first(pair: tuple[tuple[str, int], Any]) -> tuple[str, int]:
    return pair[0]


# --- replay's summary -------------------------------------------------------------------------------


@dataclass
class Findings:
    """What the output options did to the matches: how many at each severity, how many shown, and why not all."""

    by_severity: Counter[Severity]
    shown: int
    limit: int | None = None
    summary_only: bool = False
    minimum: Severity | None = None
    left_out: tuple[str, ...] = ()
    fail_on: Severity | None = None
    base: str = ""

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    def at_least(self, severity: Severity) -> int:
        floor = SEVERITY_RANK[severity]
        return sum(count for found, count in self.by_severity.items() if SEVERITY_RANK[found] >= floor)

    @property
    def failing(self) -> bool:
        """Whether ``--fail-on`` found what it looks for."""
        return self.fail_on is not None and self.at_least(self.fail_on) > 0

    def fail_on_line(self) -> str:
        assert self.fail_on is not None
        found = self.at_least(self.fail_on)
        verdict = "exit status 3" if found else "passed"
        return f"--fail-on {self.fail_on.value}: {found} matched record(s) at or above it; {verdict}"


def _listed(title: str, items: Sequence[str]) -> list[str]:
    lines = [f"{title}:"]
    lines += [f"  {for_terminal(item)}" for item in items[:_LIST_LIMIT]]
    if len(items) > _LIST_LIMIT:
        lines.append(f"  ... and {len(items) - _LIST_LIMIT} more")
    return lines


def summary_text(
    summary: ReplaySummary,
    rules: RuleSet,
    findings: Findings | None = None,
    *,
    shown_as: Callable[[str], str] = str,
    width: int = 0,
    colour: bool = False,
) -> str:
    """The closing summary: files read/skipped/failed, records scanned, matches by severity and per rule, what
    the output options left out, time; lines folded to ``width`` (0: as they are)."""
    rate = summary.records / summary.elapsed if summary.elapsed > 0 else 0.0
    lines = [
        "",
        f"files: {summary.files_read} read, {len(summary.skipped)} skipped, {len(summary.failed)} failed",
        f"records: {summary.records} scanned, {summary.matched_records} matched"
        + (f", {len(summary.record_problems)} skipped (not objects)" if summary.record_problems else ""),
    ]
    if findings is not None:
        if findings.total:
            lines.append("by severity: " + ", ".join(
                f"{findings.by_severity[severity]} {severity.value}" for severity in reversed(Severity)
                if findings.by_severity[severity]))
        if findings.summary_only:
            lines.append(f"shown: none of {findings.total} (--summary)")
        elif findings.limit is not None and findings.shown < findings.total:
            lines.append(f"shown: {findings.shown} of {findings.total} (--limit {findings.limit})")
        if findings.minimum is not None:
            lines.append(
                f"--min-severity {findings.minimum.value}: {len(findings.left_out)} rule(s) below it not run"
                + (f" ({for_terminal(', '.join(findings.left_out))})" if findings.left_out else "")
            )
        if findings.base:
            lines.append(f"files shown relative to {for_terminal(findings.base)}")
    lines += [f"elapsed: {summary.elapsed:.2f} s ({rate:,.0f} records/s)", "matches per rule:"]
    head = _fitted(lines, width, colour)
    lines = []
    if summary.record_problems:
        lines += _listed("records skipped", [f"{shown_as(src)} record {i}: {why}" for src, i, why in summary.record_problems])
    if summary.skipped:
        lines += _listed("files skipped", [f"{shown_as(src)}: {why}" for src, why in summary.skipped])
    if summary.failed:
        lines += _listed("files failed", [f"{shown_as(src)}: {why}" for src, why in summary.failed])
    if findings is not None and findings.fail_on is not None:
        lines.append(findings.fail_on_line())
    lines = [*head, *_per_rule(summary, rules, width, colour), *_fitted(lines, width, colour)]
    return "\n".join(lines) + "\n"


_COUNTED = re.compile(r"\b(\d[\d,]* (?:critical|high|medium|low|info))\b")


def _fitted(lines: list[str], width: int, colour: bool) -> list[str]:
    """Plain summary lines folded to ``width`` (0: as they are), then their counts by severity coloured."""
    if width:
        lines = wrap_lines(lines, width)
    if not colour:
        return lines
    return [_COUNTED.sub(lambda found: paint(found[1], SEVERITY_STYLES[found[1].split()[-1]], True), line)
            if line.startswith(("by severity:", "    ")) else line for line in lines]


def _per_rule(summary: ReplaySummary, rules: RuleSet, width: int, colour: bool) -> list[str]:
    """``  name  count  [severity]`` a rule, the names padded to the longest that fits the line (``width``); a
    longer name folds, its count after its last piece, or on a line of its own."""
    room = width - len("  ") - len("  12345678  [critical]") if width else 10**6
    pad = max((len(name) for name in rules.names if len(name) <= room), default=8)
    lines: list[str] = []
    for rule in rules:
        count = summary.matches_per_rule.get(rule.name, 0)
        tag = paint(f"[{rule.severity.value}]", SEVERITY_STYLES[rule.severity.value], colour)
        name = for_terminal(rule.name)
        if len(name) > pad:
            pieces = fold(name, width - 2, indent="  ")
            last = pieces.pop() if len(pieces[-1]) <= pad else ""
            rule_lines = [f"  {piece}" for piece in pieces] + [f"  {last.ljust(pad)}  {count:>8}  {tag}"]
        else:
            rule_lines = [f"  {name.ljust(pad)}  {count:>8}  {tag}"]
        lines += rule_lines if count or not colour else [paint(line, DIM, colour) for line in rule_lines]
    return lines


# --- query's table ----------------------------------------------------------------------------------


_Q_TIME = Column("eventTime", "time")
_Q_SEVERITY = Column("severity", "severity", styled=True)
_Q_RULE = Column("rule", "rule", fold=True)
_Q_EVENT = Column("eventName", "event")
_Q_PRINCIPAL = Column("principal", "principal", keep_end=True)
_Q_ACCOUNT = Column("account", "account")
_Q_REGION = Column("region", "region")
_Q_ADDRESS = Column("sourceIPAddress", "source IP")
_Q_ERROR = Column("errorCode", "error")
INDEX_LAYOUTS: tuple[Layout, ...] = (
    (Band(((_Q_TIME, 0), (_Q_SEVERITY, 0), (_Q_RULE, 0), (_Q_EVENT, 20), (_Q_ACCOUNT, 0), (_Q_REGION, 12),
           (_Q_ADDRESS, 15), (_Q_ERROR, 12), (_Q_PRINCIPAL, 32))),),
    (
        Band(((_Q_TIME, 0), (_Q_SEVERITY, 0), (_Q_RULE, 12), (_Q_EVENT, 12))),
        Band(((_Q_ACCOUNT, 12), (_Q_REGION, 9), (_Q_ADDRESS, 9), (_Q_ERROR, 9), (_Q_PRINCIPAL, 20)), indent=2),
    ),
)


def index_cells(row: dict[str, Any]) -> Row:
    """An index row's cells (``query``): every value as text, a missing one empty."""
    return {column.key: _text(row.get(column.key)) or "" for layout in INDEX_LAYOUTS for band in layout
            for column, _ in band.columns}


def index_table(rows: Iterable[dict[str, Any]], width: int, colour: bool) -> Table:
    """``query``'s table, its widths taken from ``rows`` (the first page; later rows are cut to fit)."""
    return Table(INDEX_LAYOUTS, width, colour=colour).fit(index_cells(row) for row in rows)


# --- the progress bar -------------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent elsewhere or for short work.

    Each drawing replaces the last on the same line (``\\r``) and is narrower than the terminal
    (``COLUMNS`` when set), so it never wraps; the line is cleared when the work is done or
    :meth:`close` is called, so nothing is left of it.
    """

    def __init__(self, total: int, stream: IO[str] = sys.stderr, *, min_files: int = 200) -> None:
        self.total = total
        self.stream = stream
        self.enabled = total >= min_files and bool(getattr(stream, "isatty", lambda: False)())
        self._last = -1
        self._drawn = 0
        self._bar = 30

    def render(self, done: int, records: int, matches: int, width: int) -> str:
        """The bar as a line of fewer than ``width`` characters: what does not fit is left out, last first."""
        room = max(width - 1, 4)
        percent = done * 100 // max(self.total, 1)
        parts = [f"{percent:3d}%", f"{done:,}/{self.total:,} files", f"{records:,} records", f"{matches:,} matches"]
        while parts:
            text = "  ".join(parts)
            bar = min(room - len(text) - 3, self._bar)
            if bar >= 10:
                self._bar = bar  # the bar keeps its length, shorter only when the counts need the room
                filled = percent * bar // 100
                return f"[{'#' * filled}{'.' * (bar - filled)}] {text}"
            if len(parts) == 1:
                return text[-room:]
            parts.pop()
        return ""  # pragma: no cover - parts is never empty above

    def __call__(self, done: int, summary: ReplaySummary) -> None:
        if not self.enabled:
            return
        if done >= self.total:
            self.close()
            return
        percent = done * 100 // max(self.total, 1)
        if percent == self._last:
            return
        self._last = percent
        line = self.render(done, summary.records, summary.matched_records, terminal_width(self.stream))
        self.stream.write("\r" + line + " " * max(self._drawn - len(line), 0))
        self._drawn = len(line)
        self.stream.flush()

    def close(self) -> None:
        """Clear the bar's line, when it drew one."""
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0
