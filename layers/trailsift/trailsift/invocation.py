"""One invocation, whatever its trigger: parse it, run the pipeline, and answer the way the trigger expects.

- S3 notifications and EventBridge events are asynchronous invocations: when anything failed, the
  invocation raises :class:`InvocationFailed` after every other object was processed, so Lambda
  retries it and finally hands it to the on-failure destination. Nothing is lost.
- SQS batches answer ``batchItemFailures`` with the messages to redeliver, so one bad file does not
  redeliver the whole batch.
- S3 Batch Operations answer one result per task (``TemporaryFailure`` is retried by S3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trailsift.errors import TrailsiftError
from trailsift.pipeline import FileOutcome, Pipeline, Status
from trailsift.triggers import Trigger, TriggerShape, batch_response, parse_trigger


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

        For asynchronous shapes, ``dead_letter`` (when given) receives the objects that failed for
        good, which then no longer fail the invocation: retrying them cannot help, and would delay
        nothing but themselves. What it cannot queue raises, so nothing is lost either way.
        """
        trigger = self.trigger
        if trigger.shape is TriggerShape.SQS:
            failed = {o.ref.origin for o in self.failures}
            failed |= {origin for origin, kept in trigger.duplicates if kept in failed}  # same object, same fate
            failed |= {r.origin for r in trigger.rejected}
            failed.discard(None)  # a record without a usable messageId cannot be named
            return {"batchItemFailures": [{"itemIdentifier": origin} for origin in sorted(failed)]}
        if trigger.shape is TriggerShape.BATCH and trigger.batch is not None:
            return batch_response(trigger.batch, self._batch_results())
        failures = self.failures
        permanent = [o for o in failures if not o.retryable]
        if dead_letter is not None and permanent:
            dead_letter(permanent)
            self.dead_lettered = permanent
            failures = [o for o in failures if o.retryable]
        problems = [f"{o.ref.location}: {o.reason}" for o in failures]
        problems += [f"rejected trigger part: {r.reason}" for r in trigger.rejected]
        if problems:
            raise InvocationFailed(f"{len(problems)} failure(s): " + "; ".join(problems[:10]))
        return None

    def _batch_results(self) -> dict[str, tuple[str, str]]:
        results: dict[str, tuple[str, str]] = {}
        for outcome in self.outcomes:
            if outcome.ref.origin is None:
                continue
            if outcome.status is Status.FAILED:
                code = "TemporaryFailure" if outcome.retryable else "PermanentFailure"
                results[outcome.ref.origin] = (code, outcome.reason[:1000])
            else:
                text = outcome.reason or f"{outcome.records} records, {sum(outcome.rule_matches.values())} matches"
                results[outcome.ref.origin] = ("Succeeded", text[:1000])
        for rejected in self.trigger.rejected:
            if rejected.origin is not None:
                results[rejected.origin] = ("PermanentFailure", rejected.reason[:1000])
        for dropped, kept in self.trigger.duplicates:  # a task naming the same object as another shares its result
            if dropped is not None and kept in results:
                results[dropped] = results[kept]
        return results


def invoke(event: Any, pipeline: Pipeline) -> InvocationReport:
    """Parse ``event`` (raises ``UnknownTrigger``) and run every object it names through ``pipeline``."""
    trigger = parse_trigger(event)
    return InvocationReport(trigger, pipeline.run(trigger.objects))
