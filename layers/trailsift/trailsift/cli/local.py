"""``trailsift local``: the whole application on this machine, moto's server on 127.0.0.1 standing in for AWS.

It creates what ``template.yaml`` creates (the trail bucket, the alert topic with an SQS queue
subscribed in the subscriber's place, the index table with the template's keys, an event bus whose
rule sends trailsift's events to a queue, as a user's own rule would), uploads log files
under their S3 keys, sends the function the notifications S3 would send, invoking the handler
in-process exactly as Lambda would, and then reads back what a subscriber and ``trailsift query``
see. No account, no network beyond loopback.

``--backfill --since T1 --until T2`` runs a backfill instead (:func:`run_backfill`): the files are
uploaded without a notification, the backfill is planned and its manifest written as ``trailsift
backfill`` does, and the template's state machine definition runs on moto's state machine executor,
its Distributed Map invoking the same handler in-process; then the index rows and the run report are
shown. ``--format jsonl`` prints one JSON object per alert and per index row instead.

What it shows fits the terminal (80 columns at least), each list cut to :data:`SHOWN` lines (``--full``:
everything, each alert's message too), and ends with a summary (:func:`print_summary`): what was not
uploaded and why, what failed and why, then the counts; ``--quiet`` prints the summary only. ``--keep``
keeps the stack up until Ctrl-C and prints the ``trailsift query`` command, with its environment, that
reads it from another shell. The handler, the state machine definition and the sample files are the
checkout's (:func:`find_checkout`), so ``local`` runs from any directory.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import shlex
import shutil
import signal
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import unquote_plus

from trailsift.cli.backfill import (
    DEFINITION,
    BackfillPlan,
    RunStatus,
    definition_text,
    describe_run,
    for_moto,
    plan_window,
    print_status,
    send_digest,
    start_run,
    wait,
)
from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.plan import parse_time
from trailsift.cli.report import cell
from trailsift.cli.rules_input import load_and_warn
from trailsift.cli.sources import LocalFile, discover
from trailsift.index import TABLE_DEFINITION
from trailsift.logfile import LogFileKey, LogFileKind
from trailsift.rules import RulesError, is_pack_name
from trailsift.text import escape, for_terminal, one_line
from trailsift.triggers import ObjectRef, s3_notification

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
BUCKET = f"trailsift-local-{ACCOUNT}-{REGION}"
TOPIC = "trailsift-alerts"
SUBSCRIBER_QUEUE = "trailsift-alert-subscriber"
TABLE = "trailsift-index"
EVENT_BUS = "trailsift-matches"
BUS_QUEUE = "trailsift-bus-subscriber"
FAILURE_QUEUE = "trailsift-failures"
BACKFILL_BUCKET = f"trailsift-local-backfill-{ACCOUNT}"
STATE_MACHINE = "trailsift-local-backfill"
# The template's parameters as the local stack has them: one batch at a time (the handler runs in this
# process, one invocation at a time, as Lambda runs each in its own environment); the default tolerance.
LOCAL_MAX_CONCURRENCY = 1
LOCAL_TOLERATED_FAILURE_PERCENTAGE = 5
FUNCTION_NAME = "trailsift-local-ProcessorFunction"


@dataclass
class LocalStack:
    """The emulated resources (names, ARNs, endpoint) one local run works with."""

    endpoint_url: str
    bucket: str = BUCKET
    topic_arn: str = ""
    queue_url: str = ""
    table: str = TABLE
    event_bus: str = EVENT_BUS
    bus_queue_url: str = ""
    failure_queue_url: str = ""
    state_machine_arn: str = ""  # the backfill state machine, once a local backfill created it

    def client(self, service: str) -> Any:
        """A client of the emulated ``service``, with trailsift's retry policy."""
        from trailsift.aws.clients import new_client

        return new_client(service, endpoint_url=self.endpoint_url, region_name=REGION)

    def function_environment(self) -> dict[str, str]:
        """The variables the template gives the function, pointed at this stack."""
        return {
            "TRAILSIFT_ALERT_TOPIC_ARN": self.topic_arn,
            "TRAILSIFT_INDEX_TABLE": self.table,
            "TRAILSIFT_EVENT_BUS": self.event_bus,
            "TRAILSIFT_BUCKETS": self.bucket,
            "TRAILSIFT_KEY_PREFIX": "",
            "TRAILSIFT_RULES": "",
            "TRAILSIFT_FAILURE_QUEUE_URL": self.failure_queue_url,
            "POWERTOOLS_SERVICE_NAME": "trailsift",
            "POWERTOOLS_METRICS_NAMESPACE": "Trailsift",
        }


@contextmanager
def moto_server(*, state_machines: bool = False) -> Iterator[str]:
    """Run moto's server on 127.0.0.1 (a free port) with fake credentials; yield its URL.

    ``state_machines``: moto also executes Step Functions state machines (its ASL interpreter), with
    Lambda functions answered by a patch (see :func:`run_backfill`) instead of Docker.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    # Its executor logs what it does not apply and every failed state at length; the run report says what failed.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends live in the process: an earlier run's resources would still be there.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
    try:
        if state_machines:
            _moto_config(url, execute=True)
        with environment({**_FAKE_ENV, "AWS_ENDPOINT_URL": url, "MOTO_PORT": str(port)}):
            with _loopback_for_state_machines():
                yield url
    finally:
        if state_machines:
            _moto_config(url, execute=False)  # the configuration is the process's: leave it as it was
        server.stop()


def _moto_config(url: str, *, execute: bool) -> None:
    """moto's server setting for running state machines, and Lambda without Docker while they run."""
    import orjson

    config = {"stepfunctions": {"execute_state_machine": execute}, "lambda": {"use_docker": not execute}}
    request = urllib.request.Request(f"{url}/moto-api/config", data=orjson.dumps(config), method="POST")
    urllib.request.urlopen(request, timeout=30).close()


@contextmanager
def _loopback_for_state_machines() -> Iterator[None]:
    """moto's state machine executor sends its calls (through boto3's default session) to
    ``http://localhost:$MOTO_PORT``: they go to 127.0.0.1 instead, so that nothing is ever resolved beyond
    the loopback address. A botocore ``before-send`` handler; it touches no other URL."""
    import boto3

    session = boto3._get_default_session()  # the session boto3.client uses, moto's executor's included

    def to_loopback(request: Any, **_: Any) -> None:
        if isinstance(request.url, str) and request.url.startswith("http://localhost:"):
            request.url = "http://127.0.0.1:" + request.url.removeprefix("http://localhost:")

    session.events.register("before-send", to_loopback)
    try:
        yield
    finally:
        session.events.unregister("before-send", to_loopback)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ENDPOINT_URL": "",
}


