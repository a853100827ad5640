"""What a set of advanced event selectors keeps and drops of logged events, and what that costs: the counting
behind ``trailsift selectors impact``, free of files, options and output.

An event is kept when ANY selector matches it, as CloudTrail logs it: each selector is evaluated exactly
(:func:`trailsift.selectors.compile_selector`, what the engine runs), so the report also says which
selectors kept it. Three things are decided here, and said in the report:

- **eventCategory.** A selector names the category it selects (``eventCategory Equals Management``,
  ``Data`` with a ``resources.type``, ``NetworkActivity``, ``Insight``). Records written before
  eventVersion 1.07 carry no ``eventCategory``; it is inferred for them (:func:`event_category`:
  ``eventType`` AwsCloudTrailInsight is Insight, AwsVpceEvent NetworkActivity, ``managementEvent:
  false`` Data, anything else Management) and the selectors see the inferred value.
- **Insights events** are logged by a trail's *Insights* selectors, not its event selectors: unless a
  selector names ``eventCategory Equals Insight`` (an Insights event data store), they are kept
  whatever the selectors say, counted apart (``ungoverned``).
- **Bytes** are the record's compact JSON (orjson, UTF-8, no spaces): the size CloudTrail delivers it
  at and Lake ingests, whatever the whitespace of the file it was read from.

Cost (:func:`estimate`): CloudTrail's published prices by default (:data:`DEFAULT_PRICES`, read on
:data:`PRICES_READ`), every one replaceable. A trail pays per data (and network activity) event
delivered, and per management event only for a copy beyond the first; an event data store (Lake)
pays per GB ingested (1 GB = 2**30 bytes here), whatever the category. Monthly figures are the logged
ones scaled by 30 days over the span the logs cover (first to last ``eventTime``); below
:data:`MIN_SPAN` no month is extrapolated and the figures are those of the logged events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from trailsift.rules import rules_from_selectors
from trailsift.selectors import EventSelector, compile_selector

__all__ = [
    "DATA_CATEGORIES",
    "DEFAULT_PRICES",
    "DIMENSIONS",
    "LAKE_GB_PRICES",
    "MIN_SPAN",
    "MONTH",
    "PRICES_READ",
    "PRICES_SOURCE",
    "Cost",
    "Group",
    "Impact",
    "Keeper",
    "Prices",
    "Store",
    "Tally",
    "estimate",
    "event_category",
    "monthly_factor",
    "record_bytes",
    "store_of",
]

Store = Literal["trail", "lake"]
LakePricing = Literal["one-year", "seven-year"]

DIMENSIONS = ("eventCategory", "eventSource", "resources.type", "eventName")
"""The groups of the report: ``resources.type`` only for data (and network activity) events."""
DATA_CATEGORIES = frozenset({"Data", "NetworkActivity"})
"""Categories a trail bills per event delivered, the first copy included."""
NONE = "(none)"
"""The group of records without the field."""
MONTH = timedelta(days=30)
MIN_SPAN = timedelta(hours=1)
"""Logs spanning less than this are too short to extrapolate a month from."""
GIB = 1024**3

PRICES_READ = "2026-11-30"
PRICES_SOURCE = "https://aws.amazon.com/cloudtrail/pricing/ (US East)"
LAKE_GB_PRICES: dict[LakePricing, float] = {"one-year": 0.75, "seven-year": 2.50}
"""Lake ingestion, USD per GB: one-year extendable retention pricing, seven-year retention pricing."""


@dataclass(frozen=True)
class Prices:
    """USD: data events per 100,000 delivered, management events per 100,000 for a copy beyond the first, Lake per GB."""

    data_events: float = 0.10
    management_copy: float = 2.00
    lake_gb: float = LAKE_GB_PRICES["one-year"]


DEFAULT_PRICES = Prices()


def event_category(record: Mapping[str, Any]) -> tuple[str, bool]:
    """The record's eventCategory, and whether it was inferred (the record has none: eventVersion before 1.07)."""
    category = record.get("eventCategory")
    if isinstance(category, str):
        return category, False
    event_type = record.get("eventType")
    if event_type == "AwsCloudTrailInsight":
        return "Insight", True
    if event_type == "AwsVpceEvent":
        return "NetworkActivity", True
    if record.get("managementEvent") is False:
        return "Data", True
    return "Management", True


