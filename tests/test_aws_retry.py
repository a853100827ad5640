"""One retry layer: botocore's standard mode retries whole calls, the adapters resend only failed entries.

What each layer retries, how many HTTP requests one adapter call can make when the service throttles
throughout (counted at the HTTP level, under botocore's retries), how long the waits may be, and none
past the deadline.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.http_faults import FAIL_ENTRIES, SERVER, THROTTLE, TIMEOUT, HttpFaults
from trailsift.alerts import Alert
from trailsift.aws.ledger import DeliveryLedger, LedgerError
from trailsift.aws.clients import RETRY_MODE, TOTAL_ATTEMPTS, client_config, new_client
from trailsift.aws.dynamodb import IndexWriteError, IndexWriter
from trailsift.aws.errors import BatchWriteError, PublishFailed
from trailsift.aws.eventbridge import EventPublisher
from trailsift.aws.retry import (
    MAX_ROUNDS,
    Backoff,
    BatchCallFailed,
    EntryFailure,
    error_code,
    retry_failed_entries,
)
from trailsift.aws.sns import AlertPublisher
from trailsift.aws.sqs import DeadLetterError, DeadLetterQueue
from trailsift.deadline import Deadline
from trailsift.index import TABLE_DEFINITION
from trailsift.sinks.eventbus import BusEvent

REPO = Path(__file__).resolve().parent.parent


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_error_code_reads_aws_errors_and_names_others() -> None:
    assert error_code(client_error("Throttling")) == ("Throttling", "Throttling!")
    assert error_code(ValueError("bad")) == ("ValueError", "bad")


# --- whole calls: botocore's standard mode, configured in one place, for every client -------------


def test_the_client_config_is_standard_mode_with_a_bounded_number_of_attempts() -> None:
    config = client_config(read_timeout=7)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3} == {
        "mode": RETRY_MODE, "total_max_attempts": TOTAL_ATTEMPTS
    }
    assert config.read_timeout == 7


def test_the_function_creates_its_clients_with_the_policy(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from trailsift.cli.local import load_handler

    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")  # the client's Config wins over the environment
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    module = load_handler(REPO / "functions" / "processor" / "app.py")
    for service in ("s3", "sns", "dynamodb", "sqs", "events"):
        retries = module.client(service).meta.config.retries
        assert retries == {"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS}, service


def _creates_clients(node: ast.AST) -> bool:
    """A call of ``<anything>.client(...)`` or ``.resource(...)`` (boto3 or a session), but the local
    stack's own ``stack.client`` (checked below to go through :func:`new_client`) and a sink's
    ``context.client`` (the handler's ``client``, checked above)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("client", "resource")
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("stack", "context"))
    )


def test_no_module_creates_a_client_but_through_trailsift_aws_clients() -> None:
    """Every boto3 client of the function, the command line and the local stack gets the one policy."""
    package = REPO / "layers" / "trailsift" / "trailsift"
    sources = [*package.rglob("*.py"), REPO / "functions" / "processor" / "app.py"]
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sources
        if path.name != "clients.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _creates_clients(node)
    ]
    assert offenders == []


def test_the_local_stack_and_a_session_get_the_policy_too(aws: Any) -> None:
    from trailsift.cli.local import LocalStack

    local = LocalStack("http://127.0.0.1:5000").client("sqs")
    from_session = new_client("dynamodb", session=boto3.session.Session(region_name="eu-west-1"))
    for client in (local, from_session):
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS}
    assert local.meta.endpoint_url == "http://127.0.0.1:5000" and from_session.meta.region_name == "eu-west-1"


# --- entries: the one helper every batch adapter resends failed entries with ----------------------


