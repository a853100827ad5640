"""index_items: one row per (event, rule) with valid keys, masked and size-bounded; the table matches template.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.engine import RuleEngine
from trailsift.index import (
    BULKY_FIELDS,
    GSI_KEYS,
    KEY_ATTRIBUTES,
    PROJECTED_ATTRIBUTES,
    TABLE_DEFINITION,
    TABLE_KEYS,
    TTL_ATTRIBUTE,
    index_items,
)
from trailsift.masking import MASK
from trailsift.record import event_key
from trailsift.cli.replay import ReplaySummary, replay
from trailsift.rules import Destination, Rule, Severity, default_rules
from trailsift.scan import Match
from trailsift.cli.sources import discover

REPO = Path(__file__).resolve().parent.parent

LOCATION = (
    "s3://trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/"
    "123456789012_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"
)
NOW = 1_700_000_000
RULE_A = Rule("rule-a", (), Severity.HIGH)
RULE_B = Rule("rule-b", (), Severity.LOW)
DYNAMODB_ITEM_LIMIT = 400 * 1024
NUMBER_MAX = 21  # DynamoDB stores a number in at most 21 bytes


def record(**extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.09", "eventID": "3b3c9f2e-0000-4000-8000-000000000001", "eventTime": "2024-01-01T10:00:00Z",
        "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory", "accountId": "111122223333"},
        **extra,
    }


def items_for(rec: dict[str, Any], rules=(RULE_A,), location: str = LOCATION, **kwargs: Any) -> list[dict[str, Any]]:
    options = {"indexed_at": NOW, "retention_days": 90, **kwargs}
    return index_items(Match(location, 7, rec, tuple(r.name for r in rules)), list(rules), location, **options)


def dynamodb_size(item: dict[str, Any]) -> int:
    """An independent upper bound of DynamoDB's item size: names plus UTF-8 strings, numbers at their maximum."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        if isinstance(value, bool):
            total += 1
        elif isinstance(value, int):
            total += NUMBER_MAX
        else:
            assert isinstance(value, str), (name, type(value))
            total += len(value.encode())
    return total


def assert_valid_item(item: dict[str, Any]) -> None:
    for name in KEY_ATTRIBUTES:  # key attributes: absent, or a non-empty string within the key limits
        if name in item:
            assert isinstance(item[name], str) and item[name], name
    assert len(item["pk"].encode()) <= 2048 and len(item["sk"].encode()) <= 1024
    for name in ("rule", "principal", "account"):
        if name in item:
            assert len(item[name].encode()) <= 2048
    assert len(item["ts"].encode()) <= 1024
    assert all(type(value) in (str, int, bool) for value in item.values())
    assert dynamodb_size(item) <= DYNAMODB_ITEM_LIMIT


def test_item_of_a_typical_record() -> None:
    [item] = items_for(record())
    key = "3b3c9f2e-0000-4000-8000-000000000001"
    assert item["pk"] == f"EVENT#{key}" and item["sk"] == "RULE#rule-a"
    assert item["rule"] == "rule-a" and item["severity"] == "high"
    assert item["ts"] == f"2024-01-01T10:00:00Z#{key}"
    assert item["principal"] == "arn:aws:iam::111122223333:user/mallory"
    assert item["account"] == "111122223333"
    assert (item["eventID"], item["eventName"], item["eventSource"], item["region"], item["sourceIPAddress"]) == (
        key, "StopLogging", "cloudtrail.amazonaws.com", "us-east-1", "203.0.113.9")
    assert "errorCode" not in item
    assert item["logFile"] == LOCATION and item["recordIndex"] == 7 and item["indexedAt"] == NOW
    assert json.loads(item["event"]) == record()
    assert "trimmed" not in item and "eventBytes" not in item
    assert_valid_item(item)


def test_one_item_per_rule_and_repeated_rules_once() -> None:
    items = items_for(record(), rules=(RULE_A, RULE_B, RULE_A))
    assert [(i["sk"], i["severity"]) for i in items] == [("RULE#rule-a", "high"), ("RULE#rule-b", "low")]
    assert len({i["pk"] for i in items}) == 1


