"""The adapters' own retry layer: only the entries a batch call reports as failed are sent again.

Whole calls are retried by botocore's standard retry mode alone (see :mod:`trailsift.aws.clients`); a
call that still raises has spent those retries (or failed in a way no retry fixes) and is raised, never
retried here, so that retries never multiply. What botocore cannot see are the entries a batch call
answers as failed while the call itself succeeds: SNS PublishBatch ``Failed``, DynamoDB BatchWriteItem
``UnprocessedItems``, SQS SendMessageBatch ``Failed``. :func:`retry_failed_entries` resends those, and
only those, for a bounded number of rounds with :class:`Backoff` waits between them, which stop at the
invocation's :class:`~trailsift.deadline.Deadline`.

The most HTTP requests one batch can cost when the service throttles throughout is therefore
``MAX_ROUNDS * TOTAL_ATTEMPTS`` (each round one call, each call at most ``TOTAL_ATTEMPTS`` requests),
and a batch adapter stops at the first batch that still fails instead of pressing on with the next.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from trailsift.aws.errors import FailedEntry, PublishFailed
from trailsift.deadline import Deadline
from trailsift.errors import TrailsiftError

MAX_ROUNDS = 4  # calls of one batch at most: the first, then up to three resends of its failed entries

E = TypeVar("E")


def error_code(error: BaseException) -> tuple[str, str]:
    """``(code, message)`` of an AWS error, or of any exception by its type."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return str(details.get("Code") or "ClientError"), str(details.get("Message") or error)
    return type(error).__name__, str(error)


def check_rounds(max_rounds: int) -> int:
    """``max_rounds`` itself once checked: every batch is sent at least once."""
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
    return max_rounds