class Script:
    """A batch call for :func:`retry_failed_entries`: per call, the entries it fails (retryable) or raises."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, entries: list[str]) -> list[EntryFailure[str]]:
        self.calls.append(list(entries))
        answer = self.answers.pop(0) if self.answers else set()
        if isinstance(answer, Exception):
            raise answer
        return [EntryFailure(entry, "Busy", "try later", retryable=not entry.startswith("bad")) for entry in entries
                if entry in answer or entry.startswith("bad")]


def test_only_failed_entries_are_resent_until_accepted() -> None:
    send, slept = Script([{"b", "c"}, {"c"}, set()]), []
    result = retry_failed_entries(send, [["a", "b", "c"]], max_rounds=4, backoff=Backoff(0.1, 1.0, slept.append))
    assert send.calls == [["a", "b", "c"], ["b", "c"], ["c"]]
    assert (result.accepted, result.failed, result.unsent, result.rounds, len(slept)) == (3, [], [], 3, 2)


def test_entries_refused_for_good_are_not_resent_and_the_next_batch_still_goes() -> None:
    send, backoff = Script([]), Backoff(0.1, 1.0, lambda _: None)
    result = retry_failed_entries(send, [["a", "bad-1"], ["c"]], max_rounds=4, backoff=backoff)
    assert send.calls == [["a", "bad-1"], ["c"]]
    assert [f.entry for f in result.failed] == ["bad-1"] and result.accepted == 2 and result.unsent == []


def test_a_batch_still_failing_after_its_rounds_stops_the_run() -> None:
    send, slept = Script([{"b"}] * 9), []
    backoff = Backoff(0.1, 1.0, slept.append)
    result = retry_failed_entries(send, [["a", "b"], ["c"], ["d"]], max_rounds=3, backoff=backoff)
    assert send.calls == [["a", "b"], ["b"], ["b"]] and len(slept) == 2  # the other batches are never sent
    assert [f.entry for f in result.failed] == ["b"] and result.unsent == ["c", "d"] and result.accepted == 1


def test_a_call_that_raises_is_raised_at_once_with_what_it_carried_and_what_follows() -> None:
    throttled = client_error("Throttling")
    send, slept = Script([{"b"}, throttled]), []
    with pytest.raises(BatchCallFailed) as caught:
        retry_failed_entries(send, [["a", "b"], ["c"]], max_rounds=4, backoff=Backoff(0.1, 1.0, slept.append))
    assert caught.value.error is throttled and caught.value.__cause__ is throttled
    assert caught.value.result.unsent == ["b", "c"] and caught.value.result.accepted == 1
    assert len(send.calls) == 2 and len(slept) == 1  # the raising call is not tried again


def test_bugs_are_not_taken_for_aws_errors() -> None:
    with pytest.raises(KeyError):
        retry_failed_entries(Script([KeyError("x")]), [["a"]], max_rounds=4, backoff=Backoff(0.1, 1.0, lambda _: None))


def test_backoff_doubles_its_cap_with_full_jitter_and_respects_the_maximum() -> None:
    slept: list[float] = []
    backoff = Backoff(0.1, 1.0, slept.append)
    for attempt in range(1, 8):
        for _ in range(50):
            backoff.wait(attempt)
    caps = [min(1.0, 0.1 * 2**attempt) for attempt in range(1, 8) for _ in range(50)]
    assert all(0 <= s <= cap for s, cap in zip(slept, caps, strict=True))
    assert max(slept[-50:]) > 0.5  # late waits really are long: the cap grows until the maximum


# --- the deadline: no retry sleep reaches into the invocation's safety margin ---------------------

MARGIN_MS = 10_000


class TimeLeft:
    """A fake ``get_remaining_time_in_millis``: the milliseconds left, set by the test."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def deadline_with(left_ms: int) -> Deadline:
    """A deadline with a 10 s margin (made with time to spare, so the margin is not capped) and ``left_ms`` left."""
    time_left = TimeLeft(100_000)
    deadline = Deadline(time_left, MARGIN_MS)
    time_left.ms = left_ms
    return deadline


def test_backoff_sleeps_while_the_sleep_ends_before_the_margin() -> None:
    slept: list[float] = []
    deadline = deadline_with(MARGIN_MS + 2_000)
    backoff = Backoff(1.0, 2.0, slept.append, deadline)  # the first wait is at most 2 s
    assert backoff.wait(1) is True
    assert len(slept) == 1 and 0 <= slept[0] <= 2.0 and deadline.sleeps_refused == 0


def test_a_sleep_that_would_end_inside_the_margin_is_refused_without_sleeping() -> None:
    slept: list[float] = []
    deadline = deadline_with(MARGIN_MS)  # any sleep at all would end inside the margin
    backoff = Backoff(1.0, 2.0, slept.append, deadline)
    assert backoff.wait(1) is False
    assert backoff.wait(2) is False
    assert slept == [] and deadline.sleeps_refused == 2


def test_without_a_deadline_the_backoff_always_sleeps() -> None:
    slept: list[float] = []
    assert all(Backoff(0.01, 0.02, slept.append).wait(attempt) for attempt in range(1, 6))
    assert len(slept) == 5


