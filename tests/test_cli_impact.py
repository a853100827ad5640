"""``trailsift selectors impact`` (trailsift.cli.selectors_command) and its counting (trailsift.cli.impact):
totals that add up, groups held to an independent count written here, --against, the cost arithmetic, each
input shape of the selectors, and the refusals."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli_run import run
from trailsift.cli.impact import (
    DEFAULT_PRICES,
    LAKE_GB_PRICES,
    Impact,
    Keeper,
    Prices,
    Tally,
    estimate,
    event_category,
    monthly_factor,
    record_bytes,
    store_of,
)
from trailsift.selectors import parse_selectors

from conftest import write_log_file

ACCOUNT = "111122223333"
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
MANAGEMENT = {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
WRITES = {"Name": "management writes", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}]}
ALL_S3 = {"Name": "all s3", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}
S3_WRITES_TWO = {"Name": "s3 writes to two buckets", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
    {"Field": "readOnly", "Equals": ["false"]},
    {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::payroll/", "arn:aws:s3:::audit/"]}]}
CONTROL_CHANNELS = {"Name": "ssm control channels", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]},
    {"Field": "resources.type", "Equals": ["AWS::SSMMessages::ControlChannel"]}]}
NOT_OPEN = {"Name": "control channels but opening", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]},
    {"Field": "resources.type", "Equals": ["AWS::SSMMessages::ControlChannel"]},
    {"Field": "eventName", "NotEquals": ["OpenControlChannel"]}]}


# --- synthetic records -----------------------------------------------------------------------------------


def s3_event(n: int, bucket: str, name: str, when: datetime) -> dict[str, Any]:
    key = f"k/{n}.json"
    return {
        "eventVersion": "1.10", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "s3.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "eventID": f"s3-{n}", "readOnly": name in ("GetObject", "HeadObject"),
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                      {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": ACCOUNT, "eventCategory": "Data",
        "requestParameters": {"bucketName": bucket, "key": key},
    }


def ssm_event(n: int, name: str, when: datetime) -> dict[str, Any]:
    """A Systems Manager data event: a control channel (Session Manager) or a managed node's call."""
    if name in ("OpenControlChannel", "CreateControlChannel"):
        source, kind, arn = "ssmmessages.amazonaws.com", "AWS::SSMMessages::ControlChannel", f"arn:aws:ssmmessages:us-east-1:{ACCOUNT}:control-channel/i-{n:017x}"
    else:
        source, kind, arn = "ssm.amazonaws.com", "AWS::SSM::ManagedNode", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-{n:017x}"
    return {
        "eventVersion": "1.09", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": source,
        "eventName": name, "awsRegion": "us-east-1", "eventID": f"ssm-{n}", "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": kind, "ARN": arn}], "eventType": "AwsApiCall",
        "managementEvent": False, "recipientAccountId": ACCOUNT, "eventCategory": "Data",
    }


def management_event(n: int, name: str, read_only: bool, when: datetime, *, category: bool = True) -> dict[str, Any]:
    record = {
        "eventVersion": "1.10" if category else "1.05", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1", "eventID": f"mgmt-{n}",
        "readOnly": read_only, "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT,
    }
    if category:
        record |= {"managementEvent": True, "eventCategory": "Management"}
    return record


def insight_event(n: int, when: datetime) -> dict[str, Any]:
    return {"eventVersion": "1.07", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "awsRegion": "us-east-1",
            "eventID": f"insight-{n}", "eventType": "AwsCloudTrailInsight", "recipientAccountId": ACCOUNT,
            "sharedEventID": f"shared-{n}", "insightDetails": {"eventName": "PutObject", "state": "Start"},
            "eventCategory": "Insight"}


