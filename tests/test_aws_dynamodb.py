"""IndexWriter and IndexReader against moto: batching, resent unprocessed items, idempotency, time ranges, pages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.http_faults import LOST, SERVER, THROTTLE, TIMEOUT, HttpFaults
from trailsift.aws.clients import TOTAL_ATTEMPTS, new_client
from trailsift.aws.dynamodb import IndexReader, IndexWriteError, IndexWriter
from trailsift.index import TABLE_DEFINITION, index_items
from trailsift.rules import Rule, Severity
from trailsift.scan import Match

TABLE = "trailsift-index"
LOCATION = (
    "s3://trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/"
    "123456789012_CloudTrail_us-east-1_20240102T0005Z_AbCdEfGhIjKlMnOp.json.gz"
)
ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:sts::444455556666:assumed-role/ops/bob"
PROJECTION = ["eventID", "eventTime", "eventName", "eventSource", "region", "sourceIPAddress", "severity",
              "errorCode", "logFile", "rule", "principal", "account"]
# The table as the spec (and template.yaml) define it, spelled out independently of trailsift.index.
SCHEMA = {
    "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"}
                             for name in ("pk", "sk", "rule", "principal", "account", "ts")],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {"IndexName": name,
         "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": PROJECTION}}
        for name, key in (("by-rule", "rule"), ("by-principal", "principal"), ("by-account", "account"))
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
RULE_A = Rule("rule-a", (), Severity.HIGH)
RULE_B = Rule("rule-b", (), Severity.LOW)
# (eventID, eventTime, principal, account, rules)
EVENTS = [
    ("e1", "2024-01-01T00:00:00Z", ALICE, "111122223333", (RULE_A,)),
    ("e2", "2024-01-01T10:00:00Z", ALICE, "111122223333", (RULE_A, RULE_B)),
    ("e3", "2024-01-02T00:00:00Z", None, "111122223333", (RULE_A,)),
    ("e4", "2024-01-02T12:00:00Z", BOB, "444455556666", (RULE_A, RULE_B)),
    ("e5", "2024-01-03T00:00:00Z", ALICE, "444455556666", (RULE_B,)),
]


def record(event_id: str, event_time: str, principal: str | None, account: str, **extra: Any) -> dict[str, Any]:
    identity = {"type": "IAMUser", "accountId": account} | ({"arn": principal} if principal else {})
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": event_time, "eventName": "PutUserPolicy",
            "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
            "recipientAccountId": account, "userIdentity": identity, **extra}


def items(event_id: str, event_time: str, principal: str | None, account: str, rules=(RULE_A,), **extra: Any):
    rec = record(event_id, event_time, principal, account, **extra)
    match = Match(LOCATION, 0, rec, tuple(r.name for r in rules))
    return index_items(match, list(rules), LOCATION, indexed_at=1_704_067_200, retention_days=90)


class Recording:
    """A client wrapper that records calls, can fake answers or errors, and refuses Scan."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.script: list[Any] = []  # per batch_write_item call: None (pass), an exception, or "unprocess-half"

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("batch_write_item", kwargs))
        action = self.script.pop(0) if self.script else None
        if isinstance(action, BaseException):
            raise action
        if action == "unprocess-all":
            return {"UnprocessedItems": kwargs["RequestItems"]}
        if action == "unprocess-half":
            (table, requests), = kwargs["RequestItems"].items()
            half = len(requests) // 2
            self.client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self.client.batch_write_item(**kwargs)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("query", kwargs))
        return self.client.query(**kwargs)


    def scan(self, **kwargs: Any) -> None:
        raise AssertionError("the index must never be scanned")

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"fake {code}"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "BatchWriteItem")


@pytest.fixture
def dynamodb(aws: Any) -> Recording:
    client = boto3.client("dynamodb")
    client.create_table(TableName=TABLE, **SCHEMA)
    return Recording(client)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def writer(dynamodb: Recording, sleeps: list[float]) -> IndexWriter:
    return IndexWriter(dynamodb, TABLE, max_rounds=4, sleep=sleeps.append)


