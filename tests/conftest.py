"""Shared fixtures: where the sample and shared data live, and a helper that writes a log file."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EVENTS_LOGS = REPO / "events" / "logs"
SHARED_CLOUDTRAIL = REPO.parent / "shared" / "data" / "cloudtrail"
DEFAULT_LOG_NAME = "123456789012_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"

WriteLogFile = Callable[..., Path]


def _memoize_jsonpath() -> None:
    """moto's EventBridge builds a jsonpath parser (a few milliseconds each) eight times for every event it
    hands a target, which made the bus the slowest thing the tests emulate; parsed paths are immutable and
    the eight are always the same, so the tests keep them. Only the emulator is faster: nothing deployed
    runs this."""
    import functools

    import jsonpath_ng.ext

    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


_memoize_jsonpath()


def write_log_file(
    directory: Path,
    records: Any,
    name: str = DEFAULT_LOG_NAME,
    *,
    gz: bool = True,
) -> Path:
    """Write a log file under ``directory`` (``name`` may contain '/') and return its path.

    ``records``: a list becomes ``{"Records": records}``; any other JSON value is written as the whole
    document; ``bytes`` are written as they are. ``gz`` gzips the result.
    """
    if isinstance(records, bytes):
        data = records
    else:
        document = {"Records": records} if isinstance(records, list) else records
        data = json.dumps(document, separators=(",", ":")).encode()
    if gz:
        data = gzip.compress(data, mtime=0)
    path = Path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(name="write_log_file")
def write_log_file_fixture(tmp_path: Path) -> WriteLogFile:
    """``write_log_file(records, name=..., gz=True)`` writing into this test's ``tmp_path``."""

    def write(records: Any, name: str = DEFAULT_LOG_NAME, *, gz: bool = True) -> Path:
        return write_log_file(tmp_path, records, name, gz=gz)

    return write


@pytest.fixture(scope="session")
def shared_cloudtrail() -> Path:
    """``shared/data/cloudtrail``: the real CloudTrail records next to the project."""
    assert SHARED_CLOUDTRAIL.is_dir(), f"missing shared data at {SHARED_CLOUDTRAIL}"
    return SHARED_CLOUDTRAIL


@pytest.fixture(scope="session")
def events_logs() -> Path:
    """``events/logs``: the sample delivery tree of ``make demo`` (see events/README.md)."""
    assert EVENTS_LOGS.is_dir(), f"missing sample logs at {EVENTS_LOGS}"
    return EVENTS_LOGS


