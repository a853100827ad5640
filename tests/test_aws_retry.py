"""One retry policy for every adapter: what is retried, how long the waits may be, and none past the deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from trailsift.alerts import Alert
from trailsift.aws.alert_ledger import AlertLedger, LedgerError
from trailsift.aws.dynamodb import IndexWriteError, IndexWriter
from trailsift.aws.retry import Backoff, error_code, is_retryable
from trailsift.aws.sns import AlertPublisher, AlertPublishError
from trailsift.aws.sqs import DeadLetterError, DeadLetterQueue
from trailsift.deadline import Deadline


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "error",
    [
        client_error("Throttling"),
        client_error("SlowDown", 503),
        client_error("ProvisionedThroughputExceededException"),
        client_error("RequestThrottled"),
        client_error("InternalServerError", 500),
        client_error("SomethingNew", 502),  # any 5xx
        client_error("TransactionConflictException"),
        EndpointConnectionError(endpoint_url="https://sns"),
        ConnectTimeoutError(endpoint_url="https://sns"),
        ReadTimeoutError(endpoint_url="https://sns"),
    ],
)
def test_transient_errors_are_retryable(error: Exception) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [client_error("AccessDenied", 403), client_error("ValidationException"), client_error("NotFound", 404),
     ValueError("bug"), KeyError("x")],
)
def test_permanent_errors_and_bugs_are_not(error: Exception) -> None:
    assert not is_retryable(error)


def test_error_code_reads_aws_errors_and_names_others() -> None:
    assert error_code(client_error("Throttling")) == ("Throttling", "Throttling!")
    assert error_code(ValueError("bad")) == ("ValueError", "bad")


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


class Failing:
    """Every call of ``operation`` fails as one that may succeed later: it raises ``error`` or returns ``answer``."""

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


def _alert(key: str) -> Alert:
    return Alert(event_key=key, subject=f"alert {key}", message=f"alert {key}", attributes={})


def _row(n: int) -> dict[str, Any]:
    return {"pk": f"EVENT#{n}", "sk": "RULE#r", "rule": "r"}


TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/failures"
TABLE = "trailsift-index"

# adapter -> (the failing client, what to call on the adapter, the error raised when it gives up)
ADAPTERS: dict[str, tuple[Callable[[], Failing], Callable[[Any], Any], Callable[..., Any], type[Exception]]] = {
    "sns publish throttled": (
        lambda: Failing("publish_batch", error=client_error("Throttling")),
        lambda adapter: adapter.publish([_alert("a"), _alert("b")]),
        lambda client, **kw: AlertPublisher(client, TOPIC, max_attempts=4, **kw),
        AlertPublishError,
    ),
    "sns entries failed on SNS's side": (
        lambda: Failing("publish_batch", answer=lambda p: {"Failed": [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in p["PublishBatchRequestEntries"]
        ]}),
        lambda adapter: adapter.publish([_alert("a"), _alert("b")]),
        lambda client, **kw: AlertPublisher(client, TOPIC, max_attempts=4, **kw),
        AlertPublishError,
    ),
    "dynamodb write throttled": (
        lambda: Failing("batch_write_item", error=client_error("ProvisionedThroughputExceededException")),
        lambda adapter: adapter.write([_row(1), _row(2)]),
        lambda client, **kw: IndexWriter(client, TABLE, max_attempts=4, **kw),
        IndexWriteError,
    ),
    "dynamodb items unprocessed": (
        lambda: Failing("batch_write_item", answer=lambda p: {"UnprocessedItems": p["RequestItems"]}),
        lambda adapter: adapter.write([_row(1), _row(2)]),
        lambda client, **kw: IndexWriter(client, TABLE, max_attempts=4, **kw),
        IndexWriteError,
    ),
    "sqs entries failed": (
        lambda: Failing("send_message_batch", answer=lambda p: {"Failed": [
            {"Id": e["Id"], "SenderFault": False} for e in p["Entries"]
        ]}),
        lambda adapter: adapter.send([{"n": 1}]),
        lambda client, **kw: DeadLetterQueue(client, QUEUE, max_attempts=4, **kw),
        DeadLetterError,
    ),
    "ledger claim throttled": (
        lambda: Failing("put_item", error=client_error("ProvisionedThroughputExceededException")),
        lambda adapter: adapter.claim([_alert("a")]),
        lambda client, **kw: AlertLedger(client, TABLE, owner="req-1", retention_days=1, max_attempts=4, **kw),
        LedgerError,
    ),
}


@pytest.mark.parametrize("case", ADAPTERS)
@pytest.mark.parametrize(
    ("left_ms", "calls", "sleeps", "refused"), [(10**9, 4, 3, 0), (MARGIN_MS, 1, 0, 1)], ids=["time", "no-time"]
)
def test_every_adapter_stops_retrying_at_the_deadline_and_raises_what_still_fails(
    case: str, left_ms: int, calls: int, sleeps: int, refused: int
) -> None:
    make_client, use, make_adapter, error = ADAPTERS[case]
    client, slept, deadline = make_client(), [], deadline_with(left_ms)
    with pytest.raises(error) as raised:
        use(make_adapter(client, sleep=slept.append, deadline=deadline))
    # with time: every attempt, a sleep between each two; without: one attempt, its sleep refused
    assert (client.calls, len(slept), deadline.sleeps_refused) == (calls, sleeps, refused)
    failed = getattr(raised.value, "failed", None)
    if isinstance(raised.value, AlertPublishError):  # the alerts are named, so the pipeline can release their claims
        assert sorted(key for key, _, _ in failed) == ["a", "b"]
    if isinstance(raised.value, IndexWriteError):
        assert sorted(key["pk"] for key in failed) == ["EVENT#1", "EVENT#2"]
