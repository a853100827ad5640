"""DeliveryLedger against moto: claims, leases, sent marks, releases, botocore's retries, and random interleavings."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.http_faults import LOST, SERVER, THROTTLE, TIMEOUT, HttpFaults
from trailsift.alerts import Alert
from trailsift.aws.ledger import DeliveryLedger, LedgerError
from trailsift.sinks.once import Claim
from trailsift.aws.clients import TOTAL_ATTEMPTS, new_client
from trailsift.aws.dynamodb import IndexReader, IndexWriter
from trailsift.index import TABLE_DEFINITION, index_items
from trailsift.rules import Rule, Severity
from trailsift.scan import Match

TABLE = "trailsift-index"
LEASE = 90
START = 1_704_067_200.0
_tables = itertools.count()


def make_alert(key: str) -> Alert:
    return Alert(event_key=key, subject=f"[high] alert {key}", message=f"alert for {key}", attributes={})


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FlakyClient:
    """Delegates to a real (moto) client; the first calls raise the queued errors (as a client does once
    botocore gave up) instead of reaching DynamoDB."""

    def __init__(self, client: Any, errors: list[Exception], *, drop_item: bool = False) -> None:
        self.client = client
        self.errors = list(errors)
        self.drop_item = drop_item  # True: condition failures come without ReturnValuesOnConditionCheckFailure's Item
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**params: Any) -> Any:
            self.calls.append(name)
            if self.errors:
                raise self.errors.pop(0)
            try:
                return method(**params)
            except ClientError as error:
                if self.drop_item:
                    error.response.pop("Item", None)
                raise

        return call


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutItem",
    )


def create_table(name: str = TABLE) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName=name, **TABLE_DEFINITION)
    return client


@pytest.fixture
def client(aws: Any) -> Any:
    return create_table()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ledger(client: Any, owner: str, clock: Clock, **options: Any) -> DeliveryLedger:
    options = {"retention_days": 30, "lease_seconds": LEASE, "clock": clock} | options
    return DeliveryLedger(client, TABLE, kind="ALERT", owner=owner, **options)


def keys(alerts: list[Alert]) -> list[str]:
    return [alert.event_key for alert in alerts]


def item(client: Any, key: str) -> dict[str, Any] | None:
    answer = client.get_item(
        TableName=TABLE, Key={"pk": {"S": f"ALERT#{key}"}, "sk": {"S": "ALERT"}}, ConsistentRead=True
    )
    raw = answer.get("Item")
    return None if raw is None else {name: next(iter(value.values())) for name, value in raw.items()}


ALERTS = [make_alert("e1"), make_alert("e2"), make_alert("e3")]


def test_first_claim_gets_every_alert_and_writes_the_ledger_item(client: Any, clock: Clock) -> None:
    claim = ledger(client, "req-a", clock).claim(ALERTS)
    assert claim == Claim(to_send=ALERTS, already_sent=[], held_elsewhere=[])
    row = item(client, "e1")
    assert row == {
        "pk": "ALERT#e1", "sk": "ALERT", "state": "claimed", "owner": "req-a",
        "claimed_at": str(int(START)), "expires_at": str(int(START) + 30 * 86400),
    }


def test_no_alerts_means_no_calls(aws: Any, clock: Clock) -> None:
    flaky = FlakyClient(create_table(), [])
    assert ledger(flaky, "req-a", clock).claim([]) == Claim([], [], [])
    ledger(flaky, "req-a", clock).mark_sent([])
    ledger(flaky, "req-a", clock).release([])
    assert flaky.calls == []


def test_another_owner_within_the_lease_finds_them_held(client: Any, clock: Clock) -> None:
    ledger(client, "req-a", clock).claim(ALERTS[:2])
    clock.now += LEASE - 1
    claim = ledger(client, "req-b", clock).claim(ALERTS)
    assert keys(claim.to_send) == ["e3"]
    assert keys(claim.held_elsewhere) == ["e1", "e2"]
    assert claim.already_sent == []
    assert item(client, "e1")["owner"] == "req-a"


def test_sent_alerts_are_already_sent_for_anyone(client: Any, clock: Clock) -> None:
    first = ledger(client, "req-a", clock)
    first.claim(ALERTS)
    clock.now += 5
    first.mark_sent(ALERTS[:2])
    row = item(client, "e1")
    assert row["state"] == "sent" and row["sent_at"] == str(int(START) + 5)
    assert "expires_at" not in row, "an alert's sent mark never expires (see test_sent_marks_of_alerts_never_expire)"
    for owner in ("req-a", "req-b"):
        clock.now += 10 * LEASE  # a sent item never goes stale
        claim = ledger(client, owner, clock).claim(ALERTS)
        assert keys(claim.already_sent) == ["e1", "e2"]
        assert keys(claim.to_send) == ["e3"]  # its own claim, then a stale one
    assert item(client, "e1")["state"] == "sent"


def test_after_the_lease_expires_another_owner_can_claim(client: Any, clock: Clock) -> None:
    ledger(client, "req-a", clock).claim(ALERTS)
    clock.now += LEASE + 1
    claim = ledger(client, "req-b", clock).claim(ALERTS)
    assert claim.to_send == ALERTS
    assert item(client, "e2")["owner"] == "req-b"
    assert item(client, "e2")["claimed_at"] == str(int(clock.now))


def test_the_same_owner_claims_again_idempotently(client: Any, clock: Clock) -> None:
    mine = ledger(client, "req-a", clock)
    assert mine.claim(ALERTS).to_send == ALERTS
    clock.now += 1
    assert mine.claim(ALERTS).to_send == ALERTS
    assert ledger(client, "req-b", clock).claim(ALERTS).held_elsewhere == ALERTS


def test_duplicate_event_keys_are_claimed_once_first_kept(aws: Any, clock: Clock) -> None:
    flaky = FlakyClient(create_table(), [])
    first, copy = make_alert("e1"), Alert("e1", "other subject", "other message", {})
    claim = ledger(flaky, "req-a", clock).claim([first, make_alert("e2"), copy])
    assert claim.to_send == [first, make_alert("e2")]
    assert flaky.calls == ["put_item", "put_item"]


def test_release_lets_another_owner_claim_at_once(client: Any, clock: Clock) -> None:
    mine = ledger(client, "req-a", clock)
    mine.claim(ALERTS)
    mine.release(ALERTS[:1])
    assert item(client, "e1")["claimed_at"] == "0"
    claim = ledger(client, "req-b", clock).claim(ALERTS)
    assert keys(claim.to_send) == ["e1"]
    assert keys(claim.held_elsewhere) == ["e2", "e3"]


def test_it_needs_only_the_actions_the_function_role_grants(aws: Any, clock: Clock) -> None:
    flaky = FlakyClient(create_table(), [], drop_item=True)
    mine, other = ledger(flaky, "req-a", clock), ledger(flaky, "req-b", clock)
    mine.claim(ALERTS)
    other.claim(ALERTS)
    mine.mark_sent(ALERTS[:1])
    mine.release(ALERTS[1:])
    assert set(flaky.calls) <= {"put_item", "update_item", "get_item"}  # template.yaml's ProcessorRole


def test_release_leaves_other_claims_and_sent_items_alone(client: Any, clock: Clock) -> None:
    ledger(client, "req-a", clock).claim(ALERTS[:1])
    sender = ledger(client, "req-b", clock)
    sender.claim(ALERTS[1:2])
    sender.mark_sent(ALERTS[1:2])
    ledger(client, "req-c", clock).release(ALERTS)  # not its claims: nothing happens, nothing raised
    sender.release(ALERTS[1:2])  # sent already: stays sent
    assert item(client, "e1")["owner"] == "req-a"
    assert item(client, "e2")["state"] == "sent"


def test_mark_sent_does_not_overwrite_another_owners_fresh_claim(client: Any, clock: Clock) -> None:
    slow = ledger(client, "req-a", clock)
    slow.claim(ALERTS)
    clock.now += LEASE + 1
    taker = ledger(client, "req-b", clock)
    assert taker.claim(ALERTS).to_send == ALERTS
    slow.mark_sent(ALERTS)  # its lease ran out: a silent no-op
    assert {item(client, key)["state"] for key in ("e1", "e2", "e3")} == {"claimed"}
    assert item(client, "e1")["owner"] == "req-b"
    taker.mark_sent(ALERTS)
    assert {item(client, key)["state"] for key in ("e1", "e2", "e3")} == {"sent"}


def test_mark_sent_of_an_unclaimed_alert_creates_nothing(client: Any, clock: Clock) -> None:
    ledger(client, "req-a", clock).mark_sent(ALERTS)
    assert item(client, "e1") is None


def test_ledger_items_never_appear_in_index_queries(client: Any, clock: Clock) -> None:
    location = "s3://b/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz"
    record = {
        "eventID": "11111111-2222-3333-4444-555555555555", "eventTime": "2024-01-01T00:00:00Z",
        "eventName": "StopLogging", "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
    }
    rule = Rule("cloudtrail-tampering", (), Severity.HIGH)
    IndexWriter(client, TABLE).write(
        index_items(Match(location, 0, record, (rule.name,)), [rule], location, indexed_at=int(START), retention_days=30)
    )
    alerts = [make_alert(record["eventID"]), make_alert("ALERT"), make_alert("cloudtrail-tampering")]
    mine = ledger(client, "req-a", clock)
    mine.claim(alerts)
    mine.mark_sent(alerts[:1])
    assert client.scan(TableName=TABLE)["Count"] == 4
    reader = IndexReader(client, TABLE)
    assert [row["pk"] for row in reader.by_rule("cloudtrail-tampering", None, None)] == [f"EVENT#{record['eventID']}"]
    assert [row["sk"] for row in reader.by_account("111122223333", None, None)] == ["RULE#cloudtrail-tampering"]
    assert len(list(reader.by_principal("arn:aws:iam::111122223333:user/alice", None, None))) == 1
    for value in ("ALERT", "claimed", "sent", "req-a"):
        assert list(reader.by_rule(value, None, None)) == []
        assert list(reader.by_account(value, None, None)) == []
        assert list(reader.by_principal(value, None, None)) == []
    assert [row["sk"] for row in reader.event(record["eventID"])] == ["RULE#cloudtrail-tampering"]


@pytest.fixture
def no_botocore_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry waits are skipped: the retries still happen, at once."""
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))