def _alert(key: str) -> Alert:
    return Alert(event_key=key, subject=f"alert {key}", message=f"alert {key}", attributes={})


def _event(key: str) -> BusEvent:
    return BusEvent(key, {"Source": "trailsift", "DetailType": "CloudTrail Event Matched", "Detail": f'{{"k": "{key}"}}'})


def _row(n: int) -> dict[str, Any]:
    return {"pk": f"EVENT#{n}", "sk": "RULE#r", "rule": "r"}


TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/failures"
TABLE = "trailsift-index"
BUS = "trailsift-matches"


class Failing:
    """Every call of ``operation`` raises ``error`` (as a client does once botocore gave up) or returns ``answer``."""

    def __init__(self, operation: str, *, error: Exception | None = None, answer: Any = None) -> None:
        self.operation, self.error, self.answer = operation, error, answer
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        if name != self.operation:
            raise AttributeError(name)

        def call(**params: Any) -> Any:
            self.calls += 1
            if self.error is not None:
                raise self.error
            return self.answer(params)

        return call


# batch adapter -> (a client failing every entry on the service's side, the call, the adapter, its error)
ENTRY_FAILURES: dict[str, tuple[Callable[[], Failing], Callable[[Any], Any], Callable[..., Any], type[Exception]]] = {
    "sns entries failed on SNS's side": (
        lambda: Failing("publish_batch", answer=lambda p: {"Failed": [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in p["PublishBatchRequestEntries"]
        ]}),
        lambda adapter: adapter.publish([_alert("a"), _alert("b")]),
        lambda client, **kw: AlertPublisher(client, TOPIC, max_rounds=4, **kw),
        PublishFailed,
    ),
    "events entries failed on EventBridge's side": (
        lambda: Failing("put_events", answer=lambda p: {"FailedEntryCount": len(p["Entries"]), "Entries": [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"} for _ in p["Entries"]
        ]}),
        lambda adapter: adapter.publish([_event("a"), _event("b")]),
        lambda client, **kw: EventPublisher(client, BUS, max_rounds=4, **kw),
        PublishFailed,
    ),
    "dynamodb items unprocessed": (
        lambda: Failing("batch_write_item", answer=lambda p: {"UnprocessedItems": p["RequestItems"]}),
        lambda adapter: adapter.write([_row(1), _row(2)]),
        lambda client, **kw: IndexWriter(client, TABLE, max_rounds=4, **kw),
        IndexWriteError,
    ),
    "sqs entries failed": (
        lambda: Failing("send_message_batch", answer=lambda p: {"Failed": [
            {"Id": e["Id"], "SenderFault": False} for e in p["Entries"]
        ]}),
        lambda adapter: adapter.send([{"n": 1}, {"n": 2}]),
        lambda client, **kw: DeadLetterQueue(client, QUEUE, max_rounds=4, **kw),
        DeadLetterError,
    ),
}


def _failed_names(error: BatchWriteError[Any]) -> list[str]:
    """What a batch adapter's error says was not written, as comparable names."""
    if isinstance(error, PublishFailed):
        return sorted(failed.event_key for failed in error.failed)
    if isinstance(error, IndexWriteError):
        return sorted(key["pk"] for key in error.failed)
    return sorted(f"n{record['n']}" for record in error.failed)


NAMES = {"sns": ["a", "b"], "events": ["a", "b"], "dynamodb": ["EVENT#1", "EVENT#2"], "sqs": ["n1", "n2"]}


@pytest.mark.parametrize("case", ENTRY_FAILURES)
@pytest.mark.parametrize(
    ("left_ms", "calls", "sleeps", "refused"), [(10**9, 4, 3, 0), (MARGIN_MS, 1, 0, 1)], ids=["time", "no-time"]
)
def test_every_batch_adapter_stops_resending_at_the_deadline_and_raises_what_still_fails(
    case: str, left_ms: int, calls: int, sleeps: int, refused: int
) -> None:
    make_client, use, make_adapter, error = ENTRY_FAILURES[case]
    client, slept, deadline = make_client(), [], deadline_with(left_ms)
    with pytest.raises(error) as raised:
        use(make_adapter(client, sleep=slept.append, deadline=deadline))
    # with time: every round, a sleep between each two; without: one round, its sleep refused
    assert (client.calls, len(slept), deadline.sleeps_refused) == (calls, sleeps, refused)
    assert isinstance(raised.value, BatchWriteError)  # typed: the entries are named, e.g. so claims can be released
    assert _failed_names(raised.value) == NAMES[case.split()[0]]


