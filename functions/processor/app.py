"""Lambda entry point: wires the trailsift pipeline to S3 and the configured sinks, with Powertools logs and metrics.

Everything here is glue. Nothing heavy runs at import: clients, rules and the pipeline are built
on first use, and kept for the warm invocations that follow. Tracing is used where the X-Ray SDK
is available.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache, wraps
from importlib.util import find_spec
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from trailsift.deadline import Deadline
from trailsift.invocation import InvocationReport, invoke
from trailsift.lazy import Lazy
from trailsift.pipeline import Pipeline, Status
from trailsift.rules import RulesError
from trailsift.settings import Settings, SettingsError
from trailsift.sinks import SinkContext, build_sinks, registered
from trailsift.triggers import UnknownTrigger
from trailsift.triggers.step_functions import alerts_mode

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "trailsift"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Trailsift"))

Handler = Callable[[dict[str, Any], Any], Any]

if find_spec("aws_xray_sdk") is not None and os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() != "true":
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service="trailsift")

    def capture(function: Handler) -> Handler:
        traced: Handler = tracer.capture_lambda_handler(function)
        return traced

else:  # tracing is optional: without the SDK the handler runs untraced

    def capture(function: Handler) -> Handler:
        return function


@cache
def settings() -> Settings:
    """The configuration; a bad variable fails the first invocation with a message naming it."""
    return Settings.from_env(os.environ)


@cache
def client(service: str) -> Any:
    """One boto3 client per service, created on first use (``AWS_ENDPOINT_URL`` points it elsewhere).

    Its retry policy is trailsift's one (:mod:`trailsift.aws.clients`): botocore's standard mode,
    a bounded number of attempts per call.
    """
    from trailsift.aws.clients import new_client

    return new_client(
        service, connect_timeout=5, read_timeout=60, max_pool_connections=max(10, settings().fetch_concurrency)
    )


@cache
def rules_source() -> Any:
    from trailsift.aws.rules_source import ConfiguredRules

    return ConfiguredRules(settings().rules, ssm_client=None, s3_client=None)


def object_source() -> Lazy:
    """The S3 reader (its client is created on the first fetch)."""

    def build() -> object:
        from trailsift.aws.s3 import S3ObjectSource

        return S3ObjectSource(client("s3"), max_bytes=settings().max_object_bytes)

    return Lazy(build)


def build_pipeline(owner: str, deadline: Deadline, backfill: str | None = None) -> Pipeline:
    """The pipeline for the current rules (re-read through the Parameters cache on every invocation).

    ``owner`` (the request id) names this invocation in the delivery ledger; ``deadline`` is its time
    budget. The sinks are made per invocation (the clients under them are kept) because their retries
    stop at its deadline and a backfill's batch says what becomes of its alerts (``backfill``, its alerts
    mode: see :class:`~trailsift.sinks.SinkContext`); each is the one :mod:`trailsift.sinks` registers
    for a configured destination.
    """
    config = settings()
    rules, engine = rules_source().get()
    sinks = build_sinks(SinkContext(config, client, owner=owner, deadline=deadline, backfill=backfill))
    return Pipeline(rules, engine, object_source(), sinks=sinks, settings=config, deadline=deadline)


def forget_disabled_metrics(function: Any) -> Any:
    """Clear the invocation's metrics after ``log_metrics`` when metrics are disabled.

    Disabled, Powertools neither prints nor clears them, so a warm environment would otherwise
    keep every invocation's values for ever.
    """

    @wraps(function)
    def handler(event: dict[str, Any], context: Any) -> Any:
        try:
            return function(event, context)
        finally:
            if is_metrics_disabled():
                metrics.clear_metrics()

    return handler


@capture
@forget_disabled_metrics
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """Process every CloudTrail log file the event names; see :mod:`trailsift.invocation` for the answer.

    Nothing new is started once the time Lambda has left is inside the configured safety margin
    (:class:`~trailsift.deadline.Deadline`): what is left is answered as retryable, never cut off.
    """
    try:
        deadline = Deadline(context.get_remaining_time_in_millis, settings().deadline_margin_ms)
        pipeline = build_pipeline(context.aws_request_id, deadline, alerts_mode(event))
    except (SettingsError, RulesError) as exc:  # a deployment problem: say exactly what, then fail loudly
        metrics.add_metric(name="ConfigurationErrors", unit=MetricUnit.Count, value=1)
        logger.error("invalid configuration", extra={"reason": str(exc)})
        raise
    try:
        report = invoke(event, pipeline)
    except UnknownTrigger as exc:
        metrics.add_metric(name="UnknownTriggers", unit=MetricUnit.Count, value=1)
        logger.error("unknown trigger shape", extra={"reason": str(exc)})
        raise
    try:
        return report.response(dead_letter=dead_letterer(context, deadline))
    finally:
        record_report(report, deadline)


def dead_letterer(context: Any, deadline: Deadline) -> Any:
    """Sends permanently failed files to the failure queue (``None`` when no queue is configured)."""
    queue_url = settings().failure_queue_url
    if queue_url is None:
        return None

    def send(outcomes: list[Any]) -> None:
        from trailsift.aws.sqs import DeadLetterQueue
        from trailsift.dead_letter import dead_letter

        records = [
            dead_letter(o.ref, o.reason, request_id=context.aws_request_id, function_arn=context.invoked_function_arn)
            for o in outcomes
        ]
        DeadLetterQueue(client("sqs"), queue_url, deadline=deadline).send(records)

    return send


def record_report(report: InvocationReport, deadline: Deadline) -> None:
    """One log line per object (correlation id = its key) and the invocation's metrics.

    Objects the deadline kept from starting are logged as "file deferred" and counted in ``FilesDeferred``
    (and ``FilesFailed``); retry sleeps it refused are counted in ``RetriesStoppedAtDeadline``.
    """
    trigger = report.trigger
    for notice in trigger.notices:
        logger.info("nothing to read", extra={"notice": notice})
    for rejected in trigger.rejected:
        logger.error("rejected trigger part", extra={"origin": rejected.origin, "reason": rejected.reason})
    if deadline.sleeps_refused:
        logger.warning(
            "retries stopped at the deadline",
            extra={"retries_stopped": deadline.sleeps_refused, "margin_ms": deadline.margin_ms},
        )
    for outcome in report.outcomes:
        logger.set_correlation_id(outcome.ref.key)
        fields = {
            "file": outcome.ref.location,
            "status": outcome.status.value,
            "records": outcome.records,
            "matches": dict(outcome.rule_matches),
            "alerts": outcome.alerts,
            "index_rows": outcome.index_rows,
            "sent": {destination.value: count for destination, count in outcome.sent.items()},
        }
        if outcome.deferred:
            logger.warning("file deferred", extra={**fields, "reason": outcome.reason, "disposition": "retried"})
        elif outcome.status is Status.FAILED:
            disposition = "dead-lettered" if outcome in report.dead_lettered else "retried" if outcome.retryable else "raised"
            logger.error("file failed", extra={**fields, "reason": outcome.reason, "disposition": disposition})
        elif outcome.status is Status.SKIPPED:
            logger.info("file skipped", extra={**fields, "reason": outcome.reason})
        else:
            if outcome.problems:
                problems = {"record_problems": outcome.problems, "problem_samples": outcome.problem_samples}
                logger.warning("file processed", extra={**fields, **problems})
            else:
                logger.info("file processed", extra=fields)
    counts = {
        "FilesProcessed": report.count(Status.PROCESSED),
        "FilesSkipped": report.count(Status.SKIPPED),
        "FilesFailed": report.count(Status.FAILED),
        "RecordsScanned": report.records,
        "RecordProblems": sum(o.problems for o in report.outcomes),
        **{sink.metric: sum(o.sent[sink.destination] for o in report.outcomes) for sink in registered()},
        "AlertsAlreadySent": sum(o.alerts_already_sent for o in report.outcomes),
        "TriggerPartsRejected": len(trigger.rejected),
        "FilesDeadLettered": len(report.dead_lettered),
        "FilesDeferred": sum(o.deferred for o in report.outcomes),
        "RetriesStoppedAtDeadline": deadline.sleeps_refused,
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if is_metrics_disabled():  # single_metric flushes on its own and does not check this
        return
    for rule, value in sorted(report.rule_matches.items()):
        with single_metric(name="Matches", unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="rule", value=rule)
