"""Plan a replay or a backfill from a trail bucket: which log files a time window, accounts and regions select.

The planner reads the bucket's key layout, never an object:
``[prefix/]AWSLogs/[<o-id>/]<account>/CloudTrail[-Insight]/<region>/YYYY/MM/DD/<file>``. Accounts,
organization ids and regions are found with delimiter listings (``ListObjectsV2`` with
``Delimiter="/"``, one level at a time), then only the day folders the window touches are listed in
full, every listing paginated. Each key is classified by :func:`trailsift.logfile.classify_key` and
kept when it is an event file (Insights files only when asked for) whose delivery time, in its name,
falls in the window padded by the delivery delay. What is not kept is counted by reason.

Times are UTC; a window is ``[since, until)``, either end open. ``trailsift replay s3://...`` and the
backfill command plan with :func:`plan`; :class:`Selection` is the same filter for files on disk.
"""

from __future__ import annotations

import argparse
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from trailsift.cli.command import CommandError, ExitCode
from trailsift.logfile import LogFileKey, LogFileKind, classify_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_DELIVERY_PADDING = timedelta(minutes=15)
"""How long after an event CloudTrail may deliver it: it documents delivery within about 15 minutes."""
DEFAULT_LIST_CONCURRENCY = 8
"""Listings made at once (accounts, regions and day folders are listed independently of each other)."""
LIST_PAGE_SIZE = 1000
"""Keys (or prefixes) a ListObjectsV2 page holds at most: S3's own limit; every listing follows every page."""
ENUMERATED_DAYS = 14
"""A window of at most this many days (both ends set) has its day folders named directly, one listing
each; a longer or open window finds them with delimiter listings of the years and months, so days
without logs cost nothing."""

EVENTS_PRODUCT = "CloudTrail"
INSIGHTS_PRODUCT = "CloudTrail-Insight"
DIGEST_PRODUCT = "CloudTrail-Digest"