# adapter -> (the call on a client that raises ``error``, the adapter, the error it raises)
WHOLE_CALLS: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any], type[Exception]]] = {
    "sns": ("publish_batch", lambda adapter: adapter.publish([_alert("a"), _alert("b")]),
            lambda client: AlertPublisher(client, TOPIC, sleep=pytest.fail), PublishFailed),
    "events": ("put_events", lambda adapter: adapter.publish([_event("a"), _event("b")]),
               lambda client: EventPublisher(client, BUS, sleep=pytest.fail), PublishFailed),
    "dynamodb": ("batch_write_item", lambda adapter: adapter.write([_row(1), _row(2)]),
                 lambda client: IndexWriter(client, TABLE, sleep=pytest.fail), IndexWriteError),
    "sqs": ("send_message_batch", lambda adapter: adapter.send([{"n": 1}, {"n": 2}]),
            lambda client: DeadLetterQueue(client, QUEUE, sleep=pytest.fail), DeadLetterError),
    "ledger": ("put_item", lambda adapter: adapter.claim([_alert("a")]),
               lambda client: DeliveryLedger(client, TABLE, kind="ALERT", owner="req-1", retention_days=1), LedgerError),
}


@pytest.mark.parametrize("adapter", WHOLE_CALLS)
@pytest.mark.parametrize(
    "error",
    [client_error("Throttling"), client_error("InternalError", 500),
     EndpointConnectionError(endpoint_url="https://aws"), client_error("AccessDenied", 403)],
    ids=["throttled", "500", "connection", "refused"],
)
def test_a_whole_call_that_raises_is_raised_by_the_adapter_not_retried(adapter: str, error: Exception) -> None:
    """Once the client raises, botocore has spent its retries (or none can help): one call, no sleep."""
    operation, use, make_adapter, raised_as = WHOLE_CALLS[adapter]
    client = Failing(operation, error=error)
    with pytest.raises(raised_as) as raised:
        use(make_adapter(client))
    assert client.calls == 1 and raised.value.__cause__ is error
    if adapter != "ledger":
        assert _failed_names(raised.value) == NAMES[adapter]


# --- the bound: HTTP requests one adapter call makes while the service throttles throughout -------

REQUESTS_PER_THROTTLED_CALL = MAX_ROUNDS * TOTAL_ATTEMPTS


def _throttling(pattern: str) -> Callable[[str], str]:
    """Every request fails: the whole call throttled, or every entry failed, or the worst of both (each call
    throttled until botocore's last attempt, which is answered with every entry failed: a new round)."""
    sent = [0]

    def decide(operation: str) -> str:
        sent[0] += 1
        if pattern == "whole calls":
            return THROTTLE
        if pattern == "entries":
            return FAIL_ENTRIES
        return FAIL_ENTRIES if sent[0] % TOTAL_ATTEMPTS == 0 else THROTTLE

    return decide


@pytest.fixture
def throttled_world(aws: Any, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A topic, a table and a queue on moto; botocore's retry sleeps are skipped (and counted)."""
    import botocore.endpoint

    botocore_sleeps: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=botocore_sleeps.append))
    topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    boto3.client("dynamodb").create_table(TableName=TABLE, **TABLE_DEFINITION)
    queue = boto3.client("sqs").create_queue(QueueName="failures")["QueueUrl"]
    boto3.client("events").create_event_bus(Name=BUS)
    return SimpleNamespace(topic=topic, queue=queue, botocore_sleeps=botocore_sleeps)


ALERTS_23 = [_alert(f"e{n:02d}") for n in range(23)]  # three PublishBatch calls' worth
EVENTS_23 = [_event(f"e{n:02d}") for n in range(23)]  # three PutEvents calls' worth
ROWS_60 = [_row(n) for n in range(60)]  # three BatchWriteItem calls' worth
RECORDS_23 = [{"n": n} for n in range(23)]  # three SendMessageBatch calls' worth

