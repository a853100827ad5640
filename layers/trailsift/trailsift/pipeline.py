"""The processing pipeline: the objects a trigger names, fetched, scanned and routed to the configured sinks.

Pure wiring over small interfaces (an object source, the sinks of :mod:`trailsift.sinks`), so the same
code runs in Lambda, in the local stack and in tests. Every object gets an outcome; one object's
failure never stops the others, and failures are reported (and raised by the caller) rather than
swallowed. With a :class:`~trailsift.deadline.Deadline`, no object is started once the invocation's
time left is inside the safety margin: those are failed as retryable, untouched, instead of being
cut off half-written by Lambda's timeout.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from trailsift.deadline import Deadline
from trailsift.engine import RuleEngine
from trailsift.errors import TrailsiftError
from trailsift.logfile import classify_key
from trailsift.reader import LogFileError, NotALogFile
from trailsift.rules import Destination, Rule, RuleSet
from trailsift.scan import ScanResult, scan_log_file
from trailsift.settings import Settings
from trailsift.sinks.base import Routed, Sink
from trailsift.triggers import ObjectRef


MAX_PROBLEM_SAMPLES = 5


class ObjectSource(Protocol):
    """Fetches an object's bytes; raises :class:`ObjectGone` or :class:`ObjectDenied` for the permanent cases."""

    def fetch(self, ref: ObjectRef) -> bytes: ...


class ObjectGone(TrailsiftError):
    """Raised by an :class:`ObjectSource`: the object (or the version named) no longer exists; nothing to retry."""


class ObjectDenied(TrailsiftError):
    """Raised by an :class:`ObjectSource`: reading the object is refused, and retrying will not change that."""


class ObjectTooLarge(TrailsiftError):
    """Raised by an :class:`ObjectSource` (or found from the trigger's size): the object is larger than
    ``max_object_bytes`` and is not read; it is held whole while it is read, so its size is memory."""

    def __init__(self, location: str, limit: int, size: int | None = None) -> None:
        self.location, self.limit, self.size = location, limit, size
        told = f"{size} bytes, " if size is not None else ""
        super().__init__(f"{location}: object is {told}larger than the limit of {limit} bytes (max object size); not read")


class Status(str, Enum):
    PROCESSED = "processed"
    SKIPPED = "skipped"  # nothing to do: not an event file, refused bucket, object gone
    FAILED = "failed"  # something went wrong: ``retryable`` says whether trying again can help


@dataclass
class FileOutcome:
    """What happened to one object."""

    ref: ObjectRef
    status: Status
    reason: str = ""
    retryable: bool = False
    records: int = 0
    problems: int = 0
    rule_matches: Counter[str] = field(default_factory=Counter)
    problem_samples: list[str] = field(default_factory=list)  # the first few skipped records, with why
    sent: Counter[Destination] = field(default_factory=Counter)  # messages, events, rows per destination
    already_sent: Counter[Destination] = field(default_factory=Counter)  # skipped: sent by an earlier attempt
    deferred: bool = False  # FAILED before it was started: the invocation's deadline was too near

    @property
    def alerts(self) -> int:
        """Alerts published for this object (an alert may be about a group of its events)."""
        return self.sent[Destination.ALERT]

    @property
    def alerts_already_sent(self) -> int:
        """Events whose alert an earlier attempt (or a duplicate delivery) had already published."""
        return self.already_sent[Destination.ALERT]

    @property
    def index_rows(self) -> int:
        """Index rows written for this object."""
        return self.sent[Destination.INDEX]


