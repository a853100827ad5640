"""The shape registry and each shape's answer on their own (tests/test_invocation.py runs them end to end)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import trailsift.triggers
from trailsift.triggers import (
    SHAPES,
    Answer,
    BatchJob,
    ObjectRef,
    ObjectResult,
    Rejected,
    Shape,
    Trigger,
    TriggerShape,
    parse_trigger,
    shape_of,
)
from trailsift.triggers.base import retry_whole_event
from trailsift.triggers.s3_batch import answer_job
from trailsift.triggers.sqs import batch_item_failures

SAMPLES = Path(__file__).resolve().parent.parent / "events" / "triggers"
BUCKET = "trailsift-demo-123456789012-us-east-1"
NOT_SHAPES = {"base", "registry"}


def ref(key: str, origin: str | None = None, version_id: str | None = None) -> ObjectRef:
    return ObjectRef(BUCKET, key, version_id=version_id, origin=origin)


def ok(key: str, origin: str | None = None, *, reason: str = "", records: int = 0, matches: int = 0) -> ObjectResult:
    return ObjectResult(ref(key, origin), failed=False, reason=reason, records=records, matches=matches)


def failed(key: str, origin: str | None = None, *, reason: str = "boom", retryable: bool = True) -> ObjectResult:
    return ObjectResult(ref(key, origin), failed=True, reason=reason, retryable=retryable)


# --- the registry -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.kind.value)
def test_each_registered_shape_has_a_parser_and_an_answer(shape: Shape) -> None:
    assert isinstance(shape, Shape)
    assert callable(shape.answer)
    whole = shape.recognises is not None and shape.parse is not None
    records = shape.record_source is not None and shape.parse_record is not None
    assert whole or records
    assert callable(shape.recognises) == callable(shape.parse)
    assert (shape.record_source is None) == (shape.parse_record is None)
    empty = Trigger(shape.kind, (), batch=BatchJob("2.0", "inv", ()) if shape.kind is TriggerShape.BATCH else None)
    assert isinstance(shape.answer(empty, []), Answer)


def test_every_trigger_shape_is_registered_once() -> None:
    kinds = [shape.kind for shape in SHAPES]
    assert sorted(kinds) == sorted(TriggerShape)
    sources = [shape.record_source for shape in SHAPES if shape.record_source is not None]
    assert len(sources) == len(set(sources))


def test_every_shape_module_is_registered() -> None:
    """A module of trailsift.triggers other than base and registry is a shape, and is in SHAPES."""
    names = {info.name for info in pkgutil.iter_modules(trailsift.triggers.__path__)} - NOT_SHAPES
    assert names == {"eventbridge", "s3_batch", "s3_events", "sns", "sqs", "step_functions"}
    for name in sorted(names):
        module = importlib.import_module(f"trailsift.triggers.{name}")
        assert any(shape is module.SHAPE for shape in SHAPES), name
        assert module.__doc__ and module.SHAPE.kind.value


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"recognises": lambda event: True}, "recognises and parse go together"),
        ({"record_source": "aws:x"}, "record_source and parse_record go together"),
        ({}, "no way to read its event"),
    ],
)
def test_a_shape_must_say_how_to_read_its_event(bad: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        Shape(TriggerShape.S3, answer=retry_whole_event, **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda path: path.name)
def test_the_shape_of_a_parsed_sample_is_the_one_that_answers_it(path: Path) -> None:
    trigger = parse_trigger(json.loads(path.read_text()))
    shape = shape_of(trigger)
    assert shape.kind is trigger.shape
    # retried whole when the handler raises: by Lambda (asynchronous invocations) or by the state machine's Retry
    whole = (TriggerShape.S3, TriggerShape.SNS, TriggerShape.EVENTBRIDGE, TriggerShape.STEP_FUNCTIONS)
    assert shape.asynchronous == (trigger.shape in whole)


def test_public_names_are_exported() -> None:
    for name in trailsift.triggers.__all__:
        assert getattr(trailsift.triggers, name) is not None, name
    assert callable(trailsift.triggers.s3_notification)  # the function, not a module of that name


# --- asynchronous shapes: no answer, or the reasons to raise ------------------------------------


@pytest.mark.parametrize("kind", [TriggerShape.S3, TriggerShape.SNS, TriggerShape.EVENTBRIDGE])
def test_asynchronous_shapes_answer_none_or_every_reason_to_retry(kind: TriggerShape) -> None:
    shape = next(shape for shape in SHAPES if shape.kind is kind)
    assert shape.answer is retry_whole_event
    trigger = Trigger(kind, (ref("a"), ref("b"), ref("c")), rejected=(Rejected(None, "Records[3]: bad"),))
    assert shape.answer(Trigger(kind, (ref("a"),)), [ok("a")]) == Answer(None, ())
    answer = shape.answer(trigger, [ok("a"), failed("b", reason="Throttling"), ok("c", reason="gone")])
    assert answer == Answer(None, (f"s3://{BUCKET}/b: Throttling", "rejected trigger part: Records[3]: bad"))


# --- SQS: the messages to redeliver -------------------------------------------------------------


def test_sqs_answer_lists_failed_duplicated_and_rejected_messages_once_sorted() -> None:
    trigger = Trigger(
        TriggerShape.SQS,
        (ref("a", "m3"), ref("b", "m1"), ref("c", "m4")),
        rejected=(Rejected("m2", "not JSON"), Rejected(None, "no messageId"), Rejected("m3", "bad key")),
        duplicates=(("m5", "m3"), ("m6", "m4")),
    )
    results = [failed("a", "m3"), ok("b", "m1"), ok("c", "m4"), failed("b", "m1", retryable=False)]
    answer = batch_item_failures(trigger, results)
    assert answer.retry == ()
    assert answer.response == {"batchItemFailures": [{"itemIdentifier": i} for i in ("m1", "m2", "m3", "m5")]}
    assert batch_item_failures(trigger, [ok("a", "m3")]).response == {
        "batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]
    }


# --- S3 Batch Operations: one result per task ---------------------------------------------------


def test_batch_answer_has_one_result_per_task_in_job_order() -> None:
    trigger = Trigger(
        TriggerShape.BATCH,
        (ref("a", "t1"), ref("b", "t2"), ref("c", "t3"), ref("d", "t4")),
        rejected=(Rejected("t5", "tasks[4].s3Key: empty"),),
        batch=BatchJob("1.0", "inv-9", ("t1", "t2", "t3", "t4", "t5", "t6")),
        duplicates=(("t6", "t2"),),
    )
    results = [
        ok("a", "t1", records=12, matches=3),
        failed("b", "t2", reason="Throttling"),
        failed("c", "t3", reason="corrupt" * 300, retryable=False),
        ok("d", "t4", reason="digest file"),
    ]
    answer = answer_job(trigger, results)
    assert answer.retry == ()
    assert answer.response is not None
    assert (answer.response["invocationSchemaVersion"], answer.response["invocationId"]) == ("1.0", "inv-9")
    assert [(r["taskId"], r["resultCode"], r["resultString"]) for r in answer.response["results"]] == [
        ("t1", "Succeeded", "12 records, 3 matches"),
        ("t2", "TemporaryFailure", "Throttling"),
        ("t3", "PermanentFailure", ("corrupt" * 300)[:1000]),
        ("t4", "Succeeded", "digest file"),
        ("t5", "PermanentFailure", "tasks[4].s3Key: empty"),
        ("t6", "TemporaryFailure", "Throttling"),
    ]


def test_batch_answer_refuses_a_job_with_an_unanswered_task() -> None:
    trigger = Trigger(TriggerShape.BATCH, (ref("a", "t1"),), batch=BatchJob("2.0", "inv", ("t1", "t2")))
    with pytest.raises(ValueError, match=re.escape("1 task(s) of invocation inv have no result: ['t2']")):
        answer_job(trigger, [ok("a", "t1")])


def test_only_s3_batch_operations_answers_a_permanent_failure_itself() -> None:
    """Every other shape has its objects that failed for good dead-lettered with their reason."""
    from trailsift.triggers.registry import SHAPES

    assert {shape.kind for shape in SHAPES if shape.reports_permanent_failures} == {TriggerShape.BATCH}
