"""``trailsift selectors impact``: what a trail's (or event data store's) advanced event selectors would keep and drop
of the events already logged, by group, and what that costs per month, before the selectors are applied.

The files are chosen as ``replay`` chooses them (local paths, or ``s3://`` locations planned with the same
``--since``/``--until``/``--accounts``/``--regions`` filters: :func:`trailsift.cli.replay.add_source_arguments`)
and read with the same reader; the counting is :mod:`trailsift.cli.impact`. Selectors CloudTrail itself would
refuse (:func:`trailsift.selectors.cloudtrail_compatibility`, as ``validate --cloudtrail``) are refused here,
with its reasons, before anything is read.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from trailsift.cli.command import CommandError, ExitCode, positive_int
from trailsift.cli.impact import (
    DEFAULT_PRICES,
    LAKE_GB_PRICES,
    MIN_SPAN,
    MONTH,
    PRICES_READ,
    PRICES_SOURCE,
    Cost,
    Group,
    Impact,
    Keeper,
    LakePricing,
    Prices,
    Store,
    Tally,
    estimate,
    monthly_factor,
    store_of,
)
from trailsift.cli.plan import human_size
from trailsift.cli.replay import (
    DOWNLOAD_CONCURRENCY,
    RemoteFile,
    add_source_arguments,
    plan_locations,
    prefetched,
    remote_locations,
    s3_fetcher,
    select_local,
    selection_of,
)
from trailsift.cli.sources import LocalFile, discover
from trailsift.cli.terminal import MIN_WIDTH, Band, Column, Layout, Row, Table, fold, terminal_width
from trailsift.reader import LogFileError, NotALogFile, ReadLimits, iter_log_records
from trailsift.rules import RulesError, is_rules_document, load_document, rules_from_selectors
from trailsift.selectors import CLOUDTRAIL_FIELDS, EventSelector, SelectorError, cloudtrail_compatibility, parse_selectors
from trailsift.text import for_terminal

__all__ = ["SelectorSet", "add_arguments", "load_selector_set", "run"]

DEFAULT_TOP = 10
DEFAULT_EXAMPLES = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``selectors`` command's subcommands and their options."""
    commands = parser.add_subparsers(dest="selectors_command", required=True, metavar="SUBCOMMAND")
    impact = commands.add_parser(
        "impact",
        help="what --selectors FILE keeps and drops of logged events, by group, and its monthly cost",
        description="Evaluate advanced event selectors (a list, get-event-selectors or get-event-data-store output) "
        "against events already logged: counts and bytes kept and dropped, by eventCategory, eventSource, "
        "resources.type and eventName, and a monthly cost estimate. Exit 0 when done, 1 when some files "
        "failed or no record was found, 2 on usage errors and on selectors CloudTrail would refuse.",
    )
    impact.add_argument(
        "--selectors", required=True, metavar="FILE",
        help="the selectors proposed (JSON or YAML): a list, or get-event-selectors / get-event-data-store output",
    )
    impact.add_argument(
        "--against", metavar="CURRENT",
        help="the selectors in use now: also report what the proposal newly drops and newly keeps",
    )
    impact.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    impact.add_argument(
        "--top", type=positive_int, default=DEFAULT_TOP, metavar="N",
        help="eventSources and eventNames shown, the most frequent first; the rest merged (default: %(default)s)",
    )
    impact.add_argument(
        "--examples", type=positive_int, default=DEFAULT_EXAMPLES, metavar="N",
        help="event IDs kept as examples of each dropped group (default: %(default)s)",
    )
    cost = impact.add_argument_group(
        "cost",
        f"Prices in USD; defaults are CloudTrail's published prices ({PRICES_SOURCE}), read {PRICES_READ}.",
    )
    cost.add_argument(
        "--store", choices=("trail", "lake"),
        help="a trail (billed per event) or a Lake event data store (billed per GB); default: what the selectors "
        "file says (get-event-data-store output: lake), else trail",
    )
    cost.add_argument(
        "--management-copy", choices=("first", "additional"), default="first",
        help="trail: whether it is the first copy of management events in its region (free) or an additional one "
        "(default: first)",
    )
    cost.add_argument(
        "--lake-pricing", choices=tuple(LAKE_GB_PRICES),
        help="lake: one-year extendable or seven-year retention pricing; default: the file's BillingMode, else one-year",
    )
    cost.add_argument(
        "--price-data-events", type=_price, metavar="USD",
        help=f"per 100,000 data (and network activity) events (default: {DEFAULT_PRICES.data_events:.2f})",
    )
    cost.add_argument(
        "--price-management-copy", type=_price, metavar="USD",
        help=f"per 100,000 management events of an additional copy (default: {DEFAULT_PRICES.management_copy:.2f})",
    )
    cost.add_argument(
        "--price-lake-gb", type=_price, metavar="USD",
        help="per GB ingested by an event data store (default: %.2f one-year, %.2f seven-year)"
        % (LAKE_GB_PRICES["one-year"], LAKE_GB_PRICES["seven-year"]),
    )
    add_source_arguments(impact, verb="read", done="read")
    impact.add_argument(
        "paths", nargs="+", metavar="PATH", help="log files or folders, or s3://BUCKET[/PREFIX] locations (not both)"
    )
    impact.set_defaults(selectors_run=run_impact)


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift selectors`` subcommand."""
    result: ExitCode = args.selectors_run(args)
    return result


def _price(text: str) -> float:
    """An argparse type: a price in USD, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a price: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite price of 0 or more, got {text!r}")
    return value


