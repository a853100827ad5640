"""The Sigma converter (trailsift.cli.sigma_convert): SigmaHQ's CloudTrail rules, every refusal, the merges, the
case notes, and random Sigma rules held to an independent evaluator (tests/sigma_reference.py) on random records."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from sigma_reference import matches, set_path
from trailsift.cli.sigma_convert import DRL_NOTE, MAX_SELECTORS, Refusal, convert_rule, import_paths, rule_name
from trailsift.engine import RuleEngine
from trailsift.rules import RuleSet, Severity, parse_rules

SIGMAHQ = Path(__file__).parent / "fixtures" / "sigma" / "cloudtrail"
NOT_EXPRESSIBLE = {"contains", "null test", "re", "fieldref", "field"}
"""What SigmaHQ's CloudTrail rules use that selectors cannot say (a field no record has included)."""


def sigma(detection: dict[str, Any], *, logsource: dict[str, str] | None = None, **meta: Any) -> SigmaRule:
    """A Sigma rule of ``detection`` (a dict, dumped to YAML and read by pySigma)."""
    document = {
        "title": meta.pop("title", "A test rule"),
        "id": meta.pop("id", "5f3c2a9e-0d1b-4c8e-9a7f-2b6d4e8c1a3f"),
        "logsource": logsource or {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
        **meta,
    }
    rule = SigmaCollection.from_yaml(yaml.safe_dump(document, sort_keys=False), collect_errors=True).rules[0]
    assert isinstance(rule, SigmaRule)
    return rule


def selectors(detection: dict[str, Any]) -> list[dict[str, Any]]:
    """The converted rule's selectors as JSON."""
    return convert_rule(sigma(detection), "r").rule.to_json()["selectors"]


def refusal(detection: dict[str, Any], **kwargs: Any) -> Refusal:
    with pytest.raises(Refusal) as info:
        convert_rule(sigma(detection, **kwargs), "r")
    return info.value


# --- SigmaHQ's folder ---------------------------------------------------------------------------


def test_sigmahq_cloudtrail_folder_converts_every_expressible_rule():
    result = import_paths([SIGMAHQ])
    assert len(result.converted) + len(result.refused) == 57
    assert len(result.converted) == 39
    assert result.refused_by_kind() == {"contains": 11, "null test": 4, "field": 1, "fieldref": 1, "re": 1}
    assert {item.kind for item in result.refused} <= NOT_EXPRESSIBLE
    field = next(item for item in result.refused if item.kind == "field")
    assert field.path.name == "aws_delete_saml_provider.yml"
    assert field.reason == "'status' is not a CloudTrail record field"
    rules = parse_rules(result.document(), source="sigma")  # what `trailsift validate` reads
    assert len(rules) == 39
    assert all(rule.name == item.path.stem for rule, item in zip(rules, result.converted))


def test_sigmahq_metadata_is_kept():
    result = import_paths([SIGMAHQ / "aws_root_account_usage.yml"])
    rule = result.converted[0].rule
    assert rule.name == "aws_root_account_usage"
    assert rule.id == "8ad1600d-e9dc-4251-b0ee-a65268f29add"
    assert rule.author == "vitaliy0x1"
    assert rule.description == "AWS Root Credentials (Sigma rule by vitaliy0x1)"
    assert rule.severity is Severity.MEDIUM
    assert rule.references == ("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html",)
    assert rule.license == DRL_NOTE == "DRL-1.1 (https://github.com/SigmaHQ/Detection-Rule-License)"
    assert rule.to_json()["selectors"] == [{
        "Name": "AWS Root Credentials",
        "FieldSelectors": [
            {"Field": "userIdentity.type", "Equals": ["Root"]},
            {"Field": "eventType", "NotEquals": ["AwsServiceEvent"]},
        ],
    }]


def test_sigmahq_mfa_used_no_is_named_as_never_matching():
    result = import_paths([SIGMAHQ / "aws_cloudtrail_console_login_success_without_mfa.yml"])
    (note,) = result.converted[0].case_notes
    assert (note.field, note.value, note.never, note.canonical) == ("additionalEventData.MFAUsed", "NO", True, "No")
    assert note.text == "additionalEventData.MFAUsed 'NO' never matches: CloudTrail writes 'No'"


def test_sigmahq_event_names_and_sources_spelt_as_cloudtrail_writes_them_have_no_case_note():
    result = import_paths([SIGMAHQ])
    noted = {item.path.stem for item in result.converted if item.case_notes}
    assert noted == {
        "aws_cloudtrail_console_login_success_without_mfa",  # 'NO'
        "aws_cloudtrail_console_login_failed_authentication",  # errorMessage: free-form
        "aws_cloudtrail_pua_trufflehog",  # userAgent: free-form
        "aws_ec2_startup_script_change",  # requestParameters.attribute: free-form
    }


# --- refusals, one by one -------------------------------------------------------------------------

REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("contains", {"sel": {"userAgent|contains": "x"}, "condition": "sel"}, "contains", "userAgent|contains"),
    ("re", {"sel": {"userAgent|re": "a.*b"}, "condition": "sel"}, "re", "regular expressions"),
    ("cidr", {"sel": {"sourceIPAddress|cidr": "10.0.0.0/8"}, "condition": "sel"}, "cidr", "address ranges"),
    ("base64", {"sel": {"userAgent|base64": "x"}, "condition": "sel"}, "base64", "encoded"),
    ("windash", {"sel": {"userAgent|windash": "-x"}, "condition": "sel"}, "windash", "encoded"),
    ("fieldref", {"sel": {"userIdentity.arn|fieldref": "requestParameters.userName"}, "condition": "sel"}, "fieldref", "another field"),
    ("exists", {"sel": {"errorCode|exists": True}, "condition": "sel"}, "exists", "field present"),
    ("gt", {"sel": {"requestParameters.port|gt": 22}, "condition": "sel"}, "gt", "numeric comparisons"),
    ("keyword", {"keywords": ["evil"], "condition": "keywords"}, "keyword search", "without a field"),
    ("null", {"sel": {"errorCode": None}, "condition": "sel"}, "null test", "'field absent'"),
    ("null in a filter", {"sel": {"eventName": "X"}, "f": {"errorCode": None}, "condition": "sel and not f"}, "null test", "errorCode"),
    ("single-character wildcard", {"sel": {"eventName": "Get?bject"}, "condition": "sel"}, "wildcard", "'?'"),
    ("inner wildcard", {"sel": {"eventName": "Get*Object"}, "condition": "sel"}, "wildcard", "inside the value"),
    ("star alone", {"sel": {"eventName": "*"}, "condition": "sel"}, "wildcard", "any value"),
    ("both sides", {"sel": {"eventName": "*Object*"}, "condition": "sel"}, "contains", "both sides"),
    ("empty value", {"sel": {"eventName": ""}, "condition": "sel"}, "empty value", "1 to 2048"),
    ("long value", {"sel": {"eventName": "x" * 2049}, "condition": "sel"}, "value too long", "2049 characters"),
    ("unknown field", {"sel": {"eventname": "X"}, "condition": "sel"}, "field", "did you mean 'eventName'"),
    ("object field", {"sel": {"userIdentity": "X"}, "condition": "sel"}, "field", "is an object"),
    ("bad field path", {"sel": {"event name": "X"}, "condition": "sel"}, "field", "dotted paths"),
    (
        "two values of one field in one AND",
        {"sel": {"eventName|all": ["A", "B"]}, "condition": "sel"},
        "same field twice", "eventName must hold Equals 'A' and Equals 'B'",
    ),
    (
        "prefix and suffix of one field in one AND",
        {"a": {"eventName|startswith": "Get"}, "b": {"eventName|endswith": "Object"}, "condition": "a and b"},
        "same field twice", "cannot ask for two",
    ),
    ("aggregation", {"sel": {"eventName": "X"}, "condition": "sel | count() > 5"}, "aggregation", "one record at a time"),
    ("readOnly refused by the selectors", {"sel": {"readOnly": "yes"}, "condition": "sel"}, "invalid selectors", "readOnly"),
]