@pytest.fixture
def loaded(dynamodb: Recording, writer: IndexWriter) -> IndexReader:
    rows = [item for event_id, time, principal, account, rules in EVENTS
            for item in items(event_id, time, principal, account, rules)]
    assert writer.write(rows) == 7
    dynamodb.calls.clear()
    return IndexReader(dynamodb, TABLE)


def ids(rows) -> list[str]:
    return [row["eventID"] for row in rows]


def test_schema_is_the_one_the_code_creates() -> None:
    assert SCHEMA == TABLE_DEFINITION


def test_by_rule_newest_first_with_time_ranges(loaded: IndexReader) -> None:
    assert ids(loaded.by_rule("rule-a", None, None)) == ["e4", "e3", "e2", "e1"]
    # since inclusive, until exclusive
    assert ids(loaded.by_rule("rule-a", "2024-01-01T10:00:00Z", "2024-01-02T12:00:00Z")) == ["e3", "e2"]
    assert ids(loaded.by_rule("rule-a", "2024-01-01T10:00:00Z", None)) == ["e4", "e3", "e2"]
    assert ids(loaded.by_rule("rule-a", None, "2024-01-01T10:00:00Z")) == ["e1"]
    assert ids(loaded.by_rule("rule-a", "2024-01-01T10:00:01Z", "2024-01-02T12:00:01Z")) == ["e4", "e3"]
    assert ids(loaded.by_rule("rule-b", None, None)) == ["e5", "e4", "e2"]
    assert ids(loaded.by_rule("rule-a", "2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z")) == []  # empty range
    assert ids(loaded.by_rule("no-such-rule", None, None)) == []


def test_rows_carry_the_projection(loaded: IndexReader) -> None:
    row = next(loaded.by_rule("rule-a", None, None, limit=1))
    assert row["eventID"] == "e4" and row["severity"] == "high" and row["eventName"] == "PutUserPolicy"
    assert row["logFile"] == LOCATION and row["region"] == "us-east-1" and row["rule"] == "rule-a"
    assert "event" not in row  # not projected: the index stays small


def test_by_principal_is_sparse(loaded: IndexReader) -> None:
    assert ids(loaded.by_principal(ALICE, None, None)) == ["e5", "e2", "e2", "e1"]  # e2 matched two rules
    assert ids(loaded.by_principal(BOB, "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z")) == ["e4", "e4"]
    assert "e3" not in ids(row for p in (ALICE, BOB) for row in loaded.by_principal(p, None, None))


def test_by_account(loaded: IndexReader) -> None:
    assert ids(loaded.by_account("111122223333", None, None)) == ["e3", "e2", "e2", "e1"]
    assert ids(loaded.by_account("444455556666", "2024-01-02T12:00:00Z", "2024-01-03T00:00:00Z")) == ["e4", "e4"]


def test_limit(loaded: IndexReader, dynamodb: Recording) -> None:
    assert ids(loaded.by_account("111122223333", None, None, limit=3)) == ["e3", "e2", "e2"]
    assert dynamodb.calls[-1][1]["Limit"] == 3 and dynamodb.calls[-1][1]["ScanIndexForward"] is False
    with pytest.raises(ValueError):
        loaded.by_rule("rule-a", None, None, limit=0)


def test_event_rows_with_the_event_parsed(loaded: IndexReader) -> None:
    rows = loaded.event("e2")
    assert sorted(row["rule"] for row in rows) == ["rule-a", "rule-b"]
    assert all(row["event"] == record("e2", "2024-01-01T10:00:00Z", ALICE, "111122223333") for row in rows)
    assert all(isinstance(row["recordIndex"], int) and row["expires_at"] == 1_704_067_200 + 90 * 86400 for row in rows)
    assert loaded.event("nope") == []


