"""The ``ssm`` pack: what a security team watches in Systems Manager, against the AWS page it comes from.

- the pack's shape: every rule validates, documents itself and carries cases on both sides;
- its cases: real records (the AWS page's four examples among them), each equal to the record at its
  ``origin`` unless marked ``edited`` (then differing from it), every record of the case files used;
- the data-event rules select as CloudTrail does (``eventCategory`` Data and one ``resources.type``),
  and the shipped trail selectors (``rules/ssm-trail-selectors.json``) log every event the pack's
  cases say it must match, and CloudTrail would accept them (``validate --cloudtrail``);
- replayed over ``events/logs``, the pack matches the page's examples and the sample's parameter
  deletions, and nothing else.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from trailsift.cli import main
from trailsift.engine import RuleEngine
from trailsift.rules import (
    Destination,
    RuleCase,
    RuleSet,
    Severity,
    combine_rules,
    default_rules,
    load_selector_rules,
    pack_rules,
    parse_rules,
)

REPO = Path(__file__).resolve().parents[1]
PACK_DIR = REPO / "layers" / "trailsift" / "trailsift" / "rules"
TRAIL_SELECTORS = PACK_DIR / "ssm-trail-selectors.json"
CORPUS = REPO.parent / "shared" / "data" / "cloudtrail"
DOCS_EXAMPLES = "fixtures/aws-docs-examples.json"

# The page's four example events, the rule each must meet, and where events/logs holds them.
PAGE_EXAMPLES = {
    f"{DOCS_EXAMPLES}#0": ("ssm-document-changes", "123456789012/CloudTrail/us-east-2/2018/03/06"),  # DeleteDocument
    f"{DOCS_EXAMPLES}#1": ("ssm-session-started", "123456789012/CloudTrail/us-east-2/2021/12/13"),  # StartConnection
    f"{DOCS_EXAMPLES}#2": ("ssm-control-channel-opened", "123456789012/CloudTrail/us-east-1/2023/05/04"),
    f"{DOCS_EXAMPLES}#3": ("ssm-managed-node-role-token", "123456789012/CloudTrail/us-east-1/2023/08/27"),
}
DATA_RULES = {"ssm-control-channel-opened": "AWS::SSMMessages::ControlChannel", "ssm-managed-node-role-token": "AWS::SSM::ManagedNode"}


@cache
def _pack() -> RuleSet:
    return pack_rules("ssm")


@cache
def _raw() -> dict[str, Any]:
    return json.loads(resources.files("trailsift").joinpath("rules", "ssm.json").read_bytes())


@cache
def _records(path: Path) -> tuple[dict[str, Any], ...]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        document = json.load(fh)
    return tuple(document["Records"] if isinstance(document, dict) else document)


def _record(case: RuleCase) -> dict[str, Any]:
    assert case.path is not None and case.index is not None
    return _records(case.path)[case.index]


def _origin(origin: str) -> dict[str, Any]:
    relative, _, index = origin.rpartition("#")
    return _records(CORPUS / relative)[int(index)]


RULE_NAMES = _pack().names
CASES = [(rule.name, case.name) for rule in _pack() for case in rule.tests]


def test_the_pack_watches_what_the_issue_lists():
    assert RULE_NAMES == (
        "ssm-session-started", "ssm-session-ended", "ssm-command-run", "ssm-document-changes", "ssm-document-shared",
        "ssm-parameter-deleted", "ssm-parameter-overwritten", "ssm-service-setting-changes",
        "ssm-managed-node-changes", "ssm-managed-node-role-token", "ssm-control-channel-opened",
    )
    names = {value for rule in _pack() for sel in rule.selectors for fs in sel.field_selectors
             if fs.field == "eventName" for value in fs.values("Equals")}
    for name in ("StartSession", "ResumeSession", "TerminateSession", "StartConnection", "SendCommand",
                 "StartAutomationExecution", "CreateDocument", "UpdateDocument", "DeleteDocument",
                 "ModifyDocumentPermission", "UpdateDocumentDefaultVersion", "DeleteParameter", "DeleteParameters",
                 "PutParameter", "UpdateServiceSetting", "ResetServiceSetting", "CreateActivation",
                 "DeregisterManagedInstance", "RequestManagedInstanceRoleToken", "CreateControlChannel",
                 "OpenControlChannel"):
        assert name in names, name


@pytest.mark.parametrize("index", range(len(RULE_NAMES)), ids=RULE_NAMES)
def test_every_rule_validates_documents_itself_and_carries_cases_on_both_sides(index):
    raw = _raw()["rules"][index]
    assert set(raw) == {"name", "description", "severity", "destinations", "selectors", "tests"}
    assert len(raw["description"]) >= 60
    rule = _pack().rules[index]
    assert parse_rules({"rules": [rule.to_json()]}).rules[0] == rule
    expects = Counter(case.expect for case in rule.tests)
    assert expects["match"] >= 1 and expects["no-match"] >= 1, rule.name
    assert any(case.edited is None for case in rule.tests if case.expects_match) or rule.name in {
        "ssm-document-shared", "ssm-parameter-overwritten", "ssm-service-setting-changes", "ssm-managed-node-changes",
    }, f"{rule.name}: a real record is there to match; use it"
    assert all(case.origin for case in rule.tests)


def test_severities_and_destinations():
    pack = _pack()
    assert pack.get("ssm-document-shared").severity is Severity.HIGH
    assert pack.get("ssm-service-setting-changes").severity is Severity.HIGH
    # What every node does all the time is indexed, never alerted.
    for name in ("ssm-session-ended", "ssm-managed-node-role-token", "ssm-control-channel-opened", "ssm-parameter-overwritten"):
        assert Destination.ALERT not in pack.get(name).destinations, name
    for name in ("ssm-session-started", "ssm-command-run", "ssm-document-changes", "ssm-parameter-deleted"):
        assert Destination.ALERT in pack.get(name).destinations, name


def test_names_are_unique_beside_the_default_pack():
    combined = combine_rules([default_rules(), _pack()])
    assert len(combined) == len(default_rules()) + len(_pack())


@pytest.mark.parametrize("item", CASES, ids=[f"{r}:{c}" for r, c in CASES])
def test_each_case_holds(item):
    """The same as `trailsift test ssm`, case by case, with the engine the function runs."""
    rule_name, case_name = item
    rule = _pack().get(rule_name)
    case = next(c for c in rule.tests if c.name == case_name)
    matched = rule_name in RuleEngine(_pack()).match(_record(case))
    assert matched is case.expects_match


def test_case_records_are_the_records_at_their_origin():
    real = edited = 0
    for rule in _pack():
        for case in rule.tests:
            assert case.origin is not None
            if case.edited is None:
                assert _record(case) == _origin(case.origin), f"{rule.name}: {case.name}"
                real += 1
            else:
                assert _record(case) != _origin(case.origin), f"{rule.name}: {case.name} is marked edited but is not"
                edited += 1
    assert real >= 25 and edited >= 10


def test_edited_records_differ_from_their_origin_in_one_field_only():
    """'a minimal edit': the top-level keys that differ are the one the note names."""
    for rule in _pack():
        for case in rule.tests:
            if case.edited is None:
                continue
            record, origin = _record(case), _origin(case.origin or "")
            changed = [key for key in record.keys() | origin.keys() if record.get(key) != origin.get(key)]
            assert len(changed) == 1 and case.edited.startswith(changed[0]), (rule.name, case.name, changed)


def test_every_record_of_the_ssm_case_files_is_used_once():
    for rule in _pack():
        assert {case.file for case in rule.tests} == {f"cases/{rule.name}.json"}
        assert sorted(case.index for case in rule.tests) == list(range(len(_records(PACK_DIR / "cases" / f"{rule.name}.json"))))
    files = {path.stem for path in (PACK_DIR / "cases").glob("ssm-*.json")}
    assert files == set(RULE_NAMES)


def test_the_pages_four_examples_are_matched_by_their_rules_and_are_those_of_events_logs(events_logs: Path):
    found = {}
    for rule in _pack():
        for case in rule.tests:
            if case.origin in PAGE_EXAMPLES and case.expects_match and case.edited is None:
                found[case.origin] = rule.name
    assert found == {origin: rule for origin, (rule, _) in PAGE_EXAMPLES.items()}
    for origin, (_, folder) in PAGE_EXAMPLES.items():
        (path,) = (events_logs / "AWSLogs" / folder).glob("*.json.gz")
        assert _origin(origin) in _records(path)


@pytest.mark.parametrize("rule_name", sorted(DATA_RULES))
def test_data_event_rules_select_as_cloudtrail_does(rule_name, tmp_path: Path):
    rule = _pack().get(rule_name)
    for selector in rule.selectors:
        fields = {fs.field: fs for fs in selector.field_selectors}
        assert fields["eventCategory"].values("Equals") == ("Data",)
        assert fields["resources.type"].values("Equals") == (DATA_RULES[rule_name],)
    path = tmp_path / f"{rule_name}.json"
    path.write_text(json.dumps({"rules": [rule.to_json()]}))
    assert main(["validate", "--cloudtrail", str(path)]) == 0


def test_trail_selectors_are_accepted_by_cloudtrail(capsys):
    assert main(["validate", "--cloudtrail", str(TRAIL_SELECTORS)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"valid: {TRAIL_SELECTORS}: 3 selectors", "CloudTrail would accept these selectors"]


def test_trail_selectors_keep_management_events_and_log_every_event_the_pack_must_match():
    """put-event-selectors replaces the trail's selectors: the file keeps every management event, and the
    data events it adds are exactly those of the pack's data rules."""
    trail = RuleEngine(load_selector_rules(TRAIL_SELECTORS))
    for rule in _pack():
        for case in rule.tests:
            if case.expects_match:
                assert trail.match(_record(case)), f"a trail with these selectors would not log {rule.name}: {case.name}"
    assert trail.match({"eventCategory": "Management", "eventName": "AnythingAtAll"})
    assert not trail.match({"eventCategory": "Data", "eventName": "GetObject", "resources": [{"type": "AWS::S3::Object"}]})


def test_replaying_events_logs_matches_the_page_examples_and_the_parameter_deletions(events_logs: Path):
    engine = RuleEngine(_pack())
    counts: Counter[str] = Counter()
    for path in sorted((events_logs / "AWSLogs").rglob("*/CloudTrail/*/*/*/*/*.json.gz")):
        for record in _records(path):
            counts.update(engine.match(record))
    assert counts == {
        "ssm-document-changes": 1, "ssm-session-started": 1, "ssm-control-channel-opened": 1,
        "ssm-managed-node-role-token": 1, "ssm-parameter-deleted": counts["ssm-parameter-deleted"],
    }
    assert counts["ssm-parameter-deleted"] >= 20  # the Invictus attack deleting parameters, throttled or not