@pytest.mark.parametrize(("detection", "kind", "fragment"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_with_the_reason(detection, kind, fragment):
    refused = refusal(detection)
    assert refused.kind == kind
    assert fragment in refused.reason, refused.reason
    assert "\n" not in refused.reason


def test_a_condition_past_the_selector_limit_is_refused():
    names = [f"s{i}" for i in range(6)]
    detection: dict[str, Any] = {name: [{"eventName": f"A{name}"}, {"eventSource": f"b{name}"}] for name in names}
    detection["condition"] = "all of s*"  # (a or b) six times over: 64 selectors
    refused = refusal(detection)
    assert refused.kind == "too many selectors" and str(MAX_SELECTORS) in refused.reason


def test_other_logsources_are_refused_by_the_converter_and_skipped_by_the_import(tmp_path):
    refused = refusal({"sel": {"EventID": 1}, "condition": "sel"}, logsource={"product": "windows", "category": "process_creation"})
    assert refused.kind == "not CloudTrail" and "'windows'" in refused.reason
    (tmp_path / "win.yml").write_text(yaml.safe_dump({
        "title": "w", "logsource": {"product": "windows"}, "detection": {"s": {"EventID": 1}, "condition": "s"},
    }))
    (tmp_path / "aws.yml").write_text((SIGMAHQ / "aws_enum_buckets.yml").read_text())
    result = import_paths([tmp_path])
    assert [item.rule.name for item in result.converted] == ["aws"]
    assert result.refused == ()
    assert [item.path.name for item in result.skipped] == ["win.yml"]


def test_correlations_and_unreadable_files_are_refused_by_file(tmp_path):
    (tmp_path / "corr.yml").write_text(textwrap.dedent("""\
        title: base
        name: base_rule
        id: 0f0c7c2e-5f55-4f58-9a59-6a5c8f0f4f11
        logsource: {product: aws, service: cloudtrail}
        detection:
            sel: {eventName: ConsoleLogin}
            condition: sel
        ---
        title: many logins
        id: 1a1c7c2e-5f55-4f58-9a59-6a5c8f0f4f12
        correlation:
            type: event_count
            rules: [base_rule]
            group-by: [sourceIPAddress]
            timespan: 5m
            condition: {gte: 10}
        """))
    (tmp_path / "broken.yml").write_text("title: [unclosed\n")
    result = import_paths([tmp_path])
    assert [rule.rule.name for rule in result.converted] == ["corr"]
    kinds = {item.kind: item for item in result.refused}
    assert set(kinds) == {"correlation", "invalid Sigma"}
    assert kinds["correlation"].path.name == "corr.yml" and "event_count" in kinds["correlation"].reason
    assert kinds["invalid Sigma"].path.name == "broken.yml"


# --- what converts, and how ---------------------------------------------------------------------


def test_modifiers_and_wildcards_map_to_operators():
    assert selectors({
        "sel": {
            "eventName|startswith": "Get",
            "eventSource|endswith": ".amazonaws.com",
            "userAgent": "aws-cli/*",
            "userIdentity.arn": "*:root",
            "errorCode": "Access\\*Denied",  # an escaped star is a literal star
        },
        "condition": "sel",
    })[0]["FieldSelectors"] == [
        {"Field": "eventName", "StartsWith": ["Get"]},
        {"Field": "eventSource", "EndsWith": [".amazonaws.com"]},
        {"Field": "userAgent", "StartsWith": ["aws-cli/"]},
        {"Field": "userIdentity.arn", "EndsWith": [":root"]},
        {"Field": "errorCode", "Equals": ["Access*Denied"]},
    ]


def test_not_is_pushed_down_to_the_field_tests():
    # not (a and b) = not a or not b: two selectors
    assert selectors({"a": {"eventName": "A", "eventSource": "b"}, "condition": "not a"}) == [
        {"Name": "A test rule #1", "FieldSelectors": [{"Field": "eventName", "NotEquals": ["A"]}]},
        {"Name": "A test rule #2", "FieldSelectors": [{"Field": "eventSource", "NotEquals": ["b"]}]},
    ]
    # not (a or b) on one field, with startswith: one exclude list of each kind
    assert selectors({
        "sel": {"eventSource": "x"},
        "f": [{"eventName": ["A", "B"]}, {"eventName|startswith": "Get"}, {"eventName|endswith": "Z"}],
        "condition": "sel and not f",
    })[0]["FieldSelectors"] == [
        {"Field": "eventSource", "Equals": ["x"]},
        {"Field": "eventName", "NotEquals": ["A", "B"], "NotStartsWith": ["Get"], "NotEndsWith": ["Z"]},
    ]


def test_includes_and_excludes_of_one_field_share_its_field_selector():
    assert selectors({
        "sel": {"eventName|startswith": "Delete"},
        "f": {"eventName": ["DeleteTags", "DeleteAlarms"]},
        "condition": "sel and not f",
    })[0]["FieldSelectors"] == [
        {"Field": "eventName", "StartsWith": ["Delete"], "NotEquals": ["DeleteTags", "DeleteAlarms"]},
    ]


def test_two_tests_of_one_field_merge_when_one_implies_the_other():
    assert selectors({
        "a": {"eventName|startswith": "Delete"},
        "b": {"eventName": ["DeleteTrail", "DeleteBucket"]},
        "condition": "a and b",
    })[0]["FieldSelectors"] == [{"Field": "eventName", "Equals": ["DeleteTrail", "DeleteBucket"]}]


def test_or_of_selections_differing_in_one_field_is_one_selector():
    assert selectors({
        "s1": {"eventSource": "iam.amazonaws.com", "eventName": "A"},
        "s2": {"eventSource": "iam.amazonaws.com", "eventName|startswith": "B"},
        "condition": "1 of s*",
    }) == [{"Name": "A test rule", "FieldSelectors": [
        {"Field": "eventSource", "Equals": ["iam.amazonaws.com"]},
        {"Field": "eventName", "Equals": ["A"], "StartsWith": ["B"]},
    ]}]


def test_numbers_and_booleans_read_as_selectors_read_them():
    assert selectors({"sel": {"requestParameters.fromPort": 22, "responseElements.publiclyAccessible": True}, "condition": "sel"})[0][
        "FieldSelectors"
    ] == [
        {"Field": "requestParameters.fromPort", "Equals": ["22"]},
        {"Field": "responseElements.publiclyAccessible", "Equals": ["true"]},
    ]


def test_levels_map_to_severities_and_a_rule_without_one_is_medium():
    for level, severity in [("informational", "info"), ("low", "low"), ("high", "high"), ("critical", "critical")]:
        converted = convert_rule(sigma({"s": {"eventName": "A"}, "condition": "s"}, level=level), "r")
        assert converted.rule.severity.value == severity
    assert convert_rule(sigma({"s": {"eventName": "A"}, "condition": "s"}), "r").rule.severity is Severity.MEDIUM


def test_a_rule_with_its_own_license_keeps_it():
    converted = convert_rule(sigma({"s": {"eventName": "A"}, "condition": "s"}, license="MIT", author="me"), "r")
    assert converted.rule.license == "MIT"
    assert converted.rule.description == "A test rule (Sigma rule by me)"


def test_rule_names_come_from_file_names_valid_and_unique():
    taken: set[str] = set()
    assert rule_name(Path("a/aws_x.yml"), taken) == "aws_x"
    assert rule_name(Path("b/aws_x.yml"), taken) == "aws_x-2"
    assert rule_name(Path("my rule!.yaml"), taken) == "my-rule-"
    assert rule_name(Path("_x.yml"), taken) == "x"


# --- case notes -------------------------------------------------------------------------------


def notes(detection: dict[str, Any]) -> list[str]:
    return [note.text for note in convert_rule(sigma(detection), "r").case_notes]


def test_case_notes_say_precisely_what_matches_differently():
    assert notes({"s": {"eventSource": "IAM.amazonaws.com"}, "condition": "s"}) == [
        "eventSource 'IAM.amazonaws.com' never matches: CloudTrail writes 'iam.amazonaws.com'"
    ]
    assert notes({"s": {"userIdentity.type": "root"}, "condition": "s"}) == [
        "userIdentity.type 'root' never matches: CloudTrail writes 'Root'"
    ]
    assert notes({"s": {"eventName": "X"}, "f": {"userIdentity.type": "assumedrole"}, "condition": "s and not f"}) == [
        "userIdentity.type 'assumedrole' never excludes anything: CloudTrail writes 'AssumedRole'"
    ]
    assert notes({"s": {"userAgent": "Boto3"}, "condition": "s"}) == ["userAgent 'Boto3' matches only in this case"]
    assert notes({"s": {"eventName": "X"}, "f": {"userAgent": "Boto3"}, "condition": "s and not f"}) == [
        "userAgent 'Boto3' excludes only in this case"
    ]
    # spelt as CloudTrail writes it, cased, or without letters: the same records either way
    assert notes({"s": {
        "eventSource": "iam.amazonaws.com", "eventName": "ConsoleLogin", "userIdentity.type": "Root",
        "userAgent|cased": "Boto3", "sourceIPAddress": "10.0.0.1",
    }, "condition": "s"}) == []


# --- random rules against the reference evaluator ------------------------------------------------

FIELDS = ("eventName", "eventSource", "userIdentity.type", "requestParameters.items")
WORDS = ("a", "ab", "Ab", "abc", "aBc", "b", "bc", "cab")


@st.composite
def sigma_values(draw: st.DrawFn) -> tuple[str, Any]:
    """A field with its modifiers, and a value or a list of values."""
    field = draw(st.sampled_from(FIELDS))
    modifier = draw(st.sampled_from(["", "|startswith", "|endswith", "|cased", "|startswith|cased", "|all"]))
    values = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3, unique=True))
    if not modifier:
        values = [draw(st.sampled_from(["", "*"])) + v + draw(st.sampled_from(["", "", "*"])) for v in values]
        values = [v if not (v.startswith("*") and v.endswith("*")) else v[1:] for v in values]
    return field + modifier, values if len(values) > 1 or modifier == "|all" else values[0]