def create_stack(endpoint_url: str) -> LocalStack:
    """Create the bucket, the encrypted topic with its stand-in subscriber queue, the index table, and the
    event bus with a rule sending every trailsift event to a queue."""
    stack = LocalStack(endpoint_url)
    stack.client("s3").create_bucket(Bucket=stack.bucket)
    sns, sqs = stack.client("sns"), stack.client("sqs")
    stack.topic_arn = sns.create_topic(Name=TOPIC, Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
    stack.queue_url = sqs.create_queue(QueueName=SUBSCRIBER_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=queue_arn)
    stack.client("dynamodb").create_table(TableName=stack.table, **TABLE_DEFINITION)
    events = stack.client("events")
    events.create_event_bus(Name=stack.event_bus)
    stack.bus_queue_url = sqs.create_queue(QueueName=BUS_QUEUE)["QueueUrl"]
    bus_queue_arn = sqs.get_queue_attributes(QueueUrl=stack.bus_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="trailsift-matches-to-queue", EventBusName=stack.event_bus, EventPattern=BUS_PATTERN)
    events.put_targets(
        Rule="trailsift-matches-to-queue", EventBusName=stack.event_bus, Targets=[{"Id": "queue", "Arn": bus_queue_arn}]
    )
    stack.failure_queue_url = sqs.create_queue(QueueName=FAILURE_QUEUE)["QueueUrl"]
    return stack


# What a subscriber's rule on the bus matches: every event trailsift puts there.
BUS_PATTERN = '{"source": ["trailsift"], "detail-type": ["CloudTrail Event Matched"]}'


def upload(stack: LocalStack, files: Sequence[LocalFile], left_out: list[LeftOut] | None = None) -> list[dict[str, Any]]:
    """Put each file under its S3 key; return the notification records S3 would send for them.

    Like the template's bucket notification, only keys under ``AWSLogs/`` ending in ``.json.gz``
    notify the function (digest files among them: the function skips those itself). With ``left_out``,
    a file that cannot be read is added to it (failed) instead of raising, and so is a file uploaded
    without a notification, with why.
    """
    s3 = stack.client("s3")
    records = []
    for file in files:
        key = s3_key(file)
        try:
            body = file.path.read_bytes()
        except OSError as exc:
            if left_out is None:
                raise
            left_out.append(LeftOut(file.location, f"cannot read it: {exc.strerror or exc}", failed=True))
            continue
        put = s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
        if key.startswith("AWSLogs/") and key.endswith(".json.gz"):
            ref = ObjectRef(stack.bucket, key, size=len(body), etag=put.get("ETag", "").strip('"'))
            records.extend(s3_notification([ref], region=REGION)["Records"])
        elif left_out is not None:
            left_out.append(LeftOut(file.location, file.key.reason, uploaded=True))
    return records


@dataclass(frozen=True)
class LeftOut:
    """A file found under the paths given that the function was not given, and why."""

    path: str
    reason: str
    uploaded: bool = False  # in the bucket, but no notification names it (not a .json.gz key)
    failed: bool = False  # it could not be read: the run did not do all it was asked


def sort_out(files: Iterable[LocalFile]) -> tuple[list[LocalFile], list[LeftOut]]:
    """The files to upload (those with a trail bucket's key, under ``AWSLogs/``: :func:`s3_key`) and the
    others, each with why it is not uploaded."""
    uploads: list[LocalFile] = []
    left_out: list[LeftOut] = []
    for file in files:
        if s3_key(file).startswith("AWSLogs/"):
            uploads.append(file)
        else:
            left_out.append(LeftOut(file.location, _not_uploaded(file.key)))
    return uploads, left_out


def _not_uploaded(key: LogFileKey) -> str:
    """Why a file with no trail bucket key is not uploaded."""
    if key.kind is LogFileKind.UNNAMED_JSON:
        return f"{key.reason} (trailsift replay reads it)"
    if key.kind is LogFileKind.OTHER:
        return key.reason
    return f"{key.reason}, not under an AWSLogs/ path"


LOG_FILE_NAMES = "ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz, or under an AWSLogs/ path"


def nothing_to_upload(paths: Sequence[str | Path], left_out: Sequence[LeftOut]) -> str:
    """The one-line reason a run found no file to upload."""
    if not left_out:
        return f"no files under {', '.join(_shown(str(path)) for path in paths)}"
    first = left_out[0]
    more = f" (and {len(left_out) - 1} more files)" if len(left_out) > 1 else ""
    return f"nothing to upload: {_shown(first.path)}: {first.reason}{more}; local uploads CloudTrail log files ({LOG_FILE_NAMES})"


def _shown(location: str) -> str:
    """A path as the user would type it: relative to the current directory when it is under it."""
    try:
        relative = os.path.relpath(location)
    except ValueError:  # another drive (Windows)
        return location
    return location if relative.startswith("..") else relative


def s3_key(file: LocalFile) -> str:
    """The key CloudTrail would have used: the path from ``AWSLogs/`` on, or one rebuilt from the file name."""
    posix = file.path.as_posix()
    start = posix.rfind("AWSLogs/")
    if start >= 0:
        return posix[start:]
    name, facts = file.path.name, file.key
    if facts.account and facts.region and facts.delivered_at:
        trail = "CloudTrail-Insight" if facts.kind is LogFileKind.INSIGHTS else "CloudTrail"
        org = f"{facts.organization_id}/" if facts.organization_id else ""
        return f"AWSLogs/{org}{facts.account}/{trail}/{facts.region}/{facts.delivered_at:%Y/%m/%d}/{name}"
    return f"local/{name}"


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def load_handler(path: Path) -> ModuleType:
    """Import the function's ``app.py`` the way Lambda does (a fresh module, its own globals).

    A usage :class:`CommandError` when ``path`` is not a Python file, cannot be imported or has no ``handler``.
    """
    if not path.is_file() or path.suffix != ".py":
        what = "no such file" if not path.exists() else "not a Python file"
        raise CommandError(f"--handler {path}: {what}; the function's handler is {HANDLER}", ExitCode.USAGE)
    spec = importlib.util.spec_from_file_location(f"trailsift_function_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise CommandError(f"--handler {path}: not a Python module", ExitCode.USAGE)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the file, or a module it imports, is broken or missing
        raise CommandError(f"--handler {path}: importing it raised {type(exc).__name__}: {exc}", ExitCode.USAGE) from exc
    if not callable(getattr(module, "handler", None)):
        raise CommandError(f"--handler {path}: defines no handler function", ExitCode.USAGE)
    return module


@dataclass
class Invocation:
    """What one invocation of the handler did: its answer, or the error Lambda would retry."""

    event: dict[str, Any]
    response: Any = None
    error: str | None = None


def invoke_each(module: ModuleType, events: Sequence[dict[str, Any]]) -> list[Invocation]:
    """Call ``module.handler`` once per event, as Lambda's asynchronous invocations would."""
    results = []
    for event in events:
        invocation = Invocation(event)
        try:
            invocation.response = module.handler(event, LambdaContext())
        except Exception as exc:  # Lambda would retry and dead-letter it; the run reports it
            invocation.error = f"{type(exc).__name__}: {exc}"
        results.append(invocation)
    return results


def received_alerts(stack: LocalStack, *, expected: int | None = None) -> list[dict[str, Any]]:
    """Drain the subscriber queue: each item is the SNS envelope the subscriber received."""
    return _drain(stack, stack.queue_url, expected)


def received_bus_events(stack: LocalStack, *, expected: int | None = None) -> list[dict[str, Any]]:
    """Drain the bus rule's queue: each item is the EventBridge event its target received."""
    return _drain(stack, stack.bus_queue_url, expected)


def _drain(stack: LocalStack, queue_url: str, expected: int | None) -> list[dict[str, Any]]:
    import orjson

    sqs = stack.client("sqs")
    messages: list[dict[str, Any]] = []
    empty_polls = 0
    while empty_polls < 2 and (expected is None or len(messages) < expected):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        got = batch.get("Messages", [])
        empty_polls = 0 if got else empty_polls + 1
        for message in got:
            messages.append(orjson.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


HANDLER = Path("functions") / "processor" / "app.py"
SAMPLES = Path("events") / "logs"


def find_checkout() -> Path | None:
    """The trailsift checkout holding the function's handler (:data:`HANDLER`): the one this package is
    installed from (``pip install -e``: the package is its ``layers/trailsift/trailsift``), else the one the
    current directory is in; None when there is neither (a package installed from a wheel, run elsewhere)."""
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / HANDLER).is_file():
                return folder
    return None


def default_handler_path() -> Path:
    """``functions/processor/app.py`` of the checkout (:func:`find_checkout`), from any directory; a usage
    :class:`CommandError` saying what to pass when there is no checkout."""
    checkout = find_checkout()
    if checkout is None:
        raise CommandError(
            f"cannot find the function's handler ({HANDLER}): this trailsift is not installed from a checkout and "
            f"the current directory is not in one; run it in a checkout or pass --handler PATH/TO/{HANDLER}",
            ExitCode.USAGE,
        )
    return checkout / HANDLER




@dataclass
class LocalRunResult:
    """What one local run did and saw: the invocations, the alerts and bus events received, each file's log line."""

    stack: LocalStack
    files: list[LocalFile]
    invocations: list[Invocation]
    alerts: list[dict[str, Any]]
    files_seen: list[dict[str, Any]] = field(default_factory=list)  # the function's log line for each file
    bus_events: list[dict[str, Any]] = field(default_factory=list)  # what the bus's rule delivered
    backfill: BackfillResult | None = None  # with --backfill: the plan, the run and its report
    module: ModuleType | None = None  # the handler's module, for a second run in the same stack
    found: int = 0  # the files found under the paths given
    left_out: list[LeftOut] = field(default_factory=list)  # the files the function was not given, and why


@dataclass(frozen=True)
class Backfill:
    """What ``trailsift local --backfill`` is asked for: the window, the alerts mode, the definition file."""

    since: datetime
    until: datetime
    alerts: str = "none"
    accounts: Sequence[str] | None = None
    regions: Sequence[str] | None = None
    definition: Path | None = None  # default: statemachine/backfill.asl.json of the checkout


@dataclass
class BackfillResult:
    """A local backfill: what was planned and the run as ``trailsift backfill status`` shows it."""

    plan: BackfillPlan
    status: RunStatus | None  # None when the plan was empty (nothing started)
    digest_sent: bool | None = None  # with --alerts digest: whether this run sent it


@contextmanager
def local_run(
    paths: Sequence[str | Path], *, handler: Path | None = None, rules: Path | None = None, backfill: Backfill | None = None,
    packs: Sequence[str] = (),
) -> Iterator[LocalRunResult]:
    """Upload the log files under ``paths`` into a fresh emulated stack, run the function on each one,
    and yield what happened while the stack is still up (so the index can be queried).

    ``rules`` (a rules or selectors file) is put in S3 and named in ``TRAILSIFT_RULES``, the way a
    deployment overrides the default pack, so a rules file is tried end to end before it is deployed;
    ``packs`` (built-in packs by name) are named there too, before it, as the template's ``RulePacks`` does.
    With ``backfill`` the files are uploaded without notifications and a backfill of its window runs
    on the state machine instead (:func:`run_backfill`).
    """
    found = list(discover(paths))
    files, left_out = sort_out(found)
    if not files:
        raise CommandError(nothing_to_upload(paths, left_out), ExitCode.USAGE)
    handler = handler or default_handler_path()  # a usage error without a checkout: before anything starts
    with moto_server(state_machines=backfill is not None) as url:
        stack = create_stack(url)
        function_env = {**stack.function_environment(), **_QUIET_FUNCTION}
        function_env["POWERTOOLS_SERVICE_NAME"] = f"trailsift-local-{uuid.uuid4().hex[:8]}"  # a logger of its own
        if rules is not None or packs:
            uploaded = [upload_rules(stack, rules)] if rules is not None else []
            function_env["TRAILSIFT_RULES"] = ",".join([*packs, *uploaded])
        captured = io.StringIO()
        backfilled: BackfillResult | None = None
        with environment({name: os.environ.get(name) or value for name, value in function_env.items()}):
            with contextlib.redirect_stdout(captured):  # the function's JSON logs: read back below
                module = load_handler(handler)
                notifications = upload(stack, files, left_out)
                unreadable = {left.path for left in left_out if left.failed}
                files = [file for file in files if file.location not in unreadable]
                if backfill is None:
                    invocations = invoke_each(module, [{"Records": [record]} for record in notifications])
                else:
                    backfilled, invocations = run_backfill(stack, module, backfill)
            yield LocalRunResult(
                stack,
                files,
                invocations,
                received_alerts(stack),
                file_logs(captured.getvalue()),
                received_bus_events(stack),
                backfilled,
                module,
                len(found),
                left_out,
            )


def run_backfill(stack: LocalStack, module: ModuleType, backfill: Backfill) -> tuple[BackfillResult, list[Invocation]]:
    """Plan the window over the local trail bucket, write the manifest and start the template's state
    machine, as ``trailsift backfill`` does; wait for it, then read its run report.

    The state machine runs on moto's executor from a copy of the definition with only what moto refuses
    rewritten (:func:`~trailsift.cli.backfill.for_moto`); its Lambda task calls ``module.handler`` in this
    process (moto's Lambda would need Docker): the one test-only seam, patched for the run's duration.
    moto's ResultWriter writes the report's manifest without its result files; they are written here from
    the answers the handler gave, as AWS writes them (:func:`write_result_files`).
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    plan = plan_window(
        stack.client("s3"), stack.bucket, "", since=backfill.since, until=backfill.until,
        accounts=backfill.accounts, regions=backfill.regions,
    )
    if not plan.files:
        return BackfillResult(plan, None), []
    if not stack.state_machine_arn:
        definition = backfill.definition or default_definition_path()
        try:
            stack.state_machine_arn = create_backfill_state_machine(stack, definition)
        except (OSError, ValueError) as exc:  # cannot be read, not JSON, a substitution without a value
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CommandError(f"--definition {definition}: {reason}", ExitCode.USAGE) from None
    state_machine = stack.state_machine_arn
    invocations: list[Invocation] = []

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        import orjson

        event = orjson.loads(body)
        invocation = Invocation(event)
        invocations.append(invocation)
        try:
            invocation.response = module.handler(event, LambdaContext())
            return orjson.dumps(invocation.response)
        except Exception as exc:  # what Lambda answers for a function error
            invocation.error = f"{type(exc).__name__}: {exc}"
            response_headers["x-amz-function-error"] = "Unhandled"
            return orjson.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})

    sfn, s3 = stack.client("stepfunctions"), stack.client("s3")
    real_invoke = LambdaSimpleBackend.invoke
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    try:
        execution_arn, _ = start_run(
            sfn, s3, state_machine_arn=state_machine, backfill_bucket=BACKFILL_BUCKET, plan=plan,
            alerts=backfill.alerts, accounts=backfill.accounts, regions=backfill.regions,
        )
        status = wait(sfn, s3, execution_arn, BACKFILL_BUCKET, poll=0.2, timeout=1800)
    finally:
        LambdaSimpleBackend.invoke = real_invoke  # type: ignore[method-assign]
    if status.report_key is not None:
        write_result_files(s3, BACKFILL_BUCKET, status.report_key, status.execution_arn, invocations)
        status = describe_run(sfn, s3, execution_arn, BACKFILL_BUCKET)
    result = BackfillResult(plan, status)
    if backfill.alerts == "digest" and status.done:
        result.digest_sent = send_digest(
            status, sns=stack.client("sns"), topic_arn=stack.topic_arn, dynamodb=stack.client("dynamodb"), table=stack.table
        )
    return result, invocations


def default_definition_path() -> Path:
    """``statemachine/backfill.asl.json`` of the checkout (:func:`find_checkout`), from any directory."""
    checkout = find_checkout()
    if checkout is None or not (checkout / DEFINITION).is_file():
        raise CommandError(
            f"cannot find the state machine definition ({DEFINITION}): run it in a trailsift checkout or pass "
            f"--definition PATH/TO/{DEFINITION}",
            ExitCode.USAGE,
        )
    return checkout / DEFINITION


def create_backfill_state_machine(stack: LocalStack, definition: Path) -> str:
    """What the template adds for backfills: the bucket, the function (answered in-process) and the state
    machine with the definition file, its substitutions given as the stack's; its ARN."""
    import orjson

    stack.client("s3").create_bucket(Bucket=BACKFILL_BUCKET)
    role = stack.client("iam").create_role(RoleName="trailsift-local-backfill", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr("app.py", "def handler(event, context):\n    raise NotImplementedError\n")
    function_arn = stack.client("lambda").create_function(
        FunctionName=FUNCTION_NAME, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": archive.getvalue()}
    )["FunctionArn"]
    text = definition_text(
        definition,
        {
            "ProcessorFunctionArn": function_arn,
            "BackfillBucketName": BACKFILL_BUCKET,
            "BackfillMaxConcurrency": str(LOCAL_MAX_CONCURRENCY),
            "BackfillToleratedFailurePercentage": str(LOCAL_TOLERATED_FAILURE_PERCENTAGE),
        },
    )
    runnable = for_moto(orjson.loads(text))
    created = stack.client("stepfunctions").create_state_machine(
        name=STATE_MACHINE, definition=orjson.dumps(runnable).decode(), roleArn=role, type="STANDARD"
    )
    return str(created["stateMachineArn"])


def write_result_files(s3: Any, bucket: str, manifest: str, execution_arn: str, invocations: Sequence[Invocation]) -> None:
    """The result files AWS's ResultWriter writes beside its manifest, from the handler's answers: one entry
    per batch (its last attempt), SUCCEEDED with the answer as ``Output``, FAILED with ``Error`` and
    ``Cause``. moto writes the manifest only, listing none; a manifest that lists files is left alone."""
    import orjson

    written = orjson.loads(s3.get_object(Bucket=bucket, Key=manifest)["Body"].read())
    if any(written.get("ResultFiles", {}).values()):
        return
    last: dict[bytes, Invocation] = {}
    for invocation in invocations:
        last[orjson.dumps(invocation.event, option=orjson.OPT_SORT_KEYS)] = invocation
    entries: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": []}
    for number, invocation in enumerate(last.values()):
        entry: dict[str, Any] = {
            "ExecutionArn": f"{execution_arn}:local-{number}",
            "Input": orjson.dumps(invocation.event).decode(),
            "InputDetails": {"Included": True},
            "Name": f"local-{number}",
        }
        if invocation.error is None:
            entry.update(Output=orjson.dumps(invocation.response).decode(), OutputDetails={"Included": True}, Status="SUCCEEDED")
            entries["SUCCEEDED"].append(entry)
        else:
            error_type, _, message = invocation.error.partition(": ")
            cause = orjson.dumps({"errorType": error_type, "errorMessage": message}).decode()
            entry.update(Error=error_type, Cause=cause, Status="FAILED")
            entries["FAILED"].append(entry)
    folder = manifest.rsplit("/", 1)[0]
    listed: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, found in entries.items():
        if found:
            body = orjson.dumps(found)
            key = f"{folder}/{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            listed[status].append({"Key": key, "Size": len(body)})
    written["ResultFiles"] = listed
    s3.put_object(Bucket=bucket, Key=manifest, Body=orjson.dumps(written))


RULES_BUCKET = f"trailsift-local-config-{ACCOUNT}"


def upload_rules(stack: LocalStack, path: Path) -> str:
    """Check a rules file here (a bad one fails now, with its message), put it in S3, return its URI."""
    from trailsift.rules import load_rules_file

    load_rules_file(path)
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=RULES_BUCKET)
    s3.put_object(Bucket=RULES_BUCKET, Key=path.name, Body=path.read_bytes())
    return f"s3://{RULES_BUCKET}/{path.name}"


def file_logs(text: str) -> list[dict[str, Any]]:
    """The function's one log line per file (processed, skipped or failed), in order."""
    import orjson

    lines = []
    for line in text.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("message") in ("file processed", "file skipped", "file failed"):
            lines.append(entry)
    return lines


# The function logs one INFO line per file (shown as a table); its metrics would only add noise.
_QUIET_FUNCTION = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "true"}


SHOWN = 20  # lines of each list the default output shows; --full shows them all


def width() -> int:
    """The terminal's width (``COLUMNS``, else the terminal's, else 80), 80 at least: what a line is cut to."""
    return max(80, shutil.get_terminal_size((80, 24)).columns)


def _fit(line: str, columns: int) -> str:
    """``line`` safe to print (:func:`~trailsift.text.for_terminal`) and cut to ``columns``."""
    return for_terminal(line, columns)


def _listing(lines: Sequence[str], out: IO[str], *, full: bool, columns: int) -> None:
    """The first :data:`SHOWN` of ``lines`` (all of them with ``full``, each uncut), and how many more there are."""
    shown = lines if full else lines[:SHOWN]
    for line in shown:
        out.write((for_terminal(line) if full else _fit(line, columns)) + "\n")
    if len(lines) > len(shown):
        out.write(f"  ... and {len(lines) - len(shown)} more (--full shows them all)\n")


def print_stack(stack: LocalStack, out: IO[str]) -> None:
    """Where the local stack is: moto's URL and the resources the function writes to."""
    out.write(
        f"moto server on {stack.endpoint_url}\n  bucket     {stack.bucket}\n  topic      {stack.topic_arn}\n"
        f"  table      {stack.table}\n  event bus  {stack.event_bus}\n"
    )


def print_run(result: LocalRunResult, out: IO[str], *, full: bool = False) -> list[str]:
    """Show the run as a user would see it: the invocations, each file as the function logged it, each alert
    as the SQS subscriber got it (its subject; ``full``: its ``trailsift.alert/1`` JSON document, masked
    records included, indented), each event the
    bus delivered. Each list shows :data:`SHOWN` lines unless ``full``; lines fit :func:`width`.

    Returns the names of the rules that indexed something (the caller shows them with ``trailsift query``).
    """
    stack, columns = result.stack, width()
    failed = [inv for inv in result.invocations if inv.error]
    print_stack(stack, out)
    out.write(
        f"uploaded {len(result.files)} files; {len(result.invocations)} S3 notifications sent to the handler; "
        f"{len(failed)} raised\n"
    )
    for invocation in failed:
        key = invocation.event["Records"][0]["s3"]["object"]["key"]
        out.write(_fit(f"  raised for {escape(unquote_plus(key))}: {one_line(invocation.error or '', 300)}", columns) + "\n")
    out.write(f"\n== {len(result.files_seen)} files, as the function logged them ==\n")
    rows = []
    for entry in result.files_seen:
        name = str(entry.get("correlation_id", "")).rsplit("/", 1)[-1]
        if entry.get("reason"):
            counts = f"{'-':>7}  {'-':>6}  {'-':>4}"
            name = f"{name}: {entry.get('reason')}"
        else:
            counts = f"{entry.get('records', 0):>7}  {entry.get('alerts', 0):>6}  {entry.get('index_rows', 0):>4}"
        rows.append(f"  {cell(entry.get('status'), 9)}  {counts}  {name}")
    if rows:
        out.write(f"  {'status':9}  {'records':>7}  {'alerts':>6}  {'rows':>4}  file\n")
    _listing(rows, out, full=full, columns=columns)
    out.write(f"\n== {len(result.alerts)} SNS alerts, as the subscriber received them ==\n")
    if full:
        for number, envelope in enumerate(result.alerts, 1):
            attributes = envelope.get("MessageAttributes", {})
            shown = for_terminal(", ".join(f"{name}={value.get('Value')}" for name, value in sorted(attributes.items())))
            out.write(f"\n-- alert {number}: {for_terminal(str(envelope.get('Subject', '')))}\n   attributes: {shown}\n")
            out.write("".join(f"   {line}\n" for line in _message_lines(str(envelope.get("Message", "")))))
    else:
        _listing([f"  {envelope.get('Subject', '')}" for envelope in result.alerts], out, full=False, columns=columns)
        if result.alerts:
            out.write("  (--full shows each alert's message)\n")
    out.write(f"\n== {len(result.bus_events)} EventBridge events, as a rule on {stack.event_bus} delivered them ==\n")
    events = []
    for event in result.bus_events:
        detail = event.get("detail") or {}
        rules = ",".join(str(rule) for rule in detail.get("rules", []))
        what = f"{detail.get('eventName', '?')} by {detail.get('principal', '?')} in {detail.get('account', '?')}"
        events.append(f"  {cell(detail.get('severity'), 8)}  {cell(rules, 28)}  {what}")
    _listing(events, out, full=full, columns=columns)
    return sorted(set(_index_rules(stack)))


def rule_counts(result: LocalRunResult, index_rules: Sequence[str]) -> Counter[str]:
    """The events each rule matched: the most any of its destinations got (alerts the subscriber received,
    events the bus delivered, index rows; ``index_rules`` holds each row's rule)."""
    import orjson

    alerts: Counter[str] = Counter()
    for envelope in result.alerts:
        try:
            alerts.update(orjson.loads(envelope.get("MessageAttributes", {}).get("rule", {}).get("Value", "[]")))
        except orjson.JSONDecodeError:
            continue
    bus = Counter(str(rule) for event in result.bus_events for rule in (event.get("detail") or {}).get("rules", []))
    rows = Counter(index_rules)
    return Counter({rule: max(alerts[rule], bus[rule], rows[rule]) for rule in alerts.keys() | bus.keys() | rows.keys()})


def failures(result: LocalRunResult) -> list[tuple[str, str]]:
    """Each file the run did not do, and why: it could not be read, the function logged it failed, or its
    invocation raised (Lambda would retry it, then dead-letter it)."""
    found = [(_shown(left.path), left.reason) for left in result.left_out if left.failed]
    found += [
        (str(entry.get("correlation_id", "?")), str(entry.get("reason") or "failed"))
        for entry in result.files_seen if entry.get("status") == "failed"
    ]
    for invocation in result.invocations:
        if invocation.error:
            records = invocation.event.get("Records") or [{}]
            key = unquote_plus(str(records[0].get("s3", {}).get("object", {}).get("key", "a batch")))
            found.append((key, f"the handler raised {invocation.error} (Lambda would retry it, then dead-letter it)"))
    return found


def print_summary(result: LocalRunResult, out: IO[str], index_rules: Sequence[str], *, full: bool = False) -> None:
    """The closing summary: what was not uploaded and why, what failed and why (:data:`SHOWN` lines of each
    unless ``full``); then the counts: files found, uploaded and left out, what the function made of them,
    alerts, bus events, index rows, and the events each rule matched. ``index_rules``: each index row's rule."""
    columns = width()
    separate = False  # a blank line between sections: after the first
    not_uploaded = [left for left in result.left_out if not left.uploaded and not left.failed]
    not_sent = [left for left in result.left_out if left.uploaded]
    for title, left in (("not uploaded", not_uploaded), ("not sent to the function", not_sent)):
        if not left:
            continue
        out.write("\n" if separate else "")
        note = " (uploaded; only .json.gz keys reach it)" if left is not_sent else ""
        out.write(_fit(f"== {title}: {_count(len(left), 'file')}{note} ==", columns) + "\n")
        separate = True
        by_reason: dict[str, list[str]] = {}
        for one in left:
            by_reason.setdefault(one.reason, []).append(_shown(one.path))
        for reason, paths in by_reason.items():
            out.write(_fit(f"  {reason}:", columns) + "\n")
            _listing([f"    {_left_cut(path, columns - 4)}" for path in paths], out, full=full, columns=columns)
    failed = failures(result)
    if failed:
        out.write(("\n" if separate else "") + f"== failed: {_count(len(failed), 'file')} ==\n")
        separate = True
        shown = failed if full else failed[:SHOWN]
        for path, reason in shown:
            out.write(f"  {for_terminal(path) if full else _left_cut(path, columns - 2)}\n")
            out.write(f"    {for_terminal(reason) if full else _fit(reason, columns - 4)}\n")
        if len(failed) > len(shown):
            out.write(f"  ... and {len(failed) - len(shown)} more (--full shows them all)\n")
    seen = Counter(str(entry.get("status")) for entry in result.files_seen)
    unreadable = sum(1 for left in result.left_out if left.failed)
    raised = sum(1 for invocation in result.invocations if invocation.error)
    if result.backfill is None:
        given = _count(len(result.invocations), "notification")
    else:
        given = f"{_count(len(result.invocations), 'batch')}, {_count(len(result.backfill.plan.files), 'file')} planned"
    by_rule = rule_counts(result, index_rules)
    matches = ", ".join(f"{rule} {count}" for rule, count in sorted(by_rule.items(), key=lambda item: (-item[1], item[0])))
    lines = [
        "== summary ==",
        f"files       {_count(result.found, 'file')} found: {len(result.files)} uploaded, {len(not_uploaded)} not uploaded"
        + (f", {unreadable} unreadable" if unreadable else ""),
        f"function    {given}: {_count(seen['processed'], 'file')} processed, {seen['skipped']} skipped, "
        f"{seen['failed']} failed" + (f", {raised} raised" if raised else ""),
        f"alerts      {len(result.alerts)} received by the subscriber",
        f"bus events  {len(result.bus_events)} delivered by the rule on {result.stack.event_bus}",
        f"index rows  {len(index_rules)} in {result.stack.table}",
    ]
    out.write(("\n" if separate else "") + "".join(_fit(line, columns) + "\n" for line in lines))
    out.write("".join(f"{'by rule' if n == 0 else '':12}{part}\n" for n, part in enumerate(_items(matches, columns - 12))))


def _count(count: int, noun: str) -> str:
    """``1 file``, ``2 files``; ``1 batch``, ``2 batches``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}es" if noun.endswith(("s", "ch")) else f"{count} {noun}s"


def _items(text: str, columns: int) -> list[str]:
    """A comma-separated list on lines of ``columns`` at most, broken between items only."""
    lines: list[str] = []
    for item in (for_terminal(text) or "none").split(", "):
        if lines and len(lines[-1]) + 2 + len(item) <= columns:
            lines[-1] += ", " + item
        else:
            if lines:
                lines[-1] += ","
            lines.append(item)
    return lines


def _left_cut(path: str, columns: int) -> str:
    """``path`` safe to print, cut from the left to ``columns`` (its end, the file's name, is what tells it apart)."""
    text = for_terminal(path)
    return text if len(text) <= columns else "…" + text[len(text) - columns + 1 :]


def exit_code(result: LocalRunResult) -> ExitCode:
    """FAILED when the run did not do all it was asked: a file could not be read or failed, an invocation
    raised, a backfill left files undone or did not succeed; else OK."""
    if any(left.failed for left in result.left_out):
        return ExitCode.FAILED
    if result.backfill is not None:
        return ExitCode.OK if _backfill_complete(result.backfill) else ExitCode.FAILED
    if any(invocation.error for invocation in result.invocations):
        return ExitCode.FAILED
    return ExitCode.FAILED if any(entry.get("status") == "failed" for entry in result.files_seen) else ExitCode.OK


def query_command(stack: LocalStack, by: str) -> str:
    """The ``trailsift query`` command that reads the local stack's index from another shell, its environment
    (moto's fake credentials, the region) in front: ``env`` makes it one line in any shell."""
    credentials = " ".join(
        f"{name}={shlex.quote(_FAKE_ENV[name])}" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    )
    return (
        f"env {credentials} AWS_DEFAULT_REGION={REGION} trailsift query {by} --table {shlex.quote(stack.table)} "
        f"--region {REGION} --endpoint-url {shlex.quote(stack.endpoint_url)}"
    )


def keep_until_interrupted(stack: LocalStack, by: str, out: IO[str]) -> None:
    """``--keep``: say how to query the stack, then keep it up until Ctrl-C (SIGINT) or SIGTERM."""
    out.write(
        "\nthe local stack stays up until Ctrl-C; query it from another shell:\n"
        f"  {query_command(stack, by)}\n"
    )
    out.flush()

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Both signals, even where SIGINT was ignored (a job a script started in the background).
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {number: signal.signal(number, interrupt) for number in signals}
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sys.stderr.write("trailsift: stopping the local stack\n")
        sys.stderr.flush()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _index_rules(stack: LocalStack) -> Iterator[str]:
    """The rule of every index row (a demo-sized table: reading it whole is fine here, never in the function)."""
    paginator = stack.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=stack.table, ProjectionExpression="#r", ExpressionAttributeNames={"#r": "rule"}):
        for item in page.get("Items", []):
            if "rule" in item:  # index rows; the alert ledger's items have none
                yield item["rule"]["S"]


def print_backfill(result: LocalRunResult, out: IO[str]) -> None:
    """A local backfill as a user would see it: the stack, the plan, the run and its report, the alerts."""
    stack, backfilled = result.stack, result.backfill
    assert backfilled is not None
    plan = backfilled.plan
    print_stack(stack, out)
    out.write(
        f"  backfill   bucket {BACKFILL_BUCKET}, state machine {STATE_MACHINE} (moto's executor)\n"
        f"uploaded {len(result.files)} files, no notification sent\n"
        f"planned {len(plan.files)} files ({plan.bytes} bytes) in {len(plan.prefixes)} prefixes; "
        + (", ".join(f"{reason} {count}" for reason, count in sorted(plan.skipped.items())) or "none")
        + " left out\n\n== the run, as `trailsift backfill status` shows it ==\n"
    )
    if backfilled.status is None:
        out.write("nothing to do: no log file in the window; no run started\n")
    else:
        print_status(backfilled.status, out)
    if backfilled.digest_sent is not None:
        out.write(f"digest: {'sent' if backfilled.digest_sent else 'sent before, not again'}\n")
    out.write(f"\n== {len(result.alerts)} SNS alerts, as the subscriber received them ==\n")
    for envelope in result.alerts:
        out.write(f"  {cell(envelope.get('Subject', ''), 0)}\n")


def _message_lines(message: str) -> list[str]:
    """An alert's message as the local SQS subscriber received it, in lines for a terminal: the
    ``trailsift.alert/1`` document indented (one line of JSON otherwise), else the text as it is."""
    import orjson

    try:
        document = orjson.loads(message)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        message = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    return [for_terminal(line) for line in message.rstrip().splitlines()]


def jsonl_objects(result: LocalRunResult) -> list[dict[str, Any]]:
    """One object per alert the subscriber received and per index row, each with ``kind`` (``alert`` or
    ``index``), ``eventID`` and ``rule``. An alert's ``rule`` is the one it is filed (grouped) under, ``rules``
    every rule it names; ``eventIDs`` lists every event it is about (a group: all of them) and ``eventID``
    is the first."""
    import orjson

    objects: list[dict[str, Any]] = []
    for envelope in result.alerts:
        attributes = envelope.get("MessageAttributes", {})
        rules = orjson.loads(attributes.get("rule", {}).get("Value", "[]"))
        primary, event_ids = _alert_events(str(envelope.get("Message", "")))
        objects.append({
            "kind": "alert",
            "eventID": event_ids[0] if event_ids else None,
            "eventIDs": event_ids,
            "rule": primary or (rules[0] if rules else None),
            "rules": rules,
            "severity": attributes.get("severity", {}).get("Value"),
            "subject": envelope.get("Subject"),
        })
    rows = []
    stack = result.stack
    for page in stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.table):
        for item in page.get("Items", []):
            if not item["pk"]["S"].startswith("EVENT#") or "rule" not in item:
                continue  # the delivery ledger's items
            row = {"kind": "index", "eventID": item["pk"]["S"].removeprefix("EVENT#"), "rule": item["rule"]["S"]}
            for name in ("severity", "eventName", "eventTime", "account", "region", "logFile"):
                if name in item and "S" in item[name]:
                    row[name] = item[name]["S"]
            rows.append(row)
    return objects + sorted(rows, key=lambda row: (row["eventID"], row["rule"]))