# --- the selectors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelectorSet:
    """A selectors file as this command takes it: its selectors, and where its shape says they apply."""

    path: str
    selectors: tuple[EventSelector, ...]
    store: Store | None = None
    lake_pricing: LakePricing | None = None

    @property
    def label(self) -> str:
        count = len(self.selectors)
        return f"{self.path} ({count} selector{'s' if count != 1 else ''})"


def load_selector_set(path: str) -> SelectorSet:
    """The selectors of ``path`` (a list, ``get-event-selectors`` or ``get-event-data-store`` output), refused with a
    usage :class:`CommandError` when the file is unreadable or invalid, or when CloudTrail would refuse them (its reasons)."""
    try:
        document = load_document(path)
        if is_rules_document(document):
            raise CommandError(
                f"{path}: a rules file; selectors impact takes a selector set (a list of advanced event selectors, "
                "or get-event-selectors / get-event-data-store output)",
                ExitCode.USAGE,
            )
        selectors = parse_selectors(document, context=f"{path}: ")
    except (RulesError, SelectorError) as exc:
        message = str(exc)
        raise CommandError(message if message.startswith(f"{path}:") else f"{path}: {message}", ExitCode.USAGE) from None
    problems = cloudtrail_compatibility(selectors)
    if problems:
        note = ""
        if any("is an extended field" in problem for problem in problems):
            note = f" (CloudTrail's fields are {', '.join(CLOUDTRAIL_FIELDS)})"
        raise CommandError(
            f"{path}: CloudTrail would refuse these selectors: {'; '.join(problems)}{note}", ExitCode.USAGE
        )
    store, pricing = store_of(document)
    return SelectorSet(path, selectors, store, pricing)


# --- reading the logs ----------------------------------------------------------------------------------


@dataclass
class Reading:
    """The files read, skipped and failed, and the entries of ``Records`` that were not records."""

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    problems: int = 0


def file_records(data: bytes, location: str, limits: ReadLimits, reading: Reading) -> list[dict[str, Any]]:
    """The records of one file's bytes (read as replay reads them); a file that is not an event file is skipped,
    one that cannot be read failed, either counted in ``reading`` and giving no record."""
    try:
        entries = list(iter_log_records(data, location, limit=limits.max_decompressed_bytes, max_record_bytes=limits.max_record_bytes))
    except NotALogFile as exc:
        reading.skipped.append((location, exc.reason))
        return []
    except LogFileError as exc:
        reading.failed.append((location, exc.detail))
        return []
    reading.files_read += 1
    records = [entry for _, entry in entries if type(entry) is dict]
    reading.problems += len(entries) - len(records)
    return records