@st.composite
def detections(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["sel1", "sel2", "filter1", "filter2"]), min_size=1, max_size=3, unique=True))
    out: dict[str, Any] = {}
    for name in names:
        maps = [dict(draw(st.lists(sigma_values(), min_size=1, max_size=2, unique_by=lambda fv: fv[0])))
                for _ in range(draw(st.integers(1, 2)))]
        out[name] = maps[0] if len(maps) == 1 else maps

    def expression(depth: int) -> str:
        choices = [*names, *(f"{q} of {p}*" for q in ("1", "all") for p in ("sel", "filter") if any(n.startswith(p) for n in names))]
        if depth == 0 or draw(st.booleans()):
            return draw(st.sampled_from(choices))
        kind = draw(st.sampled_from(["and", "or", "not"]))
        if kind == "not":
            return f"not {expression(depth - 1)}"
        return f"({expression(depth - 1)} {kind} {expression(depth - 1)})"

    out["condition"] = expression(2)
    return out


def record_strategy() -> st.SearchStrategy[dict[str, Any]]:
    values = st.sampled_from([*WORDS, "abcx", "xab", "ABC", "B", "c"])
    held = st.one_of(st.none(), values, st.lists(values, min_size=1, max_size=2))

    def build(chosen: tuple[Any, ...]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for field, value in zip(FIELDS, chosen):
            if value is None:
                continue
            if isinstance(value, list) and field != "requestParameters.items":
                value = value[0]  # only the request parameter holds several values
            set_path(record, field, value)
        return record

    return st.tuples(*(held for _ in FIELDS)).map(build)


def test_converted_rules_match_exactly_what_the_sigma_rule_matches_cased():
    """Random Sigma rules (modifiers, wildcards, lists, ``all``, ``cased``, nested and/or/not, ``1 of``/``all of``)
    on random records holding their values, near misses (a letter more or less, another case) and arrays:
    trailsift's engine matches a converted rule exactly when the reference evaluator matches the Sigma rule.
    The counts make sure the property is not vacuous (rules convert, records both match and miss)."""
    seen = {"converted": 0, "refused": 0, "matched": 0, "missed": 0}

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(detection=detections(), records=st.lists(record_strategy(), min_size=10, max_size=10))
    def check(detection: dict[str, Any], records: list[dict[str, Any]]) -> None:
        rule = sigma(detection)
        try:
            converted = convert_rule(rule, "r")
        except Refusal as refused:  # the only refusals such rules can earn
            assert refused.kind in ("same field twice", "too many selectors"), refused.reason
            seen["refused"] += 1
            return
        seen["converted"] += 1
        engine = RuleEngine(RuleSet((converted.rule,)))
        for record in records:
            expected = matches(rule, record)
            seen["matched" if expected else "missed"] += 1
            assert (engine.match(record) == ("r",)) == expected, (detection, record, converted.rule.to_json())

    check()
    assert seen["converted"] >= 60, seen
    assert seen["matched"] >= 100 and seen["missed"] >= 100, seen


SPELT = {  # what a Sigma rule may test, and what CloudTrail writes, for a free-form and two one-spelling fields
    "userAgent": (("ab", "Ab", "abc", "B", "cab"), ("ab", "Ab", "AB", "abc", "b")),
    "userIdentity.type": (("Root", "root", "ROOT", "IAMUser", "iamuser", "Assumed", "assumed", "Role", "role"),
                          ("Root", "IAMUser", "AssumedRole")),
    "eventSource": (("iam.amazonaws.com", "IAM.amazonaws.com", "iam", "IAM", ".com"),
                    ("iam.amazonaws.com", "s3.amazonaws.com")),
}


@st.composite
def case_detections(draw: st.DrawFn) -> dict[str, Any]:
    def item() -> tuple[str, Any]:
        field = draw(st.sampled_from(sorted(SPELT)))
        modifier = draw(st.sampled_from(["", "|startswith", "|endswith", "|cased"]))
        values = draw(st.lists(st.sampled_from(SPELT[field][0]), min_size=1, max_size=2, unique=True))
        return field + modifier, values if len(values) > 1 else values[0]

    selection = dict(item() for _ in range(draw(st.integers(1, 2))))
    detection: dict[str, Any] = {"sel": selection, "condition": "sel"}
    if draw(st.booleans()):
        detection["filter"] = dict([item()])
        detection["condition"] = "sel and not filter"
    return detection


def test_a_rule_without_case_notes_matches_what_sigma_matches_ignoring_case():
    """The case notes are complete: a converted rule with none matches, on records spelt as CloudTrail writes
    them, exactly the records the Sigma rule matches with Sigma's own case-insensitive comparison."""
    seen = {"quiet": 0, "noted": 0, "differed": 0}

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(detection=case_detections())
    def check(detection: dict[str, Any]) -> None:
        rule = sigma(detection)
        try:
            converted = convert_rule(rule, "r")
        except Refusal:
            return
        engine = RuleEngine(RuleSet((converted.rule,)))
        records = []
        for agent in (None, *SPELT["userAgent"][1]):
            for kind in (None, *SPELT["userIdentity.type"][1]):
                for source in (None, *SPELT["eventSource"][1]):
                    record: dict[str, Any] = {}
                    for field, value in (("userAgent", agent), ("userIdentity.type", kind), ("eventSource", source)):
                        if value is not None:
                            set_path(record, field, value)
                    records.append(record)
        differs = [r for r in records if (engine.match(r) == ("r",)) != matches(rule, r, ignore_case=True)]
        if converted.case_notes:
            seen["noted"] += 1
            seen["differed"] += bool(differs)
        else:
            seen["quiet"] += 1
            assert differs == [], (detection, converted.rule.to_json(), differs[:3])

    check()
    assert seen["quiet"] >= 20 and seen["noted"] >= 20 and seen["differed"] >= 20, seen


def test_case_notes_on_prefixes_and_suffixes_of_one_spelling_fields():
    assert notes({"s": {"userIdentity.type|startswith": "assumed"}, "condition": "s"}) == [
        "userIdentity.type starting with 'assumed' never matches: CloudTrail writes 'AssumedRole'"
    ]
    assert notes({"s": {"userIdentity.type|endswith": "user"}, "condition": "s"}) == [
        "userIdentity.type ending with 'user' never matches: CloudTrail writes 'IAMUser'"
    ]
    assert notes({"s": {"eventName": "X"}, "f": {"eventSource|startswith": "IAM."}, "condition": "s and not f"}) == [
        "eventSource starting with 'IAM.' never excludes anything: CloudTrail writes 'iam.'"
    ]
    assert notes({"s": {"userIdentity.type|startswith": "Assumed", "eventSource|endswith": ".com"}, "condition": "s"}) == []