def record_bytes(record: Mapping[str, Any]) -> int:
    """The record's size as CloudTrail delivers it: its compact JSON, in UTF-8 bytes."""
    return len(orjson.dumps(record))


def store_of(document: object) -> tuple[Store | None, LakePricing | None]:
    """What a selectors document's shape says of where it applies: ``get-event-data-store`` output (an
    ``EventDataStoreArn`` or a ``BillingMode``) is an event data store, with the pricing its BillingMode
    names; ``get-event-selectors`` output (a ``TrailARN``) a trail; a plain list says nothing."""
    if not isinstance(document, Mapping):
        return None, None
    if "EventDataStoreArn" in document or "BillingMode" in document:
        mode = document.get("BillingMode")
        pricing: LakePricing | None = (
            "seven-year" if mode == "FIXED_RETENTION_PRICING" else "one-year" if mode == "EXTENDABLE_RETENTION_PRICING" else None
        )
        return "lake", pricing
    if "TrailARN" in document:
        return "trail", None
    return None, None


class Keeper:
    """Whether a selector set keeps a record, CloudTrail's way: any selector matching it, each evaluated exactly
    (:func:`trailsift.selectors.compile_selector`, as the engine compiles them; a trail has a few selectors, so the
    engine's index would cost more than it saves). Its selectors are named as :func:`rules_from_selectors` names them."""

    def __init__(self, selectors: Sequence[EventSelector], source: str = "<memory>") -> None:
        self.rules = rules_from_selectors(selectors, source=source)
        self.tests = tuple((rule.name, compile_selector(rule.selectors[0])) for rule in self.rules)
        self.governs_insights = any(
            fs.field == "eventCategory" and "Insight" in fs.values("Equals")
            for selector in selectors
            for fs in selector.field_selectors
        )

    def matched(self, record: dict[str, Any], category: str, inferred: bool) -> tuple[str, ...] | None:
        """The names of the selectors that keep ``record``; None when these selectors do not govern it
        (an Insights event, unless a selector names the Insight category): it is kept whatever they say."""
        if category == "Insight" and not self.governs_insights:
            return None
        if inferred:
            record = {**record, "eventCategory": category}
        return tuple([name for name, test in self.tests if test(record)])


@dataclass
class Tally:
    """Events and their bytes."""

    events: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.events += 1
        self.bytes += size

    def merge(self, other: Tally) -> None:
        self.events += other.events
        self.bytes += other.bytes

    def to_json(self) -> dict[str, int]:
        return {"events": self.events, "bytes": self.bytes}


@dataclass
class Group:
    """One group's counts (an eventSource, an eventName...): kept and dropped by the proposal, and, against the
    current selectors, what it newly drops and newly keeps; a few event IDs of what it drops."""

    kept: Tally = field(default_factory=Tally)
    dropped: Tally = field(default_factory=Tally)
    newly_dropped: Tally = field(default_factory=Tally)
    newly_kept: Tally = field(default_factory=Tally)
    dropped_examples: list[str] = field(default_factory=list)
    newly_dropped_examples: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return self.kept.events + self.dropped.events

    def merge(self, other: Group) -> None:
        for mine, theirs in (
            (self.kept, other.kept),
            (self.dropped, other.dropped),
            (self.newly_dropped, other.newly_dropped),
            (self.newly_kept, other.newly_kept),
        ):
            mine.merge(theirs)

    def to_json(self, *, against: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"kept": self.kept.to_json(), "dropped": self.dropped.to_json()}
        out["dropped_examples"] = list(self.dropped_examples)
        if against:
            out["newly_dropped"] = self.newly_dropped.to_json()
            out["newly_kept"] = self.newly_kept.to_json()
            out["newly_dropped_examples"] = list(self.newly_dropped_examples)
        return out