class Backoff:
    """Exponential backoff with full jitter: before try ``n + 1`` sleep up to ``base * 2**n`` seconds, capped.

    With a :class:`~trailsift.deadline.Deadline`, a sleep that would end inside the invocation's safety
    margin is not begun: the caller stops retrying and raises what still fails, exactly as when its
    rounds run out, so that Lambda retries it instead of killing the invocation mid-sleep.
    """

    def __init__(
        self, base_delay: float, max_delay: float, sleep: Callable[[float], object], deadline: Deadline | None = None
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.deadline = deadline
        self._random = random.Random()

    def wait(self, attempt: int) -> bool:
        """Sleep after failed try number ``attempt`` (1-based) and return True; or return False, without
        sleeping, when the deadline leaves no time for the sleep (then no further try may be made)."""
        delay = self._random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        if self.deadline is not None and not self.deadline.permits_sleep(delay):
            return False
        self.sleep(delay)
        return True


@dataclass(frozen=True)
class EntryFailure(Generic[E]):
    """One entry a batch call did not accept, with the service's code and message for it."""

    entry: E
    code: str
    message: str
    retryable: bool = True  # False: the sender's fault (``SenderFault``), which no resend can mend


@dataclass
class BatchResult(Generic[E]):
    """What :func:`retry_failed_entries` achieved for a sequence of batches."""

    accepted: int = 0  # entries the service accepted
    failed: list[EntryFailure[E]] = field(default_factory=list)  # refused, or still failing when resends stopped
    unsent: list[E] = field(default_factory=list)  # never sent: a batch before them still failed
    rounds: int = 0  # calls made for the last batch sent


class BatchCallFailed(TrailsiftError, Generic[E]):
    """A batch call raised: botocore's whole-call retries are spent, or no retry can mend it; not retried here.

    ``result.unsent`` holds the entries of that call and of every batch after it; ``error`` is what it raised.
    """

    def __init__(self, error: ClientError | BotoCoreError, result: BatchResult[E]) -> None:
        super().__init__(str(error))
        self.error = error
        self.result = result


def retry_failed_entries(
    send: Callable[[list[E]], Sequence[EntryFailure[E]]],
    batches: Sequence[list[E]],
    *,
    max_rounds: int,
    backoff: Backoff,
) -> BatchResult[E]:
    """Send each batch with ``send`` (one batch call, answering the entries it did not accept), then resend
    only its retryable failed entries, up to ``max_rounds`` calls per batch with backoff waits between.

    A batch whose entries still fail when its rounds run out (or the deadline refuses the wait) stops the
    run: the batches after it are not sent but returned as ``unsent``, so a service that is refusing work
    is not pressed further. Entries refused as the sender's fault are failed at once and the run goes on.
    An AWS error raised by ``send`` is raised as :class:`BatchCallFailed`, at once.
    """
    result: BatchResult[E] = BatchResult()
    for number, batch in enumerate(batches):
        pending = list(batch)
        result.rounds = 0
        while pending:
            result.rounds += 1
            try:
                failures = send(pending)
            except (ClientError, BotoCoreError) as error:
                result.unsent = pending + [entry for later in batches[number + 1 :] for entry in later]
                raise BatchCallFailed(error, result) from error
            result.accepted += len(pending) - len(failures)
            result.failed += [failure for failure in failures if not failure.retryable]
            again = [failure for failure in failures if failure.retryable]
            if not again:
                break
            if result.rounds == max_rounds or not backoff.wait(result.rounds):
                result.failed += again
                result.unsent = [entry for later in batches[number + 1 :] for entry in later]
                return result
            pending = [failure.entry for failure in again]
    return result


NOT_SENT = "NotSent"  # the code of messages not sent because a batch before them still failed
TOO_LARGE = "MessageTooLong"  # the code of messages larger than one batch call takes


class Sendable(Protocol):
    """A message a batch publisher sends: named by the event key of its record, of a known size."""

    @property
    def event_key(self) -> str: ...

    def size(self) -> int: ...


S = TypeVar("S", bound=Sendable)


def pack(items: Sequence[S], *, max_entries: int, max_bytes: int) -> Iterator[list[S]]:
    """Pack messages greedily, in order, into calls of at most ``max_entries`` entries and ``max_bytes``."""
    batch: list[S] = []
    size = 0
    for item in items:
        item_size = item.size()
        if batch and (len(batch) == max_entries or size + item_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def publish_batches(
    items: Sequence[S],
    send: Callable[[list[S]], Sequence[EntryFailure[S]]],
    *,
    max_entries: int,
    max_bytes: int,
    max_rounds: int,
    backoff: Backoff,
    noun: str,
) -> int:
    """Send every message once with ``send`` (one batch call), resending failed entries
    (:func:`retry_failed_entries`); return how many were accepted, or raise
    :class:`~trailsift.aws.errors.PublishFailed` naming each one that was not: too large for any call,
    refused, still failing when the resends stopped, in a call that raised, or never sent because a batch
    before it still failed.
    """
    failed = [
        FailedEntry(item.event_key, TOO_LARGE, f"{item.size()} bytes > {max_bytes}")
        for item in items
        if item.size() > max_bytes
    ]
    sendable = [item for item in items if item.size() <= max_bytes]
    batches = list(pack(sendable, max_entries=max_entries, max_bytes=max_bytes))
    try:
        result = retry_failed_entries(send, batches, max_rounds=max_rounds, backoff=backoff)
    except BatchCallFailed as stopped:
        code, message = error_code(stopped.error)
        failed += _named(stopped.result.failed)
        failed += [FailedEntry(item.event_key, code, message) for item in stopped.result.unsent]
        raise PublishFailed(failed, stopped.result.accepted, noun=noun) from stopped.error
    failed += _named(result.failed)
    failed += [
        FailedEntry(item.event_key, NOT_SENT, "not sent: an earlier batch call still failed") for item in result.unsent
    ]
    if failed:
        raise PublishFailed(failed, result.accepted, noun=noun)
    return result.accepted


def _named(failures: Sequence[EntryFailure[S]]) -> list[FailedEntry]:
    """The failed entries as :class:`~trailsift.aws.errors.PublishFailed` names them: by event key, with the
    service's code and message."""
    return [FailedEntry(failure.entry.event_key, failure.code, failure.message) for failure in failures]


class BatchAdapter:
    """What every batch adapter holds: its client, its target (a topic, a bus, a table, a queue), and how it
    waits between the rounds of :func:`retry_failed_entries` (its subclass's ``BASE_DELAY`` and ``MAX_DELAY``,
    stopping at the invocation's deadline)."""

    BASE_DELAY: float = 0.2  # seconds; the first backoff's cap
    MAX_DELAY: float = 20.0  # seconds; the longest single backoff sleep

    def __init__(
        self,
        client: Any,
        target: str,
        *,
        max_rounds: int = MAX_ROUNDS,
        base_delay: float | None = None,
        sleep: Callable[[float], object] = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.max_rounds = check_rounds(max_rounds)
        delay = self.BASE_DELAY if base_delay is None else base_delay
        self._backoff = Backoff(delay, self.MAX_DELAY, sleep, deadline)


class BatchPublisher(BatchAdapter, Generic[S]):
    """Sends messages to one destination (a topic, a bus) in batch calls; ``publish`` returns how many went
    out or raises :class:`~trailsift.aws.errors.PublishFailed` naming the rest (see :func:`publish_batches`).

    A subclass says what one batch call is (:meth:`_send_batch`) and the service's limits (class attributes).
    """

    MAX_BATCH_ENTRIES: int = 10
    MAX_BATCH_BYTES: int = 262_144
    NOUN: str = "message"

    def publish(self, items: Sequence[S], on_sent: Callable[[list[S]], object] | None = None) -> int:
        """Send every message once; raise :class:`~trailsift.aws.errors.PublishFailed` if any is still unsent.

        ``on_sent`` is called after every batch call with the messages the service accepted in it, so a
        caller can record them at once (the delivery ledger does) instead of after the last batch.
        """

        def send(batch: list[S]) -> list[EntryFailure[S]]:
            return self._send_batch(batch, on_sent)

        return publish_batches(
            items,
            send,
            max_entries=self.MAX_BATCH_ENTRIES,
            max_bytes=self.MAX_BATCH_BYTES,
            max_rounds=self.max_rounds,
            backoff=self._backoff,
            noun=self.NOUN,
        )

    def _send_batch(self, batch: list[S], on_sent: Callable[[list[S]], object] | None) -> list[EntryFailure[S]]:
        """One batch call: tells ``on_sent`` what the service accepted, and answers the messages it did not."""
        raise NotImplementedError
