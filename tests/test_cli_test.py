"""`trailsift test RULES...`: the cases rules carry, run as CI runs them.

Every shipped pack passes (this is how `make test` runs `trailsift test` on them); a failing case is
printed with explain's account of the rule; exit codes 0, 1 and 2; files, packs and bad input.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_run import run
from trailsift.cli import main
from trailsift.rules import PACKS, pack_rules

DELETE_DOCUMENT = {
    "eventVersion": "1.04", "eventSource": "ssm.amazonaws.com", "eventName": "DeleteDocument",
    "eventTime": "2018-03-06T20:30:12Z", "eventID": "832b82d5-d474-44e8-a51d-093ccEXAMPLE",
    "requestParameters": {"name": "example-Document"}, "eventCategory": "Management",
}
GET_DOCUMENT = {"eventSource": "ssm.amazonaws.com", "eventName": "GetDocument"}


def rule(tests: list[dict[str, Any]], name: str = "ssm-documents-deleted", event: str = "DeleteDocument") -> dict[str, Any]:
    return {
        "name": name, "severity": "high", "description": "A Systems Manager document was deleted.",
        "selectors": [{"Name": "documents deleted", "FieldSelectors": [
            {"Field": "eventSource", "Equals": ["ssm.amazonaws.com"]},
            {"Field": "eventName", "Equals": [event]},
        ]}],
        "tests": tests,
    }


def write(path: Path, *rules: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"rules": list(rules)}))
    return path


def test_every_shipped_pack_passes_its_own_cases(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `make test` checks: `trailsift test default ssm` exits 0 and prints its summary only."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "test", *PACKS)
    cases = sum(len(r.tests) for name in PACKS for r in pack_rules(name))
    rules = sum(len(pack_rules(name)) for name in PACKS)
    assert (code, err) == (0, "")
    assert out == f"ok: {cases} cases passed; {rules} rules in default, ssm, 0 without tests\n"
    assert cases >= 150 and all(r.tests for name in PACKS for r in pack_rules(name))


def test_verbose_lists_every_case(capsys) -> None:
    code, out, _ = run(capsys, "test", "ssm", "--verbose")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ok      ssm-session-started: ")
    assert len(lines) == sum(len(r.tests) for r in pack_rules("ssm")) + 1


def test_a_failing_case_is_explained_field_selector_by_field_selector(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    log = tmp_path / "delete-document.json.gz"
    log.write_bytes(gzip.compress(json.dumps({"Records": [GET_DOCUMENT, DELETE_DOCUMENT]}).encode()))
    rules = write(tmp_path / "mine.json", rule([
        {"name": "the AWS page's DeleteDocument", "expect": "match", "file": "delete-document.json.gz", "index": 1},
        {"name": "a GetDocument is no deletion", "expect": "no-match", "record": GET_DOCUMENT},
    ], event="DeleteDocuments"))  # the typo the case catches
    code, out, err = run(capsys, "test", str(rules))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "FAILED  ssm-documents-deleted: the AWS page's DeleteDocument",
        f"  in {rules}" if len(str(rules)) <= 75 else out.splitlines()[1],
        "  expected a match, got no match",
        "  record delete-document.json.gz:1",
        "    DeleteDocument (ssm.amazonaws.com) at 2018-03-06T20:30:12Z",
        "    eventID 832b82d5-d474-44e8-a51d-093ccEXAMPLE",
        "  no match  ssm-documents-deleted  [high]",
        "    selector 0 ('documents deleted'): 1 of 2 field selectors failed",
        "      held    eventSource  Equals [ssm.amazonaws.com]",
        '              value "ssm.amazonaws.com": satisfies Equals "ssm.amazonaws.com"',
        "      FAILED  eventName  Equals [DeleteDocuments]",
        '              value "DeleteDocument": satisfies no include condition',
        "",
        "FAILED: 1 of 2 cases failed; 1 rule in mine.json, 0 without tests",
    ]


def test_an_unexpected_match_is_explained_too(capsys, tmp_path: Path) -> None:
    rules = write(tmp_path / "r.json", rule([{"name": "deleting is fine", "expect": "no-match", "record": DELETE_DOCUMENT}]))
    code, out, _ = run(capsys, "test", str(rules))
    assert code == 1
    assert "  expected no match, got a match" in out
    assert "  MATCH  ssm-documents-deleted  [high]" in out
    assert "    selector 0 ('documents deleted'): matches" in out
    assert "  record inline" in out


def test_an_edited_record_says_what_was_edited(capsys, tmp_path: Path) -> None:
    rules = write(tmp_path / "r.json", rule([
        {"name": "x", "expect": "no-match", "record": DELETE_DOCUMENT, "origin": "docs#0", "edited": "nothing really"},
    ]))
    assert "  (record edited: nothing really)" in run(capsys, "test", str(rules))[1]


def test_a_case_that_cannot_run_fails_and_says_why(capsys, tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps({"Records": [DELETE_DOCUMENT]}))
    rules = write(tmp_path / "r.json", rule([
        {"name": "missing file", "expect": "match", "file": "nowhere.json.gz", "index": 0},
        {"name": "past the end", "expect": "match", "file": "one.json", "index": 3},
        {"name": "fine", "expect": "match", "file": "one.json", "index": 0},
        {"name": "one record, no index", "expect": "match", "file": "one.json"},
    ]))
    code, out, _ = run(capsys, "test", str(rules))
    assert code == 1
    assert "FAILED  ssm-documents-deleted: missing file" in out
    said = " ".join(out.split("missing file\n", 1)[1].split("\n\n")[0].split()[2:])  # folded, never cut
    assert said == f"cannot run: {tmp_path / 'nowhere.json.gz'}: cannot read: No such file or directory"
    assert "  cannot run: one.json: no record 3; it holds 1 (0 to 0)" in out
    assert out.splitlines()[-1] == "FAILED: 2 of 4 cases failed; 1 rule in r.json, 0 without tests"


def test_yaml_rules_and_several_files_one_by_one(capsys, tmp_path: Path) -> None:
    """Files are tested one by one: the same rule name in two files is no clash here."""
    a = write(tmp_path / "a.json", rule([{"name": "x", "expect": "match", "record": DELETE_DOCUMENT}]))
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump({"rules": [rule([{"name": "y", "expect": "no-match", "record": GET_DOCUMENT}])]}))
    code, out, _ = run(capsys, "test", str(a), str(b))
    assert (code, out) == (0, "ok: 2 cases passed; 2 rules in a.json, b.yaml, 0 without tests\n")


def test_rules_without_tests_are_counted_and_can_be_required(capsys, tmp_path: Path) -> None:
    untested = rule([])
    del untested["tests"]
    rules = write(tmp_path / "r.json", untested, rule([{"name": "x", "expect": "match", "record": DELETE_DOCUMENT}], name="b"))
    code, out, _ = run(capsys, "test", str(rules))
    assert (code, out) == (0, "ok: 1 case passed; 2 rules in r.json, 1 without tests\n")
    code, out, _ = run(capsys, "test", str(rules), "--require-tests")
    assert code == 1
    assert out.splitlines() == [
        "no tests  ssm-documents-deleted",
        "FAILED: 1 case passed; 2 rules in r.json, 1 without tests",
    ]


def test_rule_option_runs_only_the_rules_named(capsys) -> None:
    code, out, _ = run(capsys, "test", "ssm", "--rule", "ssm-document-shared", "--rule", "ssm-session-ended")
    cases = len(pack_rules("ssm").get("ssm-document-shared").tests) + len(pack_rules("ssm").get("ssm-session-ended").tests)
    assert (code, out) == (0, f"ok: {cases} cases passed; 2 rules in ssm, 0 without tests\n")


def test_json_format(capsys, tmp_path: Path) -> None:
    rules = write(tmp_path / "r.json", rule([
        {"name": "ok", "expect": "match", "record": DELETE_DOCUMENT},
        {"name": "wrong", "expect": "match", "record": GET_DOCUMENT},
    ]))
    code, out, _ = run(capsys, "test", str(rules), "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert document["summary"] == {
        "rule_sets": 1, "rules": 1, "cases": 2, "passed": 1, "failed": 1, "rules_without_tests": [],
    }
    ok, wrong = document["cases"]
    assert ok == {"source": str(rules), "rule": "ssm-documents-deleted", "case": "ok", "expect": "match",
                  "record": "inline", "passed": True, "got": "match"}
    assert wrong["passed"] is False and wrong["got"] == "no-match"
    failed = [f for s in wrong["explain"]["selectors"] for f in s["field_selectors"] if not f["held"]]
    assert [f["field"] for f in failed] == ["eventName"] and failed[0]["values"] == ["GetDocument"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["test", "nope"], "nope: no built-in pack 'nope'; the packs are default, ssm"),
        (["test", "./missing.json"], "missing.json: cannot read: No such file or directory\n"),
        (["test", "ssm", "--rule", "ssm-sesion-started"], "no rule 'ssm-sesion-started' in trailsift:rules/ssm.json; closest: ssm-session-started"),
    ],
)
def test_usage_errors_exit_2(capsys, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"trailsift: error: {message}") or err == f"trailsift: error: {message}"
    assert len(err.splitlines()) == 1


def test_an_invalid_case_is_a_usage_error_naming_rule_and_case(capsys, tmp_path: Path) -> None:
    rules = write(tmp_path / "r.json", rule([{"name": "x", "expect": "matches", "record": DELETE_DOCUMENT}]))
    code, out, err = run(capsys, "test", str(rules))
    assert (code, out) == (2, "")
    assert err == (
        f"trailsift: error: {rules}: rule 0 ('ssm-documents-deleted'): test 0 ('x'): "
        "'expect' must be 'match' or 'no-match', got 'matches'\n"
    )


def test_no_rules_given_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["test"])
    assert exit_.value.code == 2
    assert "the following arguments are required: RULES" in capsys.readouterr().err
