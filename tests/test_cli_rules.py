"""`trailsift rules list` and `trailsift rules show NAME`: the built-in pack's rules, or a file's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from tests.cli_run import run
from trailsift.cli import main
from trailsift.rules import default_rules, parse_rules


def test_list_the_built_in_pack(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "rules", "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SEVERITY", "DESTINATIONS", "DESCRIPTION"]
    rules = default_rules()
    body = lines[1 : 1 + len(rules)]
    assert [line.split()[0] for line in body] == list(rules.names)  # full names, in the pack's order
    for line, rule in zip(body, rules, strict=True):
        assert line.split()[1] == rule.severity.value
        assert line.split()[2] == ("all" if len(rule.destinations) == 3 else ",".join(d.value for d in rule.destinations))
        assert rule.description[:20] in line
    assert "unauthorized-api-calls           low       index" in out
    assert max(len(line) for line in lines) <= 80
    assert lines[-1] == "15 rules in trailsift:rules/default.json; `trailsift rules show NAME` shows one"


def test_list_widens_with_the_terminal(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    out = run(capsys, "rules", "list")[1]
    assert max(len(line) for line in out.splitlines()) > 80
    assert default_rules().get("root-account-use").description in out  # whole when it fits


def test_list_a_file_with_long_names_and_hostile_text(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    long_name = "a-very-long-rule-name-that-is-longer-than-the-name-column-" + "x" * 20
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [
        {"name": "short", "severity": "info", "destinations": ["index", "eventbus"],
         "description": "two\nlines \x1b[31mred\u202e", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["X"]}]}]},
        {"name": long_name, "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["Y"]}]}]},
    ]}))
    code, out, _ = run(capsys, "rules", "list", "--rules", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["short", "info", "index,eventbus"]
    assert "two lines \ufffd[31m" in lines[1]  # one line, escaped, cut
    assert lines[1].endswith("…")
    assert lines[2] == long_name  # whole, on its own line; its cells on the next
    assert lines[3].split()[:2] == ["medium", "all"] and lines[3].startswith(" " * 34 + "  medium")
    assert all(len(line) <= 80 for line in lines)


def test_show_is_yaml_that_pastes_into_a_rules_file(capsys) -> None:
    code, out, err = run(capsys, "rules", "show", "console-login-without-mfa")
    assert (code, err) == (0, "")
    assert out.startswith(
        "# from trailsift:rules/default.json\n# and 8 test cases, left out (--tests shows them)\n"
        "- name: console-login-without-mfa\n"
    )
    assert "  severity: high\n" in out
    assert "  destinations: [alert, index, eventbus]\n" in out
    assert "    - Field: additionalEventData.MFAUsed\n      NotEquals: ['Yes']\n" in out
    shown = yaml.safe_load(out)
    again = parse_rules({"rules": shown})
    without_tests = dataclasses.replace(default_rules().get("console-login-without-mfa"), tests=())
    assert again.rules == (without_tests,)


def test_show_json(capsys) -> None:
    code, out, _ = run(capsys, "rules", "show", "cloudtrail-changes", "--format", "json")
    assert code == 0
    expected = default_rules().get("cloudtrail-changes").to_json()
    del expected["tests"]  # shown with --tests only
    assert json.loads(out) == expected
    with_tests = run(capsys, "rules", "show", "cloudtrail-changes", "--format", "json", "--tests")[1]
    assert json.loads(with_tests) == default_rules().get("cloudtrail-changes").to_json()


def test_show_a_selectors_file_rule(capsys, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"Name": "trail tampering", "FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}]))
    code, out, _ = run(capsys, "rules", "show", "trail tampering", "--selectors", str(path))
    assert code == 0
    (rule,) = yaml.safe_load(out)
    assert rule["name"] == "trail tampering" and rule["description"] == f"{path} selector 0"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("console-login", "no rule 'console-login' in trailsift:rules/default.json; closest: console-login-without-mfa"),
        ("vpc-change", "no rule 'vpc-change' in trailsift:rules/default.json; closest: vpc-changes, config-changes, "
         "iam-policy-changes"),
        ("kms", "no rule 'kms' in trailsift:rules/default.json; closest: kms-key-disabled-or-deleted"),
        ("Root-Account-Use", "no rule 'Root-Account-Use' in trailsift:rules/default.json; closest: root-account-use"),
        ("zzzzzz", "no rule 'zzzzzz' in trailsift:rules/default.json; see `trailsift rules list`"),
    ],
)
def test_unknown_name_is_one_line_with_the_closest_names(capsys, name: str, message: str) -> None:
    code, out, err = run(capsys, "rules", "show", name)
    assert (code, out) == (2, "")
    assert err == f"trailsift: error: {message}\n"


def test_rules_needs_a_subcommand(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["rules"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") >= 1


# --- packs by name, combined ------------------------------------------------------------------------


def test_list_a_pack_by_name(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from trailsift.rules import pack_rules

    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "rules", "list", "--rules", "ssm")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SEVERITY", "DESTINATIONS", "DESCRIPTION"]  # one source: no FROM column
    assert [line.split()[0] for line in lines[1:12]] == list(pack_rules("ssm").names)
    assert lines[-1] == "11 rules in trailsift:rules/ssm.json; `trailsift rules show NAME` shows one"


def test_list_packs_and_a_file_combined_shows_where_each_rule_comes_from(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"rules": [{"name": "mine", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["X"]}]}]}]}))
    code, out, err = run(capsys, "rules", "list", "--rules", "default", "--rules", "ssm", "--rules", str(mine))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "FROM", "SEVERITY", "DESTINATIONS"]  # the description gives way
    assert lines[1].split()[:2] == ["root-account-use", "default"]
    assert lines[16].split()[:2] == ["ssm-session-started", "ssm"]
    assert lines[27].split()[:3] == ["mine", "mine.json", "medium"]
    assert max(len(line) for line in lines) <= 80
    assert lines[-1] == "27 rules in default, ssm, mine.json; `trailsift rules show NAME` shows one"


def test_show_finds_a_rule_in_combined_packs(capsys) -> None:
    code, out, _ = run(capsys, "rules", "show", "ssm-document-shared", "--rules", "default", "--rules", "ssm", "--format", "json")
    assert code == 0
    shown = json.loads(out)
    assert shown["name"] == "ssm-document-shared" and "tests" not in shown  # pastes into a file of your own
    code, out, _ = run(capsys, "rules", "show", "ssm-document-shared", "--rules", "ssm", "--format", "json", "--tests")
    assert json.loads(out)["tests"][0]["file"] == "cases/ssm-document-shared.json"


def test_show_says_it_left_the_tests_out(capsys) -> None:
    code, out, _ = run(capsys, "rules", "show", "ssm-document-shared", "--rules", "ssm")
    lines = out.splitlines()
    assert code == 0 and lines[:2] == ["# from trailsift:rules/ssm.json", "# and 3 test cases, left out (--tests shows them)"]
    assert "tests:" not in out
    with_tests = run(capsys, "rules", "show", "ssm-document-shared", "--rules", "ssm", "--tests")[1]
    assert "tests:" in with_tests and "# and" not in with_tests
    assert yaml.safe_load(with_tests)[0]["tests"][1]["expect"] == "no-match"


def test_packs_subcommand(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from trailsift.rules import pack_rules

    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "rules", "packs")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PACK", "RULES", "TESTS", "WATCHES"]
    cases = {name: sum(len(r.tests) for r in pack_rules(name)) for name in ("default", "ssm")}
    assert lines[1].split()[:3] == ["default", "15", str(cases["default"])]
    assert lines[2].split()[:3] == ["ssm", "11", str(cases["ssm"])]
    assert max(len(line) for line in lines) <= 80


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rules", "list", "--rules", "cis"], "cis: no built-in pack 'cis'; the packs are default, ssm (a file: give its path, as ./cis)"),
        (["rules", "list", "--rules", "ssm", "--rules", "ssm"], "trailsift:rules/ssm.json is given twice; rule names must be unique across the rules combined"),
        (["validate", "cis"], "cis: no built-in pack 'cis'"),
        (["replay", "--rules", "cis", "events/logs"], "cis: no built-in pack 'cis'"),
    ],
)
def test_unknown_or_repeated_packs_are_usage_errors(capsys, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"trailsift: error: {message}")


def test_a_file_reusing_a_pack_rule_name_is_refused_naming_both(capsys, tmp_path: Path) -> None:
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps({"rules": [{"name": "ssm-command-run", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["X"]}]}]}]}))
    code, _, err = run(capsys, "rules", "list", "--rules", "ssm", "--rules", str(clash))
    assert code == 2
    assert err == f"trailsift: error: rule 'ssm-command-run' is in both trailsift:rules/ssm.json and {clash}; rule names must be unique across the rules combined\n"


def test_a_path_is_a_file_even_where_a_pack_has_that_name(capsys, tmp_path: Path, monkeypatch) -> None:
    """`./ssm` is the file ssm here, `ssm` the pack, whatever is on the disk."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ssm").write_text(json.dumps({"rules": [{"name": "local", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["X"]}]}]}]}))
    assert run(capsys, "rules", "list", "--rules", "./ssm")[1].splitlines()[1].split()[0] == "local"
    assert run(capsys, "rules", "list", "--rules", "ssm")[1].splitlines()[1].split()[0] == "ssm-session-started"


def test_validate_and_replay_take_packs(capsys, events_logs: Path) -> None:
    code, out, _ = run(capsys, "validate", "ssm")
    assert (code, out) == (0, "valid: trailsift:rules/ssm.json: 11 rules, 13 selectors\n")
    code, out, _ = run(capsys, "validate", "--rules", "default", "--rules", "ssm")
    assert code == 0 and out.startswith("valid: trailsift:rules/default.json + trailsift:rules/ssm.json: 26 rules")
    code, out, _ = run(capsys, "replay", str(events_logs), "--rules", "ssm", "--rules", "default", "--summary")
    assert code == 0
    assert "  ssm-document-changes                    1  [medium]" in out
    assert "  cloudtrail-changes                      5  [critical]" in out
