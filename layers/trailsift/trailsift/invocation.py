"""One invocation, whatever its trigger: parse it, run the pipeline, and answer the way the trigger expects.

The answer is the trigger's shape's (:func:`trailsift.triggers.shape_of`), built from the result of
each object; this module only runs the objects and raises when the shape says so:

- S3 notifications, SNS and EventBridge events are asynchronous invocations: when anything failed,
  the invocation raises :class:`InvocationFailed` after every other object was processed, so Lambda
  retries it and finally hands it to the on-failure destination. Nothing is lost.
- SQS batches answer ``batchItemFailures`` with the messages to redeliver, so one bad file does not
  redeliver the whole batch. A file that failed for good is sent to the failure queue with its
  reason (when one is configured) and its message answered as done: redelivering it could only fail
  the same way until SQS moved it, reason lost, to the queue's dead-letter queue. A malformed
  message is listed like a file that may succeed later, as an asynchronous event with a malformed
  part raises: SQS moves it, body untouched, to that dead-letter queue after ``maxReceiveCount``
  receives.
- S3 Batch Operations answer one result per task (``TemporaryFailure`` is retried by S3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trailsift.errors import TrailsiftError
from trailsift.pipeline import FileOutcome, Pipeline, Status
from trailsift.triggers import ObjectResult, Trigger, parse_trigger, shape_of


class InvocationFailed(TrailsiftError, RuntimeError):
    """Some object or trigger part failed; raised so that Lambda retries and then dead-letters the event."""


@dataclass
class InvocationReport:
    """Everything one invocation did: per-object outcomes plus the trigger's notices and rejected parts."""

    trigger: Trigger
    outcomes: list[FileOutcome] = field(default_factory=list)
    dead_lettered: list[FileOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status is status)

    @property
    def failures(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status is Status.FAILED]

    @property
    def records(self) -> int:
        return sum(outcome.records for outcome in self.outcomes)

    @property
    def rule_matches(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for outcome in self.outcomes:
            total.update(outcome.rule_matches)
        return total

    def response(self, dead_letter: Callable[[list[FileOutcome]], None] | None = None) -> dict[str, Any] | None:
        """What the handler returns; raises :class:`InvocationFailed` when the trigger must be retried.

        For every shape whose answer cannot say "failed for good" (all but S3 Batch Operations:
        ``Shape.reports_permanent_failures``), ``dead_letter`` (when given) receives the objects
        that failed for good, which then no longer fail the invocation (nor, in a batch, their
        message): retrying them cannot help, and would delay nothing but themselves. What it cannot
        queue raises, so nothing is lost either way (an SQS batch then comes back whole).
        """
        shape = shape_of(self.trigger)
        outcomes = self.outcomes
        if not shape.reports_permanent_failures and dead_letter is not None:
            permanent = [o for o in self.failures if not o.retryable]
            if permanent:
                dead_letter(permanent)
                self.dead_lettered = permanent
                gone = {id(o) for o in permanent}
                outcomes = [o for o in outcomes if id(o) not in gone]
        answer = shape.answer(self.trigger, [_result(o) for o in outcomes])
        if answer.retry:
            raise InvocationFailed(f"{len(answer.retry)} failure(s): " + "; ".join(answer.retry[:10]))
        return answer.response


def _result(outcome: FileOutcome) -> ObjectResult:
    """What the trigger's answer needs to know of one object's outcome."""
    return ObjectResult(
        outcome.ref,
        failed=outcome.status is Status.FAILED,
        reason=outcome.reason,
        retryable=outcome.retryable,
        records=outcome.records,
        matches=sum(outcome.rule_matches.values()),
    )


def invoke(event: Any, pipeline: Pipeline) -> InvocationReport:
    """Parse ``event`` (raises ``UnknownTrigger``) and run every object it names through ``pipeline``."""
    trigger = parse_trigger(event)
    return InvocationReport(trigger, pipeline.run(trigger.objects))