def faulty_client(faults: list[str]) -> tuple[Any, HttpFaults]:
    """A DynamoDB client with trailsift's retry policy whose first HTTP requests meet ``faults``, in order."""
    client = new_client("dynamodb")
    pending = iter(faults)
    return client, HttpFaults(client, lambda operation: next(pending, None))


@pytest.mark.parametrize("fault", [THROTTLE, SERVER, TIMEOUT])
def test_throttling_and_server_faults_are_retried_by_botocore(
    aws: Any, clock: Clock, no_botocore_sleep: None, fault: str
) -> None:
    create_table()
    client, faults = faulty_client([fault] * (TOTAL_ATTEMPTS - 1))
    claim = ledger(client, "req-a", clock).claim(ALERTS)
    assert claim.to_send == ALERTS
    assert dict(faults.requests) == {"PutItem": TOTAL_ATTEMPTS - 1 + len(ALERTS)}


def test_mark_sent_and_release_are_retried_too(aws: Any, clock: Clock, no_botocore_sleep: None) -> None:
    create_table()
    client, faults = faulty_client([])
    mine = ledger(client, "req-a", clock)
    mine.claim(ALERTS)
    faults.decide = lambda operation, pending=iter([THROTTLE, SERVER]): next(pending, None)
    mine.mark_sent(ALERTS[:1])
    faults.decide = lambda operation, pending=iter([SERVER, TIMEOUT]): next(pending, None)
    mine.release(ALERTS[1:2])
    assert item(client, "e1")["state"] == "sent"
    assert item(client, "e2")["claimed_at"] == "0"
    assert faults.requests["UpdateItem"] == 3 + 3