def test_ttl_is_indexed_at_plus_retention() -> None:
    [item] = items_for(record(), indexed_at=1_000, retention_days=30)
    assert item[TTL_ATTRIBUTE] == 1_000 + 30 * 86400
    [item] = items_for(record(), indexed_at=NOW, retention_days=1)
    assert item[TTL_ATTRIBUTE] - item["indexedAt"] == 86400
    with pytest.raises(ValueError, match="retention_days"):
        items_for(record(), retention_days=0)


def test_secrets_are_masked_in_the_event() -> None:
    rec = record(responseElements={"credentials": {"accessKeyId": "ASIAEXAMPLE", "sessionToken": "FwoGZXIvYXdzE..."}})
    [item] = items_for(rec)
    assert "FwoGZXIvYXdzE" not in item["event"]
    assert json.loads(item["event"])["responseElements"]["credentials"]["sessionToken"] == MASK
    assert rec["responseElements"]["credentials"]["sessionToken"] == "FwoGZXIvYXdzE..."  # input untouched


@pytest.mark.parametrize("identity", [None, {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, {"arn": ""},
                                      {"arn": 42}, {"arn": "arn:aws:iam::1:user/" + "x" * 1100}, "Root"])
def test_principal_is_sparse(identity: Any) -> None:
    rec = record(userIdentity=identity)
    [item] = items_for(rec)
    assert "principal" not in item  # not in the by-principal index at all
    assert_valid_item(item)


def test_account_falls_back_to_the_identity_then_the_log_file_then_absent() -> None:
    [item] = items_for(record(recipientAccountId=""))
    assert item["account"] == "111122223333"  # userIdentity.accountId
    rec = record(recipientAccountId=None, userIdentity={"type": "Unknown"})
    assert items_for(rec)[0]["account"] == "123456789012"  # from the log file's name
    assert "account" not in items_for(rec, location="local/odd-name.json")[0]
    assert "account" not in items_for(rec, location="")[0] and "logFile" not in items_for(rec, location="")[0]


@pytest.mark.parametrize("event_time", [None, 1704103200, "", ["2024"], "9" * 5000])
def test_event_time_that_is_not_usable_becomes_unknown(event_time: Any) -> None:
    [item] = items_for(record(eventTime=event_time))
    assert item["ts"].startswith("unknown#") and item["eventTime"] == "unknown"
    assert_valid_item(item)


def test_record_without_event_id_gets_a_stable_hash_key() -> None:
    rec = record(eventID="not a valid id!")
    first, second = items_for(rec)[0], items_for(dict(rec))[0]
    assert first["pk"] == second["pk"] == f"EVENT#{event_key(rec)}" and first["pk"].startswith("EVENT#sha256-")


def test_empty_strings_are_never_written() -> None:
    rec = record(eventName="", eventSource="", awsRegion="", sourceIPAddress="", errorCode="")
    [item] = items_for(rec)
    assert not [name for name, value in item.items() if value == ""]


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=20)
records = st.fixed_dictionaries(
    {},
    optional={
        "eventID": st.uuids().map(str) | st.text(max_size=40),
        "eventTime": st.text(max_size=30) | json_values,
        "eventName": json_values, "awsRegion": json_values, "recipientAccountId": json_values,
        "userIdentity": st.fixed_dictionaries({}, optional={"arn": st.text(max_size=40) | json_values,
                                                            "accountId": json_values}) | json_values,
        "requestParameters": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(rec=records, first=st.integers(0, 2**31), second=st.integers(0, 2**31), days=st.integers(1, 3650))
def test_same_event_gives_the_same_keys(rec: dict[str, Any], first: int, second: int, days: int) -> None:
    keys = ("pk", "sk", "ts", "rule", "principal", "account")
    one = items_for(rec, rules=(RULE_A, RULE_B), indexed_at=first)
    two = items_for(json.loads(json.dumps(rec)), rules=(RULE_A, RULE_B), indexed_at=second, retention_days=days)
    assert [{k: i.get(k) for k in keys} for i in one] == [{k: i.get(k) for k in keys} for i in two]
    assert len({(i["pk"], i["sk"]) for i in one}) == 2
    for item in one + two:
        assert_valid_item(item)


def test_items_for_real_records(events_logs: Path) -> None:
    rules = default_rules()
    index_rules = {r.name: r for r in rules if Destination.INDEX in r.destinations}
    matches = list(replay(discover([events_logs]), RuleEngine(rules), ReplaySummary()))
    assert len(matches) > 10
    seen: set[tuple[str, str]] = set()
    for match in matches:
        items = index_items(match, [index_rules[n] for n in match.rules if n in index_rules], match.source,
                            indexed_at=NOW, retention_days=90)
        assert len(items) == len([n for n in match.rules if n in index_rules])
        for item in items:
            assert_valid_item(item)
            assert item["ts"].startswith(match.record.get("eventTime", "unknown"))
            assert item["pk"] == f"EVENT#{event_key(match.record)}"
            assert "trimmed" not in item
            seen.add((item["pk"], item["sk"]))
    assert len(seen) > 10


def test_oversized_event_drops_bulky_fields_first() -> None:
    big = "x" * 150_000
    rec = record(requestParameters={"policyDocument": big}, responseElements={"blob": big},
                 additionalEventData={"more": big})
    [item] = items_for(rec)
    assert item["trimmed"] is True
    assert item["eventBytes"] > 450_000
    event = json.loads(item["event"])  # dropping the bulky fields was enough: still JSON
    assert not set(BULKY_FIELDS) & set(event)
    assert event["eventName"] == "StopLogging"
    assert_valid_item(item)


def test_oversized_event_without_bulky_fields_is_truncated() -> None:
    rec = record(tlsDetails={"clientProvidedHostHeader": "é" * 300_000}, requestParameters={"a": "b"})
    [item] = items_for(rec, rules=(Rule("r" * 128, ()),))
    assert item["trimmed"] is True and item["eventBytes"] > 600_000
    assert_valid_item(item)
    assert DYNAMODB_ITEM_LIMIT - dynamodb_size(item) < 16 * 1024  # cut close to the limit, not emptied
    item["event"].encode().decode()  # cut on a character boundary


def test_oversized_keys_and_fields_still_fit() -> None:
    huge = "a" * 1000
    rec = record(userIdentity={"arn": "arn:" + huge}, eventName=huge, eventSource=huge, awsRegion=huge,
                 sourceIPAddress=huge, errorCode=huge, requestParameters={"x": "y" * 500_000})
    location = "s3://b/" + "k" * 1024
    for item in items_for(rec, rules=(RULE_A, Rule("b" * 128, ())), location=location):
        assert_valid_item(item)


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short tags (!Ref, !Sub, !GetAtt, !If...) as plain values."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CloudFormationLoader.add_multi_constructor("!", _tagged)


def template_table() -> dict[str, Any] | None:
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=_CloudFormationLoader)  # noqa: S506
    resource = (template.get("Resources") or {}).get("IndexTable")
    return None if resource is None else resource["Properties"]


def test_table_definition_matches_the_spec() -> None:
    assert TABLE_KEYS == {"pk": "HASH", "sk": "RANGE"}
    assert GSI_KEYS == {"by-rule": ("rule", "ts"), "by-principal": ("principal", "ts"), "by-account": ("account", "ts")}
    assert set(PROJECTED_ATTRIBUTES) == {"eventID", "eventTime", "eventName", "eventSource", "region",
                                         "sourceIPAddress", "severity", "errorCode", "logFile",
                                         "rule", "principal", "account"}
    assert TTL_ATTRIBUTE == "expires_at"
    assert {d["AttributeName"] for d in TABLE_DEFINITION["AttributeDefinitions"]} == set(KEY_ATTRIBUTES)


def test_template_index_table_agrees_with_the_code() -> None:
    table = template_table()
    assert table is not None, "template.yaml has no IndexTable resource"
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == KEY_ATTRIBUTES
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == TABLE_KEYS
    indexes = {gsi["IndexName"]: gsi for gsi in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == set(GSI_KEYS)
    for name, (hash_key, range_key) in GSI_KEYS.items():
        gsi = indexes[name]
        assert [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]] == [(hash_key, "HASH"), (range_key, "RANGE")]
        assert gsi["Projection"]["ProjectionType"] == "INCLUDE"
        assert set(gsi["Projection"]["NonKeyAttributes"]) == set(PROJECTED_ATTRIBUTES)
    ttl = table["TimeToLiveSpecification"]
    assert ttl["AttributeName"] == TTL_ATTRIBUTE and ttl["Enabled"] in (True, "true")
