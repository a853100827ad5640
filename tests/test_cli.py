"""The trailsift command line, run in-process (and once through the installed console script)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli_run import run
from trailsift.cli import main

ACCT = "123456789012"
NAME = f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/01/01/{ACCT}_CloudTrail_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz"
SUMMARY_KEYS = {"file", "index", "eventID", "eventName", "eventTime", "rules"}
SAMPLE_RULE_COUNTS = {
    "root-account-use": 0, "unauthorized-api-calls": 2, "console-login-without-mfa": 1, "iam-policy-changes": 2,
    "cloudtrail-changes": 5, "console-authentication-failures": 0, "kms-key-disabled-or-deleted": 0,
    "s3-bucket-policy-changes": 0, "config-changes": 0, "security-group-changes": 5, "network-acl-changes": 0,
    "network-gateway-changes": 3, "route-table-changes": 3, "vpc-changes": 2, "organizations-changes": 1,
}
SELECTORS = [
    {"Name": "trail tampering", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]},
        {"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail", "UpdateTrail"]},
    ]},
    {"Name": "insights", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]},
]


def record(event_id: str, event_name: str = "DescribeInstances", **extra) -> dict:
    return {"eventVersion": "1.09", "eventID": event_id, "eventName": event_name, "eventCategory": "Management",
            "eventSource": "cloudtrail.amazonaws.com" if "Trail" in event_name or "Logging" in event_name else "ec2.amazonaws.com",
            "eventTime": "2024-01-01T00:00:00Z", "awsRegion": "us-east-1", **extra}


def jsonl(out: str) -> list[dict]:
    # split on "\n" only: str.splitlines() would also split inside strings holding U+2028
    assert out == "" or out.endswith("\n")
    return [json.loads(line) for line in out.split("\n")[:-1]]


def records_of(path: str | Path) -> list:
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data)["Records"]


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


# --- replay -------------------------------------------------------------------------------------


def test_replay_default_pack_text(capsys, monkeypatch, events_logs: Path) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line a match, nothing folded (narrow terminals: test_cli_replay)
    code, out, err = run(capsys, "replay", str(events_logs))
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["#", "time", "severity", "rule", "event", "region", "source", "IP", "principal"]
    rows = [line for line in lines[1 : lines.index("")] if re.match(r" *\d+  \d{4}-", line)]
    assert len(rows) == 23
    assert any("StopLogging" in row and "cloudtrail-changes" in row and "critical" in row for row in rows)
    login = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json.gz"
    assert lines[lines.index(login) + 1].split()[:5] == ["10", "2023-07-10T12:23:15Z", "high", "console-login-without-mfa", "ConsoleLogin"]
    assert "files: 19 read, 5 skipped, 0 failed" in lines
    assert "records: 213 scanned, 23 matched" in lines
    assert any(re.fullmatch(r"elapsed: \d+\.\d\d s \([\d,]+ records/s\)", line) for line in lines)
    start = lines.index("matches per rule:")
    per_rule = {}
    for line in lines[start + 1 : start + 1 + len(SAMPLE_RULE_COUNTS)]:
        name, count, severity = line.split()
        per_rule[name] = int(count)
        assert re.fullmatch(r"\[(info|low|medium|high|critical)\]", severity)
    assert per_rule == SAMPLE_RULE_COUNTS
    skipped = lines[lines.index("files skipped:") + 1 :]
    assert any("CloudTrail-Digest" in line and line.endswith(": CloudTrail digest file (integrity hashes, no events)") for line in skipped)
    assert any(line.endswith("ConfigWritabilityCheckFile: AWS Config writability probe, not a log file") for line in skipped)
    assert "files failed:" not in lines


def test_replay_default_pack_jsonl(capsys, events_logs: Path) -> None:
    code, out, err = run(capsys, "replay", "--format", "jsonl", str(events_logs))
    assert code == 0
    assert err == ""
    matches = jsonl(out)
    assert len(matches) == 23
    for match in matches:
        assert SUMMARY_KEYS <= set(match)
        assert "record" not in match
        assert isinstance(match["rules"], list) and match["rules"]
        # index is the true 0-based position of the record in the file's Records
        records = records_of(match["file"])
        assert records[match["index"]]["eventID"] == match["eventID"]
        assert records[match["index"]]["eventName"] == match["eventName"]
        assert records[match["index"]]["eventTime"] == match["eventTime"]
    login = [m for m in matches if m["eventName"] == "ConsoleLogin"]
    assert [(m["index"], m["rules"]) for m in login] == [(10, ["console-login-without-mfa"])]
    both = [m for m in matches if m["eventName"] == "LeaveOrganization"]
    assert both[0]["rules"] == ["unauthorized-api-calls", "organizations-changes"]


def test_jsonl_index_skips_nothing_when_entries_are_not_objects(capsys, tmp_path: Path, write_log_file) -> None:
    path = write_log_file([7, record("r1", "StopLogging"), "x", record("r3", "StopLogging")], NAME)
    code, out, err = run(capsys, "replay", "--format", "jsonl", "--with-record", str(path))
    assert code == 0
    matches = jsonl(out)
    assert [(m["index"], m["eventID"]) for m in matches] == [(1, "r1"), (3, "r3")]
    assert matches[0]["record"] == record("r1", "StopLogging")
    assert matches[0]["file"] == str(path)
    assert f"trailsift: skipped: {path} record 0: record is a number, expected an object" in err
    assert f"trailsift: skipped: {path} record 2: record is a string, expected an object" in err


def test_text_output_without_matches(capsys, write_log_file) -> None:
    path = write_log_file([record("r0")], NAME)
    code, out, _ = run(capsys, "replay", str(path))
    assert code == 0
    assert out.startswith("no matches\n")
    assert "records: 1 scanned, 0 matched" in out


@pytest.mark.parametrize("shape", ["list", "get-event-selectors"])
def test_replay_with_selectors(capsys, tmp_path: Path, events_logs: Path, shape: str) -> None:
    document = SELECTORS if shape == "list" else {
        "TrailARN": f"arn:aws:cloudtrail:us-east-1:{ACCT}:trail/example", "AdvancedEventSelectors": SELECTORS}
    selectors = write_json(tmp_path / "selectors.json", document)
    code, out, err = run(capsys, "replay", "--selectors", str(selectors), "--format", "jsonl", str(events_logs))
    assert code == 0, err
    matches = jsonl(out)
    by_rule: dict[str, set[str]] = {}
    for match in matches:
        for rule in match["rules"]:
            by_rule.setdefault(rule, set()).add(match["eventName"] or match["eventID"])
    assert by_rule["trail tampering"] == {"StopLogging", "UpdateTrail"}
    assert len([m for m in matches if m["rules"] == ["insights"]]) == 2
    code, out, _ = run(capsys, "replay", "--selectors", str(selectors), str(events_logs))
    assert re.search(r"^  trail tampering\s+2\s+\[medium\]$", out, re.M)
    assert re.search(r"^  insights\s+2\s+\[medium\]$", out, re.M)


def test_replay_with_yaml_rules(capsys, tmp_path: Path, events_logs: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        # who touched the trail?
        rules:
          - name: trail-off
            severity: critical
            selectors:
              - FieldSelectors:
                  - {Field: eventName, Equals: [StopLogging]}
          - name: bert-jan
            severity: info
            destinations: [index]
            selectors:
              - FieldSelectors:
                  - Field: userIdentity.arn
                    EndsWith: [":user/bert-jan"]
                  - Field: readOnly
                    Equals: ["false"]
        """))
    code, out, err = run(capsys, "replay", "--rules", str(rules), "--format", "jsonl", str(events_logs))
    assert code == 0, err
    matches = jsonl(out)
    assert [m["eventName"] for m in matches if "trail-off" in m["rules"]] == ["StopLogging"]
    bert = [m for m in matches if "bert-jan" in m["rules"]]
    assert bert and all(m["principal"].endswith(":user/bert-jan") for m in bert)
    for match in bert:
        assert records_of(match["file"])[match["index"]]["readOnly"] is False
    code, out, _ = run(capsys, "replay", "--rules", str(rules), str(events_logs))
    assert code == 0
    assert re.search(r"^  trail-off\s+1\s+\[critical\]$", out, re.M)
    assert re.search(rf"^  bert-jan\s+{len(bert)}\s+\[info\]$", out, re.M)