def test_same_event_written_twice_is_one_row(dynamodb: Recording, writer: IndexWriter) -> None:
    first = items("dup", "2024-01-01T00:00:00Z", ALICE, "111122223333", (RULE_A, RULE_B))
    writer.write(first)
    writer.write(items("dup", "2024-01-01T00:00:00Z", ALICE, "111122223333", (RULE_A, RULE_B)))
    reader = IndexReader(dynamodb, TABLE)
    assert len(reader.event("dup")) == 2
    assert ids(reader.by_rule("rule-a", None, None)) == ["dup"]


def test_sixty_items_take_three_calls(dynamodb: Recording, writer: IndexWriter) -> None:
    rows = [item for n in range(30) for item in items(f"ev{n:02d}", f"2024-01-01T00:00:{n:02d}Z", ALICE, "1", (RULE_A, RULE_B))]
    assert len(rows) == 60
    assert writer.write(rows) == 60
    assert dynamodb.count("batch_write_item") == 3
    assert [len(kw["RequestItems"][TABLE]) for _, kw in dynamodb.calls] == [25, 25, 10]
    assert len(list(IndexReader(dynamodb, TABLE).by_account("1", None, None))) == 60


def test_duplicates_in_one_call_are_collapsed(dynamodb: Recording, writer: IndexWriter) -> None:
    rows = [item for n in range(10) for item in items(f"ev{n}", "2024-01-01T00:00:00Z", ALICE, "1")]
    again = items("ev0", "2024-01-01T00:00:00Z", ALICE, "1", eventName="Changed")
    assert writer.write(rows + rows + again) == 10
    assert dynamodb.count("batch_write_item") == 1  # a duplicate key would have failed the whole batch
    [row] = IndexReader(dynamodb, TABLE).event("ev0")
    assert row["eventName"] == "Changed"  # the last one wins


def test_unprocessed_items_are_retried(dynamodb: Recording, writer: IndexWriter, sleeps: list[float]) -> None:
    dynamodb.script = ["unprocess-half"]
    rows = [item for n in range(20) for item in items(f"ev{n:02d}", "2024-01-01T00:00:00Z", ALICE, "1")]
    assert writer.write(rows) == 20
    sizes = [len(kw["RequestItems"][TABLE]) for _, kw in dynamodb.calls]
    assert sizes == [20, 10] and len(sleeps) == 1 and 0 <= sleeps[0] <= 5
    assert len(list(IndexReader(dynamodb, TABLE).by_rule("rule-a", None, None))) == 20


@pytest.mark.parametrize("error", [client_error("ProvisionedThroughputExceededException"),
                                   client_error("ThrottlingException"), client_error("RequestLimitExceeded"),
                                   client_error("InternalServerError", 500), client_error("Whatever", 503)])
def test_a_call_raising_after_the_clients_retries_is_not_retried(
    dynamodb: Recording, writer: IndexWriter, sleeps: list[float], error: ClientError
) -> None:
    dynamodb.script = [error]
    with pytest.raises(IndexWriteError) as info:
        writer.write(items("ev", "2024-01-01T00:00:00Z", ALICE, "1"))
    assert dynamodb.count("batch_write_item") == 1 and sleeps == []
    assert info.value.__cause__ is error and info.value.written == 0 and len(info.value.failed) == 1


@pytest.mark.parametrize("fault", [THROTTLE, SERVER, TIMEOUT, LOST])
def test_botocore_retries_a_throttled_or_failed_request(
    dynamodb: Recording, sleeps: list[float], fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None))
    client = new_client("dynamodb")
    failing = iter([fault] * (TOTAL_ATTEMPTS - 1))
    faults = HttpFaults(client, lambda operation: next(failing, None))
    assert IndexWriter(client, TABLE, sleep=sleeps.append).write(items("ev", "2024-01-01T00:00:00Z", ALICE, "1")) == 1
    assert faults.requests["BatchWriteItem"] == TOTAL_ATTEMPTS and sleeps == []  # botocore's retries, not ours
    assert len(IndexReader(dynamodb, TABLE).event("ev")) == 1  # a write that landed twice is still one row