def test_writes_whose_answer_was_lost_are_safely_retried(aws: Any, clock: Clock, no_botocore_sleep: None) -> None:
    """botocore retries a write that landed but whose answer was lost (a read timeout): it meets its own result."""
    create_table()
    client, faults = faulty_client([LOST])
    mine = ledger(client, "req-a", clock)
    assert mine.claim(ALERTS[:1]).to_send == ALERTS[:1]  # the retry meets its own claim
    faults.decide = lambda operation, pending=iter([LOST]): next(pending, None)
    mine.mark_sent(ALERTS[:1])  # the retry meets its own sent mark
    mine.claim(ALERTS[1:2])
    faults.decide = lambda operation, pending=iter([LOST]): next(pending, None)
    mine.release(ALERTS[1:2])  # the retry releases its own claim again
    assert dict(faults.requests) == {"PutItem": 2 + 1, "UpdateItem": 2 + 2}
    assert item(client, "e1")["state"] == "sent"
    assert item(client, "e2")["claimed_at"] == "0"


def test_retries_run_out_into_a_ledger_error(aws: Any, clock: Clock, no_botocore_sleep: None) -> None:
    create_table()
    client, faults = faulty_client([THROTTLE] * 99)
    with pytest.raises(LedgerError, match=r"put_item of ALERT#e1 in trailsift-index failed: .*reached max retries: 2"):
        ledger(client, "req-a", clock).claim(ALERTS)
    assert dict(faults.requests) == {"PutItem": TOTAL_ATTEMPTS}  # the ledger adds no retries of its own