# adapter -> (service, the call, (requests: whole calls throttled, entries failed, both))
BOUNDED: dict[str, tuple[str, Callable[[Any, SimpleNamespace, list[float]], Any], tuple[int, int, int]]] = {
    "sns publish": ("sns", lambda c, w, slept: AlertPublisher(c, w.topic, sleep=slept.append).publish(ALERTS_23),
                    (3, 4, 12)),
    "events put": ("events", lambda c, w, slept: EventPublisher(c, BUS, sleep=slept.append).publish(EVENTS_23),
                   (3, 4, 12)),
    "dynamodb write": ("dynamodb", lambda c, w, slept: IndexWriter(c, TABLE, sleep=slept.append).write(ROWS_60),
                       (3, 4, 12)),
    "sqs dead letters": ("sqs", lambda c, w, slept: DeadLetterQueue(c, w.queue, sleep=slept.append).send(RECORDS_23),
                         (3, 4, 12)),
}


@pytest.mark.parametrize("pattern", ["whole calls", "entries", "both"])
@pytest.mark.parametrize("adapter", BOUNDED)
def test_requests_per_throttled_call_are_bounded(throttled_world: SimpleNamespace, adapter: str, pattern: str) -> None:
    """Counted under botocore: at most MAX_ROUNDS calls of the first batch, each at most TOTAL_ATTEMPTS requests;
    the batches after it are never sent. Before one retry layer this was 90 (SNS), 48 (DynamoDB), 30 (SQS)."""
    service, use, expected = BOUNDED[adapter]
    client, slept = new_client(service), []
    faults = HttpFaults(client, _throttling(pattern))
    with pytest.raises(BatchWriteError) as raised:
        use(client, throttled_world, slept)
    assert faults.total == expected[["whole calls", "entries", "both"].index(pattern)] <= REQUESTS_PER_THROTTLED_CALL
    assert REQUESTS_PER_THROTTLED_CALL == 12
    assert len(raised.value.failed) == {"sns publish": 23, "events put": 23, "dynamodb write": 60, "sqs dead letters": 23}[adapter]
    rounds = {"whole calls": 1, "entries": MAX_ROUNDS, "both": MAX_ROUNDS}[pattern]
    assert len(slept) == rounds - 1  # the adapter's waits: between rounds only
    retries = faults.total - rounds
    assert len(throttled_world.botocore_sleeps) == retries  # botocore's waits: before each of its retries
    assert sum(throttled_world.botocore_sleeps) <= rounds * (1 + 2)  # throttling backoff: up to 1 s, then 2 s


@pytest.mark.parametrize(
    ("method", "operation"), [("claim", "PutItem"), ("mark_sent", "UpdateItem"), ("release", "UpdateItem")]
)
def test_a_throttled_ledger_call_makes_at_most_total_attempts_requests(
    throttled_world: SimpleNamespace, method: str, operation: str
) -> None:
    client = new_client("dynamodb")
    faults = HttpFaults(client, _throttling("whole calls"))
    with pytest.raises(LedgerError, match="reached max retries: 2"):
        getattr(DeliveryLedger(client, TABLE, kind="ALERT", owner="req-1", retention_days=1), method)([_alert("a"), _alert("b")])
    assert dict(faults.requests) == {operation: TOTAL_ATTEMPTS}  # was 8 x 6 = 48


def test_a_throttled_get_makes_at_most_total_attempts_requests(throttled_world: SimpleNamespace) -> None:
    from trailsift.aws.s3 import S3ObjectSource
    from trailsift.triggers import ObjectRef

    client = new_client("s3")
    faults = HttpFaults(client, _throttling("whole calls"))
    with pytest.raises(ClientError, match="SlowDown"):
        S3ObjectSource(client).fetch(ObjectRef("bucket", "AWSLogs/x.json.gz"))
    assert dict(faults.requests) == {"GetObject": TOTAL_ATTEMPTS}  # was 6


@pytest.mark.parametrize("fault", [THROTTLE, SERVER, TIMEOUT])
@pytest.mark.parametrize("adapter", BOUNDED)
def test_botocore_retries_a_passing_fault_and_the_adapter_never_sees_it(
    throttled_world: SimpleNamespace, adapter: str, fault: str
) -> None:
    service, use, _ = BOUNDED[adapter]
    client, slept = new_client(service), []
    first = [True]

    def once(operation: str) -> str | None:
        if first[0]:
            first[0] = False
            return fault
        return None

    faults = HttpFaults(client, once)
    use(client, throttled_world, slept)
    assert faults.total == 3 + 1 and slept == []  # three batches, the first sent twice by botocore
