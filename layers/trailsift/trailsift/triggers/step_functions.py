"""Step Functions Distributed Map batches ``{"Items": [key, ...], "BatchInput": {"bucket": ..., "alerts": ...}}``
and their answer.

A backfill (``trailsift backfill``) writes a manifest of pre-built batches to S3; the state machine's
Distributed Map reads it and invokes the processor once per batch with exactly this event, as an
``ItemBatcher`` would shape it: ``Items`` are object keys, verbatim (never URL-encoded), all in the
bucket ``BatchInput.bucket``. ``BatchInput.alerts`` says what a backfill does with alerts
(:data:`ALERT_MODES`; absent means ``none``: a backfill indexes and pages nobody unless asked).

The answer (:func:`answer_batch`) is what the Map child's output, and so the run report, holds: a
summary and one entry per key (processed with its counts, skipped with why, dead-lettered). A file
that failed for good was sent to the failure queue before the answer is built (the shape is
``asynchronous``: the state machine retries a failed child whole, as Lambda retries an asynchronous
event); such a file has no result here, which is how the answer knows it was dead-lettered. When a
file failed in a way a retry may fix, the handler raises instead, listing every such file: the
child fails, the state machine's ``Retry`` runs it again (done files are rewritten idempotently,
their alerts found sent), and once the retries are spent the Map counts the batch as failed, with
the error in the run report. A malformed key cannot be read, ever: it is reported in the answer
(``rejected``) and does not fail the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from trailsift.triggers.base import (
    Answer,
    Collector,
    JsonObject,
    Malformed,
    ObjectRef,
    ObjectResult,
    Shape,
    Trigger,
    TriggerShape,
    UnknownTrigger,
    bucket_name,
    describe_keys,
    kind_of,
    object_key,
)

ALERT_MODES: Final = ("none", "digest", "send")
"""What a backfill does with the matches of alert rules: ``none`` (index only, the default), ``digest``
(index only here; one summary for the whole run is sent at its end) or ``send`` (each alert, marked as a backfill)."""
DEFAULT_ALERTS: Final = "none"
EVENT_KEYS: Final = frozenset({"Items", "BatchInput"})
MAX_ITEMS: Final = 1000
"""Keys one batch may name; backfill manifests hold about 100, and the child's output must stay under 256 KB."""
MAX_REASON_CHARS: Final = 300
"""How much of a reason goes into a key's entry of the answer (the run report)."""


def is_batch(event: JsonObject) -> bool:
    """Whether ``event`` is a Distributed Map batch (answerable or not): it has ``Items`` and ``BatchInput``."""
    return "Items" in event and "BatchInput" in event


def alerts_mode(event: object) -> str | None:
    """The alerts mode of a backfill batch, or ``None`` for any other event (the live path: alerts are sent).

    Read before the pipeline is built, since it decides the sinks. An invalid value reads as ``none``:
    the event is refused by :func:`parse_batch` anyway, and nothing may page anyone by mistake.
    """
    if not isinstance(event, Mapping) or not is_batch(event):
        return None
    batch_input = event.get("BatchInput")
    mode = batch_input.get("alerts", DEFAULT_ALERTS) if isinstance(batch_input, Mapping) else None
    return mode if isinstance(mode, str) and mode in ALERT_MODES else DEFAULT_ALERTS