def local_records(files: Iterable[LocalFile], limits: ReadLimits, reading: Reading) -> Iterator[dict[str, Any]]:
    """The records of local files, in order."""
    for local in files:
        if not local.readable_by_name:
            reading.skipped.append((local.location, local.key.reason))
            continue
        try:
            data = Path(local.location).read_bytes()
        except OSError as exc:
            reading.failed.append((local.location, f"cannot read: {exc.strerror or exc}"))
            continue
        if not data:
            reading.skipped.append((local.location, "zero-byte object"))
            continue
        yield from file_records(data, local.location, limits, reading)


def remote_records(
    files: Iterable[RemoteFile], fetch: Any, concurrency: int, limits: ReadLimits, reading: Reading
) -> Iterator[dict[str, Any]]:
    """The records of S3 objects, downloaded ahead of the reading as replay downloads them."""
    wanted = []
    for file in files:
        if file.readable_by_name:
            wanted.append(file)
        else:
            reading.skipped.append((file.location, file.key.reason))
    for file, got in prefetched(wanted, fetch, concurrency):
        if isinstance(got, bytes):
            yield from file_records(got, file.location, limits, reading)
        elif got.skipped is not None:
            reading.skipped.append((file.location, got.skipped))
        else:
            reading.failed.append((file.location, got.failed or got.unreadable or "cannot download"))


def _say(line: str) -> None:
    print(for_terminal(f"trailsift: {line}"), file=sys.stderr)


def _records(args: argparse.Namespace, reading: Reading) -> Iterator[dict[str, Any]]:
    """The records of the paths given, local or ``s3://``, with replay's file selection; usage errors for bad paths."""
    selection = selection_of(args)
    locations = remote_locations(args.paths)
    limits = ReadLimits()
    if locations is not None:
        client, plans = plan_locations(args, locations, selection, command="selectors impact")
        for found in plans:
            for note in found.notes:
                _say(f"{found.location}: {note}")
        remote = [file for found in plans for file in RemoteFile.planned(found)]
        return remote_records(remote, s3_fetcher(client), args.download_concurrency, limits, reading)
    try:
        local = list(discover(args.paths))
    except FileNotFoundError as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    if selection.filters:
        local, _ = select_local(local, selection)
    return local_records(local, limits, reading)


# --- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pricing:
    """The store the estimate is for, its prices, and whether a trail is the first copy of management events."""

    store: Store
    prices: Prices
    first_copy: bool
    lake_pricing: LakePricing

    def lines(self) -> list[str]:
        """What each price is, as the report says it."""
        p = self.prices
        if self.store == "lake":
            return [f"event data store (Lake, {self.lake_pricing} pricing): ${p.lake_gb:.2f} per GB ingested (2^30 bytes)"]
        management = (
            "free (the trail is the first copy of management events)"
            if self.first_copy
            else f"${p.management_copy:.2f} per 100,000 (an additional copy)"
        )
        return [
            f"trail: data and network activity events ${p.data_events:.2f} per 100,000",
            f"management events {management}",
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "management_copy": "first" if self.first_copy else "additional",
            "lake_pricing": self.lake_pricing,
            "data_events_per_100000": self.prices.data_events,
            "management_copy_per_100000": self.prices.management_copy,
            "lake_per_gb": self.prices.lake_gb,
            "defaults_read": PRICES_READ,
            "defaults_source": PRICES_SOURCE,
        }