class Pipeline:
    """Runs objects through fetch, scan and routing; every object gets an outcome."""

    def __init__(
        self,
        rules: RuleSet,
        engine: RuleEngine,
        source: ObjectSource,
        *,
        sinks: Sequence[Sink] = (),
        settings: Settings | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self.rules = rules
        self.engine = engine
        self.source = source
        self.sinks = list(sinks)
        self.settings = settings or Settings()
        self.deadline = deadline
        destinations = [sink.destination for sink in self.sinks]
        if len(set(destinations)) != len(destinations):
            raise ValueError(f"one sink per destination, got {[d.value for d in destinations]}")
        # Per sink, the rules that name its destination, by name.
        self._routes: list[tuple[Sink, dict[str, Rule]]] = [
            (sink, {rule.name: rule for rule in rules if sink.destination in rule.destinations}) for sink in self.sinks
        ]

    def run(self, refs: Sequence[ObjectRef]) -> list[FileOutcome]:
        """One outcome per object, in the order given; fetches run concurrently in a bounded pool.

        Once the deadline is reached, the objects not yet started are deferred (see :meth:`_defer`);
        those done keep their outcomes.
        """
        outcomes: dict[int, FileOutcome] = {}
        wanted: list[tuple[int, ObjectRef]] = []
        for position, ref in enumerate(refs):
            refused = self.refusal(ref)
            if refused:
                outcomes[position] = FileOutcome(ref, Status.SKIPPED, refused)
            elif ref.size is not None and ref.size > self.settings.max_object_bytes:
                too_large = ObjectTooLarge(ref.location, self.settings.max_object_bytes, ref.size)
                outcomes[position] = FileOutcome(ref, Status.FAILED, str(too_large), retryable=False)
            else:
                wanted.append((position, ref))
        for position, ref, fetched in self._fetch_all(wanted):
            if fetched is None or self._deadline_reached():
                outcomes[position] = self._defer(ref, fetched)
            else:
                outcomes[position] = self._process(ref, fetched)
        return [outcomes[position] for position in range(len(refs))]

    def refusal(self, ref: ObjectRef) -> str:
        """Why ``ref`` is not read at all (no GET is made), or ``""`` when it should be."""
        if self.settings.buckets and ref.bucket not in self.settings.buckets:
            return "bucket is not one this function is configured to read"
        if not ref.key.startswith(self.settings.key_prefix):
            return f"key is outside the configured prefix {self.settings.key_prefix!r}"
        if not (ref.key.startswith("AWSLogs/") or "/AWSLogs/" in ref.key):
            return "key is not under an AWSLogs/ folder, where CloudTrail delivers"
        facts = classify_key(ref.key, size=ref.size)
        if not facts.kind.holds_events:  # event files and Insights files (both hold records)
            return f"not a CloudTrail event file ({facts.kind.value}: {facts.reason})"
        if self.settings.accounts and facts.account not in self.settings.accounts:
            return f"account {facts.account} is not one this function is configured to read"
        return ""

    def _deadline_reached(self) -> bool:
        return self.deadline is not None and self.deadline.reached()

    def _defer(self, ref: ObjectRef, fetched: Future[bytes] | None) -> FileOutcome:
        """The outcome of an object not started for want of time: FAILED and retryable, nothing written.

        Its fetch, if one was submitted, is cancelled (one already running is left to finish unread).
        """
        assert self.deadline is not None
        if fetched is not None:
            fetched.cancel()
        reason = (
            f"not started: {self.deadline.left_ms()} ms left of the invocation, "
            f"below the safety margin of {self.deadline.margin_ms} ms; retried"
        )
        return FileOutcome(ref, Status.FAILED, reason, retryable=True, deferred=True)

    def _fetch_all(
        self, wanted: list[tuple[int, ObjectRef]]
    ) -> Iterator[tuple[int, ObjectRef, Future[bytes] | None]]:
        """Yield fetches in order, with at most ``2 x concurrency`` objects and ``max_bytes_ahead``
        compressed bytes (by the sizes the trigger gave) in flight or waiting; one object always may.

        The window bounds memory: a slow scan holds back new downloads instead of piling up bodies.
        Once the deadline is reached no fetch is submitted: the objects left are yielded with ``None``.
        The pool is not waited for at the end: by then every fetch was consumed, unless the deadline or
        an exception cut the run short, and a download still running must not hold the invocation.
        """
        if not wanted:
            return
        workers = max(1, min(self.settings.fetch_concurrency, len(wanted)))
        budget = self.settings.max_bytes_ahead
        pending = deque(wanted)
        window: deque[tuple[int, ObjectRef, Future[bytes]]] = deque()
        ahead = 0
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
        try:
            while pending or window:
                while pending and len(window) < 2 * workers and not self._deadline_reached():
                    size = pending[0][1].size or 0
                    if window and ahead + size > budget:
                        break
                    position, ref = pending.popleft()
                    window.append((position, ref, pool.submit(self.source.fetch, ref)))
                    ahead += size
                if not window:  # the deadline stopped new fetches
                    position, ref = pending.popleft()
                    yield position, ref, None
                    continue
                position, ref, future = window.popleft()
                ahead -= ref.size or 0
                yield position, ref, future
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _process(self, ref: ObjectRef, fetched: Future[bytes]) -> FileOutcome:
        try:
            data = fetched.result()
            scanned = scan_log_file(
                data,
                ref.location,
                self.engine,
                limit=self.settings.max_decompressed_bytes,
                max_record_bytes=self.settings.max_record_bytes,
            )
            del data
            outcome = FileOutcome(
                ref,
                Status.PROCESSED,
                records=scanned.records,
                problems=len(scanned.problems),
                problem_samples=[f"record {p.index}: {p.reason}" for p in scanned.problems[:MAX_PROBLEM_SAMPLES]],
            )
            self._route(ref, scanned, outcome)
            return outcome
        except (NotALogFile, ObjectGone) as exc:
            return FileOutcome(ref, Status.SKIPPED, str(exc))
        except (LogFileError, ObjectDenied, ObjectTooLarge) as exc:
            return FileOutcome(ref, Status.FAILED, str(exc), retryable=False)
        except Exception as exc:  # anything else may be transient (throttling, 5xx, timeouts): retry
            return FileOutcome(ref, Status.FAILED, f"{type(exc).__name__}: {exc}", retryable=True)

    def _route(self, ref: ObjectRef, scanned: ScanResult, outcome: FileOutcome) -> None:
        """Give each sink the matches of the rules naming its destination, in sink order.

        A sink that raises stops the routing: the file fails as retryable, and its retry delivers again
        to every sink, which each take without a second copy (see :mod:`trailsift.sinks.base`).
        """
        for match in scanned.matches:
            outcome.rule_matches.update(match.rules)
        for sink, named in self._routes:
            routed = [
                Routed(match, tuple(named[name] for name in match.rules if name in named))
                for match in scanned.matches
                if any(name in named for name in match.rules)
            ]
            if routed:
                delivered = sink.deliver(ref.location, routed)
                outcome.sent[sink.destination] += delivered.sent
                outcome.already_sent[sink.destination] += delivered.already_sent