def test_an_error_the_client_raises_is_not_retried_by_the_ledger(aws: Any, clock: Clock) -> None:
    throttled = client_error("ProvisionedThroughputExceededException")
    flaky = FlakyClient(create_table(), [throttled] * 4)
    with pytest.raises(LedgerError, match=r"put_item of ALERT#e1 in trailsift-index failed: ") as caught:
        ledger(flaky, "req-a", clock).claim(ALERTS)
    assert caught.value.__cause__ is throttled
    assert flaky.calls == ["put_item"]


@pytest.mark.parametrize("method", ["claim", "mark_sent", "release"])
def test_a_missing_table_is_a_ledger_error_at_once(aws: Any, clock: Clock, method: str) -> None:
    client = create_table("another-table")
    with pytest.raises(LedgerError, match=r"ALERT#e1 in trailsift-index failed: .*ResourceNotFound"):
        getattr(ledger(client, "req-a", clock), method)(ALERTS)


def test_a_refused_request_is_a_ledger_error_at_once(aws: Any, clock: Clock) -> None:
    flaky = FlakyClient(create_table(), [client_error("AccessDeniedException")])
    with pytest.raises(LedgerError, match="AccessDeniedException"):
        ledger(flaky, "req-a", clock).claim(ALERTS)
    assert flaky.calls == ["put_item"]


def test_without_the_old_item_in_the_answer_it_reads_it_back(aws: Any, clock: Clock) -> None:
    flaky = FlakyClient(create_table(), [], drop_item=True)
    first = ledger(flaky, "req-a", clock)
    first.claim(ALERTS[:2])
    first.mark_sent(ALERTS[:1])
    flaky.calls.clear()
    claim = ledger(flaky, "req-b", clock).claim(ALERTS[:2])
    assert keys(claim.already_sent) == ["e1"] and keys(claim.held_elsewhere) == ["e2"]
    assert flaky.calls == ["put_item", "get_item", "put_item", "get_item"]


