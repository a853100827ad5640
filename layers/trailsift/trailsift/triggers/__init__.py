"""Turn any event that invokes the processor into the S3 objects it names, trusting none of its content,
and answer it the way its sender expects.

The processor is reached six ways, and each is one module: its parser and the answer it expects
back live together, so following one event through the handler means reading one module.

=====================  ==========================================================  ===============================
module                 event                                                       answer
=====================  ==========================================================  ===============================
:mod:`.s3_events`      S3 event notification records, S3's ``s3:TestEvent``      none; raise to be retried
:mod:`.sns`            SNS batches; what an SNS message says, CloudTrail's own     none; raise to be retried
                       delivery and validation messages included
:mod:`.eventbridge`    EventBridge "Object Created" from ``aws.s3``                none; raise to be retried
:mod:`.sqs`            SQS batches whose bodies are any of the above               ``batchItemFailures``
:mod:`.s3_batch`       S3 Batch Operations jobs, schema 1.0 and 2.0                ``results``, one per task
:mod:`.step_functions` Step Functions Distributed Map batches of a backfill        a summary and one entry per key;
                       (``Items`` keys verbatim, ``BatchInput.bucket``/``alerts``)  raise to be retried
=====================  ==========================================================  ===============================

:mod:`.base` holds what they share: :class:`Trigger` and its parts, the field checks, and
:class:`Shape`, the record each module gives of itself (how to recognise and read its event, how to
answer it). :mod:`.registry` lists the shapes (:data:`SHAPES`) and holds :func:`parse_trigger`,
which reduces any event to one :class:`Trigger`: the objects to read, the parts that need no action
(test and validation messages, other event types) and the parts that are malformed, each with the
SQS message or Batch task that carried it. Only an event with no shape we know raises
(:class:`UnknownTrigger`); a bad part never spoils the rest of the event. :mod:`trailsift.invocation`
runs the objects through the pipeline, then asks the trigger's shape (:func:`shape_of`) for the answer.

A new shape is one new module that defines its :class:`Shape`, one
entry in :data:`SHAPES` and one :class:`TriggerShape` member.

Keys are URL-encoded (``+`` for a space) in S3 notifications and Batch Operations tasks, and
verbatim in EventBridge events, CloudTrail's SNS message and Step Functions batches.
"""

from __future__ import annotations

from trailsift.triggers.base import (
    MAX_KEY_BYTES,
    Answer,
    BatchJob,
    ObjectRef,
    ObjectResult,
    Rejected,
    Shape,
    Trigger,
    TriggerShape,
    UnknownTrigger,
)
from trailsift.triggers.registry import SHAPES, parse_trigger, shape_of
from trailsift.triggers.s3_batch import RESULT_CODES, batch_response
from trailsift.triggers.s3_events import s3_notification
from trailsift.triggers.sns import CLOUDTRAIL_VALIDATION

__all__ = [
    "CLOUDTRAIL_VALIDATION",
    "MAX_KEY_BYTES",
    "RESULT_CODES",
    "SHAPES",
    "Answer",
    "BatchJob",
    "ObjectRef",
    "ObjectResult",
    "Rejected",
    "Shape",
    "Trigger",
    "TriggerShape",
    "UnknownTrigger",
    "batch_response",
    "parse_trigger",
    "s3_notification",
    "shape_of",
]