def parse_batch(event: JsonObject) -> Trigger:
    """The objects a batch names; raises :class:`UnknownTrigger` when the batch as a whole cannot be read.

    The whole batch is refused for anything besides ``Items`` and ``BatchInput``, an ``Items`` that is
    not a list (or longer than :data:`MAX_ITEMS`), or a ``BatchInput`` without a valid ``bucket`` or
    with an unknown ``alerts``: nothing in it can be read right. One bad key is a rejected part.
    """
    extra = sorted(str(name) for name in event if name not in EVENT_KEYS)
    if extra:
        raise UnknownTrigger(
            f"unrecognized trigger: a Step Functions batch has only Items and BatchInput, not {describe_keys(dict.fromkeys(extra))}"
        )
    items = event["Items"]
    if not isinstance(items, list):
        raise UnknownTrigger(f"unrecognized trigger: Step Functions batch 'Items' is {kind_of(items)}, expected a list")
    if len(items) > MAX_ITEMS:
        raise UnknownTrigger(f"unrecognized trigger: Step Functions batch of {len(items)} items, at most {MAX_ITEMS}")
    batch_input = event["BatchInput"]
    if not isinstance(batch_input, Mapping):
        raise UnknownTrigger(
            f"unrecognized trigger: Step Functions batch 'BatchInput' is {kind_of(batch_input)}, expected an object"
        )
    try:
        bucket = bucket_name(batch_input.get("bucket"), "BatchInput.bucket")
    except Malformed as exc:
        raise UnknownTrigger(f"unrecognized trigger: Step Functions batch {exc}") from None
    mode = batch_input.get("alerts", DEFAULT_ALERTS)
    if not (isinstance(mode, str) and mode in ALERT_MODES):
        raise UnknownTrigger(
            f"unrecognized trigger: Step Functions batch BatchInput.alerts is not one of {', '.join(ALERT_MODES)}"
        )
    out = Collector()
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"Items[{index}]"
        try:
            key = object_key(item, where, encoded=False)
        except Malformed as exc:
            out.reject(where, str(exc))
            continue
        if key in seen:
            out.notice(f"{where}: repeats an earlier key; read once")
            continue
        seen.add(key)
        out.add(ObjectRef(bucket, key))
    return out.trigger(TriggerShape.STEP_FUNCTIONS)


def answer_batch(trigger: Trigger, results: Sequence[ObjectResult]) -> Answer:
    """The child's output: counts and one entry per key, in the batch's order; or the reasons to raise.

    Raises (``retry``) for every file that failed and is still in ``results``: a retryable failure, or
    a permanent one that could not be dead-lettered (no failure queue), which must not pass unnoticed.
    A key of the trigger without a result was dead-lettered (:mod:`trailsift.invocation` hands the
    answer only the files it did not send to the failure queue).
    """
    failed = [result for result in results if result.failed]
    if failed:
        return Answer(None, tuple(f"{result.ref.location}: {result.reason}" for result in failed))
    by_ref = {_identity(result.ref): result for result in results}
    entries: list[dict[str, Any]] = []
    counts = {"processed": 0, "skipped": 0, "deadLettered": 0}
    records = matches = 0
    for ref in trigger.objects:
        result = by_ref.get(_identity(ref))
        if result is None:
            counts["deadLettered"] += 1
            entries.append({"key": ref.key, "status": "dead-lettered", "reason": "failed for good; sent to the failure queue"})
        elif result.reason:
            counts["skipped"] += 1
            entries.append({"key": ref.key, "status": "skipped", "reason": result.reason[:MAX_REASON_CHARS]})
        else:
            counts["processed"] += 1
            records += result.records
            matches += result.matches
            entries.append({"key": ref.key, "status": "processed", "records": result.records, "matches": result.matches})
    rejected = [{"item": part.origin, "reason": part.reason[:MAX_REASON_CHARS]} for part in trigger.rejected]
    return Answer(
        {
            "files": len(trigger.objects),
            **counts,
            "rejected": len(rejected),
            "records": records,
            "matches": matches,
            "results": entries,
            "rejectedItems": rejected,
        }
    )


def _identity(ref: ObjectRef) -> tuple[str, str, str | None]:
    return ref.bucket, ref.key, ref.version_id


SHAPE = Shape(
    TriggerShape.STEP_FUNCTIONS,
    answer=answer_batch,
    asynchronous=True,  # retried whole (by the state machine's Retry) when it raises: dead-letter what cannot succeed
    recognises=is_batch,
    parse=parse_batch,
)
"""Distributed Map batches of a backfill, answered with a per-key summary (raising for retryable failures)."""
