"""S3 Batch Operations jobs ``{"invocationSchemaVersion": ..., "invocationId": ..., "tasks": [...]}`` and their answer.

Schema 1.0 names the bucket by ``s3BucketArn``, 2.0 by ``s3Bucket``; keys are URL-encoded. Every
object carries its ``taskId`` as its origin. The answer (:func:`batch_response`) has one result per
task of the job, in order: ``Succeeded``, ``TemporaryFailure`` (S3 retries the task) or
``PermanentFailure``. A task without a usable ``taskId`` cannot be answered; an event without a
known schema or an ``invocationId`` cannot be answered at all, so it is an :class:`UnknownTrigger`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from trailsift.triggers.base import (
    Answer,
    BatchJob,
    Collector,
    JsonObject,
    Malformed,
    ObjectRef,
    ObjectResult,
    Shape,
    Trigger,
    TriggerShape,
    UnknownTrigger,
    as_object,
    bucket_name,
    is_token,
    kind_of,
    object_key,
    optional_token,
    problem,
    retry_whole_event,
)

RESULT_CODES = ("Succeeded", "TemporaryFailure", "PermanentFailure")
"""The answers S3 Batch Operations accepts for one task."""
SCHEMA_VERSIONS = ("1.0", "2.0")
MAX_RESULT_CHARS = 1000
"""How much of a reason goes into a task's ``resultString``."""

_BUCKET_ARN = re.compile(r"arn:aws[a-z-]*:s3:::([^/:]+)")


def is_job(event: JsonObject) -> bool:
    """Whether ``event`` is an S3 Batch Operations invocation (answerable or not)."""
    return "invocationSchemaVersion" in event and "tasks" in event


def parse_job(event: JsonObject) -> Trigger:
    """An S3 Batch Operations invocation (schema 1.0: ``s3BucketArn``; 2.0: ``s3Bucket``); keys URL-encoded."""
    version = event.get("invocationSchemaVersion")
    if not isinstance(version, str) or version not in SCHEMA_VERSIONS:
        raise UnknownTrigger("unrecognized trigger: S3 Batch Operations invocationSchemaVersion is not 1.0 or 2.0")
    invocation_id = event.get("invocationId")
    if not isinstance(invocation_id, str) or not invocation_id:
        raise UnknownTrigger("unrecognized trigger: S3 Batch Operations event without an invocationId string")
    tasks = event["tasks"]
    if not isinstance(tasks, list):
        raise UnknownTrigger(f"unrecognized trigger: S3 Batch Operations 'tasks' is {kind_of(tasks)}, expected a list")
    out = Collector()
    task_ids: dict[str, None] = {}
    for index, task in enumerate(tasks):
        where = f"tasks[{index}]"
        if not isinstance(task, Mapping):
            out.reject(None, f"{where}: {problem(task, 'an object')}")
            continue
        task_id = task.get("taskId")
        if not is_token(task_id):
            out.reject(None, f"{where}.taskId: {problem(task_id, 'a non-empty printable string')}")
            continue
        if task_id in task_ids:
            out.notice(f"{where}: repeats an earlier taskId; answered once")
            continue
        task_ids[task_id] = None
        try:
            out.add(
                ObjectRef(
                    _task_bucket(task, where),
                    object_key(task.get("s3Key"), f"{where}.s3Key", encoded=True),
                    version_id=optional_token(task.get("s3VersionId"), f"{where}.s3VersionId"),
                    origin=task_id,
                )
            )
        except Malformed as exc:
            out.reject(task_id, str(exc))
    return out.trigger(TriggerShape.BATCH, BatchJob(version, invocation_id, tuple(task_ids)))