def test_corrupt_file_exits_1_and_others_are_still_reported(capsys, monkeypatch, tmp_path: Path, events_logs: Path) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    tree = tmp_path / "logs"
    shutil.copytree(events_logs, tree)
    good = next(tree.glob("AWSLogs/111122223333/CloudTrail/*/*/*/*/*.json.gz"))
    corrupt = tree / NAME
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(good.read_bytes()[:100])
    code, out, err = run(capsys, "replay", str(tree))
    assert code == 1
    assert "files: 19 read, 5 skipped, 1 failed" in out
    assert "records: 213 scanned, 23 matched" in out
    failed = out.split("files failed:\n", 1)[1].splitlines()
    assert failed == [f"  {corrupt.relative_to(tree)}: truncated gzip data (the stream ends before its end marker)"]
    assert "UpdateTrail" in out  # the good files' matches are there

    code, out, err = run(capsys, "replay", "--format", "jsonl", str(tree))
    assert code == 1
    assert len(jsonl(out)) == 23
    assert err == f"trailsift: failed: {corrupt}: truncated gzip data (the stream ends before its end marker)\n"


def test_invalid_rules_exit_2_with_message_pointing_at_the_fault(capsys, tmp_path: Path, events_logs: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - name: ok
            selectors:
              - FieldSelectors: [{Field: eventName, Equals: [StopLogging]}]
          - name: broken
            selectors:
              - Name: first
                FieldSelectors:
                  - {Field: eventName, Equals: [x]}
                  - {Field: errorCode, equals: [AccessDenied]}
        """))
    code, out, err = run(capsys, "replay", "--rules", str(rules), str(events_logs))
    assert code == 2
    assert out == ""
    assert err.startswith(f"trailsift: error: {rules}: rule 1 ('broken'): selector 0 ('first'), field selector 1: unknown key 'equals'")
    assert "did you mean 'Equals'?" in err


def test_invalid_selectors_and_unreadable_rules_exit_2(capsys, tmp_path: Path, events_logs: Path) -> None:
    selectors = write_json(tmp_path / "sel.json", [{"FieldSelectors": [{"Field": "eventName", "Equals": []}]}])
    code, out, err = run(capsys, "replay", "--selectors", str(selectors), str(events_logs))
    assert code == 2 and out == ""
    assert f"{selectors}: selector 0, field selector 0 (Field 'eventName'), operator 'Equals': empty list" in err

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, err = run(capsys, "replay", "--rules", str(broken), str(events_logs))
    assert code == 2 and out == ""
    assert f"{broken}: not valid JSON" in err

    code, out, err = run(capsys, "replay", "--rules", str(tmp_path / "missing.yaml"), str(events_logs))
    assert code == 2 and out == ""
    assert "missing.yaml: cannot read" in err


def test_nonexistent_path_exits_2_before_reading_anything(capsys, tmp_path: Path, events_logs: Path) -> None:
    missing = tmp_path / "nope"
    code, out, err = run(capsys, "replay", str(events_logs), str(missing))
    assert code == 2
    assert out == ""
    assert err == f"trailsift: error: {missing}: no such file or directory\n"


def test_rules_and_selectors_together_exit_2(capsys, tmp_path: Path, events_logs: Path) -> None:
    selectors = write_json(tmp_path / "s.json", SELECTORS)
    with pytest.raises(SystemExit) as info:
        main(["replay", "--rules", str(selectors), "--selectors", str(selectors), str(events_logs)])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "not allowed with argument" in err


def test_replay_needs_a_path(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["replay"])
    assert info.value.code == 2
    assert "PATH" in capsys.readouterr().err


def test_max_decompressed_bytes(capsys, events_logs: Path) -> None:
    code, out, _ = run(capsys, "replay", "--max-decompressed-bytes", "100", str(events_logs))
    assert code == 1
    assert "files: 0 read, 5 skipped, 19 failed" in out
    assert "decompresses to more than 100 bytes; refused" in out


def test_max_record_bytes(capsys, monkeypatch, events_logs: Path) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = run(capsys, "replay", "--max-record-bytes", "1000", str(events_logs))
    assert code == 1
    assert "record is larger than the limit of 1000 bytes (max record size)" in out
    code, out, _ = run(capsys, "replay", "--max-record-bytes", str(1 << 20), str(events_logs))
    assert code == 0 and "failed" not in out.split("files:")[1].split("\n")[0].replace(" 0 failed", "")


@pytest.mark.parametrize("option", ["--max-decompressed-bytes", "--max-record-bytes"])
@pytest.mark.parametrize("value", ["-5", "0", "lots"])
def test_bad_limits_are_a_usage_error(capsys, events_logs: Path, option: str, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["replay", option, value, str(events_logs)])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert option in err


def test_long_lists_are_cut_and_record_problems_shown(capsys, monkeypatch, tmp_path: Path, write_log_file) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    for i in range(25):
        (tmp_path / f"note-{i:02d}.txt").write_text("x")
    path = write_log_file([record("r0"), 1, None], NAME)
    code, out, _ = run(capsys, "replay", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert "files: 1 read, 25 skipped, 0 failed" in lines
    assert "records: 1 scanned, 0 matched, 2 skipped (not objects)" in lines
    skipped = lines[lines.index("files skipped:") + 1 :]
    assert len(skipped) == 21
    assert skipped[-1] == "  ... and 5 more"
    problems = lines[lines.index("records skipped:") + 1 : lines.index("files skipped:")]
    shown = path.relative_to(tmp_path)
    assert problems == [f"  {shown} record 1: record is a number, expected an object",
                        f"  {shown} record 2: record is null, expected an object"]


def test_console_script(events_logs: Path) -> None:
    script = Path(sys.executable).with_name("trailsift")
    assert script.is_file(), f"console script not installed next to {sys.executable}"
    done = subprocess.run([str(script), "replay", "--format", "jsonl", str(events_logs)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 23
    assert all(SUMMARY_KEYS <= set(json.loads(line)) for line in done.stdout.splitlines())


# --- jsonl does not depend on how the JSON was written --------------------------------------------


def test_jsonl_is_identical_for_reencoded_files(capsys, tmp_path: Path, events_logs: Path) -> None:
    original = tmp_path / "original"
    shutil.copytree(events_logs, original)
    # and a file with non-ASCII text, escapes and numbers in the fields jsonl prints
    odd = [
        record("ü-1", "StopLogging", sourceIPAddress="ünïcödé.example", errorCode="AccessDenied",
               userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/Zoë 😀"},
               userAgent="a\"b\\c\u2028", requestParameters={"n": 1, "f": 1.5, "e": 1e3, "t": True, "z": None}),
        record("ascii\u0001ctl", "DeleteTrail", recipientAccountId=ACCT),
    ]
    target = original / NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress(json.dumps({"Records": odd}, ensure_ascii=False, separators=(",", ":")).encode()))

    reencoded = tmp_path / "reencoded"
    for path in sorted(original.rglob("*")):
        copy = reencoded / path.relative_to(original)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
            continue
        data = path.read_bytes()
        if data[:2] != b"\x1f\x8b":
            copy.write_bytes(data)  # not gzip: licences, the zero-byte probe
            continue
        text = gzip.decompress(data)
        document = json.loads(text)
        again = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True).encode()
        assert again != text
        copy.write_bytes(gzip.compress(again))

    code, first, _ = run(capsys, "replay", "--format", "jsonl", str(original))
    assert code == 0
    code, second, _ = run(capsys, "replay", "--format", "jsonl", str(reencoded))
    assert code == 0
    assert first.count("\n") == 25
    assert second != first  # the file names do differ
    assert second.replace(str(reencoded), str(original)) == first  # and nothing else, byte for byte
    odd_lines = [line for line in first.split("\n") if NAME in line]
    assert [json.loads(line)["eventID"] for line in odd_lines] == ["ü-1", "ascii\u0001ctl"]
    assert "Zoë 😀" in odd_lines[0]

    # with the whole record: the same records (their keys keep the file's order, so compare parsed)
    code, first, _ = run(capsys, "replay", "--format", "jsonl", "--with-record", str(original))
    code, second, _ = run(capsys, "replay", "--format", "jsonl", "--with-record", str(reencoded))
    assert jsonl(second.replace(str(reencoded), str(original))) == jsonl(first)
    (mine,) = [m for m in jsonl(first) if m["eventID"] == "ü-1"]
    assert mine["record"] == odd[0]


# --- validate -----------------------------------------------------------------------------------


def test_validate_valid_rules(capsys) -> None:
    pack = Path(__file__).resolve().parent.parent / "layers/trailsift/trailsift/rules/default.json"
    code, out, err = run(capsys, "validate", str(pack))
    assert code == 0
    assert re.fullmatch(rf"valid: {re.escape(str(pack))}: 15 rules, \d+ selectors\n", out)
    assert err == ""


def test_validate_valid_selectors(capsys, tmp_path: Path) -> None:
    selectors = write_json(tmp_path / "s.json", {"AdvancedEventSelectors": SELECTORS})
    code, out, _ = run(capsys, "validate", str(selectors))
    assert code == 0
    assert out == f"valid: {selectors}: 2 selectors\n"


def test_validate_invalid(capsys, tmp_path: Path) -> None:
    bad = write_json(tmp_path / "bad.json", [{"Name": "x", "FieldSelectors": [{"Field": "readOnly", "Equals": ["yes"]}]}])
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 2
    assert out == ""
    assert err.startswith(f"trailsift: error: {bad}: selector 0 ('x'), field selector 0 (Field 'readOnly'), operator 'Equals', value 0")
    bad_rules = write_json(tmp_path / "bad-rules.json", {"rules": [{"name": "r", "severity": "urgent", "selectors": SELECTORS}]})
    code, out, err = run(capsys, "validate", str(bad_rules))
    assert code == 2
    assert "rule 0 ('r'): unknown severity 'urgent'" in err


def test_validate_cloudtrail_compatible(capsys, tmp_path: Path) -> None:
    selectors = write_json(tmp_path / "s.json", SELECTORS)
    code, out, _ = run(capsys, "validate", "--cloudtrail", str(selectors))
    assert code == 0
    assert out.splitlines() == [f"valid: {selectors}: 2 selectors", "CloudTrail would accept these selectors"]


def test_validate_cloudtrail_incompatible(capsys, tmp_path: Path) -> None:
    selectors = write_json(tmp_path / "s.json", [
        {"Name": "root", "FieldSelectors": [{"Field": "userIdentity.type", "Equals": ["Root"]}]},
    ])
    code, out, _ = run(capsys, "validate", "--cloudtrail", str(selectors))
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == [f"valid: {selectors}: 1 selectors", "CloudTrail would refuse these selectors (2 reasons):"]
    assert any("'userIdentity.type' is an extended field" in line for line in lines[2:])
    assert any("no 'eventCategory' field selector" in line for line in lines[2:])

    rules = write_json(tmp_path / "r.json", {"rules": [{"name": "root", "selectors": [
        {"FieldSelectors": [{"Field": "userIdentity.type", "Equals": ["Root"]}]}]}]})
    code, out, _ = run(capsys, "validate", "--cloudtrail", str(rules))
    assert code == 1
    assert "  - rule 'root': selector 0, field selector 0: 'userIdentity.type' is an extended field" in out