def mixed_records() -> list[dict[str, Any]]:
    """Two hours of S3 and Systems Manager data events, management events (some without eventCategory) and an Insight."""
    records: list[dict[str, Any]] = []
    buckets = ("payroll", "audit", "web", "cache")
    s3_names = ("GetObject", "PutObject", "DeleteObject", "HeadObject")
    for n in range(120):
        records.append(s3_event(n, buckets[n % 4], s3_names[n // 4 % 4], T0 + timedelta(seconds=60 * n)))
    ssm_names = ("OpenControlChannel", "CreateControlChannel", "UpdateInstanceInformation", "ListInstanceAssociations")
    for n in range(40):
        records.append(ssm_event(n, ssm_names[n % 4], T0 + timedelta(seconds=90 * n)))
    for n in range(30):
        records.append(management_event(n, ("GetRole", "CreateRole")[n % 2], n % 2 == 0, T0 + timedelta(seconds=200 * n),
                                         category=n % 3 != 0))
    records.append(insight_event(0, T0 + timedelta(hours=2)))  # the last eventTime: exactly two hours after T0
    return records


# --- an independent count -----------------------------------------------------------------------------------


def category_of(record: dict[str, Any]) -> str:
    """The test's own reading of eventCategory (what CloudTrail writes, else what the record's other fields say)."""
    if "eventCategory" in record:
        return str(record["eventCategory"])
    if record.get("eventType") == "AwsCloudTrailInsight":
        return "Insight"
    if record.get("eventType") == "AwsVpceEvent":
        return "NetworkActivity"
    return "Data" if record.get("managementEvent") is False else "Management"


def types_of(record: dict[str, Any]) -> list[str]:
    return [r.get("type") for r in record.get("resources") or [] if isinstance(r, dict)]


def arns_of(record: dict[str, Any]) -> list[str]:
    return [r.get("ARN") for r in record.get("resources") or [] if isinstance(r, dict) and r.get("ARN")]


# What each selector above means, written again as plain Python.
MEANING: dict[str, Callable[[dict[str, Any]], bool]] = {
    "management": lambda r: category_of(r) == "Management",
    "management writes": lambda r: category_of(r) == "Management" and r.get("readOnly") is False,
    "all s3": lambda r: category_of(r) == "Data" and "AWS::S3::Object" in types_of(r),
    "s3 writes to two buckets": lambda r: (
        category_of(r) == "Data" and "AWS::S3::Object" in types_of(r) and r.get("readOnly") is False
        and any(a.startswith(("arn:aws:s3:::payroll/", "arn:aws:s3:::audit/")) for a in arns_of(r))
    ),
    "ssm control channels": lambda r: category_of(r) == "Data" and "AWS::SSMMessages::ControlChannel" in types_of(r),
    "control channels but opening": lambda r: (
        category_of(r) == "Data" and "AWS::SSMMessages::ControlChannel" in types_of(r)
        and r.get("eventName") != "OpenControlChannel"
    ),
}
SELECTORS = {"management": MANAGEMENT, "management writes": WRITES, "all s3": ALL_S3,
             "s3 writes to two buckets": S3_WRITES_TWO, "ssm control channels": CONTROL_CHANNELS,
             "control channels but opening": NOT_OPEN}


def kept_by(names: list[str]) -> Callable[[dict[str, Any]], bool]:
    """Whether a record is logged by the selectors ``names``: any of them, Insights always (Insights selectors log them)."""
    return lambda r: category_of(r) == "Insight" or any(MEANING[name](r) for name in names)


def compact_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def expected_groups(records: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> dict[str, Counter[tuple[str, str]]]:
    """(group, kept|dropped) -> events, by dimension, counted the obvious way."""
    out: dict[str, Counter[tuple[str, str]]] = {d: Counter() for d in ("eventCategory", "eventSource", "eventName", "resources.type")}
    for r in records:
        outcome = "kept" if keep(r) else "dropped"
        out["eventCategory"][(category_of(r), outcome)] += 1
        out["eventSource"][(r.get("eventSource") or "(none)", outcome)] += 1
        out["eventName"][(r.get("eventName") or "(none)", outcome)] += 1
        if category_of(r) in ("Data", "NetworkActivity"):
            named = [t for t in types_of(r) if t != "AWS::S3::Bucket"] or types_of(r) or ["(none)"]
            out["resources.type"][(named[0], outcome)] += 1
    return out


def counted_groups(document: dict[str, Any]) -> dict[str, Counter[tuple[str, str]]]:
    out: dict[str, Counter[tuple[str, str]]] = {}
    for dimension, groups in document["groups"].items():
        found: Counter[tuple[str, str]] = Counter()
        for group in groups:
            for outcome in ("kept", "dropped"):
                if group[outcome]["events"]:
                    found[(group["name"], outcome)] += group[outcome]["events"]
        out[dimension] = found
    return out


# --- helpers -----------------------------------------------------------------------------------------------------


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "selectors", "impact", "--format", "json", *argv)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def selectors_file(tmp_path: Path, document: Any, name: str = "selectors.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def logs(tmp_path: Path, records: list[dict[str, Any]]) -> str:
    """The records in two delivery files (the split proves files add up) under ``tmp_path/logs``."""
    folder = tmp_path / "logs"
    half = len(records) // 2
    base = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/20/{ACCOUNT}_CloudTrail_us-east-1_20261120T"
    write_log_file(folder, records[:half], base + "0700Z_aaaaaaaaaaaaaaaa.json.gz")
    write_log_file(folder, records[half:], base + "0805Z_bbbbbbbbbbbbbbbb.json.gz")
    return str(folder)


# --- totals and groups -----------------------------------------------------------------------------------------


def test_shared_real_records_add_up_and_match_an_independent_count(
    shared_cloudtrail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = []
    for path in sorted(shared_cloudtrail.rglob("*.json*")):
        data = path.read_bytes()
        records += [r for r in json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)["Records"]
                    if isinstance(r, dict)]
    document = run_json(capsys, "--selectors", selectors_file(tmp_path, [WRITES]), str(shared_cloudtrail))
    keep = kept_by(["management writes"])
    kept = [r for r in records if keep(r)]
    assert document["events"] == len(records) == document["kept"]["events"] + document["dropped"]["events"]
    assert document["kept"]["events"] == len(kept)
    assert document["kept"]["bytes"] == sum(map(compact_size, kept))
    assert document["bytes"] == sum(map(compact_size, records)) == document["kept"]["bytes"] + document["dropped"]["bytes"]
    expected = expected_groups(records, keep)
    counted = counted_groups(document)
    for dimension in ("eventCategory", "resources.type"):
        assert counted[dimension] == expected[dimension], dimension
    for dimension in ("eventSource", "eventName"):  # top 10 and the others merged: the named ones agree, all add up
        named = {key: n for key, n in counted[dimension].items() if key[0] is not None}
        assert named.items() <= expected[dimension].items(), dimension
        assert sum(counted[dimension].values()) == len(records)
    assert document["inferred_category"] == sum("eventCategory" not in r for r in records)
    assert document["insights_not_governed"]["events"] == sum(category_of(r) == "Insight" for r in records)


def test_synthetic_data_events_s3_and_systems_manager(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = mixed_records()
    names = ["management", "s3 writes to two buckets", "control channels but opening"]
    document = run_json(capsys, "--selectors", selectors_file(tmp_path, [SELECTORS[n] for n in names]),
                        "--top", "100", logs(tmp_path, records))
    keep = kept_by(names)
    assert counted_groups(document) == expected_groups(records, keep)
    assert document["kept"] == {"events": sum(map(keep, records)),
                                "bytes": sum(compact_size(r) for r in records if keep(r))}
    by_type = {g["name"]: g for g in document["groups"]["resources.type"]}
    assert by_type["AWS::SSMMessages::ControlChannel"]["kept"]["events"] == 10  # CreateControlChannel only
    assert by_type["AWS::SSMMessages::ControlChannel"]["dropped"]["events"] == 10
    assert by_type["AWS::SSM::ManagedNode"]["kept"]["events"] == 0  # no selector names managed nodes
    assert len(by_type["AWS::SSM::ManagedNode"]["dropped_examples"]) == 3
    assert document["kept_by_selector"]["s3 writes to two buckets"]["events"] == sum(
        MEANING["s3 writes to two buckets"](r) for r in records)
    assert document["files"] == {"read": 2, "skipped": 0, "failed": 0}


RECORD_MAKERS = st.one_of(
    st.builds(lambda n, b, name: s3_event(n, b, name, T0), st.integers(0, 999),
              st.sampled_from(["payroll", "audit", "web"]), st.sampled_from(["GetObject", "PutObject", "DeleteObject"])),
    st.builds(lambda n, name: ssm_event(n, name, T0), st.integers(0, 999),
              st.sampled_from(["OpenControlChannel", "CreateControlChannel", "UpdateInstanceInformation"])),
    st.builds(lambda n, name, ro, cat: management_event(n, name, ro, T0, category=cat), st.integers(0, 999),
              st.sampled_from(["GetRole", "CreateRole"]), st.booleans(), st.booleans()),
    st.builds(lambda n: insight_event(n, T0), st.integers(0, 999)),
)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(RECORD_MAKERS, max_size=30),
    proposal=st.lists(st.sampled_from(sorted(SELECTORS)), min_size=1, max_size=3, unique=True),
    current=st.lists(st.sampled_from(sorted(SELECTORS)), min_size=1, max_size=3, unique=True),
)
def test_counts_agree_with_the_obvious_evaluator(
    records: list[dict[str, Any]], proposal: list[str], current: list[str]
) -> None:
    impact = Impact(against=True)
    keep_new = Keeper(parse_selectors([SELECTORS[n] for n in proposal]))
    keep_old = Keeper(parse_selectors([SELECTORS[n] for n in current]))
    for record in records:
        impact.add(record, keep_new, keep_old)
    new, old = kept_by(proposal), kept_by(current)
    total = impact.total
    assert total.kept.events + total.dropped.events == len(records)
    assert total.kept.bytes + total.dropped.bytes == sum(map(record_bytes, records))
    assert total.kept.events == sum(map(new, records))
    assert total.newly_dropped.events == sum(old(r) and not new(r) for r in records)
    assert total.newly_kept.events == sum(new(r) and not old(r) for r in records)
    for dimension, groups in impact.groups.items():
        if dimension != "resources.type":
            assert sum(g.kept.events + g.dropped.events for g in groups.values()) == len(records)
            assert sum(g.newly_dropped.bytes for g in groups.values()) == total.newly_dropped.bytes


# --- --against ------------------------------------------------------------------------------------------------------


def test_against_says_what_the_proposal_newly_drops_and_keeps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = mixed_records()
    current = selectors_file(tmp_path, {"TrailARN": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t",
                                        "AdvancedEventSelectors": [MANAGEMENT, ALL_S3]}, "current.json")
    proposal = selectors_file(tmp_path, [MANAGEMENT, S3_WRITES_TWO, CONTROL_CHANNELS], "proposal.json")
    document = run_json(capsys, "--selectors", proposal, "--against", current, "--top", "100", logs(tmp_path, records))
    new, old = kept_by(["management", "s3 writes to two buckets", "ssm control channels"]), kept_by(["management", "all s3"])
    newly_dropped = [r for r in records if old(r) and not new(r)]
    newly_kept = [r for r in records if new(r) and not old(r)]
    assert document["newly_dropped"] == {"events": len(newly_dropped), "bytes": sum(map(compact_size, newly_dropped))}
    assert document["newly_kept"] == {"events": len(newly_kept), "bytes": sum(map(compact_size, newly_kept))}
    assert {r["eventSource"] for r in newly_kept} == {"ssmmessages.amazonaws.com"}
    by_name = {g["name"]: g for g in document["groups"]["eventName"]}
    gets = [r for r in records if r.get("eventName") == "GetObject"]
    puts_elsewhere = [r for r in records if r.get("eventName") == "PutObject" and r["requestParameters"]["bucketName"] in ("web", "cache")]
    assert len(gets) == 32 and by_name["GetObject"]["newly_dropped"]["events"] == len(gets)  # every read of every bucket
    assert by_name["PutObject"]["newly_dropped"]["events"] == len(puts_elsewhere) == 16  # writes to web and cache
    assert set(by_name["GetObject"]["newly_dropped_examples"]) <= {r["eventID"] for r in newly_dropped}
    assert document["against"]["count"] == 2


def test_against_text_fits_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    proposal = selectors_file(tmp_path, [MANAGEMENT, S3_WRITES_TWO], "proposal.json")
    current = selectors_file(tmp_path, [MANAGEMENT, ALL_S3], "current.json")
    code, out, err = run(capsys, "selectors", "impact", "--selectors", proposal, "--against", current,
                         logs(tmp_path, mixed_records()))
    assert (code, err) == (0, "")
    assert max(map(len, out.splitlines())) <= 80
    assert "newly dropped" in out and "by resources.type" in out
    assert "only events that were logged can be evaluated" in out.lower().replace("\n  ", " ")
    assert "read 2026-11-30" in out.replace("\n    ", " ")


# --- cost -----------------------------------------------------------------------------------------------------------


def test_estimate_arithmetic() -> None:
    categories = {"Data": Tally(250_000, 0), "NetworkActivity": Tally(50_000, 0), "Management": Tally(100_000, 3 * 2**30),
                  "Insight": Tally(7, 2**30)}
    trail = estimate(categories, "trail", DEFAULT_PRICES)
    assert (trail.data_events, trail.management, trail.lake) == (pytest.approx(0.30), 0.0, 0.0)
    copy = estimate(categories, "trail", DEFAULT_PRICES, first_copy=False)
    assert copy.management == pytest.approx(2.00) and copy.total == pytest.approx(2.30)
    lake = estimate(categories, "lake", Prices(lake_gb=2.50))
    assert lake.total == pytest.approx(3 * 2.50)  # Insights apart
    assert monthly_factor(timedelta(hours=2)) == pytest.approx(360)
    assert monthly_factor(timedelta(minutes=59)) is None and monthly_factor(None) is None


def test_monthly_cost_from_the_span_and_the_price_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = mixed_records()  # two hours exactly: a month is 360 times the logs
    folder = logs(tmp_path, records)
    data = sum(category_of(r) == "Data" for r in records)
    management = sum(category_of(r) == "Management" for r in records)
    document = run_json(capsys, "--selectors", selectors_file(tmp_path, [MANAGEMENT, ALL_S3]), folder)
    cost = document["cost"]
    assert cost["month_over_span"] == pytest.approx(360)
    assert cost["monthly"]["baseline"]["data_events"] == pytest.approx(round(data * 360 / 100_000 * 0.10, 4))
    assert cost["monthly"]["proposal"]["data_events"] == pytest.approx(round(120 * 360 / 100_000 * 0.10, 4))
    assert cost["monthly"]["proposal"]["management"] == 0  # the first copy is free
    assert (cost["defaults_read"], cost["store"]) == ("2026-11-30", "trail")
    document = run_json(capsys, "--selectors", selectors_file(tmp_path, [MANAGEMENT, ALL_S3]), folder,
                        "--management-copy", "additional", "--price-management-copy", "3", "--price-data-events", "1")
    monthly = document["cost"]["monthly"]["proposal"]
    assert monthly["management"] == pytest.approx(round(management * 360 / 100_000 * 3, 4))
    assert monthly["data_events"] == pytest.approx(round(120 * 360 / 100_000 * 1, 4))
    document = run_json(capsys, "--selectors", selectors_file(tmp_path, [MANAGEMENT, ALL_S3]), folder,
                        "--store", "lake", "--price-lake-gb", "4")
    kept_bytes = sum(compact_size(r) for r in records if kept_by(["management", "all s3"])(r) and category_of(r) != "Insight")
    assert document["cost"]["logged"]["proposal"]["lake"] == pytest.approx(round(kept_bytes / 2**30 * 4, 4), abs=1e-4)


def test_too_short_a_span_is_not_extrapolated(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    records = [s3_event(n, "web", "GetObject", T0 + timedelta(minutes=n)) for n in range(30)]
    folder = logs(tmp_path, records)
    document = run_json(capsys, "--selectors", selectors_file(tmp_path, [ALL_S3]), folder)
    assert document["cost"]["monthly"] is None and document["span"]["seconds"] == 29 * 60
    assert document["cost"]["logged"]["proposal"]["data_events"] == pytest.approx(round(30 / 100_000 * 0.10, 4))
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "selectors", "impact", "--selectors", selectors_file(tmp_path, [ALL_S3]), folder)
    assert code == 0 and "too little to extrapolate a month (29 minutes, under an hour)" in out.replace("\n", " ")


# --- input shapes ---------------------------------------------------------------------------------------------------


def test_the_three_shapes_give_the_same_counts_and_data_store_output_means_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = logs(tmp_path, mixed_records())
    selectors = [MANAGEMENT, S3_WRITES_TWO]
    shapes = {
        "list": selectors,
        "get-event-selectors": {"TrailARN": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t", "AdvancedEventSelectors": selectors},
        "get-event-data-store": {
            "EventDataStoreArn": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:eventdatastore/EXAMPLE", "Name": "store",
            "Status": "ENABLED", "AdvancedEventSelectors": selectors, "MultiRegionEnabled": True,
            "OrganizationEnabled": False, "RetentionPeriod": 2557, "TerminationProtectionEnabled": True,
            "BillingMode": "FIXED_RETENTION_PRICING",
        },
    }
    documents = {name: run_json(capsys, "--selectors", selectors_file(tmp_path, shape, f"{name}.json"), folder)
                 for name, shape in shapes.items()}
    assert len({json.dumps(d["groups"], sort_keys=True) for d in documents.values()}) == 1
    assert [d["cost"]["store"] for d in documents.values()] == ["trail", "trail", "lake"]
    lake = documents["get-event-data-store"]["cost"]
    assert (lake["lake_pricing"], lake["lake_per_gb"]) == ("seven-year", LAKE_GB_PRICES["seven-year"])
    assert store_of(shapes["get-event-data-store"]) == ("lake", "seven-year")
    assert store_of({"EventDataStoreArn": "x", "BillingMode": "EXTENDABLE_RETENTION_PRICING"}) == ("lake", "one-year")
    assert store_of(selectors) == (None, None)


def test_get_event_data_store_output_is_a_selector_set_for_every_loader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = selectors_file(tmp_path, {"EventDataStoreArn": "arn:aws:cloudtrail:us-east-1:1:eventdatastore/x",
                                     "AdvancedEventSelectors": [MANAGEMENT], "BillingMode": "EXTENDABLE_RETENTION_PRICING"})
    code, out, _ = run(capsys, "validate", "--cloudtrail", path)
    assert code == 0 and "1 selectors" in out and "CloudTrail would accept" in out


def test_event_category_is_inferred_for_old_records() -> None:
    assert event_category({"eventCategory": "Data"}) == ("Data", False)
    assert event_category({"eventType": "AwsCloudTrailInsight"}) == ("Insight", True)
    assert event_category({"eventType": "AwsVpceEvent"}) == ("NetworkActivity", True)
    assert event_category({"managementEvent": False}) == ("Data", True)
    assert event_category({"eventName": "GetRole"}) == ("Management", True)


def test_an_insights_store_governs_insights_events() -> None:
    insights = Keeper(parse_selectors([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]))
    management = Keeper(parse_selectors([MANAGEMENT]))
    record = insight_event(1, T0)
    assert insights.matched(record, "Insight", False) == ("selector-0",)
    assert management.matched(record, "Insight", False) is None  # kept whatever these say


# --- refusals -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"Name": "no category", "FieldSelectors": [{"Field": "eventName", "Equals": ["GetObject"]}]}],
         "CloudTrail would refuse these selectors: selector 0 ('no category'): no 'eventCategory' field selector"),
        ([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                              {"Field": "userIdentity.type", "Equals": ["Root"]}]}],
         "'userIdentity.type' is an extended field"),
        ({"rules": [{"name": "x", "selectors": [MANAGEMENT]}]}, "a rules file; selectors impact takes a selector set"),
        ({"EventSelectors": [{"ReadWriteType": "All"}]}, "basic 'EventSelectors' are not supported"),
        ([{"FieldSelectors": [{"Field": "eventCategory", "Equal": ["Data"]}]}], "unknown key 'Equal'"),
    ],
)
def test_selectors_cloudtrail_would_refuse_or_that_are_not_selectors_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, message: str
) -> None:
    path = selectors_file(tmp_path, document)
    code, out, err = run(capsys, "selectors", "impact", "--selectors", path, str(tmp_path))
    assert (code, out) == (2, "")
    assert err.startswith(f"trailsift: error: {path}: ") and message in err and err.count("\n") == 1


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = selectors_file(tmp_path, [MANAGEMENT])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    cases = [
        (["--selectors", str(bad), str(tmp_path)], 2, "not valid JSON"),
        (["--selectors", str(tmp_path / "missing.json"), str(tmp_path)], 2, "cannot read"),
        (["--selectors", good, str(tmp_path / "nowhere")], 2, "no such file or directory"),
        (["--selectors", good, "--against", str(bad), str(tmp_path)], 2, "bad.json"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    write_log_file(empty, {"digestStartTime": "2026-11-20T00:00:00Z", "logFiles": []},
                   f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/20/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T010000Z.json.gz")
    cases.append((["--selectors", good, str(empty)], 1, "no records found in"))
    for argv, expected, message in cases:
        code, out, err = run(capsys, "selectors", "impact", *argv)
        assert (code, out) == (expected, ""), argv
        assert err.startswith("trailsift: error: ") and message in err and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_a_corrupt_file_is_reported_and_the_rest_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = logs(tmp_path, mixed_records())
    broken = Path(folder, f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/20/{ACCOUNT}_CloudTrail_us-east-1_20261120T0900Z_cccccccccccccccc.json.gz")
    broken.write_bytes(gzip.compress(b'{"Records": [')[:-4])
    code, out, err = run(capsys, "selectors", "impact", "--format", "json", "--selectors", selectors_file(tmp_path, [MANAGEMENT]), folder)
    assert code == 1 and f"trailsift: failed: {broken}" in err
    document = json.loads(out)
    assert document["files"] == {"read": 2, "skipped": 0, "failed": 1}
    assert document["events"] == len(mixed_records())


# --- s3:// -------------------------------------------------------------------------------------------------------------


def test_s3_locations_are_read_with_replays_filters(aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="trail-bucket")
    records = mixed_records()
    for stamp, part in (("0700", records[:100]), ("0805", records[100:])):
        key = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/20/{ACCOUNT}_CloudTrail_us-east-1_20261120T{stamp}Z_aaaaaaaaaaaaaaaa.json.gz"
        s3.put_object(Bucket="trail-bucket", Key=key, Body=gzip.compress(json.dumps({"Records": part}).encode()))
    path = selectors_file(tmp_path, [MANAGEMENT, ALL_S3])
    document = run_json(capsys, "--selectors", path, "s3://trail-bucket")
    assert document["events"] == len(records) and document["files"]["read"] == 2
    document = run_json(capsys, "--selectors", path, "s3://trail-bucket", "--since", "2026-11-20T08:00Z")
    assert document["events"] == len(records) - 100 and document["files"]["read"] == 1


# --- the README's example ------------------------------------------------------------------------------------------


def test_the_readmes_example_is_the_real_output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    command = ("$ trailsift selectors impact --selectors events/selectors/writes-to-two-buckets.json \\\n"
               "      --against events/selectors/trail-all-s3-data.json events/selectors/logs\n")
    shown = readme.split(command, 1)[1].split("\n```", 1)[0] + "\n"
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "selectors", "impact", "--selectors", "events/selectors/writes-to-two-buckets.json",
                         "--against", "events/selectors/trail-all-s3-data.json", "events/selectors/logs")
    assert (code, err) == (0, "")
    assert out == shown
    assert "newly dropped" in out and "-$0.12" in out