def test_backoff_grows_with_jitter(dynamodb: Recording, sleeps: list[float]) -> None:
    writer = IndexWriter(dynamodb, TABLE, max_rounds=8, base_delay=0.1, sleep=sleeps.append)
    dynamodb.script = ["unprocess-all"] * 7
    writer.write(items("ev", "2024-01-01T00:00:00Z", ALICE, "1"))
    assert len(sleeps) == 7
    assert all(0 <= delay <= min(5.0, 0.1 * 2 ** attempt) for attempt, delay in enumerate(sleeps, 1))


def test_persistent_unprocessed_items_raise_with_the_failed_keys(dynamodb: Recording, writer: IndexWriter) -> None:
    rows = [item for n in range(30) for item in items(f"ev{n:02d}", "2024-01-01T00:00:00Z", ALICE, "1")]
    dynamodb.script = ["unprocess-all"] * 4
    with pytest.raises(IndexWriteError) as info:
        writer.write(rows)
    assert dynamodb.count("batch_write_item") == 4  # max_rounds, then the remaining batch is not tried
    assert info.value.failed == [{"pk": row["pk"], "sk": row["sk"]} for row in rows]
    assert info.value.written == 0 and "unprocessed" in str(info.value)


def test_persistent_throttling_raises(dynamodb: Recording, writer: IndexWriter) -> None:
    rows = [item for n in range(30) for item in items(f"ev{n:02d}", "2024-01-01T00:00:00Z", ALICE, "1")]
    dynamodb.script = [None] + [client_error("ThrottlingException")] * 4
    with pytest.raises(IndexWriteError) as info:
        writer.write(rows)
    assert info.value.written == 25 and info.value.failed == [{"pk": r["pk"], "sk": r["sk"]} for r in rows[25:]]
    assert isinstance(info.value.__cause__, ClientError) and dynamodb.count("batch_write_item") == 2


def test_refusal_is_not_retried(aws: Any, sleeps: list[float]) -> None:
    client = Recording(boto3.client("dynamodb"))
    writer = IndexWriter(client, "missing-table", sleep=sleeps.append)
    with pytest.raises(IndexWriteError, match="missing-table") as info:
        writer.write(items("ev", "2024-01-01T00:00:00Z", ALICE, "1"))
    assert client.count("batch_write_item") == 1 and sleeps == [] and len(info.value.failed) == 1


def test_nothing_to_write_makes_no_call(dynamodb: Recording, writer: IndexWriter) -> None:
    assert writer.write([]) == 0 and dynamodb.calls == []


def test_pagination_over_a_megabyte(dynamodb: Recording, writer: IndexWriter) -> None:
    rules = [Rule(f"rule-{n}", ()) for n in range(6)]
    rows = items("big", "2024-01-01T00:00:00Z", ALICE, "1", rules, tlsDetails={"pad": "x" * 300_000})
    assert writer.write(rows) == 6
    dynamodb.calls.clear()
    found = IndexReader(dynamodb, TABLE).event("big")
    assert len(found) == 6 and all(row["event"]["tlsDetails"]["pad"] == "x" * 300_000 for row in found)
    assert dynamodb.count("query") > 1  # 1.8 MB of rows: DynamoDB (and moto) page at 1 MB


def test_pagination_of_an_index_query_and_limit_across_pages(dynamodb: Recording, writer: IndexWriter) -> None:
    rows = [item for n in range(40) for item in items(f"ev{n:02d}", f"2024-01-01T00:00:{n:02d}Z", ALICE, "1")]
    writer.write(rows)
    paged = Recording(dynamodb.client)
    original = paged.query
    paged.query = lambda **kw: original(**{"Limit": 7, **kw})  # type: ignore[method-assign]  # tiny pages
    reader = IndexReader(paged, TABLE)
    assert ids(reader.by_rule("rule-a", None, None)) == [f"ev{n:02d}" for n in reversed(range(40))]
    assert paged.count("query") == 6
    assert ids(reader.by_rule("rule-a", "2024-01-01T00:00:05Z", "2024-01-01T00:00:30Z", limit=12)) == [
        f"ev{n:02d}" for n in range(29, 17, -1)]