def _alert_events(message: str) -> tuple[str | None, list[str]]:
    """The rule an alert is filed under and every event ID it names: from the JSON document an SQS
    subscriber receives (``rule``, ``eventIDs``), else from the text (its ``event IDs:`` list, or its one
    ``event ID:`` line)."""
    import orjson

    try:
        document = orjson.loads(message)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("eventIDs"), list):
        rule = document.get("rule")
        return (rule if isinstance(rule, str) else None), [str(key) for key in document["eventIDs"]]
    lines = [line.strip() for line in message.splitlines()]
    if "event IDs:" in lines:
        listed = []
        for line in lines[lines.index("event IDs:") + 1:]:
            if not line or line.endswith(":") or " " in line:
                break
            listed.append(line)
        return None, listed
    single = [line.split(":", 1)[1].strip() for line in lines if line.startswith("event ID:")]
    return None, single[:1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``local`` command's options."""
    parser.add_argument(
        "paths", nargs="*", metavar="PATH",
        help=f"log files or folders on this machine (default: the checkout's {SAMPLES}); "
        f"CloudTrail log files are uploaded ({LOG_FILE_NAMES}), other files are listed as not uploaded",
    )
    parser.add_argument("--handler", type=Path, metavar="FILE", help=f"the function's app.py (default: the checkout's {HANDLER})")
    parser.add_argument("--full", action="store_true",
                        help="show every file, alert (the JSON document its SQS subscriber got), bus event and indexed rule")
    parser.add_argument("-q", "--quiet", action="store_true", help="show only the closing summary")
    parser.add_argument("--keep", action="store_true",
                        help="keep the local stack up until Ctrl-C, and print the trailsift query command that reads it")
    parser.add_argument(
        "--rules", "--selectors", action="append", metavar="FILE|PACK", dest="rules",
        help="a rules file or a selectors file (told apart by content), or a built-in pack by name, to run instead "
        "of the default pack; repeat for several packs and at most one file (the function reads one document)",
    )
    parser.add_argument("--format", choices=("text", "jsonl"), default="text",
                        help="jsonl: one JSON object per alert and per index row (kind, eventID, rule, ...) on stdout, "
                        "the rest on stderr")
    backfill = parser.add_argument_group("backfill", "upload without notifying, then run a backfill of a window on the state machine")
    backfill.add_argument("--backfill", action="store_true", help="run a backfill of --since to --until instead of notifications")
    backfill.add_argument("--since", type=parse_time, metavar="T", help="first delivery time (UTC)")
    backfill.add_argument("--until", type=parse_time, metavar="T", help="end of the window (exclusive)")
    backfill.add_argument("--alerts", choices=("none", "digest", "send"), default="none", help="as trailsift backfill --alerts")
    backfill.add_argument("--definition", type=Path, metavar="FILE",
                          help=f"the state machine definition (default: the checkout's {DEFINITION})")


def local_paths(given: Sequence[str] | None) -> list[str | Path]:
    """The paths to upload from: those given, or the checkout's sample files; a usage :class:`CommandError`
    for an ``s3://`` location (``local`` uploads files from this machine; ``replay`` reads S3)."""
    for path in given or ():
        if path[:5].lower() == "s3://":
            raise CommandError(
                f"{path}: local uploads files from this machine, not S3 locations (trailsift replay {path} reads one)",
                ExitCode.USAGE,
            )
    if given:
        return list(given)
    checkout = find_checkout()
    if checkout is None or not (checkout / SAMPLES).is_dir():
        raise CommandError(f"no PATH given, and no trailsift checkout with {SAMPLES} here: give log files or folders",
                           ExitCode.USAGE)
    return [checkout / SAMPLES]


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift local``: the run, then the rows of the rule with most index rows as ``trailsift
    query`` shows them (``--full``: of every rule), then a summary (``--quiet``: the summary only);
    ``--format jsonl``: the alerts and rows as JSON lines on stdout, the rest on stderr. ``--keep`` keeps
    the stack up until Ctrl-C, printing the ``trailsift query`` command that reads it.

    FAILED when the run did not do all it was asked (:func:`exit_code`); a usage :class:`CommandError`,
    before the function runs, for a path that does not exist or is an ``s3://`` location, nothing to
    upload, a bad rules file, handler or definition, or a backfill without its window.
    """
    import orjson

    from trailsift.cli import main

    backfill = None
    if args.backfill:
        if args.since is None or args.until is None or args.since >= args.until:
            raise CommandError("--backfill needs --since and --until, --since before --until", ExitCode.USAGE)
        backfill = Backfill(args.since, args.until, args.alerts, definition=args.definition)
    elif args.since is not None or args.until is not None:
        raise CommandError("--since and --until go with --backfill", ExitCode.USAGE)
    paths = local_paths(args.paths)
    specs = [str(spec) for spec in args.rules or ()]
    if any(spec[:4].lower() == "s3:/" for spec in specs):
        raise CommandError("--rules: give a file on this machine, not an S3 location (local puts it in S3 itself)",
                           ExitCode.USAGE)
    packs = [spec for spec in specs if is_pack_name(spec)]
    files = [Path(spec) for spec in specs if not is_pack_name(spec)]
    if len(files) > 1:
        raise CommandError("--rules: one file at most (the function reads one rules document), beside any packs",
                           ExitCode.USAGE)
    load_and_warn(args)  # the one loader: a bad rules file stops here, and its warnings come before the run
    jsonl = args.format == "jsonl"
    human = sys.stderr if jsonl else sys.stdout
    try:
        with local_run(paths, handler=args.handler, rules=files[0] if files else None, backfill=backfill,
                       packs=packs) as result:
            index_rules = list(_index_rules(result.stack))
            if not args.quiet:
                if result.backfill is not None:
                    print_backfill(result, human)
                else:
                    print_run(result, human, full=args.full)
                if not jsonl:
                    _print_index(result.stack, index_rules, full=args.full, query=main)
            if jsonl:
                human.flush()
                for item in jsonl_objects(result):
                    sys.stdout.write(orjson.dumps(item).decode() + "\n")
                sys.stdout.flush()
            if not args.quiet:
                human.write("\n")
            print_summary(result, human, index_rules, full=args.full)
            code = exit_code(result)
            if args.keep:
                top = Counter(index_rules).most_common(1)
                account = next((file.key.account for file in result.files if file.key.account), ACCOUNT)
                keep_until_interrupted(result.stack, f"--rule {top[0][0]}" if top else f"--account {account}", human)
    except (RulesError, FileNotFoundError) as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    return code


def _print_index(stack: LocalStack, index_rules: Sequence[str], *, full: bool, query: Any) -> None:
    """The index rows as ``trailsift query`` shows them: of the rule with most rows (``full``: of each rule)."""
    counts = Counter(index_rules)
    if not counts:
        return
    shown = sorted(counts) if full else [counts.most_common(1)[0][0]]
    table, url = stack.table, stack.endpoint_url
    print("\n== index rows, as `trailsift query` shows them ==")
    for rule in shown:
        print(f"\n$ trailsift query --rule {rule}", flush=True)
        query(["query", "--rule", rule, "--table", table, "--endpoint-url", url])
    if not full and len(counts) > 1:
        print(f"\n{_count(len(counts) - 1, 'more rule')} indexed rows: --full shows them, --keep keeps the stack up")


def _backfill_complete(backfilled: BackfillResult) -> bool:
    """Whether the run did all of its work: it succeeded, and its report has no failed batch or dead letter."""
    status = backfilled.status
    if status is None:
        return True
    report = status.report
    return status.status == "SUCCEEDED" and report is not None and not report.failed() and not report.dead_lettered()