AWS_REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    """An emulated AWS account (moto, in-process) with fake credentials; yields nothing useful."""
    from moto import mock_aws

    fake_credentials(monkeypatch)
    with mock_aws():
        yield


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for moto, and nothing that could point boto3 at a real endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message of an SQS queue; return their JSON bodies.

    Messages stay invisible while the drain runs, so none is received twice, and every delete must succeed.
    """
    received: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])
        if not got:
            return received
        received += [json.loads(message["Body"]) for message in got]
        entries = [{"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(got)]
        assert not sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def index_rows(dynamodb: Any, table: str) -> list[tuple[str, str]]:
    """The (pk, sk) of every index row; the alert ledger's items (``ALERT#...``) share the table and are left out."""
    items: list[tuple[str, str]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        items += [(item["pk"]["S"], item["sk"]["S"]) for item in page["Items"]]
    return [(pk, sk) for pk, sk in items if pk.startswith("EVENT#")]


class RecordingClient:
    """Wraps a boto3 client and notes each API call ``(service, operation, params)``; otherwise the same client."""

    def __init__(self, client: Any, service: str, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._client, self._service, self._calls = client, service, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("can_paginate", "get_paginator"):
            return attribute

        def call(**params: Any) -> Any:
            self._calls.append((self._service, name, params))
            return attribute(**params)

        return call


@dataclass
class FunctionStack:
    """What template.yaml gives the function, on moto: buckets, the alert topic with a subscriber queue,
    the failure queue, the index table and an event bus whose rule sends trailsift's events to a queue;
    with the clients that made them."""

    s3: Any
    sns: Any
    sqs: Any
    dynamodb: Any
    topic_arn: str
    subscriber_url: str
    failure_url: str
    bus_name: str
    bus_subscriber_url: str


def create_function_stack(buckets: Sequence[str], table: str) -> FunctionStack:
    """Create the function's resources in the active moto account (the ``aws`` fixture or mock_aws)."""
    import boto3

    from trailsift.index import TABLE_DEFINITION

    s3, sns, sqs, dynamodb = (boto3.client(name, region_name=AWS_REGION) for name in ("s3", "sns", "sqs", "dynamodb"))
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    topic_arn = sns.create_topic(Name="trailsift-alerts")["TopicArn"]
    subscriber_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=subscriber_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    failure_url = sqs.create_queue(QueueName="trailsift-failures")["QueueUrl"]
    dynamodb.create_table(TableName=table, **TABLE_DEFINITION)
    bus_name, bus_subscriber_url = create_bus_subscriber(boto3.client("events", region_name=AWS_REGION), sqs)
    return FunctionStack(
        s3, sns, sqs, dynamodb, topic_arn, subscriber_url, failure_url, bus_name, bus_subscriber_url
    )


def create_bus_subscriber(events: Any, sqs: Any, bus_name: str = "trailsift-matches") -> tuple[str, str]:
    """An event bus with a rule that sends every trailsift event to a queue; the bus name and queue URL."""
    from trailsift.sinks.eventbus import SOURCE

    events.create_event_bus(Name=bus_name)
    queue_url = sqs.create_queue(QueueName=f"{bus_name}-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="trailsift-to-queue", EventBusName=bus_name, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="trailsift-to-queue", EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return bus_name, queue_url


@dataclass
class Expected:
    """What the function must send and write for some objects, as the core predicts it."""

    subjects: Counter[str] = field(default_factory=Counter)  # alert subjects, with their counts
    rows: set[tuple[str, str]] = field(default_factory=set)  # index rows' (pk, sk)
    matches: Counter[str] = field(default_factory=Counter)  # matched records per rule
    records: int = 0

    @property
    def alerts(self) -> int:
        return sum(self.subjects.values())


def expect(objects: dict[str, bytes], bucket: str, rules: Any = None) -> Expected:
    """What scan_log_file and ``rules`` (default: the default pack) say must be sent and written for
    these objects (key -> body, all in ``bucket``): the test oracle the handler is held to. Alerts are
    grouped per file as the alert sink groups them (no rate bound: these tests stay under it)."""
    from trailsift.alerts import format_group
    from trailsift.engine import RuleEngine
    from trailsift.grouping import group_matches
    from trailsift.record import event_key
    from trailsift.rules import Destination, default_rules
    from trailsift.scan import scan_log_file
    from trailsift.sinks.base import Routed
    from trailsift.triggers import ObjectRef

    rules = rules if rules is not None else default_rules()
    engine = RuleEngine(rules)
    alerting = {rule.name: rule for rule in rules if Destination.ALERT in rule.destinations}
    indexing = {rule.name for rule in rules if Destination.INDEX in rule.destinations}
    out = Expected()
    for key, body in objects.items():
        location = ObjectRef(bucket, key).location
        scanned = scan_log_file(body, location, engine)
        out.records += scanned.records
        routed = []
        for match in scanned.matches:
            out.matches.update(match.rules)
            chosen = [alerting[name] for name in match.rules if name in alerting]
            if chosen:
                routed.append(Routed(match, tuple(chosen)))
            out.rows |= {(f"EVENT#{event_key(match.record)}", f"RULE#{name}") for name in match.rules if name in indexing}
        for group in group_matches(routed):
            out.subjects[format_group(group, location).subject] += 1
    return out