_ACCOUNT = re.compile(r"[0-9]{12}")
_ORGANIZATION = re.compile(r"o-[a-z0-9]{10,32}")
_REGION = re.compile(r"[a-z0-9-]+")  # what classify_key accepts in a key
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,254}")  # what botocore accepts, 3 characters at least
_TIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:T(?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_AWSLOGS = re.compile(r"(?:^|/)AWSLogs(?:/|$)")


# --- times and windows ----------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An argparse type: ``2026-11-01`` (its midnight, UTC), ``2026-11-01T06:00Z``, ``2026-11-01T06:00:30Z``,
    ``2026-11-01T06:00:00+00:00`` (any offset, converted to UTC), as an aware UTC ``datetime``.

    Raises :class:`argparse.ArgumentTypeError` saying what is wrong (as an argparse type, argparse
    names the option; :meth:`Window.parse` names it too).
    """
    value = text.strip().upper()
    found = _TIME.fullmatch(value)
    if found is None:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}; use 2026-11-01 or 2026-11-01T06:00Z (UTC)")
    if found.group("time") is not None and found.group("zone") is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z for UTC, as in 2026-11-01T06:00Z")
    try:
        if found.group("time") is None:
            return datetime.fromisoformat(found.group("date")).replace(tzinfo=timezone.utc)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError as exc:  # month 13, 25:00, ...
        raise argparse.ArgumentTypeError(f"not a time: {text!r} ({exc})") from None


def format_time(moment: datetime) -> str:
    """``moment`` as ``2026-11-01T06:00:00Z`` (fractions of a second kept when there are some)."""
    text = moment.astimezone(timezone.utc).isoformat()
    return text.removesuffix("+00:00") + "Z"


@dataclass(frozen=True)
class Window:
    """A time window ``[since, until)`` in UTC; ``None`` leaves that end open.

    Both ends must be aware datetimes (they are kept in UTC); ``since`` must be before ``until``,
    else a usage :class:`CommandError` naming ``--since`` and ``--until``.
    """

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value: datetime | None = getattr(self, name)
            if value is None:
                continue
            if value.utcoffset() is None:
                raise ValueError(f"Window.{name} must be an aware datetime (UTC), got {value!r}")
            object.__setattr__(self, name, value.astimezone(timezone.utc))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise CommandError(
                f"--since {format_time(self.since)} is not before --until {format_time(self.until)}", ExitCode.USAGE
            )

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window:
        """The window ``--since`` and ``--until`` give; a usage :class:`CommandError` naming the option at fault."""
        ends: dict[str, datetime | None] = {}
        for option, text in (("since", since), ("until", until)):
            try:
                ends[option] = None if text is None else parse_time(text)
            except argparse.ArgumentTypeError as exc:
                raise CommandError(f"--{option}: {exc}", ExitCode.USAGE) from None
        return cls(ends["since"], ends["until"])

    @property
    def bounded(self) -> bool:
        """Whether the window has a start or an end: whether it selects anything by time."""
        return self.since is not None or self.until is not None

    def end(self, padding: timedelta = DEFAULT_DELIVERY_PADDING) -> datetime | None:
        """The first delivery time past the window padded by ``padding``: ``until + padding`` (None: open)."""
        return None if self.until is None else self.until + padding

    def admits(self, delivered_at: datetime, padding: timedelta = DEFAULT_DELIVERY_PADDING) -> bool:
        """Whether a file delivered at ``delivered_at`` may hold events of the window.

        ``since <= delivered_at < until + padding``. The padding is on the ``until`` side only: a file
        holds events from before its delivery, never after, so an event at 23:59 sits in a file
        delivered after midnight (CloudTrail delivers within about 15 minutes), and a window ending at
        midnight must read the files delivered in the minutes past it. A file delivered before
        ``since`` holds only events before ``since``, so nothing is added on that side (files
        delivered just after ``since`` may also hold a few earlier events: the window selects files,
        not records).
        """
        end = self.end(padding)
        return (self.since is None or delivered_at >= self.since) and (end is None or delivered_at < end)

    def touches(self, start: datetime, stop: datetime, padding: timedelta = DEFAULT_DELIVERY_PADDING) -> bool:
        """Whether the period ``[start, stop)`` (a year, month or day folder) overlaps the padded window."""
        end = self.end(padding)
        return (self.since is None or stop > self.since) and (end is None or start < end)

    def describe(self, padding: timedelta = DEFAULT_DELIVERY_PADDING) -> str:
        """The window in words, for a dry run."""
        if not self.bounded:
            return "any time (no --since, no --until)"
        since = "the first file" if self.since is None else format_time(self.since)
        if self.until is None:
            return f"files delivered from {since} on"
        minutes = int(padding.total_seconds() // 60)
        return (
            f"files delivered from {since} to {format_time(self.until)} (exclusive)"
            + (f", and up to {minutes} min after it for the events of its last minutes" if padding else "")
        )


# --- what is kept, what is not ---------------------------------------------------------------------


class SkipReason(str, Enum):
    """Why a key (or a whole prefix) was not kept."""

    OUTSIDE_WINDOW = "outside the window"
    DIGEST = "digest file"
    INSIGHTS = "Insights file (not asked for)"
    NOT_EVENTS = "not an event file"
    OTHER_ACCOUNT = "other account"
    OTHER_REGION = "other region"


@dataclass(frozen=True)
class Selection:
    """What a replay or backfill reads: a window, optionally some accounts and regions, Insights or not.

    :meth:`reason` judges one classified key; the planner applies it to S3 keys, ``trailsift replay``
    to the names of files on disk.
    """

    window: Window = field(default_factory=Window)
    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    include_insights: bool = False
    delivery_padding: timedelta = DEFAULT_DELIVERY_PADDING

    @property
    def filters(self) -> bool:
        """Whether anything but the kind of file is selected on (a window, accounts or regions)."""
        return self.window.bounded or self.accounts is not None or self.regions is not None

    def wants_account(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    def wants_region(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    def reason(self, key: LogFileKey) -> SkipReason | None:
        """Why the file ``key`` is not selected, or None when it is."""
        if key.kind is LogFileKind.DIGEST:
            return SkipReason.DIGEST
        if key.kind is LogFileKind.INSIGHTS and not self.include_insights:
            return SkipReason.INSIGHTS
        if not key.holds_events or key.delivered_at is None or key.account is None or key.region is None:
            return SkipReason.NOT_EVENTS
        if not self.wants_account(key.account):
            return SkipReason.OTHER_ACCOUNT
        if not self.wants_region(key.region):
            return SkipReason.OTHER_REGION
        if not self.window.admits(key.delivered_at, self.delivery_padding):
            return SkipReason.OUTSIDE_WINDOW
        return None


# --- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    """One log file to read: its key and size, and what its key says."""

    key: str
    size: int
    account: str
    region: str
    delivered_at: datetime
    organization_id: str | None = None
    insights: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "account": self.account,
            "region": self.region,
            "deliveredAt": format_time(self.delivered_at),
            "organizationId": self.organization_id,
            "insights": self.insights,
        }


@dataclass
class Plan:
    """What :func:`plan` found: the files to read, in key order, and what it looked at and left out.

    ``skipped`` counts the keys listed and not kept, by reason; ``prefixes_skipped`` the prefixes a
    delimiter listing showed and the planner did not follow (digest and Insights folders, other
    accounts and regions, folders outside the layout), whose keys it never listed.
    """

    bucket: str
    prefix: str
    selection: Selection
    files: list[PlannedFile] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    prefixes_skipped: Counter[SkipReason] = field(default_factory=Counter)
    organizations: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    missing_accounts: list[str] = field(default_factory=list)
    requests: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def window(self) -> Window:
        return self.selection.window

    @property
    def location(self) -> str:
        """``s3://bucket/prefix`` as given."""
        return f"s3://{self.bucket}/{self.prefix}"

    def uri(self, file: PlannedFile) -> str:
        """Where ``file`` is, as alerts and index rows name an object: ``s3://bucket/key``, escaped."""
        from trailsift.triggers.base import ObjectRef  # here: the triggers cost a local replay's start time

        return ObjectRef(self.bucket, file.key).location

    @property
    def total_bytes(self) -> int:
        """The bytes of the files kept (compressed, as stored)."""
        return sum(file.size for file in self.files)

    @property
    def bytes(self) -> int:
        """The bytes of the files kept: :attr:`total_bytes`."""
        return self.total_bytes

    def report(self) -> str:
        """The plan for people (``--dry-run``): what is listed, kept and left out, and why."""
        selection = self.selection
        lines = [
            f"plan: {self.location}",
            f"window: {self.window.describe(selection.delivery_padding)}",
            f"organizations: {_listed(self.organizations)}",
            f"accounts: {_listed(self.accounts)}",
            f"regions: {_listed(self.regions)}",
            f"insights: {'included' if selection.include_insights else 'not included'}",
            f"listed: {len(self.prefixes)} day prefixes, {self.requests} ListObjectsV2 requests",
            f"files: {len(self.files)} ({human_size(self.total_bytes)})",
        ]
        if self.skipped:
            lines.append("keys skipped:")
            lines += [f"  {reason.value}: {count}" for reason, count in _ordered(self.skipped)]
        if self.prefixes_skipped:
            lines.append("prefixes not listed:")
            lines += [f"  {reason.value}: {count}" for reason, count in _ordered(self.prefixes_skipped)]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The plan as JSON values (the files as :meth:`PlannedFile.as_json`)."""
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "since": None if self.window.since is None else format_time(self.window.since),
            "until": None if self.window.until is None else format_time(self.window.until),
            "files": [file.as_json() for file in self.files],
            "bytes": self.total_bytes,
            "prefixes": self.prefixes,
            "skipped": {reason.value: count for reason, count in _ordered(self.skipped)},
            "prefixesSkipped": {reason.value: count for reason, count in _ordered(self.prefixes_skipped)},
            "organizations": self.organizations,
            "accounts": self.accounts,
            "regions": self.regions,
            "missingAccounts": self.missing_accounts,
            "requests": self.requests,
            "notes": self.notes,
        }


def _listed(names: Sequence[str], shown: int = 8) -> str:
    if not names:
        return "none"
    more = f", ... and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} ({', '.join(names[:shown])}{more})"


def human_size(count: int) -> str:
    """``count`` bytes for people: ``512 bytes``, ``3.4 MiB``."""
    if count < 1024:
        return f"{count} byte{'' if count == 1 else 's'}"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def _ordered(counts: Counter[SkipReason]) -> list[tuple[SkipReason, int]]:
    """The counts in :class:`SkipReason` order."""
    return [(reason, counts[reason]) for reason in SkipReason if counts[reason]]


# --- locations ------------------------------------------------------------------------------------


def parse_s3_uri(text: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` as ``(bucket, prefix)``; a usage :class:`CommandError` when it names no bucket."""
    if not text.startswith("s3://"):
        raise CommandError(f"not an s3:// location: {text!r}", ExitCode.USAGE)
    bucket, _, prefix = text[len("s3://") :].partition("/")
    if not bucket:
        raise CommandError(f"{text!r} names no bucket: use s3://BUCKET[/PREFIX]", ExitCode.USAGE)
    check_bucket(bucket)
    return bucket, prefix


def check_bucket(bucket: str) -> None:
    """A usage :class:`CommandError` for what cannot be a bucket's name."""
    if not _BUCKET.fullmatch(bucket):
        raise CommandError(f"not a bucket name: {bucket!r}", ExitCode.USAGE)


def split_prefix(prefix: str) -> tuple[str, str]:
    """``(root, scope)`` of a location's prefix: the trail's key prefix (``""`` or ending in ``/``), under which
    ``AWSLogs/`` is, and the prefix every key read must start with.

    ``myprefix`` and ``myprefix/`` are a trail's key prefix (scope ``myprefix/AWSLogs/``); a prefix that
    reaches into ``AWSLogs/`` (``AWSLogs/o-abc/``, ``x/AWSLogs/123456789012/CloudTrail/us-east-1/2026/``,
    even part of a name) keeps its root and narrows the walk to what it names.
    """
    prefix = prefix.lstrip("/")
    found = _AWSLOGS.search(prefix)
    if found is None:
        root = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        return root, root + "AWSLogs/"
    start = found.start() + (1 if prefix[found.start()] == "/" else 0)
    scope = prefix if prefix.endswith("AWSLogs/") or not prefix.endswith("AWSLogs") else prefix + "/"
    return prefix[:start], scope


def _compatible(candidate: str, scope: str) -> bool:
    """Whether keys under ``candidate`` may be in ``scope``: one of the two prefixes starts the other."""
    return candidate.startswith(scope) or scope.startswith(candidate)


# --- planning -------------------------------------------------------------------------------------


def plan(
    s3_client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    window: Window,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    include_insights: bool = False,
    delivery_padding: timedelta = DEFAULT_DELIVERY_PADDING,
    concurrency: int = DEFAULT_LIST_CONCURRENCY,
    now: datetime | None = None,
) -> Plan:
    """The log files of ``s3://bucket/prefix`` that ``window`` (padded by ``delivery_padding`` on its end),
    ``accounts`` and ``regions`` (None: all) select, in key order; Insights files only with ``include_insights``.

    Accounts (with their organization ids) and regions are discovered with delimiter listings and
    filtered; only the day folders the padded window touches are listed, no later than tomorrow
    (``now``, default the clock, plus a day): a window in the future or one without logs gives an
    empty plan. ``concurrency`` listings run at once on ``s3_client`` (give it at least that many
    connections). Raises :class:`CommandError`: a usage error for a bucket that does not exist or an
    empty ``accounts``/``regions``, a failure (one line) for any other AWS error.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from trailsift.aws.errors import describe_aws_error

    check_bucket(bucket)
    for option, given in (("--accounts", accounts), ("--regions", regions)):
        if given is not None and not given:
            raise CommandError(f"{option} names none", ExitCode.USAGE)
    selection = Selection(window, _name_set(accounts), _name_set(regions), include_insights, delivery_padding)
    planner = _Planner(s3_client, bucket, prefix, selection, now or datetime.now(timezone.utc))
    pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="trailsift-plan")
    try:
        return planner.run(pool)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            raise CommandError(f"bucket {bucket!r} does not exist", ExitCode.USAGE) from None
        raise CommandError(f"cannot list s3://{bucket}/{prefix}: {describe_aws_error(exc)}") from None
    except BotoCoreError as exc:
        raise CommandError(f"cannot list s3://{bucket}/{prefix}: {describe_aws_error(exc)}") from None
    finally:
        pool.shutdown(cancel_futures=True)  # after an error: the listings not begun are dropped


def _name_set(names: Collection[str] | None) -> frozenset[str] | None:
    """``names`` as a set; one string is one name (not a set of characters)."""
    if names is None:
        return None
    return frozenset([names] if isinstance(names, str) else names)


@dataclass(frozen=True)
class _Owner:
    """An account's folder: ``.../AWSLogs/[<o-id>/]<account>/``."""

    prefix: str
    account: str
    organization_id: str | None


@dataclass(frozen=True)
class _Trail:
    """One account's log folder for one product and region: ``.../<account>/CloudTrail/<region>/``."""

    prefix: str
    owner: _Owner
    region: str


@dataclass
class _Found:
    """What one step of the walk found, merged in order by the thread that asked for it."""

    items: list[Any] = field(default_factory=list)
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    prefixes_skipped: Counter[SkipReason] = field(default_factory=Counter)
    listed: list[str] = field(default_factory=list)


class _Planner:
    """One walk of a bucket's layout, level by level; each level's listings run on a thread pool."""

    def __init__(self, client: S3Client, bucket: str, prefix: str, selection: Selection, now: datetime) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.root, self.scope = split_prefix(prefix)
        self.selection = selection
        self.now = now.astimezone(timezone.utc)
        # Nothing is delivered in the future: folders after tomorrow (a day for clocks that disagree) are not listed.
        self.horizon = datetime.combine(self.now.date() + timedelta(days=2), datetime.min.time(), timezone.utc)
        self._lock = threading.Lock()
        self._requests = 0

    # listings

    def _pages(self, prefix: str, delimiter: bool) -> Iterator[Any]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = (
            paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": LIST_PAGE_SIZE})
            if delimiter
            else paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        )
        for page in pages:
            with self._lock:
                self._requests += 1
            yield page

    def level(self, prefix: str) -> tuple[list[str], list[tuple[str, int | None]]]:
        """The sub-prefixes (``CommonPrefixes``) and the objects directly under ``prefix``, every page."""
        subs: list[str] = []
        objects: list[tuple[str, int | None]] = []
        for page in self._pages(prefix, delimiter=True):
            subs += [entry["Prefix"] for entry in page.get("CommonPrefixes", []) if "Prefix" in entry]
            objects += [(entry["Key"], entry.get("Size")) for entry in page.get("Contents", []) if "Key" in entry]
        return subs, objects

    def objects(self, prefix: str) -> list[tuple[str, int | None]]:
        """Every object under ``prefix``, every page."""
        found: list[tuple[str, int | None]] = []
        for page in self._pages(prefix, delimiter=False):
            found += [(entry["Key"], entry.get("Size")) for entry in page.get("Contents", []) if "Key" in entry]
        return found

    # the walk

    def run(self, pool: ThreadPoolExecutor) -> Plan:
        out = Plan(self.bucket, self.prefix, self.selection)
        window = self.selection.window
        if window.since is not None and window.since > self.now:
            out.notes.append(f"the window starts in the future ({format_time(window.since)})")
        owners = self._owners(pool, out)
        trails = self._merge(out, pool.map(self._trails, owners))
        days = self._merge(out, pool.map(self._days, trails))
        files: list[PlannedFile] = self._merge(out, pool.map(self._files, days))
        files.sort(key=lambda file: file.key.split("/"))  # the order of a walk of the same tree on disk
        out.files = files
        out.accounts = sorted({owner.account for owner in owners})
        out.organizations = sorted({owner.organization_id for owner in owners if owner.organization_id})
        out.regions = sorted({trail.region for trail in trails})
        out.prefixes.sort()
        if self.selection.accounts is not None:
            out.missing_accounts = sorted(self.selection.accounts - set(out.accounts))
            if out.missing_accounts:
                out.notes.append(f"no logs under {self._where()} for account(s) {', '.join(out.missing_accounts)}")
        if self.selection.regions is not None and trails:
            missing = sorted(self.selection.regions - set(out.regions))
            if missing:
                out.notes.append(f"no logs under {self._where()} for region(s) {', '.join(missing)}")
        out.requests = self._requests
        return out

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.root}AWSLogs/"

    @staticmethod
    def _merge(out: Plan, results: Iterable[_Found]) -> list[Any]:
        items: list[Any] = []
        for found in results:
            items += found.items
            out.skipped.update(found.skipped)
            out.prefixes_skipped.update(found.prefixes_skipped)
            out.prefixes += found.listed
        return items

    def _count_objects(self, objects: Iterable[tuple[str, int | None]], found: _Found) -> None:
        """Objects above the day folders: never event files where CloudTrail writes them."""
        for key, size in objects:
            if key.startswith(self.scope):
                kind = classify_key(key, size=size).kind
                found.skipped[SkipReason.DIGEST if kind is LogFileKind.DIGEST else SkipReason.NOT_EVENTS] += 1

    def _owners(self, pool: ThreadPoolExecutor, out: Plan) -> list[_Owner]:
        """The account folders in scope that the selection wants, plain and under organization ids."""
        base = self.root + "AWSLogs/"
        found = _Found()
        subs, objects = self.level(base)
        self._count_objects(objects, found)
        if not subs and not objects:
            out.notes.append(f"nothing under {self._where()}" + self._hint(base))
        organizations: list[str] = []
        owners: list[_Owner] = []
        for sub in subs:
            if not _compatible(sub, self.scope):
                continue
            name = sub[len(base) : -1]
            if _ORGANIZATION.fullmatch(name):
                organizations.append(sub)
            else:
                self._owner(sub, name, None, owners, found)
        for organization, (accounts, loose) in zip(organizations, pool.map(self.level, organizations)):
            self._count_objects(loose, found)
            org_id = organization[len(base) : -1]
            for sub in accounts:
                if _compatible(sub, self.scope):
                    self._owner(sub, sub[len(organization) : -1], org_id, owners, found)
        self._merge(out, [found])
        return owners

    def _hint(self, base: str) -> str:
        """Where a trail with a key prefix may write, when the bucket's top level was looked at."""
        if self.root:
            return ""
        subs, _ = self.level("")
        shown = [sub for sub in subs if sub != base][:5]
        return f" (a trail with a key prefix writes under s3://{self.bucket}/PREFIX/AWSLogs/; found: {', '.join(shown)})" if shown else ""

    def _owner(self, prefix: str, name: str, org_id: str | None, owners: list[_Owner], found: _Found) -> None:
        if not _ACCOUNT.fullmatch(name):
            found.prefixes_skipped[SkipReason.NOT_EVENTS] += 1
        elif not self.selection.wants_account(name):
            found.prefixes_skipped[SkipReason.OTHER_ACCOUNT] += 1
        else:
            owners.append(_Owner(prefix, name, org_id))

    def _trails(self, owner: _Owner) -> _Found:
        """The region folders of an account's event (and, if asked, Insights) logs."""
        found = _Found()
        products, objects = self.level(owner.prefix)
        self._count_objects(objects, found)
        for product in products:
            name = product[len(owner.prefix) : -1]
            if not _compatible(product, self.scope):
                continue
            if name == DIGEST_PRODUCT:
                found.prefixes_skipped[SkipReason.DIGEST] += 1
                continue
            if name == INSIGHTS_PRODUCT and not self.selection.include_insights:
                found.prefixes_skipped[SkipReason.INSIGHTS] += 1
                continue
            if name not in (EVENTS_PRODUCT, INSIGHTS_PRODUCT):
                found.prefixes_skipped[SkipReason.NOT_EVENTS] += 1
                continue
            regions, loose = self.level(product)
            self._count_objects(loose, found)
            for region_prefix in regions:
                region = region_prefix[len(product) : -1]
                if not _compatible(region_prefix, self.scope):
                    continue
                if not _REGION.fullmatch(region):
                    found.prefixes_skipped[SkipReason.NOT_EVENTS] += 1
                elif not self.selection.wants_region(region):
                    found.prefixes_skipped[SkipReason.OTHER_REGION] += 1
                else:
                    found.items.append(_Trail(region_prefix, owner, region))
        return found

    def _days(self, trail: _Trail) -> _Found:
        """The day folders of ``trail`` the padded window touches, named directly or found by listing."""
        found = _Found()
        window, padding = self.selection.window, self.selection.delivery_padding
        start = window.since
        end = min(filter(None, (window.end(padding), self.horizon)))
        if start is not None and end <= start:
            return found
        if start is not None and (end.date() - start.date()).days <= ENUMERATED_DAYS:
            day, last = start.date(), (end - timedelta(microseconds=1)).date()
            while day <= last:
                found.items.append((trail, f"{trail.prefix}{day:%Y/%m/%d}/"))
                day += timedelta(days=1)
        else:
            self._discover_days(trail, found)
        found.items = [(trail, day) for trail, day in found.items if _compatible(day, self.scope)]
        return found

    def _discover_days(self, trail: _Trail, found: _Found) -> None:
        """Day folders found level by level (years, months, days), following only the periods the window touches."""
        window, padding = self.selection.window, self.selection.delivery_padding

        def periods(prefix: str, digits: int, period: Callable[[int], tuple[datetime, datetime] | None]) -> list[str]:
            subs, objects = self.level(prefix)
            self._count_objects(objects, found)
            kept = []
            for sub in subs:
                name = sub[len(prefix) : -1]
                bounds = period(int(name)) if len(name) == digits and name.isascii() and name.isdigit() else None
                if bounds is None:
                    found.prefixes_skipped[SkipReason.NOT_EVENTS] += 1
                elif bounds[0] < self.horizon and window.touches(*bounds, padding) and _compatible(sub, self.scope):
                    kept.append(sub)
            return kept

        for year_prefix in periods(trail.prefix, 4, lambda y: _period(y, 1, 1, months=12)):
            year = int(year_prefix[-5:-1])
            for month_prefix in periods(year_prefix, 2, lambda m: _period(year, m, 1, months=1)):
                month = int(month_prefix[-3:-1])
                for day_prefix in periods(month_prefix, 2, lambda d: _period(year, month, d, days=1)):
                    found.items.append((trail, day_prefix))

    def _files(self, day: tuple[_Trail, str]) -> _Found:
        """The files of one day folder the selection keeps; every other key counted by reason."""
        trail, prefix = day
        found = _Found()
        listed = self.scope if self.scope.startswith(prefix) else prefix
        found.listed.append(listed)
        for key, size in self.objects(listed):
            facts = classify_key(key, size=size)
            reason = self.selection.reason(facts)
            if reason is not None:
                found.skipped[reason] += 1
                continue
            assert facts.account is not None and facts.region is not None and facts.delivered_at is not None
            found.items.append(
                PlannedFile(
                    key=key,
                    size=size or 0,
                    account=facts.account,
                    region=facts.region,
                    delivered_at=facts.delivered_at,
                    organization_id=facts.organization_id,
                    insights=facts.kind is LogFileKind.INSIGHTS,
                )
            )
        return found


def _period(year: int, month: int, day: int, *, months: int = 0, days: int = 0) -> tuple[datetime, datetime] | None:
    """``[start, stop)`` of a year (``months=12``), a month (``months=1``) or a day (``days=1``); None if no such date."""
    try:
        start = datetime(year, month, day, tzinfo=timezone.utc)
    except ValueError:
        return None
    if days:
        return start, start + timedelta(days=days)
    total = year * 12 + (month - 1) + months
    return start, datetime(total // 12, total % 12 + 1, 1, tzinfo=timezone.utc)