def _task_bucket(task: JsonObject, where: str) -> str:
    """The task's bucket, from ``s3Bucket`` or ``s3BucketArn``; both present must agree."""
    name = task.get("s3Bucket")
    arn = task.get("s3BucketArn")
    from_arn = None
    if arn is not None:
        match = _BUCKET_ARN.fullmatch(arn) if isinstance(arn, str) else None
        if match is None:
            raise Malformed(f"{where}.s3BucketArn: {problem(arn, 'an S3 bucket ARN (arn:aws:s3:::bucket)')}")
        from_arn = bucket_name(match.group(1), f"{where}.s3BucketArn")
    if name is None:
        if from_arn is None:
            raise Malformed(f"{where}: neither s3Bucket nor s3BucketArn is present")
        return from_arn
    bucket = bucket_name(name, f"{where}.s3Bucket")
    if from_arn is not None and from_arn != bucket:
        raise Malformed(f"{where}: s3Bucket and s3BucketArn name different buckets")
    return bucket


def batch_response(job: BatchJob, results: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """S3 Batch Operations answer; results maps taskId -> (resultCode, resultString).

    resultCode is one of Succeeded, TemporaryFailure (S3 retries the task) and PermanentFailure;
    every task of the job must be answered, and only those: anything else raises ValueError.
    """
    missing = [task_id for task_id in job.task_ids if task_id not in results]
    if missing:
        raise ValueError(f"{len(missing)} task(s) of invocation {job.invocation_id} have no result: {missing[:5]}")
    unknown = sorted(set(results) - set(job.task_ids))
    if unknown:
        raise ValueError(f"results for task(s) that are not in the job: {unknown[:5]}")
    answers = []
    for task_id in job.task_ids:
        answer: object = results[task_id]
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise ValueError(f"result of task {task_id} must be a (resultCode, resultString) pair")
        code, text = answer
        if code not in RESULT_CODES:
            raise ValueError(f"result of task {task_id}: resultCode must be one of {', '.join(RESULT_CODES)}")
        if not isinstance(text, str):
            raise ValueError(f"result of task {task_id}: resultString must be a string")
        answers.append({"taskId": task_id, "resultCode": code, "resultString": text})
    return {
        "invocationSchemaVersion": job.schema_version,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": job.invocation_id,
        "results": answers,
    }


def task_results(trigger: Trigger, results: Sequence[ObjectResult]) -> dict[str, tuple[str, str]]:
    """taskId -> (resultCode, resultString) for every task that can be named.

    A failed object is a ``TemporaryFailure`` when retrying can help, else a ``PermanentFailure``;
    anything else (processed, or skipped with its reason) ``Succeeded``. A rejected task is a
    ``PermanentFailure``; a task naming the same object as an earlier one shares its result.
    """
    answered: dict[str, tuple[str, str]] = {}
    for result in results:
        if result.ref.origin is None:
            continue
        if result.failed:
            code = "TemporaryFailure" if result.retryable else "PermanentFailure"
            answered[result.ref.origin] = (code, result.reason[:MAX_RESULT_CHARS])
        else:
            text = result.reason or f"{result.records} records, {result.matches} matches"
            answered[result.ref.origin] = ("Succeeded", text[:MAX_RESULT_CHARS])
    for rejected in trigger.rejected:
        if rejected.origin is not None:
            answered[rejected.origin] = ("PermanentFailure", rejected.reason[:MAX_RESULT_CHARS])
    for dropped, kept in trigger.duplicates:
        if kept in answered:
            answered[dropped] = answered[kept]
    return answered


def answer_job(trigger: Trigger, results: Sequence[ObjectResult]) -> Answer:
    """One result per task of the job (:func:`batch_response`); never raises for a failed object.

    A trigger without its job (never made by :func:`parse_job`) cannot be answered per task: it is
    answered by raising, which fails every task.
    """
    if trigger.batch is None:
        return retry_whole_event(trigger, results)
    return Answer(batch_response(trigger.batch, task_results(trigger, results)))


SHAPE = Shape(
    TriggerShape.BATCH,
    answer=answer_job,
    reports_permanent_failures=True,
    recognises=is_job,
    parse=parse_job,
)
"""S3 Batch Operations jobs, answered with one result per task."""
