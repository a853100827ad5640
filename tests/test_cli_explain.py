"""`trailsift explain`: one record against the rules, field selector by field selector."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import run
from trailsift.engine import RuleEngine
from trailsift.rules import default_rules

LOGIN = {
    "eventVersion": "1.08", "eventID": "login-1", "eventTime": "2024-01-01T00:00:00Z",
    "eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn",
    "awsRegion": "us-east-1", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
    "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"},
}
STOP = {"eventID": "stop-1", "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
        "eventCategory": "Management", "readOnly": False, "userIdentity": {"type": "Root"}}
SELECTORS = [{"Name": "trail tampering", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]},
    {"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail", "UpdateTrail"]},
]}]


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "123456789012_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(json.dumps({"Records": [STOP, "not a record", LOGIN]}).encode()))
    return path


def test_file_index_of_a_log_file(capsys, log_file: Path) -> None:
    code, out, err = run(capsys, "explain", f"{log_file}:2")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("record …") and lines[0].endswith(f"{log_file.name[-40:]}:2") and len(lines[0]) == 80
    assert lines[1] == "  ConsoleLogin (signin.amazonaws.com) at 2024-01-01T00:00:00Z"
    assert lines[2] == "  eventID login-1"
    assert lines[3] == "matches 1 of 15 rules: console-login-without-mfa"
    block = out.split("MATCH  console-login-without-mfa  [high]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block == [
        "  selector 0 ('console sign-in without MFA'): matches",
        "    held    eventName  Equals [ConsoleLogin]",
        '            value "ConsoleLogin": satisfies Equals "ConsoleLogin"',
        "    held    userIdentity.type  Equals [IAMUser]",
        '            value "IAMUser": satisfies Equals "IAMUser"',
        "    held    responseElements.ConsoleLogin  Equals [Success]",
        '            value "Success": satisfies Equals "Success"',
        "    held    additionalEventData.MFAUsed  NotEquals [Yes]",
        '            value "No": hits no exclude condition',
    ]
    root = out.split("no match  root-account-use  [critical]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert root[0] == "  selector 0 ('root activity'): 1 of 3 field selectors failed"
    assert root[1:3] == ["    FAILED  userIdentity.type  Equals [Root]", '            value "IAMUser": satisfies no include condition']
    assert out.count("MATCH  ") == 1 and out.count("no match  ") == 14  # every rule is shown


def test_every_line_fits_the_terminal(capsys, monkeypatch: pytest.MonkeyPatch, log_file: Path) -> None:
    for columns in (80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        code, out, _ = run(capsys, "explain", f"{log_file}:2")
        assert code == 0
        assert max(len(line) for line in out.splitlines()) <= columns
    monkeypatch.setenv("COLUMNS", "40")  # 80 at least
    assert max(len(line) for line in run(capsys, "explain", f"{log_file}:2")[1].splitlines()) == 80


def test_verdicts_agree_with_replay_on_the_sample_logs(capsys, events_logs: Path) -> None:
    engine = RuleEngine(default_rules())
    code, out, _ = run(capsys, "replay", "--format", "jsonl", "--with-record", str(events_logs))
    matches = [json.loads(line) for line in out.splitlines()]
    assert matches
    for match in matches[:12]:
        code, text, _ = run(capsys, "explain", "--format", "json", f"{match['file']}:{match['index']}")
        explained = json.loads(text)
        assert explained["matched"] == match["rules"] == list(engine.match(match["record"]))
        assert explained["record"] == f"{match['file']}:{match['index']}"


def test_stdin_a_record_or_a_replay_line(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, json.dumps(STOP).encode())
    code, out, _ = run(capsys, "explain", "-")
    assert code == 0
    assert out.splitlines()[0] == "record stdin"
    assert "matches 2 of 15 rules: root-account-use, cloudtrail-changes" in out
    line = {"file": "x.json.gz", "index": 7, "eventID": "stop-1", "rules": ["cloudtrail-changes"], "record": STOP}
    stdin(monkeypatch, json.dumps(line).encode())
    code, out, _ = run(capsys, "explain", "-")
    assert out.splitlines()[0] == "record x.json.gz:7"
    stdin(monkeypatch, json.dumps({"Records": [LOGIN, STOP]}).encode())
    code, out, _ = run(capsys, "explain", "-", "--index", "1", "--rule", "cloudtrail-changes")
    assert code == 0 and "matches 1 of 1 rules chosen of 15: cloudtrail-changes" in out
    assert out.splitlines()[0] == "record stdin:1"
    stdin(monkeypatch, json.dumps({"Records": [LOGIN, STOP]}).encode())
    code, _, err = run(capsys, "explain", "-")
    assert (code, err) == (2, "trailsift: error: stdin: holds 2 records; name one as --index N (0 to 1)\n")


def test_rules_option_takes_selectors_and_warns_like_every_command(capsys, tmp_path: Path, log_file: Path) -> None:
    selectors = tmp_path / "s.json"
    selectors.write_text(json.dumps(SELECTORS))
    code, out, err = run(capsys, "explain", "--rules", str(selectors), f"{log_file}:0")
    assert (code, err) == (0, "")
    assert "matches 1 of 1 rules: trail tampering" in out
    assert "  selector 0 ('trail tampering'): matches" in out
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps([{"Name": "x", "FieldSelectors": [{"Field": "eventname", "Equals": ["StopLogging"]}]}]))
    code, out, err = run(capsys, "explain", "--selectors", str(typo), f"{log_file}:0")
    assert code == 0
    assert err == (f"trailsift: warning: {typo}: selector 0 ('x'), field selector 0: 'eventname' is not a CloudTrail "
                   "record field; did you mean 'eventName'?\n")
    assert "            no value, so no include condition holds\n" in out
    assert "            no record has this field; did you mean 'eventName'?\n" in out


def test_json_format(capsys, log_file: Path) -> None:
    code, out, _ = run(capsys, "explain", "--format", "json", "--rule", "console-login-without-mfa", f"{log_file}:2")
    document: dict[str, Any] = json.loads(out)
    assert document["matched"] == ["console-login-without-mfa"]
    (rule,) = document["rules"]
    fs = rule["selectors"][0]["field_selectors"][3]
    assert fs == {
        "field": "additionalEventData.MFAUsed", "conditions": {"NotEquals": ["Yes"]}, "values": ["No"], "held": True,
        "included_by": None, "excluded_by": None, "reason": "no value hits an exclude condition",
    }


def test_hostile_values_are_escaped_and_cut(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    record = {"eventName": "ConsoleLogin\x1b[31m\u202e", "userIdentity": {"type": "IAMUser" + "x" * 500},
              "eventID": "a\nb"}
    stdin(monkeypatch, json.dumps(record).encode())
    code, out, _ = run(capsys, "explain", "-", "--rule", "console-login-without-mfa")
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out and "\nb" not in out
    assert '            value "ConsoleLogin\ufffd[31m\ufffd": satisfies no include condition' in out
    assert max(len(line) for line in out.splitlines()) <= 80
    (cut,) = [line for line in out.splitlines() if line.startswith('            value "IAMUserxxx')]
    assert len(cut) == 80 and cut.endswith("…")


@pytest.mark.parametrize(
    ("spec", "content", "message"),
    [
        ("{log}:9", None, "{log}: no record 9; it holds 3 (0 to 2)"),
        ("{log}:1", None, "{log}:1: not a record (not a JSON object)"),
        ("{log}", None, "{log}: holds 3 records; name one as {log}:INDEX (0 to 2)"),
        ("{tmp}/nope.json.gz:3", None, "{tmp}/nope.json.gz:3: no such file (give FILE:INDEX, FILE or -)"),
        ("{tmp}", None, "{tmp}: not a file (give FILE:INDEX, FILE or -)"),
        ("{log}:2 --index 1", None, "{log}:2: and --index 1: give the index once"),
        ("-", b"[1, 2]", "stdin: not a record (a JSON object) nor a log file ({{\"Records\": [...]}})"),
        ("-", b"{nope", "stdin: not valid JSON: "),
        ("-", b"\x1f\x8b\x08\x00garbage", "stdin: truncated gzip data"),
    ],
)
def test_bad_records_are_one_line_usage_errors(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, log_file: Path, spec: str, content: bytes | None, message: str
) -> None:
    if content is not None:
        stdin(monkeypatch, content)
    code, out, err = run(capsys, "explain", *spec.format(log=log_file, tmp=tmp_path).split())
    assert (code, out) == (2, "")
    assert err.startswith("trailsift: error: " + message.format(log=log_file, tmp=tmp_path))
    assert err.count("\n") == 1


def test_unknown_rule_names_the_closest(capsys, log_file: Path) -> None:
    code, out, err = run(capsys, "explain", f"{log_file}:2", "--rule", "console-login")
    assert (code, out) == (2, "")
    assert err == "trailsift: error: no rule 'console-login' in trailsift:rules/default.json; closest: console-login-without-mfa\n"
