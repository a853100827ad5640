"""`trailsift validate` and the one rules loader every command shares: rules or selectors by content, the same
messages and the same field warnings everywhere (replay, local, validate, explain, rules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import run
from trailsift.cli import local, main
from trailsift.selectors import CLOUDTRAIL_FIELDS

PACK = Path(__file__).resolve().parent.parent / "layers/trailsift/trailsift/rules/default.json"
MISSPELLED = [{"Name": "s3 calls", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]},
    {"Field": "eventsource", "Equals": ["s3.amazonaws.com"]},
]}]
WARNING = (
    "trailsift: warning: {path}: selector 0 ('s3 calls'), field selector 1: "
    "'eventsource' is not a CloudTrail record field; did you mean 'eventSource'?\n"
)
TRAIL_SELECTORS = [{"Name": "trail tampering", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]},
    {"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail", "UpdateTrail"]},
]}]


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def no_local_stack(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``trailsift local`` up to the point where it would start moto: ``local_run`` records its call and stops."""
    calls: list[Any] = []

    class Stop(Exception):
        pass

    def fake_local_run(paths: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(local, "local_run", fake_local_run)
    calls.append(Stop)
    return calls


def run_local(capsys: pytest.CaptureFixture[str], calls: list[Any], *argv: str) -> tuple[int | None, str, str]:
    """``trailsift local ARGV``; the exit code, or None when it got as far as starting the stack."""
    stop = calls[0]
    try:
        code: int | None = main(["local", *argv])
    except stop:
        code = None
    out, err = capsys.readouterr()
    return code, out, err


# --- validate ----------------------------------------------------------------------------------------


def test_clean_file_exits_0(capsys, tmp_path: Path) -> None:
    selectors = write(tmp_path / "s.json", TRAIL_SELECTORS)
    assert run(capsys, "validate", str(selectors)) == (0, f"valid: {selectors}: 1 selectors\n", "")


def test_misspelled_field_warns_with_the_suggestion_and_exits_1(capsys, tmp_path: Path) -> None:
    selectors = write(tmp_path / "s.json", MISSPELLED)
    code, out, err = run(capsys, "validate", str(selectors))
    assert code == 1
    assert out == f"valid: {selectors}: 1 selectors, 1 warning\n"
    assert err == WARNING.format(path=selectors)


def test_rules_file_warning_names_the_rule(capsys, tmp_path: Path) -> None:
    rules = write(tmp_path / "r.json", {"rules": [
        {"name": "ok", "selectors": TRAIL_SELECTORS},
        {"name": "typo", "severity": "high", "selectors": [
            {"FieldSelectors": [{"Field": "userIdentity.tpye", "Equals": ["Root"]}]},
            {"Name": "second", "FieldSelectors": [{"Field": "userIdentity", "Equals": ["Root"]}]},
        ]},
    ]})
    code, out, err = run(capsys, "validate", str(rules))
    assert code == 1
    assert out == f"valid: {rules}: 2 rules, 3 selectors, 2 warnings\n"
    assert err.splitlines() == [
        f"trailsift: warning: {rules}: rule 'typo', selector 0, field selector 0: 'userIdentity.tpye' is not a "
        "CloudTrail record field ('tpye' is not a field of 'userIdentity'); did you mean 'userIdentity.type'?",
        f"trailsift: warning: {rules}: rule 'typo', selector 1 ('second'), field selector 0: 'userIdentity' is an "
        "object, which has no value: name a field inside it such as accessKeyId, accountId, arn, credentialId",
    ]


def test_invalid_exits_2(capsys, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", [{"Name": "x", "FieldSelectors": [{"Field": "readOnly", "Equals": ["yes"]}]}])
    code, out, err = run(capsys, "validate", str(bad))
    assert (code, out) == (2, "")
    assert err.startswith(f"trailsift: error: {bad}: selector 0 ('x'), field selector 0 (Field 'readOnly')")


def test_default_pack_is_validated_without_a_file(capsys) -> None:
    code, out, err = run(capsys, "validate")
    assert (code, err) == (0, "")
    assert out == "valid: trailsift:rules/default.json: 15 rules, 15 selectors\n"
    assert run(capsys, "validate", str(PACK))[0] == 0


def test_file_given_twice_is_a_usage_error(capsys, tmp_path: Path) -> None:
    selectors = write(tmp_path / "s.json", TRAIL_SELECTORS)
    code, out, err = run(capsys, "validate", str(selectors), "--rules", str(selectors))
    assert (code, out) == (2, "")
    assert err == "trailsift: error: give the file once: as FILE or with --rules, not both\n"


def test_cloudtrail_refusals_one_line_each_the_field_list_once(capsys) -> None:
    code, out, err = run(capsys, "validate", "--cloudtrail", str(PACK))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"valid: {PACK}: 15 rules, 15 selectors"
    assert lines[1].startswith("CloudTrail would refuse these selectors (") and lines[1].endswith(" reasons):")
    reasons = [line for line in lines if line.startswith("  - ")]
    assert len(reasons) == int(lines[1].split("(")[1].split()[0])
    assert "  - rule 'root-account-use': selector 0 ('root activity'), field selector 0: 'userIdentity.type' is an extended field" in reasons
    field_list = ", ".join(CLOUDTRAIL_FIELDS)
    assert out.count(field_list) == 1
    assert lines[-1] == f"(extended fields are trailsift's; CloudTrail's own are {field_list})"
    assert len(lines) == 2 + len(reasons) + 1


def test_cloudtrail_accepts_with_warnings_still_exits_1(capsys, tmp_path: Path) -> None:
    selectors = write(tmp_path / "s.json", TRAIL_SELECTORS)
    code, out, _ = run(capsys, "validate", "--cloudtrail", str(selectors))
    assert code == 0 and out.endswith("CloudTrail would accept these selectors\n")


# --- one loader: --rules takes either, the same message and warning everywhere ------------------------


@pytest.mark.parametrize("shape", ["list", "get-event-selectors"])
def test_rules_option_takes_a_selectors_file_in_every_command(
    capsys, tmp_path: Path, events_logs: Path, no_local_stack: list[Any], shape: str
) -> None:
    document: Any = TRAIL_SELECTORS if shape == "list" else {
        "TrailARN": "arn:aws:cloudtrail:us-east-1:123456789012:trail/t", "AdvancedEventSelectors": TRAIL_SELECTORS}
    selectors = write(tmp_path / "selectors.json", document)
    code, out, err = run(capsys, "replay", "--rules", str(selectors), "--format", "jsonl", str(events_logs))
    assert code == 0, err
    assert {json.loads(line)["eventName"] for line in out.splitlines()} == {"StopLogging", "UpdateTrail"}
    assert run(capsys, "replay", "--selectors", str(selectors), "--format", "jsonl", str(events_logs))[1] == out
    assert run(capsys, "validate", "--rules", str(selectors)) == (0, f"valid: {selectors}: 1 selectors\n", "")
    assert run(capsys, "rules", "list", "--rules", str(selectors))[0] == 0
    code, _, err = run_local(capsys, no_local_stack, "--rules", str(selectors), str(events_logs))
    assert code is None and err == ""  # got as far as the run, with the file as its rules
    assert no_local_stack[-1]["rules"] == selectors
    code, _, err = run_local(capsys, no_local_stack, "--selectors", str(selectors), str(events_logs))
    assert code is None and no_local_stack[-1]["rules"] == selectors


def test_selectors_option_takes_a_rules_file(capsys, tmp_path: Path, events_logs: Path) -> None:
    rules = write(tmp_path / "rules.json", {"rules": [{"name": "trail", "selectors": TRAIL_SELECTORS}]})
    code, out, err = run(capsys, "replay", "--selectors", str(rules), "--format", "jsonl", str(events_logs))
    assert code == 0, err
    assert {tuple(json.loads(line)["rules"]) for line in out.splitlines()} == {("trail",)}


def test_replay_and_local_print_the_same_warning(capsys, tmp_path: Path, events_logs: Path, no_local_stack: list[Any]) -> None:
    selectors = write(tmp_path / "s.json", MISSPELLED)
    expected = WARNING.format(path=selectors)
    code, out, err = run(capsys, "replay", "--rules", str(selectors), "--format", "jsonl", str(events_logs))
    assert code == 0 and out == ""  # it never matches: the reason for the warning
    assert err == expected
    code, out, err = run(capsys, "replay", "--rules", str(selectors), str(events_logs))
    assert err.startswith(expected)  # first, before anything runs
    code, _, err = run_local(capsys, no_local_stack, "--rules", str(selectors), str(events_logs))
    assert code is None and err == expected
    code, _, err = run(capsys, "validate", str(selectors))
    assert err == expected


TYPOS: list[tuple[str, Any, str]] = [
    ("top-level key", {"Rules": [{"name": "x", "selectors": TRAIL_SELECTORS}]},
     "unknown top-level key 'Rules' (did you mean 'rules'?); a rules file is an object with 'rules'; a selectors "
     "file is a list of advanced event selectors, or get-event-selectors output (an object with 'AdvancedEventSelectors')"),
    ("misspelled rules key", {"rulez": []}, "unknown top-level key 'rulez' (did you mean 'rules'?); "),
    ("extra key beside rules", {"rules": [{"name": "x", "selectors": TRAIL_SELECTORS}], "rule": []},
     "unknown top-level key 'rule'; expected 'rules' (and 'version')"),
    ("a rule's error", {"rules": [{"name": "x", "selectors": [{"FieldSelectors": [{"Field": "eventName", "equals": ["A"]}]}]}]},
     "rule 0 ('x'): selector 0, field selector 0: unknown key 'equals' (did you mean 'Equals'? keys are case-sensitive)"),
    ("a number", 3, "neither rules nor selectors (the document is a number)"),
]


@pytest.mark.parametrize(("document", "message"), [t[1:] for t in TYPOS], ids=[t[0] for t in TYPOS])
def test_the_same_fault_gives_the_same_message_in_every_command(
    capsys, tmp_path: Path, events_logs: Path, no_local_stack: list[Any], document: Any, message: str
) -> None:
    path = write(tmp_path / "typo.json", document)
    expected = f"trailsift: error: {path}: {message}"
    seen = []
    for argv in (
        ["validate", str(path)],
        ["validate", "--rules", str(path)],
        ["replay", "--rules", str(path), str(events_logs)],
        ["replay", "--selectors", str(path), str(events_logs)],
        ["explain", "--rules", str(path), "-"],
        ["rules", "list", "--rules", str(path)],
        ["rules", "show", "x", "--rules", str(path)],
    ):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, ""), argv
        seen.append(err)
    code, out, err = run_local(capsys, no_local_stack, "--rules", str(path), str(events_logs))
    assert (code, out) == (2, "")
    seen.append(err)
    assert len(no_local_stack) == 1  # local stopped before starting anything
    assert seen[0].startswith(expected) and seen[0].endswith("\n") and seen[0].count("\n") == 1
    assert set(seen) == {seen[0]}


def test_missing_and_unreadable_rules_files(capsys, tmp_path: Path, events_logs: Path) -> None:
    missing = tmp_path / "missing.yaml"
    for argv in (["validate", str(missing)], ["replay", "--rules", str(missing), str(events_logs)]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert err == f"trailsift: error: {missing}: cannot read: No such file or directory\n"
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    code, _, err = run(capsys, "validate", str(empty))
    assert code == 2 and f"{empty}: neither rules nor selectors (the document is null (an empty file?))" in err
