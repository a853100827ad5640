"""Every trigger shape the processor accepts, and the one entry point that tells them apart.

:data:`SHAPES` lists them in the order they are tried. :func:`parse_trigger` reads a
``{"Records": [...]}`` batch with the shape of its first entry whose source one of them claims
(the entries from another source are rejected); any other event goes to the first shape that
recognises it. :func:`shape_of` finds the shape of a parsed trigger, which knows how to answer it.
"""

from __future__ import annotations

from collections.abc import Mapping

from trailsift.triggers import eventbridge, s3_batch, s3_events, sns, sqs, step_functions
from trailsift.triggers.base import (
    Collector,
    JsonObject,
    Shape,
    Trigger,
    TriggerShape,
    UnknownTrigger,
    describe_keys,
    kind_of,
    record_source,
)

SHAPES: tuple[Shape, ...] = (
    s3_events.SHAPE, sqs.SHAPE, sns.SHAPE, eventbridge.SHAPE, s3_batch.SHAPE, step_functions.SHAPE
)
"""Every shape, in the order whole events are offered to them: S3's test event before an EventBridge
event, an EventBridge event before an S3 Batch Operations job, a Step Functions batch last."""

_BY_KIND = {shape.kind: shape for shape in SHAPES}
_BY_RECORD_SOURCE = {shape.record_source: shape for shape in SHAPES if shape.record_source is not None}


def shape_of(trigger: Trigger) -> Shape:
    """The shape that parsed ``trigger``, which builds its answer."""
    return _BY_KIND[trigger.shape]


def parse_trigger(event: object) -> Trigger:
    """The objects ``event`` names, whatever its shape; raises :class:`UnknownTrigger` and nothing else."""
    if not isinstance(event, Mapping):
        raise UnknownTrigger(f"unrecognized trigger: the event is {kind_of(event)}, not a JSON object")
    if "Records" in event:
        return _parse_record_batch(event)
    for shape in SHAPES:
        if shape.recognises is not None and shape.parse is not None and shape.recognises(event):
            return shape.parse(event)
    if eventbridge.is_other_event(event):
        raise UnknownTrigger("unrecognized trigger: an EventBridge event whose source is not aws.s3")
    raise UnknownTrigger(f"unrecognized trigger: {describe_keys(event)}")


def _parse_record_batch(event: JsonObject) -> Trigger:
    """``{"Records": [...]}``: an S3 notification, an SQS batch or an SNS batch, told apart by eventSource."""
    records = event["Records"]
    if not isinstance(records, list):
        raise UnknownTrigger(f"unrecognized trigger: 'Records' is {kind_of(records)}, expected a list")
    if not records:
        return Trigger(TriggerShape.S3, ())  # S3 never sends it, but it names nothing whatever it is
    sources = [record_source(record) for record in records]
    shape = next((_BY_RECORD_SOURCE[s] for s in sources if s is not None and s in _BY_RECORD_SOURCE), None)
    if shape is None or shape.parse_record is None:
        raise UnknownTrigger(
            f"unrecognized trigger: no entry of 'Records' comes from {_either(list(_BY_RECORD_SOURCE))} "
            f"(first entry: {describe_keys(records[0])})"
        )
    out = Collector()
    for index, (record, source) in enumerate(zip(records, sources, strict=True)):
        where = f"Records[{index}]"
        if source != shape.record_source or not isinstance(record, Mapping):
            out.reject(None, f"{where}: not an {shape.kind.value.upper()} record like the rest of the batch")
        else:
            shape.parse_record(record, out, where)
    return out.trigger(shape.kind)


def _either(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
