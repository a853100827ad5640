"""The default rule pack against the CIS controls it claims to implement, on real CloudTrail records.

Three layers of evidence:
- per rule, hand-picked real records it must match and near misses it must not: the rule's own
  ``tests`` in the pack, their records in ``trailsift/rules/cases/<rule>.json`` (format in that
  folder's README; ``trailsift test default`` runs them too, ``tests/test_cli_test.py``);
- the pack's shape: every rule validates, documents itself, and lists exactly the API names of
  its CIS control (``CIS_EVENT_NAMES`` below, copied from the "Sensitive APIs" table of
  ``../shared/docs/cloudtrail.md``);
- every real record of ``../shared/data/cloudtrail`` replayed through the engine, compared rule by
  rule with a plain-Python transcription of the CIS condition (``CIS_CONDITIONS``).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from trailsift.engine import RuleEngine
from trailsift.rules import Destination, Rule, RuleSet, Severity, default_rules, parse_rules

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = REPO / "layers" / "trailsift" / "trailsift" / "rules" / "cases"
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "data" / "cloudtrail"
CLOUDTRAIL_MD = SHARED / "docs" / "cloudtrail.md"

# The "Sensitive APIs" table of cloudtrail.md (CIS AWS Foundations / Security Hub CloudWatch.1-14),
# one entry per rule that names API calls. Kept here so the pack is checked against a fixed list;
# test_cis_literal_matches_the_documentation ties this copy to the document.
CIS_EVENT_NAMES: dict[str, frozenset[str]] = {
    "console-login-without-mfa": frozenset({"ConsoleLogin"}),
    "iam-policy-changes": frozenset({
        "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
        "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
        "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy",
        "AttachGroupPolicy", "DetachGroupPolicy",
    }),
    "cloudtrail-changes": frozenset({"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"}),
    "console-authentication-failures": frozenset({"ConsoleLogin"}),
    "kms-key-disabled-or-deleted": frozenset({"DisableKey", "ScheduleKeyDeletion"}),
    "s3-bucket-policy-changes": frozenset({
        "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication",
        "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication",
    }),
    "config-changes": frozenset({
        "StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder",
    }),
    "security-group-changes": frozenset({
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup",
    }),
    "network-acl-changes": frozenset({
        "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
    }),
    "network-gateway-changes": frozenset({
        "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway",
        "DeleteInternetGateway", "DetachInternetGateway",
    }),
    "route-table-changes": frozenset({
        "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
        "DeleteRoute", "DisassociateRouteTable",
    }),
    "vpc-changes": frozenset({
        "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
        "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
        "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink",
    }),
    "organizations-changes": frozenset({
        "AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit", "CreatePolicy",
        "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy",
        "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization", "LeaveOrganization",
        "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit",
    }),
}

# The service each API list belongs to. The table names it for KMS, S3, Config and Organizations;
# for the others the pack pins the owning service too, so that API Gateway's CreateRoute or
# Organizations' CreatePolicy do not pass for a VPC route or an IAM policy.
CIS_EVENT_SOURCE: dict[str, str] = {
    "iam-policy-changes": "iam.amazonaws.com",
    "cloudtrail-changes": "cloudtrail.amazonaws.com",
    "kms-key-disabled-or-deleted": "kms.amazonaws.com",
    "s3-bucket-policy-changes": "s3.amazonaws.com",
    "config-changes": "config.amazonaws.com",
    "security-group-changes": "ec2.amazonaws.com",
    "network-acl-changes": "ec2.amazonaws.com",
    "network-gateway-changes": "ec2.amazonaws.com",
    "route-table-changes": "ec2.amazonaws.com",
    "vpc-changes": "ec2.amazonaws.com",
    "organizations-changes": "organizations.amazonaws.com",
}

# Rules whose case file may hold only edited records (the real data has none for them). Empty:
# every rule of the pack has at least one real record on each side.
EDITED_ONLY: frozenset[str] = frozenset()


def _get(record: dict[str, Any], *path: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _api_call(rule: str) -> Callable[[dict[str, Any]], bool]:
    source, names = CIS_EVENT_SOURCE[rule], CIS_EVENT_NAMES[rule]
    return lambda r: r.get("eventSource") == source and r.get("eventName") in names


def _unauthorized(r: dict[str, Any]) -> bool:
    code = r.get("errorCode")
    return isinstance(code, str) and (code.endswith("UnauthorizedOperation") or code.startswith("AccessDenied"))


# The CIS conditions of cloudtrail.md in plain Python, independent of selectors and the engine.
CIS_CONDITIONS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "root-account-use": lambda r: (
        _get(r, "userIdentity", "type") == "Root"
        and _get(r, "userIdentity", "invokedBy") is None
        and r.get("eventType") != "AwsServiceEvent"
    ),
    "unauthorized-api-calls": _unauthorized,
    "console-login-without-mfa": lambda r: (
        r.get("eventName") == "ConsoleLogin"
        and _get(r, "additionalEventData", "MFAUsed") != "Yes"
        and _get(r, "userIdentity", "type") == "IAMUser"
        and _get(r, "responseElements", "ConsoleLogin") == "Success"
    ),
    "console-authentication-failures": lambda r: (
        r.get("eventName") == "ConsoleLogin" and r.get("errorMessage") == "Failed authentication"
    ),
    **{rule: _api_call(rule) for rule in CIS_EVENT_SOURCE},
}


# ---------------------------------------------------------------------------------------------
# Loading


@cache
def _pack() -> RuleSet:
    return default_rules()


@cache
def _engine() -> RuleEngine:
    return RuleEngine(_pack())


@cache
def _raw_pack() -> dict[str, Any]:
    return json.loads(resources.files("trailsift").joinpath("rules", "default.json").read_bytes())


def _case_files() -> dict[str, Path]:
    """The case files of this pack's rules (the folder also holds the ssm pack's)."""
    return {path.stem: path for path in sorted(CASES_DIR.glob("*.json")) if not path.stem.startswith("ssm-")}


@cache
def _case(rule: str) -> dict[str, Any]:
    """The rule's tests as ``{"rule", "match": [...], "no_match": [...]}``, each entry with its ``origin``,
    ``record`` (read from the case file), ``why`` (the case's name) and ``edited`` when there is one."""
    out: dict[str, Any] = {"rule": rule, "match": [], "no_match": []}
    for case in _pack().get(rule).tests:
        assert case.path is not None and case.index is not None, f"{rule}: {case.name!r} is not a file case"
        records = json.loads(case.path.read_text(encoding="utf-8"))["Records"]
        entry = {"origin": case.origin, "why": case.name, "record": records[case.index]}
        if case.edited is not None:
            entry["edited"] = case.edited
        out["match" if case.expects_match else "no_match"].append(entry)
    return out


def _read_records(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        document = json.load(fh)
    return document["Records"]


@cache
def _corpus_file(relative: str) -> tuple[dict[str, Any], ...]:
    return tuple(_read_records(CORPUS / relative))


@cache
def _corpus() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every real record of the shared corpus, as (origin, record)."""
    assert CORPUS.is_dir(), f"the shared CloudTrail corpus is missing: {CORPUS} (CI has ../shared beside the repo)"
    out = []
    for path in sorted(CORPUS.rglob("*.json*")):
        if not (path.name.endswith(".json") or path.name.endswith(".json.gz")):
            continue
        relative = path.relative_to(CORPUS).as_posix()
        for index, record in enumerate(_corpus_file(relative)):
            out.append((f"{relative}#{index}", record))
    return tuple(out)


def _event_names(rule: Rule) -> set[str]:
    return {value for sel in rule.selectors for fs in sel.field_selectors if fs.field == "eventName"
            for value in fs.values("Equals")}


def _event_sources(rule: Rule) -> set[str]:
    return {value for sel in rule.selectors for fs in sel.field_selectors if fs.field == "eventSource"
            for value in fs.values("Equals")}


RULE_NAMES = tuple(_pack().names)


# ---------------------------------------------------------------------------------------------
# The pack itself


def test_pack_has_one_rule_per_control():
    assert set(RULE_NAMES) == set(CIS_CONDITIONS), "a rule without a CIS transcription here, or the reverse"
    assert len(RULE_NAMES) == 15


@pytest.mark.parametrize("index", range(len(RULE_NAMES)), ids=RULE_NAMES)
def test_every_shipped_rule_validates_and_documents_itself(index):
    raw = _raw_pack()["rules"][index]
    # Explicit in the file, not left to parse_rule's defaults.
    assert set(raw) - {"group_by"} == {"name", "description", "severity", "destinations", "selectors", "tests"}
    assert isinstance(raw["description"], str) and len(raw["description"].strip()) >= 20
    rule = _pack().rules[index]
    assert rule.name == raw["name"]
    assert rule.severity is Severity(raw["severity"])
    assert rule.destinations and all(isinstance(d, Destination) for d in rule.destinations)
    assert rule.selectors
    # Each rule validates on its own, and survives a round trip through its JSON form.
    alone = parse_rules({"version": 1, "rules": [raw]})
    assert alone.rules[0] == rule
    assert all(case.base == CASES_DIR.parent for case in rule.tests)  # file cases resolve inside the pack
    assert parse_rules({"rules": [rule.to_json()]}).rules[0] == rule


def test_severities_and_destinations_of_the_pack():
    pack = _pack()
    assert pack.get("root-account-use").severity is Severity.CRITICAL
    assert pack.get("cloudtrail-changes").severity is Severity.CRITICAL
    # The critical rules alert once per event (each a page of its own); the others group by principal.
    for rule in pack:
        assert rule.group_by == (() if rule.severity is Severity.CRITICAL else ("principal",)), rule.name
    # Unauthorized calls are noisy: indexed, never alerted.
    assert pack.get("unauthorized-api-calls").destinations == (Destination.INDEX,)
    for rule in pack:
        if rule.name != "unauthorized-api-calls":
            assert Destination.ALERT in rule.destinations, rule.name


@pytest.mark.parametrize("rule_name", sorted(CIS_EVENT_NAMES))
def test_rule_lists_exactly_the_cis_event_names(rule_name):
    rule = _pack().get(rule_name)
    assert _event_names(rule) == CIS_EVENT_NAMES[rule_name]
    if rule_name in CIS_EVENT_SOURCE:
        assert _event_sources(rule) == {CIS_EVENT_SOURCE[rule_name]}


def test_pack_covers_every_cis_event_name():
    listed = set().union(*(_event_names(rule) for rule in _pack()))
    wanted = set().union(*CIS_EVENT_NAMES.values())
    assert wanted - listed == set()
    # 16 + 5 + 1 (ConsoleLogin) + 2 + 9 + 4 + 6 + 6 + 6 + 7 + 11 + 18 = 91, less CreatePolicy and DeletePolicy
    # listed for both IAM and Organizations.
    assert len(wanted) == 89


def _documented_api_lists() -> dict[str, frozenset[str]]:
    """The rows of the "Sensitive APIs" table of cloudtrail.md that are lists of API names."""
    assert CLOUDTRAIL_MD.is_file(), f"missing {CLOUDTRAIL_MD} (CI has ../shared beside the repo)"
    section = CLOUDTRAIL_MD.read_text(encoding="utf-8").split("## Sensitive APIs", 1)[1]
    rows: dict[str, frozenset[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] == "control" or set(cells[0]) <= {"-"}:
            continue
        condition = re.sub(r"^([a-z0-9-]+\.amazonaws\.com:|eventName in)\s*", "", cells[1])
        items = [item.strip() for item in condition.split(",")]
        if not all(re.fullmatch(r"[A-Z][A-Za-z]+(/[A-Z][A-Za-z]+)?", item) for item in items):
            rows[cells[0]] = frozenset()  # a condition on fields (root use, MFA, ...), not an API list
            continue
        names: set[str] = set()
        for item in items:
            first, _, other = item.partition("/")  # "AuthorizeSecurityGroupIngress/Egress"
            names.add(first)
            if other:
                names.add(re.sub(r"[A-Z][a-z]+$", other, first))
        rows[cells[0]] = frozenset(names)
    return rows


def test_cis_literal_matches_the_documentation():
    rows = _documented_api_lists()
    assert len(rows) == 15
    api_lists = {names for names in rows.values() if names}
    assert len(api_lists) == 11
    assert "AuthorizeSecurityGroupEgress" in rows["security groups"]
    assert api_lists == {names for names in CIS_EVENT_NAMES.values() if names != {"ConsoleLogin"}}


# ---------------------------------------------------------------------------------------------
# Case files: real records per rule


def test_every_rule_has_a_case_file_and_every_case_file_a_rule():
    files = set(_case_files())
    assert files, f"no case files in {CASES_DIR}"
    assert files == set(RULE_NAMES)


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_every_record_of_a_case_file_is_used_once_by_its_rule(rule_name):
    tests = _pack().get(rule_name).tests
    assert {case.file for case in tests} == {f"cases/{rule_name}.json"}
    records = json.loads(_case_files()[rule_name].read_text(encoding="utf-8"))["Records"]
    assert sorted(case.index for case in tests) == list(range(len(records)))


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_case_file_shape(rule_name):
    case = _case(rule_name)
    assert set(case) == {"rule", "match", "no_match"}
    assert all(c.origin for c in _pack().get(rule_name).tests), f"{rule_name}: a case without its origin"
    assert case["rule"] == rule_name
    for kind in ("match", "no_match"):
        assert case[kind], f"{rule_name}: no {kind} records"
        for entry in case[kind]:
            assert set(entry) <= {"origin", "record", "edited", "why"}
            assert re.fullmatch(r"(invictus|stratus-red-team|otrf|fixtures)/\S+\.json(\.gz)?#\d+", entry["origin"])
            assert isinstance(entry["record"], dict) and entry["record"]
            if "edited" in entry:
                assert isinstance(entry["edited"], str) and entry["edited"].strip()
        if rule_name not in EDITED_ONLY:
            assert any("edited" not in e for e in case[kind]), f"{rule_name}: every {kind} record is edited"


def _cases(kind: str) -> list[tuple[str, int]]:
    return [(rule, i) for rule in RULE_NAMES for i in range(len(_case(rule)[kind]))]


def _id(item: tuple[str, int]) -> str:
    return f"{item[0]}-{item[1]}"


@pytest.mark.parametrize("item", _cases("match"), ids=_id)
def test_rule_matches_its_match_records(item):
    rule, index = item
    entry = _case(rule)["match"][index]
    assert rule in _engine().match(entry["record"]), entry["origin"]
    assert CIS_CONDITIONS[rule](entry["record"]), f"{entry['origin']} does not meet the CIS condition itself"


@pytest.mark.parametrize("item", _cases("no_match"), ids=_id)
def test_rule_does_not_match_its_no_match_records(item):
    rule, index = item
    entry = _case(rule)["no_match"][index]
    assert rule not in _engine().match(entry["record"]), entry["origin"]
    assert not CIS_CONDITIONS[rule](entry["record"]), f"{entry['origin']} meets the CIS condition"


def test_case_records_are_the_records_at_their_origin():
    checked = edited = 0
    for rule in RULE_NAMES:
        for kind in ("match", "no_match"):
            for entry in _case(rule)[kind]:
                relative, _, index = entry["origin"].rpartition("#")
                source = _corpus_file(relative)[int(index)]
                if "edited" in entry:
                    assert entry["record"] != source, f"{rule}: {entry['origin']} is marked edited but is not"
                    edited += 1
                else:
                    assert entry["record"] == source, f"{rule}: {entry['origin']} differs from the corpus"
                    checked += 1
    assert checked >= 2 * len(RULE_NAMES)
    assert edited >= 1


# ---------------------------------------------------------------------------------------------
# Every real record through the engine, against the CIS conditions


@cache
def _replay() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(origins matched per rule by the engine, origins meeting each CIS condition)."""
    engine = _engine()
    got: dict[str, set[str]] = {rule: set() for rule in RULE_NAMES}
    want: dict[str, set[str]] = {rule: set() for rule in RULE_NAMES}
    for origin, record in _corpus():
        for rule in engine.match(record):
            got[rule].add(origin)
        for rule, condition in CIS_CONDITIONS.items():
            if condition(record):
                want[rule].add(origin)
    return got, want


def test_corpus_is_there():
    records = _corpus()
    assert len(records) > 3500
    assert len({origin for origin, _ in records}) == len(records)


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_replay_of_all_real_records_matches_the_cis_condition(rule_name):
    got, want = _replay()
    assert want[rule_name], f"no real record meets the CIS condition of {rule_name}; the check proves nothing"
    assert len(got[rule_name]) == len(want[rule_name])
    assert got[rule_name] == want[rule_name], (
        f"engine only: {sorted(got[rule_name] - want[rule_name])[:5]}; "
        f"CIS only: {sorted(want[rule_name] - got[rule_name])[:5]}"
    )


def test_replay_results_are_in_rule_order():
    engine = _engine()
    order = {name: i for i, name in enumerate(RULE_NAMES)}
    multi = 0
    for _, record in _corpus():
        result = engine.match(record)
        assert list(result) == sorted(result, key=order.__getitem__)
        assert len(set(result)) == len(result)
        multi += len(result) > 1
    assert multi > 0  # e.g. a denied LeaveOrganization is both an Organizations change and unauthorized