def _data_type(record: Mapping[str, Any]) -> str:
    """The data event's resource type, as the report groups it: its first resource's type other than an S3 bucket
    (an S3 object event names its bucket too, before or after the object), else its first resource's."""
    resources = record.get("resources")
    first = NONE
    if isinstance(resources, list):
        for resource in resources:
            kind = resource.get("type") if isinstance(resource, dict) else None
            if isinstance(kind, str):
                if kind != "AWS::S3::Bucket":
                    return kind
                if first is NONE:
                    first = kind
    return first


def _text(value: object) -> str:
    return value if isinstance(value, str) and value else NONE


Outcome = tuple[str, str, str, str | None, tuple[str, ...], bool, bool]
"""What a record is, as counted: eventCategory, eventSource, eventName, resources.type (data events only), the
names of the proposal's selectors that keep it, whether the proposal keeps it, whether the current selectors do."""


@dataclass
class Impact:
    """Every record's outcome under a proposal (and ``against`` the current selectors), in totals and by group.

    Each record adds to one cell, keyed by its :data:`Outcome` (a few thousand cells for any number of records):
    the totals and groups are folded from the cells when asked for, so a record costs one dictionary update.
    """

    against: bool = False
    examples: int = 3
    cells: dict[Outcome, list[Any]] = field(default_factory=dict)  # outcome -> [events, bytes, example eventIDs]
    inferred: int = 0
    ungoverned: Tally = field(default_factory=Tally)
    first: str | None = None
    last: str | None = None

    def add(
        self,
        record: dict[str, Any],
        proposal: Keeper,
        current: Keeper | None = None,
        size: int | None = None,
    ) -> bool:
        """Count one record; whether the proposal keeps it."""
        size = record_bytes(record) if size is None else size
        category, inferred = event_category(record)
        if inferred:
            self.inferred += 1
        matched = proposal.matched(record, category, inferred)
        if matched is None:
            self.ungoverned.add(size)
            kept, matched = True, ()
        else:
            kept = bool(matched)
        was_kept = kept
        if current is not None:
            before = current.matched(record, category, inferred)
            was_kept = before is None or bool(before)
        stamp = record.get("eventTime")
        if type(stamp) is str and len(stamp) >= 19:
            if self.first is None or stamp < self.first:
                self.first = stamp
            if self.last is None or stamp > self.last:
                self.last = stamp
        key: Outcome = (
            category,
            _text(record.get("eventSource")),
            _text(record.get("eventName")),
            _data_type(record) if category in DATA_CATEGORIES else None,
            matched,
            kept,
            was_kept,
        )
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0, 0, []]
        cell[0] += 1
        cell[1] += size
        if not kept and len(cell[2]) < self.examples:
            event_id = record.get("eventID")
            if type(event_id) is str:
                cell[2].append(event_id)
        return kept

    def add_all(self, records: Iterable[dict[str, Any]], proposal: Keeper, current: Keeper | None = None) -> None:
        for record in records:
            self.add(record, proposal, current)

    def _fold(self, group: Group, key: Outcome, cell: list[Any]) -> None:
        events, size, examples = cell
        kept, was_kept = key[5], key[6]
        tally = Tally(events, size)
        (group.kept if kept else group.dropped).merge(tally)
        if not kept:
            group.dropped_examples.extend(examples[: self.examples - len(group.dropped_examples)])
            if was_kept:
                group.newly_dropped.merge(tally)
                group.newly_dropped_examples.extend(examples[: self.examples - len(group.newly_dropped_examples)])
        elif not was_kept:
            group.newly_kept.merge(tally)

    @property
    def total(self) -> Group:
        """Every record's counts."""
        total = Group()
        for key, cell in self.cells.items():
            self._fold(total, key, cell)
        return total

    @property
    def groups(self) -> dict[str, dict[str, Group]]:
        """The counts by dimension (:data:`DIMENSIONS`) and group, ``resources.type`` for data events only."""
        out: dict[str, dict[str, Group]] = {name: {} for name in DIMENSIONS}
        for key, cell in self.cells.items():
            category, source, name, kind = key[0], key[1], key[2], key[3]
            for dimension, value in (("eventCategory", category), ("eventSource", source), ("eventName", name),
                                     ("resources.type", kind)):
                if value is not None:
                    table = out[dimension]
                    group = table.get(value)
                    if group is None:
                        group = table[value] = Group()
                    self._fold(group, key, cell)
        return out

    @property
    def by_category(self) -> dict[str, Group]:
        return self.groups["eventCategory"]

    @property
    def kept_by_selector(self) -> dict[str, Tally]:
        """Events and bytes each of the proposal's selectors keeps (an event may be kept by several)."""
        out: dict[str, Tally] = {}
        for key, (events, size, _) in self.cells.items():
            for name in key[4]:
                out.setdefault(name, Tally()).merge(Tally(events, size))
        return out

    @property
    def span(self) -> timedelta | None:
        """From the first eventTime to the last; None without two readable times."""
        if self.first is None or self.last is None:
            return None
        try:
            return _time(self.last) - _time(self.first)
        except ValueError:
            return None

    def times(self) -> tuple[str, str]:
        """The first and last eventTime, as ``YYYY-MM-DDTHH:MM:SSZ`` (call only when :attr:`span` is not None)."""
        assert self.first is not None and self.last is not None
        return _time(self.first).isoformat() + "Z", _time(self.last).isoformat() + "Z"

    def top(
        self, dimension: str, count: int | None, groups: dict[str, dict[str, Group]] | None = None
    ) -> tuple[list[tuple[str, Group]], tuple[int, Group] | None]:
        """The groups of ``dimension``, most events first (then most dropped, then by name), the first ``count`` of them;
        and the others merged (how many groups, their counts), None when none is left out. ``groups``: :attr:`groups`,
        when the caller has it already."""
        ordered = sorted((self.groups if groups is None else groups)[dimension].items(), key=lambda item: (-item[1].events, -item[1].dropped.events, item[0]))
        if count is None or len(ordered) <= count:
            return ordered, None
        rest = Group()
        for _, group in ordered[count:]:
            rest.merge(group)
        return ordered[:count], (len(ordered) - count, rest)


