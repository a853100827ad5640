"""``trailsift query`` in-process against moto: each query kind, both formats, usage errors (2) and AWS errors (1)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from tests.cli_run import run
from trailsift.aws.dynamodb import IndexWriter
from trailsift.index import TABLE_DEFINITION, index_items
from trailsift.cli.query import parse_duration, parse_time
from trailsift.rules import Rule, Severity
from trailsift.scan import Match

TABLE = "trailsift-index"
LOCATION = (
    "s3://trail-bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/"
    "111122223333_CloudTrail_us-east-1_20240102T0005Z_AbCdEfGhIjKlMnOp.json.gz"
)
ALICE = "arn:aws:iam::111122223333:user/alice"
EVIL = "arn:aws:iam::444455556666:user/\x1b[2Jevil\nname"
TRAIL = Rule("cloudtrail-changes", (), Severity.HIGH)
DENIED = Rule("unauthorized-api-calls", (), Severity.MEDIUM)
RECENT = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
TABLE_COLUMNS = ["time", "severity", "rule", "event", "account", "region", "source", "IP", "error", "principal"]


def record(event_id: str, event_time: str, principal: str | None, account: str, name: str, **extra: Any) -> dict:
    identity = {"type": "IAMUser", "accountId": account} | ({"arn": principal} if principal else {})
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": event_time, "eventName": name,
            "eventSource": "cloudtrail.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
            "recipientAccountId": account, "userIdentity": identity, **extra}


EVENTS = [
    (record("e1", "2024-01-01T00:00:00Z", ALICE, "111122223333", "StopLogging"), (TRAIL,)),
    (record("e2", "2024-01-01T10:00:00Z", ALICE, "111122223333", "DeleteTrail", errorCode="AccessDenied"),
     (TRAIL, DENIED)),
    (record("e3", "2024-01-02T00:00:00Z", None, "111122223333", "UpdateTrail"), (TRAIL,)),
    (record("e4", "2024-01-02T12:00:00Z", EVIL, "444455556666", "Stop\x07Logging\r"), (TRAIL,)),
    (record("e5", RECENT, ALICE, "111122223333", "StopLogging",
            responseElements={"credentials": {"sessionToken": "SECRET-TOKEN"}}), (TRAIL,)),
]


@pytest.fixture
def table(aws: Any) -> str:
    client = boto3.client("dynamodb")
    client.create_table(TableName=TABLE, **TABLE_DEFINITION)
    rows = [item for rec, rules in EVENTS
            for item in index_items(Match(LOCATION, 3, rec, tuple(r.name for r in rules)), list(rules), LOCATION,
                                    indexed_at=1_704_067_200, retention_days=90)]
    IndexWriter(client, TABLE).write(rows)
    return TABLE


def jsonl(out: str) -> list[dict]:
    assert out == "" or out.endswith("\n")
    return [json.loads(line) for line in out.split("\n")[:-1]]


def test_rule_as_table(table: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line a row (80 columns: test_table_fits_80_columns)
    code, out, err = run(capsys, "query", "--rule", "cloudtrail-changes", "--table", table, "--until", "2024-01-03")
    assert code == 0 and err == ""
    header, *lines = out.splitlines()
    assert header.split() == TABLE_COLUMNS
    assert [line.split()[0] for line in lines] == [
        "2024-01-02T12:00:00Z", "2024-01-02T00:00:00Z", "2024-01-01T10:00:00Z", "2024-01-01T00:00:00Z"]
    assert lines[2].split() == ["2024-01-01T10:00:00Z", "high", "cloudtrail-changes", "DeleteTrail", "111122223333",
                                "us-east-1", "198.51.100.7", "AccessDenied", ALICE]
    assert lines[1].split()[3:5] == ["UpdateTrail", "111122223333"]  # no principal: the cell is empty


def test_table_fits_80_columns(table: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "query", "--rule", "cloudtrail-changes", "--table", table, "--until", "2024-01-03")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert lines[0].split() == ["time", "severity", "rule", "event"]  # a row takes two lines
    assert lines[1].split() == ["account", "region", "source", "IP", "error", "principal"]
    assert lines[6].split() == ["2024-01-01T10:00:00Z", "high", "cloudtrail-changes", "DeleteTrail"]
    *rest, principal = lines[7].split()
    assert rest == ["111122223333", "us-east-1", "198.51.100.7", "AccessDenied"]
    assert principal == ALICE or principal.startswith("…") and ALICE.endswith(principal[1:])  # cut: its end kept
    assert "\x1b" not in out  # not a terminal: no colour


def test_table_output_neutralizes_control_characters(table: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = run(capsys, "query", "--account", "444455556666", "--table", table)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert len(out.splitlines()) == 2  # the newline inside the principal did not start a new line


def test_principal_as_jsonl_with_a_range(table: str, capsys) -> None:
    code, out, _ = run(capsys, "query", "--principal", ALICE, "--since", "2024-01-01T10:00:00Z",
                       "--until", "2024-01-02", "--format", "jsonl", "--table", table)
    assert code == 0
    rows = jsonl(out)
    assert [(r["eventID"], r["rule"]) for r in rows] in (
        [("e2", "cloudtrail-changes"), ("e2", "unauthorized-api-calls")],
        [("e2", "unauthorized-api-calls"), ("e2", "cloudtrail-changes")])
    assert rows[0]["principal"] == ALICE and rows[0]["account"] == "111122223333"
    assert rows[0]["logFile"] == LOCATION and rows[0]["errorCode"] == "AccessDenied"
    assert "event" not in rows[0]


def test_account_with_limit(table: str, capsys) -> None:
    code, out, _ = run(capsys, "query", "--account", "111122223333", "--limit", "2", "--format", "jsonl",
                       "--table", table)
    assert code == 0
    assert [r["eventID"] for r in jsonl(out)] == ["e5", "e3"]


def test_last(table: str, capsys) -> None:
    code, out, _ = run(capsys, "query", "--rule", "cloudtrail-changes", "--last", "24h", "--format", "jsonl",
                       "--table", table)
    assert code == 0 and [r["eventID"] for r in jsonl(out)] == ["e5"]


def test_event_id_gives_every_row_with_the_masked_event(table: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = run(capsys, "query", "--event-id", "e2", "--format", "jsonl", "--table", table)
    assert code == 0
    rows = jsonl(out)
    assert sorted(r["rule"] for r in rows) == ["cloudtrail-changes", "unauthorized-api-calls"]
    assert rows[0]["event"]["eventName"] == "DeleteTrail" and rows[0]["recordIndex"] == 3
    code, out, _ = run(capsys, "query", "--event-id", "e5", "--format", "jsonl", "--table", table)
    assert "SECRET-TOKEN" not in out and jsonl(out)[0]["event"]["responseElements"]["credentials"]["sessionToken"]
    code, out, _ = run(capsys, "query", "--event-id", "e2", "--table", table)
    assert code == 0 and len(out.splitlines()) == 3


def test_nothing_found(table: str, capsys) -> None:
    assert run(capsys, "query", "--rule", "nope", "--table", table) == (0, "no rows\n", "")
    assert run(capsys, "query", "--event-id", "nope", "--format", "jsonl", "--table", table) == (0, "", "")


def test_stack_output_names_the_table(table: str, capsys) -> None:
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"IndexTableName": {"Value": TABLE}}}
    boto3.client("cloudformation").create_stack(StackName="trailsift", TemplateBody=json.dumps(template))
    code, out, _ = run(capsys, "query", "--account", "444455556666", "--format", "jsonl", "--stack", "trailsift")
    assert code == 0 and [r["eventID"] for r in jsonl(out)] == ["e4"]


def test_stack_without_the_output(aws: Any, capsys) -> None:
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}}}
    boto3.client("cloudformation").create_stack(StackName="other", TemplateBody=json.dumps(template))
    code, out, err = run(capsys, "query", "--rule", "r", "--stack", "other")
    assert code == 1 and out == "" and "no IndexTableName output" in err


def test_missing_stack(aws: Any, capsys) -> None:
    code, out, err = run(capsys, "query", "--rule", "r", "--stack", "nope")
    assert code == 1 and out == "" and "stack 'nope' not found" in err and "Traceback" not in err


def test_missing_table(aws: Any, capsys) -> None:
    code, out, err = run(capsys, "query", "--rule", "r", "--table", "no-such-table")
    assert code == 1 and out == ""
    assert err.startswith("trailsift: error: table 'no-such-table' not found") and "Traceback" not in err


def test_no_region(aws: Any, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, err = run(capsys, "query", "--rule", "r", "--table", "t")
    assert code == 1 and "--region" in err


@pytest.mark.parametrize("argv, message", [
    ((), "one of the arguments"),
    (("--rule", "a", "--account", "1"), "not allowed with"),
    (("--rule", "a", "--table", "t", "--stack", "s"), "not allowed with"),
    (("--rule", "a"), "one of the arguments --table --stack"),
    (("--rule", "", "--table", "t"), "must not be empty"),
    (("--rule", "a", "--table", "t", "--since", "yesterday"), "not a date or time"),
    (("--rule", "a", "--table", "t", "--since", "2024-13-01"), "not a date or time"),
    (("--rule", "a", "--table", "t", "--since", "2024-01-01T10:00:00"), "no time zone"),
    (("--rule", "a", "--table", "t", "--last", "3 days"), "not a duration"),
    (("--rule", "a", "--table", "t", "--last", "0h"), "not a duration"),
    (("--rule", "a", "--table", "t", "--limit", "0"), "at least 1"),
    (("--rule", "a", "--table", "t", "--format", "csv"), "invalid choice"),
    (("--rule", "a", "--table", "t", "--last", "1d", "--since", "2024-01-01"), "--last cannot be combined"),
    (("--rule", "a", "--table", "t", "--since", "2024-01-02", "--until", "2024-01-01"), "is not before --until"),
    (("--rule", "a", "--table", "t", "--since", "2024-01-02", "--until", "2024-01-02"), "is not before --until"),
    (("--event-id", "e1", "--table", "t", "--last", "1d"), "do not apply to --event-id"),
])
def test_usage_errors_exit_2(aws: Any, capsys, argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(capsys, "query", *argv)
    assert code == 2 and out == "" and message in err and "Traceback" not in err


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01", "2024-01-01T00:00:00Z"),
    ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("2024-01-01T10:00Z", "2024-01-01T10:00:00Z"),
    ("2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00Z"),
    ("2024-01-01T10:00:00.250Z", "2024-01-01T10:00:01Z"),  # rounded up: an event at 10:00:00 is before it
    (" 2024-12-31T23:59:59.9Z ", "2025-01-01T00:00:00Z"),
])
def test_parse_time(text: str, expected: str) -> None:
    assert parse_time(text) == expected


def test_parse_duration() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("2W") == timedelta(weeks=2)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("-1h")


def test_other_commands_do_not_import_boto3(write_log_file) -> None:
    path = write_log_file([record("e1", "2024-01-01T00:00:00Z", ALICE, "1", "StopLogging")])
    script = (
        "import sys\n"
        "from trailsift.cli import main\n"
        f"code = main(['replay', '--format', 'jsonl', {str(path)!r}])\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')]\n"
        "assert code == 0 and not loaded, (code, loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
