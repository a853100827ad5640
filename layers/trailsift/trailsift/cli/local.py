"""``trailsift local``: the whole application on this machine, moto's server on 127.0.0.1 standing in for AWS.

It creates what ``template.yaml`` creates (the trail bucket, the alert topic with an SQS queue
subscribed in the subscriber's place, the index table with the template's keys, an event bus whose
rule sends trailsift's events to a queue, as a user's own rule would), uploads log files
under their S3 keys, sends the function the notifications S3 would send, invoking the handler
in-process exactly as Lambda would, and then reads back what a subscriber and ``trailsift query``
see. No account, no network beyond loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import sys
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import unquote_plus

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.report import cell
from trailsift.cli.sources import LocalFile, discover
from trailsift.index import TABLE_DEFINITION
from trailsift.logfile import LogFileKind
from trailsift.rules import RulesError
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
            "POWERTOOLS_SERVICE_NAME": "trailsift",
            "POWERTOOLS_METRICS_NAMESPACE": "Trailsift",
        }


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server on 127.0.0.1 (a free port) with fake credentials; yield its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends live in the process: an earlier run's resources would still be there.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
    try:
        with environment({**_FAKE_ENV, "AWS_ENDPOINT_URL": url}):
            yield url
    finally:
        server.stop()


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
    return stack


# What a subscriber's rule on the bus matches: every event trailsift puts there.
BUS_PATTERN = '{"source": ["trailsift"], "detail-type": ["CloudTrail Event Matched"]}'


def upload(stack: LocalStack, files: Sequence[LocalFile]) -> list[dict[str, Any]]:
    """Put each file under its S3 key; return the notification records S3 would send for them.

    Like the template's bucket notification, only keys under ``AWSLogs/`` ending in ``.json.gz``
    notify the function (digest files among them: the function skips those itself).
    """
    s3 = stack.client("s3")
    records = []
    for file in files:
        key = s3_key(file)
        body = file.path.read_bytes()
        put = s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
        if key.startswith("AWSLogs/") and key.endswith(".json.gz"):
            ref = ObjectRef(stack.bucket, key, size=len(body), etag=put.get("ETag", "").strip('"'))
            records.extend(s3_notification([ref], region=REGION)["Records"])
    return records


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
    """Import the function's ``app.py`` the way Lambda does (a fresh module, its own globals)."""
    spec = importlib.util.spec_from_file_location(f"trailsift_function_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no handler module at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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


def default_handler_path() -> Path:
    """``functions/processor/app.py`` of the checkout the command runs in."""
    return Path.cwd() / "functions" / "processor" / "app.py"




@dataclass
class LocalRunResult:
    """What one local run did and saw: the invocations, the alerts and bus events received, each file's log line."""

    stack: LocalStack
    files: list[LocalFile]
    invocations: list[Invocation]
    alerts: list[dict[str, Any]]
    files_seen: list[dict[str, Any]] = field(default_factory=list)  # the function's log line for each file
    bus_events: list[dict[str, Any]] = field(default_factory=list)  # what the bus's rule delivered


@contextmanager
def local_run(
    paths: Sequence[str | Path], *, handler: Path | None = None, rules: Path | None = None
) -> Iterator[LocalRunResult]:
    """Upload the log files under ``paths`` into a fresh emulated stack, run the function on each one,
    and yield what happened while the stack is still up (so the index can be queried).

    ``rules`` (a rules or selectors file) is put in S3 and named in ``TRAILSIFT_RULES``, the way a
    deployment overrides the default pack, so a rules file is tried end to end before it is deployed.
    """
    files = [file for file in discover(paths) if s3_key(file).startswith("AWSLogs/")]
    with moto_server() as url:
        stack = create_stack(url)
        function_env = {**stack.function_environment(), **_QUIET_FUNCTION}
        function_env["POWERTOOLS_SERVICE_NAME"] = f"trailsift-local-{uuid.uuid4().hex[:8]}"  # a logger of its own
        if rules is not None:
            function_env["TRAILSIFT_RULES"] = upload_rules(stack, rules)
        captured = io.StringIO()
        with environment({name: os.environ.get(name) or value for name, value in function_env.items()}):
            with contextlib.redirect_stdout(captured):  # the function's JSON logs: read back below
                module = load_handler(handler or default_handler_path())
                events = [{"Records": [record]} for record in upload(stack, files)]
                invocations = invoke_each(module, events)
            yield LocalRunResult(
                stack,
                files,
                invocations,
                received_alerts(stack),
                file_logs(captured.getvalue()),
                received_bus_events(stack),
            )


RULES_BUCKET = f"trailsift-local-config-{ACCOUNT}"


def upload_rules(stack: LocalStack, path: Path) -> str:
    """Check a rules file here (a bad one fails now, with its message), put it in S3, return its URI."""
    from trailsift.rules import load_document, rules_from_document

    rules_from_document(load_document(path), source=str(path))
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


def print_run(result: LocalRunResult, out: IO[str], *, full: bool = False) -> list[str]:
    """Show the run as a user would see it: invocations, then each alert as the subscriber got it.

    Returns the names of the rules that indexed something (the caller shows them with ``trailsift query``).
    """
    stack = result.stack
    failed = [inv for inv in result.invocations if inv.error]
    out.write(
        f"moto server on {stack.endpoint_url}: bucket {stack.bucket}, topic {stack.topic_arn}, table {stack.table}, "
        f"event bus {stack.event_bus}\n"
        f"uploaded {len(result.files)} files; {len(result.invocations)} S3 notifications sent to the handler; "
        f"{len(failed)} raised (Lambda would retry them, then dead-letter them)\n"
    )
    for invocation in failed:
        key = invocation.event["Records"][0]["s3"]["object"]["key"]
        out.write(f"  raised for {escape(unquote_plus(key))}: {one_line(invocation.error or '', 300)}\n")
    out.write(f"\n== {len(result.files_seen)} files, as the function logged them ==\n")
    for entry in result.files_seen:
        detail = entry.get("reason") or f"{entry.get('records', 0)} records, {entry.get('alerts', 0)} alerts, {entry.get('index_rows', 0)} rows"
        name = str(entry.get("correlation_id", "")).rsplit("/", 1)[-1]
        out.write(f"  {cell(entry.get('status'), 9)}  {cell(name, 72)}  {cell(detail, 0)}\n")
    out.write(f"\n== {len(result.alerts)} SNS alerts, as the subscriber received them ==\n")
    for number, envelope in enumerate(result.alerts, 1):
        attributes = envelope.get("MessageAttributes", {})
        shown = for_terminal(", ".join(f"{name}={value.get('Value')}" for name, value in sorted(attributes.items())))
        message = str(envelope.get("Message", ""))
        if not full:
            head, marker, _ = message.partition("Event JSON:")
            message = head + (marker + " (use --full to see it)" if marker else "")
        out.write(f"\n-- alert {number}: {envelope.get('Subject', '')}\n   attributes: {shown}\n")
        out.write("".join(f"   {line}\n" for line in message.rstrip().splitlines()))
    out.write(
        f"\n== {len(result.bus_events)} EventBridge events on {stack.event_bus}, as a rule matching "
        f"{BUS_PATTERN} delivered them ==\n"
    )
    for event in result.bus_events:
        detail = event.get("detail") or {}
        rules = ",".join(str(rule) for rule in detail.get("rules", []))
        what = f"{detail.get('eventName', '?')} by {detail.get('principal', '?')} in {detail.get('account', '?')}"
        out.write(f"  {cell(detail.get('severity'), 8)}  {cell(what, 70)}  {cell(rules, 0)}\n")
    return sorted(set(_index_rules(stack)))


def _index_rules(stack: LocalStack) -> Iterator[str]:
    """The rule of every index row (a demo-sized table: reading it whole is fine here, never in the function)."""
    paginator = stack.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=stack.table, ProjectionExpression="#r", ExpressionAttributeNames={"#r": "rule"}):
        for item in page.get("Items", []):
            if "rule" in item:  # index rows; the alert ledger's items have none
                yield item["rule"]["S"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``local`` command's options."""
    parser.add_argument("paths", nargs="*", default=["events/logs"], help="log files or folders (default: events/logs)")
    parser.add_argument("--handler", type=Path, help="the function's app.py (default: functions/processor/app.py)")
    parser.add_argument("--full", action="store_true", help="show each alert's event JSON too")
    parser.add_argument(
        "--rules", type=Path, metavar="FILE", help="a rules or selectors file to run instead of the default pack"
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift local``: the run, then each indexed rule's rows as ``trailsift query`` shows them.

    FAILED when an invocation raised (Lambda would retry it); a usage :class:`CommandError` for a
    path that does not exist or a bad rules file, found before the function runs.
    """
    from trailsift.cli import main

    try:
        with local_run(args.paths, handler=args.handler, rules=args.rules) as result:
            indexed_rules = print_run(result, sys.stdout, full=args.full)
            table, url = result.stack.table, result.stack.endpoint_url
            print(f"\n== index rows, as `trailsift query --rule NAME --table {table} --endpoint-url {url}` shows them ==")
            for rule in indexed_rules:
                print(f"\n$ trailsift query --rule {rule}", flush=True)
                main(["query", "--rule", rule, "--table", table, "--endpoint-url", url])
    except (RulesError, FileNotFoundError) as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    return ExitCode.FAILED if any(invocation.error for invocation in result.invocations) else ExitCode.OK