def _time(stamp: str) -> datetime:
    """An eventTime to the second (CloudTrail's are UTC, with or without the ``Z``)."""
    return datetime.fromisoformat(stamp[:19])


@dataclass(frozen=True)
class Cost:
    """What one selector set's events cost: in the logs, and per month when the span allows (USD)."""

    data_events: float
    management: float
    lake: float

    @property
    def total(self) -> float:
        return self.data_events + self.management + self.lake


def estimate(
    categories: Mapping[str, Tally],
    store: Store,
    prices: Prices,
    *,
    first_copy: bool = True,
) -> Cost:
    """The cost of the events ``categories`` counts (kept events and bytes by eventCategory), in the logs.

    A trail: data and network activity events at ``prices.data_events`` per 100,000; management events free
    for the first copy, else at ``prices.management_copy`` per 100,000; Insights events are not priced here
    (they are billed per management event analyzed, whatever the event selectors). An event data store:
    every category's bytes at ``prices.lake_gb`` per GB (2**30 bytes), Insights apart (they go to a store of their own).
    """
    if store == "lake":
        size = sum(tally.bytes for category, tally in categories.items() if category != "Insight")
        return Cost(0.0, 0.0, size / GIB * prices.lake_gb)
    data = sum(tally.events for category, tally in categories.items() if category in DATA_CATEGORIES)
    management = sum(tally.events for category, tally in categories.items() if category == "Management")
    return Cost(
        data / 100_000 * prices.data_events,
        0.0 if first_copy else management / 100_000 * prices.management_copy,
        0.0,
    )


def monthly_factor(span: timedelta | None) -> float | None:
    """How many times a month the span is (30 days over it); None below :data:`MIN_SPAN` (too short to extrapolate)."""
    if span is None or span < MIN_SPAN:
        return None
    return MONTH / span