def pricing_of(args: argparse.Namespace, proposal: SelectorSet, current: SelectorSet | None) -> Pricing:
    """The store (``--store``, else the selectors files' shape, else trail) and its prices (options over defaults)."""
    store: Store = args.store or proposal.store or (current.store if current else None) or "trail"
    lake_pricing: LakePricing = args.lake_pricing or proposal.lake_pricing or (current.lake_pricing if current else None) or "one-year"
    prices = Prices(
        data_events=DEFAULT_PRICES.data_events if args.price_data_events is None else args.price_data_events,
        management_copy=DEFAULT_PRICES.management_copy if args.price_management_copy is None else args.price_management_copy,
        lake_gb=LAKE_GB_PRICES[lake_pricing] if args.price_lake_gb is None else args.price_lake_gb,
    )
    return Pricing(store, prices, args.management_copy == "first", lake_pricing)


def run_impact(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift selectors impact``: the report on stdout (text or one JSON document).

    FAILED when some files failed (reported on stderr) or no record was found; a usage :class:`CommandError`,
    before anything is read, for selectors that are invalid or that CloudTrail would refuse, and bad paths.
    """
    proposal = load_selector_set(args.selectors)
    current = load_selector_set(args.against) if args.against is not None else None
    pricing = pricing_of(args, proposal, current)
    impact = Impact(against=current is not None, examples=args.examples)
    keep = Keeper(proposal.selectors, proposal.path)
    before = Keeper(current.selectors, current.path) if current is not None else None
    reading = Reading()
    add = impact.add
    for record in _records(args, reading):
        add(record, keep, before)
    for location, reason in reading.failed:
        _say(f"failed: {location}: {reason}")
    if not impact.cells:
        where = " ".join(args.paths)
        read = f"{reading.files_read} file{'s' if reading.files_read != 1 else ''} read"
        raise CommandError(f"no records found in {where} ({read}, {len(reading.skipped)} skipped, {len(reading.failed)} failed)")
    report = Report(impact, proposal, current, pricing, reading, args.top)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        sys.stdout.write("\n".join(report.text_lines(terminal_width(sys.stdout, minimum=MIN_WIDTH))) + "\n")
    return ExitCode.FAILED if reading.failed else ExitCode.OK


# --- the report --------------------------------------------------------------------------------------------


def _count(value: int) -> str:
    return f"{value:,}"


def _money(value: float) -> str:
    """Dollars to the cent; an amount under a cent to two significant digits (``$0.000013``), never ``$0.00`` for it."""
    size = abs(value)
    digits = 2 if size == 0 or size >= 0.005 else min(10, 1 - math.floor(math.log10(size)))
    return f"${size:,.{digits}f}" if value >= 0 else f"-${size:,.{digits}f}"


def _change(value: float) -> str:
    return "$0.00" if value == 0 else ("+" if value > 0 else "") + _money(value)


def _duration(seconds: float) -> str:
    if seconds == 3600:
        return "an hour"
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:,.1f} days"


LIMITS = (
    "Only events that were logged can be evaluated: this measures what a proposal narrower than the logging "
    "would drop; events the current selectors did not log are not here to be counted (no widening).",
    "Management and data events are selected differently: management events by eventCategory Management "
    "(with readOnly, eventSource), data events only by a selector naming their resources.type; a data event "
    "no selector names is dropped. CloudTrail's compatibility rules were checked first.",
)


@dataclass
class Report:
    """The impact as people read it (:meth:`text_lines`) and as one JSON document (:meth:`to_json`)."""

    impact: Impact
    proposal: SelectorSet
    current: SelectorSet | None
    pricing: Pricing
    reading: Reading
    top: int
    total: Group = field(init=False)
    groups: dict[str, dict[str, Group]] = field(init=False)

    def __post_init__(self) -> None:
        self.total = self.impact.total  # folded once from the impact's cells
        self.groups = self.impact.groups

    # -- figures shared by both formats

    def kept_by_category(self, which: str) -> dict[str, Tally]:
        """Kept events and bytes by eventCategory: ``logged`` (everything read), ``current`` or ``proposal``."""
        out: dict[str, Tally] = {}
        for category, group in self.groups["eventCategory"].items():
            tally = Tally()
            if which == "logged":
                tally.merge(group.kept)
                tally.merge(group.dropped)
            elif which == "proposal":
                tally.merge(group.kept)
            else:  # current: what the proposal keeps, less what it newly keeps, plus what it newly drops
                tally = Tally(
                    group.kept.events - group.newly_kept.events + group.newly_dropped.events,
                    group.kept.bytes - group.newly_kept.bytes + group.newly_dropped.bytes,
                )
            out[category] = tally
        return out

    def costs(self) -> tuple[str, Cost, Cost, float | None]:
        """The baseline's name and cost, the proposal's cost (in the logs), and the months factor (None: not extrapolated)."""
        baseline = "current" if self.current is not None else "logged"
        p = self.pricing
        before = estimate(self.kept_by_category(baseline), p.store, p.prices, first_copy=p.first_copy)
        after = estimate(self.kept_by_category("proposal"), p.store, p.prices, first_copy=p.first_copy)
        return ("current" if self.current is not None else "as logged"), before, after, monthly_factor(self.impact.span)

    def limits(self) -> list[str]:
        impact = self.impact
        found = list(LIMITS)
        if impact.inferred:
            found.append(
                f"{_count(impact.inferred)} records carry no eventCategory (eventVersion before 1.07): it was inferred "
                "from eventType and managementEvent (Management unless they say otherwise)."
            )
        if impact.ungoverned.events:
            found.append(
                f"{_count(impact.ungoverned.events)} Insights events are counted as kept: Insights selectors log them, "
                "not event selectors (none of these names eventCategory Insight), and they are not priced here."
            )
        bucket_only = self.groups["resources.type"].get("AWS::S3::Bucket")
        if bucket_only is not None and bucket_only.events:
            found.append(
                f"{_count(bucket_only.events)} data events name an S3 bucket and no object (ListBucket and other "
                "bucket-level calls). CloudTrail's data event type AWS::S3::Object covers such calls, but they are "
                "evaluated as written: a selector on resources.type AWS::S3::Object does not keep them here."
            )
        span = impact.span
        if span is not None and span > MONTH:
            found.append(
                f"The logs span {_duration(span.total_seconds())}: the monthly figures are their average month, "
                "as if the events were spread evenly over that time."
            )
        if self.reading.problems:
            found.append(f"{_count(self.reading.problems)} entries of Records were not objects and were not counted.")
        return found

    # -- JSON

    def to_json(self) -> dict[str, Any]:
        impact = self.impact
        against = self.current is not None
        span = impact.span
        baseline, before, after, factor = self.costs()
        groups: dict[str, Any] = {}
        for dimension in self.groups:
            limit = self.top if dimension in ("eventSource", "eventName") else None
            shown, rest = impact.top(dimension, limit, self.groups)
            groups[dimension] = [{"name": name, **group.to_json(against=against)} for name, group in shown]
            if rest is not None:
                groups[dimension].append({"name": None, "others": rest[0], **rest[1].to_json(against=against)})
        out: dict[str, Any] = {
            "selectors": {"file": self.proposal.path, "count": len(self.proposal.selectors)},
            "against": None if self.current is None else {"file": self.current.path, "count": len(self.current.selectors)},
            "files": {"read": self.reading.files_read, "skipped": len(self.reading.skipped), "failed": len(self.reading.failed)},
            "events": self.total.events,
            "bytes": self.total.kept.bytes + self.total.dropped.bytes,
            "bytes_are": "each record's compact JSON, UTF-8",
            "span": {
                "first": impact.first,
                "last": impact.last,
                "seconds": None if span is None else span.total_seconds(),
            },
            "kept": self.total.kept.to_json(),
            "dropped": self.total.dropped.to_json(),
        }
        if against:
            out["newly_dropped"] = self.total.newly_dropped.to_json()
            out["newly_kept"] = self.total.newly_kept.to_json()
        out["dropped_examples"] = list(self.total.dropped_examples)
        out["groups"] = groups
        out["kept_by_selector"] = {name: tally.to_json() for name, tally in sorted(impact.kept_by_selector.items())}
        out["inferred_category"] = impact.inferred
        out["insights_not_governed"] = impact.ungoverned.to_json()

        def cost(value: Cost, scale: float) -> dict[str, float]:
            return {
                "data_events": round(value.data_events * scale, 4),
                "management": round(value.management * scale, 4),
                "lake": round(value.lake * scale, 4),
                "total": round(value.total * scale, 4),
            }

        out["cost"] = {
            **self.pricing.to_json(),
            "baseline": baseline,
            "month_over_span": factor,
            "logged": {"baseline": cost(before, 1), "proposal": cost(after, 1)},
            "monthly": None if factor is None else {"baseline": cost(before, factor), "proposal": cost(after, factor)},
        }
        out["limits"] = self.limits()
        return out

    # -- text

    def text_lines(self, width: int) -> list[str]:
        impact = self.impact
        against = self.current is not None
        lines = fold(f"selectors impact: {self.proposal.label}", width, indent="  ", greedy=True)
        if self.current is not None:
            lines += fold(f"against: {self.current.label}", width, indent="  ", greedy=True)
        total = self.total
        all_bytes = total.kept.bytes + total.dropped.bytes
        read = self.reading.files_read
        lines.append(
            f"logs: {_count(total.events)} events ({human_size(all_bytes)}) in {_count(read)} file{'s' if read != 1 else ''}"
            + (f", {len(self.reading.skipped)} skipped" if self.reading.skipped else "")
            + (f", {len(self.reading.failed)} failed" if self.reading.failed else "")
        )
        span = impact.span
        if span is not None:
            first, last = impact.times()
            lines.append(f"from {first} to {last} ({_duration(span.total_seconds())}, by eventTime)")
        lines.append("")
        lines += self._totals(width)
        labels = {
            "eventCategory": "by eventCategory",
            "eventSource": "by eventSource",
            "resources.type": "by resources.type (data events)",
            "eventName": "by eventName",
        }
        for dimension, label in labels.items():
            if not self.groups[dimension]:
                continue
            limit = self.top if dimension in ("eventSource", "eventName") else None
            shown, rest = impact.top(dimension, limit, self.groups)
            count = len(self.groups[dimension])
            if rest is not None:
                label += f" (top {len(shown)} of {count})"
            lines += ["", label]
            lines += self._group_table(shown, rest, width, against=against)
        lines += ["", "kept by selector (an event may match several)"]
        rows: list[Row] = []
        kept_by_selector = impact.kept_by_selector
        for rule in rules_from_selectors(self.proposal.selectors):
            tally = kept_by_selector.get(rule.name, Tally())
            rows.append({"name": rule.name, "events": _count(tally.events), "bytes": human_size(tally.bytes)})
        lines += self._table(rows, (("name", "selector"), ("events", "events"), ("bytes", "bytes")), width)
        lines += self._examples(width, against=against)
        lines += ["", *self._cost_lines(width)]
        lines += ["", "limits"]
        for note in self.limits():
            lines += fold(f"- {note}", width, indent="  ", greedy=True)
        return lines

    @staticmethod
    def _table(rows: list[Row], columns: tuple[tuple[str, str], ...], width: int) -> list[str]:
        """Rows under their titles, the first column indented by two and cut to fit, the others right-aligned."""
        layout: Layout = (
            Band(tuple((Column(key, title, right=position > 0), 8 if position == 0 else 0)
                       for position, (key, title) in enumerate(columns)), indent=2),
        )
        table = Table((layout,), width).fit(rows)
        out = table.header()
        for row in rows:
            out += table.render(row)
        return out

    def _totals(self, width: int) -> list[str]:
        total = self.total
        everything = total.kept.bytes + total.dropped.bytes

        def share(part: int, whole: int) -> str:
            return f"{100 * part / whole:.1f}%" if whole else "-"

        rows: list[Row] = [
            {"name": "kept", "events": _count(total.kept.events), "bytes": human_size(total.kept.bytes),
             "share": share(total.kept.bytes, everything)},
            {"name": "dropped", "events": _count(total.dropped.events), "bytes": human_size(total.dropped.bytes),
             "share": share(total.dropped.bytes, everything)},
            {"name": "all", "events": _count(total.events), "bytes": human_size(everything), "share": ""},
        ]
        if self.current is not None:
            rows += [
                {"name": "newly dropped", "events": _count(total.newly_dropped.events),
                 "bytes": human_size(total.newly_dropped.bytes), "share": share(total.newly_dropped.bytes, everything)},
                {"name": "newly kept", "events": _count(total.newly_kept.events),
                 "bytes": human_size(total.newly_kept.bytes), "share": share(total.newly_kept.bytes, everything)},
            ]
        return self._table(rows, (("name", ""), ("events", "events"), ("bytes", "bytes"), ("share", "of bytes")), width)

    def _group_table(
        self, shown: list[tuple[str, Group]], rest: tuple[int, Group] | None, width: int, *, against: bool
    ) -> list[str]:
        def row(name: str, group: Group) -> Row:
            cells: Row = {
                "name": name,
                "kept": _count(group.kept.events),
                "dropped": _count(group.dropped.events),
                "dropped_bytes": human_size(group.dropped.bytes),
            }
            if against:
                cells["newly_dropped"] = _count(group.newly_dropped.events)
                cells["newly_kept"] = _count(group.newly_kept.events)
            return cells

        rows = [row(name, group) for name, group in shown]
        if rest is not None:
            rows.append(row(f"({rest[0]} others)", rest[1]))
        columns: tuple[tuple[str, str], ...] = (("name", ""), ("kept", "kept"), ("dropped", "dropped"), ("dropped_bytes", "dropped bytes"))
        if against:
            columns += (("newly_dropped", "newly dropped"), ("newly_kept", "newly kept"))
        return self._table(rows, columns, width)

    def _examples(self, width: int, *, against: bool) -> list[str]:
        """A few event IDs of each eventName group shown that the proposal drops (newly drops, ``--against``)."""
        shown, _ = self.impact.top("eventName", self.top, self.groups)
        lines: list[str] = []
        for name, group in shown:
            examples = group.newly_dropped_examples if against else group.dropped_examples
            dropped = group.newly_dropped.events if against else group.dropped.events
            if examples:
                lines += fold(f"  {name} ({_count(dropped)}): {', '.join(examples)}", width, indent="      ")
        if not lines:
            return []
        title = "newly dropped, for example (eventIDs)" if against else "dropped, for example (eventIDs)"
        return ["", title, *lines]

    def _cost_lines(self, width: int) -> list[str]:
        baseline, before, after, factor = self.costs()
        span = self.impact.span
        p = self.pricing
        if factor is None:
            why = "no two eventTimes" if span is None else f"{_duration(span.total_seconds())}, under {_duration(MIN_SPAN.total_seconds())}"
            head = fold(f"cost of the logged events only: the logs span too little to extrapolate a month ({why})", width, greedy=True)
            scale = 1.0
        else:
            assert span is not None
            head = fold(
                f"cost per month ({p.store}): the logged events' x {factor:.3g} (30 days over {_duration(span.total_seconds())})",
                width,
                greedy=True,
            )
            scale = factor
        rows: list[Row] = []
        parts = [("lake ingestion", before.lake, after.lake)] if p.store == "lake" else [
            ("data events", before.data_events, after.data_events),
            ("management events", before.management, after.management),
        ]
        for name, old, new in [*parts, ("total", before.total, after.total)]:
            rows.append({"name": name, "before": _money(old * scale), "after": _money(new * scale),
                         "change": _change((new - old) * scale)})
        table = self._table(rows, (("name", ""), ("before", baseline), ("after", "proposal"), ("change", "change")), width)
        notes = [f"  {line}" for line in p.lines()]
        notes.append(f"  default prices: {PRICES_SOURCE}, read {PRICES_READ}")
        return head + table + [line for note in notes for line in fold(note, width, indent="    ")]