def test_an_unknown_state_is_a_ledger_error(client: Any, clock: Clock) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": "ALERT#e1"}, "sk": {"S": "ALERT"}, "state": {"S": "odd"}})
    with pytest.raises(LedgerError, match="unknown state 'odd'"):
        ledger(client, "req-a", clock).claim(ALERTS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"owner": ""}, "owner"),
        ({"retention_days": 0}, "retention_days"),
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"kind": ""}, "kind"),
        ({"kind": "alert#"}, "kind"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeliveryLedger(None, TABLE, **({"kind": "ALERT", "owner": "req-a", "retention_days": 1} | options))


# --- random interleavings of several invocations ----------------------------------------------------------

EVENT_KEYS = ("e0", "e1")
WORKERS = 2
Step = tuple[Any, ...]
_deliver = st.tuples(
    st.just("deliver"), st.integers(0, WORKERS - 1), st.lists(st.sampled_from(EVENT_KEYS), min_size=1, max_size=3)
)
_publish = st.tuples(st.just("publish"), st.integers(0, WORKERS - 1), st.integers(0, len(EVENT_KEYS) - 1))
_mark = st.tuples(st.just("mark"), st.integers(0, WORKERS - 1))
steps = st.one_of(  # claim, publish and mark twice as likely as the disruptions
    _deliver, _deliver, _publish, _publish, _mark, _mark,
    st.tuples(st.just("fail"), st.integers(0, WORKERS - 1), st.integers(0, len(EVENT_KEYS) - 1)),
    st.tuples(st.just("crash"), st.integers(0, WORKERS - 1), st.booleans()),
    st.tuples(st.just("advance"), st.integers(1, LEASE // 2)),  # a lease runs out over a few steps
)


class Worker:
    """One invocation as the model sees it: what it claimed, published and has not yet marked sent."""

    def __init__(self, ledger: DeliveryLedger) -> None:
        self.ledger = ledger
        self.claimed: set[str] = set()  # claimed, not yet published
        self.unmarked: set[str] = set()  # published, not yet marked sent
        self.started: float | None = None  # when it first claimed anything (its timeout runs from here)


class Model:
    """The expected ledger, the publish counts, and the crashes that excuse a second publish."""

    def __init__(self, client: Any, table: str, clock: Clock) -> None:
        self.client, self.table, self.clock = client, table, clock
        self.ledger: dict[str, tuple[str, str, float]] = {}  # key -> (state, owner, claimed_at)
        self.published = dict.fromkeys(EVENT_KEYS, 0)
        self.excused = dict.fromkeys(EVENT_KEYS, 0)  # crashes between a publish and its mark_sent
        self.generation = itertools.count()
        self.workers = [self.new_worker() for _ in range(WORKERS)]

    def new_worker(self, owner: str | None = None) -> Worker:
        owner = owner or f"req-{next(self.generation)}"
        return Worker(DeliveryLedger(self.client, self.table, kind="ALERT", owner=owner, retention_days=1, lease_seconds=LEASE,
                                  clock=self.clock))

    def expect_claim(self, owner: str, key: str) -> str:
        """What the ledger should answer, updating the model as DynamoDB would."""
        now = self.clock.now
        current = self.ledger.get(key)
        if current is None or (current[0] == "claimed" and (current[2] < now - LEASE or current[1] == owner)):
            self.ledger[key] = ("claimed", owner, now)
            return "to_send"
        return "already_sent" if current[0] == "sent" else "held_elsewhere"

    def crash(self, index: int, reuse_owner: bool) -> None:
        worker = self.workers[index]
        for key in worker.unmarked:
            self.excused[key] += 1
        self.workers[index] = self.new_worker(worker.ledger.owner if reuse_owner else None)

    def step(self, step: Step) -> None:
        kind, *args = step
        if kind == "advance":
            self.clock.now += args[0]
            for index, worker in enumerate(self.workers):  # the function's timeout is shorter than the lease
                if worker.started is not None and self.clock.now - worker.started >= LEASE:
                    self.crash(index, reuse_owner=False)
            return
        index = args[0]
        worker = self.workers[index]
        owner = worker.ledger.owner
        if kind == "deliver":
            alerts = [make_alert(key) for key in args[1]]
            claim = worker.ledger.claim(alerts)
            got = {key: name for name in ("to_send", "already_sent", "held_elsewhere")
                   for key in keys(getattr(claim, name))}
            expected = {key: self.expect_claim(owner, key) for key in dict.fromkeys(args[1])}
            assert got == expected
            for key in keys(claim.to_send):
                if key not in worker.unmarked:  # re-claiming what it already published: still just to mark
                    worker.claimed.add(key)
            if claim.to_send and worker.started is None:
                worker.started = self.clock.now
        elif kind == "publish" and worker.claimed:
            key = sorted(worker.claimed)[args[1] % len(worker.claimed)]  # one of the alerts it holds
            worker.claimed.remove(key)
            worker.unmarked.add(key)
            self.published[key] += 1
        elif kind == "fail" and worker.claimed:  # its publish failed: it releases the claim
            key = sorted(worker.claimed)[args[1] % len(worker.claimed)]
            worker.claimed.remove(key)
            worker.ledger.release([make_alert(key)])
            if self.ledger.get(key, ("", "", 0))[:2] == ("claimed", owner):
                self.ledger[key] = ("claimed", owner, 0)
        elif kind == "mark":
            marked = list(worker.unmarked)
            worker.ledger.mark_sent([make_alert(key) for key in marked])
            for key in marked:
                current = self.ledger.get(key)
                if current is not None and (current[1] == owner or current[0] == "sent"):
                    self.ledger[key] = ("sent", current[1], current[2])
            worker.unmarked.clear()
        elif kind == "crash":
            self.crash(index, args[1])

    def check(self) -> None:
        for key in EVENT_KEYS:
            assert self.published[key] <= 1 + self.excused[key], (key, self.published, self.excused)
            row = self.ledger.get(key)
            if row is not None and row[0] == "sent":
                assert self.published[key] >= 1, f"{key} marked sent but never published"
            raw = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"ALERT#{key}"}, "sk": {"S": "ALERT"}},
                                       ConsistentRead=True).get("Item")
            actual = None if raw is None else (raw["state"]["S"], raw["owner"]["S"], float(raw["claimed_at"]["N"]))
            assert actual == row


@settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(steps, min_size=8, max_size=30))
def test_random_interleavings_send_each_alert_once_unless_a_crash_forces_a_resend(aws: Any, script: list[Step]) -> None:
    table = f"ledger-{next(_tables)}"
    clock = Clock()
    model = Model(create_table(table), table, clock)
    for step in script:
        model.step(step)
        model.check()
    # Every invocation still running times out; a healthy retry then finishes the work: nothing is lost.
    model.step(("advance", LEASE + 1))
    for index in range(WORKERS):
        model.crash(index, reuse_owner=False)
    final = model.new_worker()
    alerts = [make_alert(key) for key in EVENT_KEYS]
    claim = final.ledger.claim(alerts)
    assert claim.held_elsewhere == []
    for alert in claim.to_send:
        model.published[alert.event_key] += 1
    final.ledger.mark_sent(claim.to_send)
    assert model.new_worker().ledger.claim(alerts).already_sent == alerts
    for key in EVENT_KEYS:
        assert 1 <= model.published[key] <= 1 + model.excused[key], (key, model.published, model.excused)


# --- how long items live ---------------------------------------------------------------------------


def test_sent_marks_of_alerts_never_expire_so_a_backfill_past_the_retention_finds_them(client: Any, clock: Clock) -> None:
    """A backfill (``--alerts send``) may read files far older than the index retention: the live path's
    sent mark must still be there, or the alert would be paged again."""
    live = ledger(client, "live-request", clock)
    live.claim(ALERTS[:1])
    assert item(client, "e1")["expires_at"] == str(int(START) + 30 * 86400), "a claim expires with the retention"
    live.mark_sent(ALERTS[:1])
    assert "expires_at" not in item(client, "e1")
    clock.now += 400 * 86400  # more than a year later: DynamoDB's TTL would long have removed a mark with one
    claim = ledger(client, "backfill-request", clock).claim(ALERTS)
    assert keys(claim.already_sent) == ["e1"] and keys(claim.to_send) == ["e2", "e3"]
    assert item(client, "e2")["expires_at"] == str(int(clock.now) + 30 * 86400)


def test_event_bus_marks_keep_the_retention(client: Any, clock: Clock) -> None:
    bus = DeliveryLedger(client, TABLE, kind="BUS", owner="req-a", retention_days=30, lease_seconds=LEASE, clock=clock)
    assert not bus.keep_sent and ledger(client, "req-a", clock).keep_sent
    bus.claim(ALERTS[:1])
    clock.now += 5
    bus.mark_sent(ALERTS[:1])
    answer = client.get_item(TableName=TABLE, Key={"pk": {"S": "BUS#e1"}, "sk": {"S": "BUS"}}, ConsistentRead=True)["Item"]
    assert answer["state"]["S"] == "sent" and answer["expires_at"]["N"] == str(int(START) + 5 + 30 * 86400)
    kept = ledger(client, "req-b", clock, keep_sent=False)
    kept.claim(ALERTS[1:2])
    kept.mark_sent(ALERTS[1:2])
    assert item(client, "e2")["expires_at"] == str(int(clock.now) + 30 * 86400)
