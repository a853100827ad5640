"""trailsift.rules: rules documents (JSON and YAML), selector files as rules, and the messages that
point at a malformed rule (its index and name, and the key at fault)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trailsift.rules import (
    Destination,
    Rule,
    RulesError,
    RuleSet,
    Severity,
    is_rules_document,
    load_document,
    load_rules,
    load_selector_rules,
    parse_rule,
    parse_rules,
    rules_from_selectors,
)
from trailsift.selectors import EventSelector, FieldSelector, parse_selectors

TAMPERING = [
    {
        "Name": "trail changes",
        "FieldSelectors": [
            {"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail"]},
            {"Field": "readOnly", "Equals": ["false"]},
        ],
    }
]
ANY_ROOT = [{"FieldSelectors": [{"Field": "userIdentity.type", "Equals": ["Root"]}]}]


def rule(**overrides: Any) -> dict[str, Any]:
    """A valid rule object named 'x'; keys set to ``...`` are removed."""
    raw: dict[str, Any] = {
        "name": "x",
        "description": "d",
        "severity": "high",
        "destinations": ["alert"],
        "selectors": ANY_ROOT,
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not ...}


# ---------------------------------------------------------------------------------------------
# Happy paths


def test_parse_rules_happy_path():
    document = {
        "version": 1,
        "rules": [
            {
                "name": "cloudtrail-tampering",
                "description": "Someone stopped or deleted a trail.",
                "severity": "critical",
                "destinations": ["index", "alert"],
                "selectors": TAMPERING,
            },
            {"name": "root.any_call-1", "selectors": ANY_ROOT},
        ],
    }
    rules = parse_rules(document, source="mine.json")
    assert isinstance(rules, RuleSet)
    assert rules.source == "mine.json"
    assert rules.names == ("cloudtrail-tampering", "root.any_call-1")
    assert len(rules) == 2
    assert [r.name for r in rules] == list(rules.names)

    tampering = rules.get("cloudtrail-tampering")
    assert tampering.severity is Severity.CRITICAL
    assert tampering.description == "Someone stopped or deleted a trail."
    assert tampering.destinations == (Destination.INDEX, Destination.ALERT)  # order kept
    assert tampering.selectors == (
        EventSelector(
            "trail changes",
            (
                FieldSelector("eventName", (("Equals", ("StopLogging", "DeleteTrail")),)),
                FieldSelector("readOnly", (("Equals", ("false",)),)),
            ),
        ),
    )

    # Defaults for what a rule leaves out.
    root = rules.get("root.any_call-1")
    assert root.severity is Severity.MEDIUM
    assert root.description == ""
    assert root.destinations == (Destination.ALERT, Destination.INDEX, Destination.EVENTBUS)  # every one configured
    assert root.selectors[0].name is None

    with pytest.raises(KeyError):
        rules.get("nope")


def test_version_is_optional_and_to_json_round_trips():
    rules = parse_rules({"rules": [rule(), rule(name="y", severity="info", destinations=["index"])]})
    assert rules.names == ("x", "y")
    again = parse_rules({"version": 1, "rules": [r.to_json() for r in rules]})
    assert again.rules == rules.rules
    assert rules.rules[0].to_json() == {
        "name": "x",
        "description": "d",
        "severity": "high",
        "destinations": ["alert"],
        "selectors": ANY_ROOT,
    }


def test_every_severity_and_destination_is_accepted():
    for severity in ("info", "low", "medium", "high", "critical"):
        assert parse_rule(rule(severity=severity), 0).severity is Severity(severity)
    for destinations in (["alert"], ["index"], ["alert", "index"]):
        assert [d.value for d in parse_rule(rule(destinations=destinations), 0).destinations] == destinations


def test_origin_metadata_is_optional_kept_and_round_trips():
    """A rule imported from Sigma keeps where it comes from: id, author, references, licence."""
    imported = rule(
        id="d6a5b7a4-2a4c-4d8a-9a0b-1f1f1f1f1f1f",
        author="Jane Doe, John Roe",
        references=["https://example.com/a", "https://example.com/b"],
        license="DRL-1.1",
    )
    parsed = parse_rule(imported, 0)
    assert (parsed.id, parsed.author, parsed.license) == (imported["id"], "Jane Doe, John Roe", "DRL-1.1")
    assert parsed.references == ("https://example.com/a", "https://example.com/b")
    assert parsed.to_json() == imported  # every key back, and none added
    assert parse_rules({"rules": [parsed.to_json()]}).rules == (parsed,)
    plain = parse_rule(rule(), 0)
    assert (plain.id, plain.author, plain.references, plain.license) == (None, None, (), None)
    assert not {"id", "author", "references", "license"} & set(plain.to_json())  # absent stays absent
    assert parse_rule(rule(references=[]), 0).references == ()


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("id", 7, "'id' must be a string of 1 to 2048 characters"),
        ("id", "", "'id' must be a string"),
        ("id", None, "'id' must be a string"),
        ("author", ["a"], "'author' must be a string"),
        ("license", "x" * 2049, "'license' must be a string of 1 to 2048"),
        ("references", "https://example.com", "'references' must be a list of strings"),
        ("references", ["https://example.com", 3], "'references' must be a list of strings"),
        ("references", [""], "'references' must be a list of strings of 1 to 2048"),
    ],
)
def test_bad_origin_metadata_is_refused_naming_the_key(key, value, fragment):
    with pytest.raises(RulesError) as info:
        parse_rules({"rules": [rule(**{key: value})]}, source="pack.json")
    assert "rule 0 ('x')" in str(info.value)
    assert fragment in str(info.value)


def test_rule_names_at_the_limits():
    assert parse_rule(rule(name="a"), 0).name == "a"
    long_name = "a" + "b" * 127
    assert parse_rule(rule(name=long_name), 0).name == long_name
    with pytest.raises(RulesError, match="bad name"):
        parse_rule(rule(name=long_name + "c"), 0)


YAML_RULES = """\
# trailsift rules, with comments (the reason to write YAML)
version: 1
rules:
  - name: cloudtrail-tampering   # trailing comment
    description: Someone stopped or deleted a trail.
    severity: critical
    destinations: [alert, index]
    selectors:
      - Name: trail changes
        FieldSelectors:
          - Field: eventName
            Equals: [StopLogging, DeleteTrail]
          # readOnly values are strings in selectors: quote them in YAML
          - Field: readOnly
            Equals: ["false"]
  - name: root-any
    selectors:
      - FieldSelectors:
          - {Field: userIdentity.type, Equals: [Root]}
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_load_rules_from_yaml_with_comments(tmp_path, suffix):
    path = tmp_path / f"rules{suffix}"
    path.write_text(YAML_RULES, encoding="utf-8")
    rules = load_rules(path)
    assert rules.source == str(path)
    assert rules.names == ("cloudtrail-tampering", "root-any")
    expected = parse_rules(
        {
            "rules": [
                {
                    "name": "cloudtrail-tampering",
                    "description": "Someone stopped or deleted a trail.",
                    "severity": "critical",
                    "destinations": ["alert", "index"],
                    "selectors": TAMPERING,
                },
                {"name": "root-any", "selectors": ANY_ROOT},
            ]
        }
    )
    assert rules.rules == expected.rules


def test_load_rules_from_json(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [rule()]}), encoding="utf-8")
    rules = load_rules(path)
    assert rules.names == ("x",)
    assert rules.source == str(path)
    assert rules.get("x").severity is Severity.HIGH


def test_is_rules_document():
    assert is_rules_document({"rules": []})
    assert not is_rules_document(TAMPERING)
    assert not is_rules_document({"AdvancedEventSelectors": TAMPERING})


# ---------------------------------------------------------------------------------------------
# Selector files as rules


def test_load_selector_rules_from_get_event_selectors_output(tmp_path):
    output = {
        "TrailARN": "arn:aws:cloudtrail:us-east-1:123456789012:trail/management",
        "AdvancedEventSelectors": [
            TAMPERING[0],
            {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
            {"Name": "trail changes", "FieldSelectors": [{"Field": "eventName", "Equals": ["UpdateTrail"]}]},
        ],
    }
    path = tmp_path / "selectors.json"
    path.write_text(json.dumps(output), encoding="utf-8")
    rules = load_selector_rules(path)
    assert rules.names == ("trail changes", "selector-1", "trail changes#2")
    assert rules.source == str(path)
    first = rules.rules[0]
    assert first.selectors == parse_selectors(TAMPERING)
    assert first.severity is Severity.MEDIUM
    assert first.destinations == (Destination.ALERT, Destination.INDEX, Destination.EVENTBUS)
    assert first.description == f"{path} selector 0"
    assert rules.get("trail changes#2").selectors[0].field_selectors[0].values("Equals") == ("UpdateTrail",)


def test_load_selector_rules_from_a_plain_list(tmp_path):
    path = tmp_path / "selectors.json"
    path.write_text(json.dumps(ANY_ROOT + TAMPERING), encoding="utf-8")
    assert load_selector_rules(path).names == ("selector-0", "trail changes")


def test_load_selector_rules_rejects_bad_selectors_naming_the_file(tmp_path):
    path = tmp_path / "bad-selectors.json"
    path.write_text(json.dumps([{"Name": "s", "FieldSelectors": [{"Field": "eventName", "Equal": ["X"]}]}]))
    with pytest.raises(RulesError) as info:
        load_selector_rules(path)
    message = str(info.value)
    assert str(path) in message
    assert "selector 0 ('s')" in message
    assert "'Equal'" in message


def _selector(name: str | None) -> EventSelector:
    return EventSelector(name, (FieldSelector("eventName", (("Equals", ("X",)),)),))


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a", "b"], ("a", "b")),
        ([None, None], ("selector-0", "selector-1")),
        (["", "a"], ("selector-0", "a")),  # an empty Name is no name
        (["a", "a", "a"], ("a", "a#1", "a#2")),
        (["selector-1", None], ("selector-1", "selector-1#1")),
        (["a", "a", "a#1"], ("a", "a#1", "a#1#2")),
        # The renamed duplicate must not take a name already used ("a#2" is selector 0's).
        (["a#2", "a", "a"], ("a#2", "a", "a#2#2")),
    ],
)
def test_rules_from_selectors_naming(names, expected):
    rules = rules_from_selectors([_selector(n) for n in names], source="sel.json")
    assert rules.names == expected
    assert len(set(rules.names)) == len(rules.names)
    assert [r.description for r in rules] == [f"sel.json selector {i}" for i in range(len(names))]
    assert all(isinstance(r, Rule) and len(r.selectors) == 1 for r in rules)


# ---------------------------------------------------------------------------------------------
# Malformed rules documents: each message names the rule (index and name) and the key at fault

MALFORMED: list[tuple[str, Any, list[str]]] = [
    ("unknown rule key", {"rules": [rule(severty="high")]}, ["rule 0 ('x')", "unknown key 'severty'"]),
    ("missing name", {"rules": [rule(name=...)]}, ["rule 0:", "missing 'name'"]),
    ("bad name characters", {"rules": [rule(name="bad name!")]}, ["rule 0 ('bad name!')", "bad name"]),
    ("name starts with a dash", {"rules": [rule(name="-x")]}, ["rule 0 ('-x')", "bad name '-x'"]),
    ("name not a string", {"rules": [rule(name=7)]}, ["rule 0:", "bad name 7"]),
    (
        "duplicate name",
        {"rules": [rule(), rule(severity="low")]},
        ["rule 1 ('x')", "name already used by rule 0"],
    ),
    ("unknown severity", {"rules": [rule(severity="urgent")]}, ["rule 0 ('x')", "unknown severity 'urgent'"]),
    ("description not a string", {"rules": [rule(description=["d"])]}, ["rule 0 ('x')", "'description'"]),
    ("destinations empty", {"rules": [rule(destinations=[])]}, ["rule 0 ('x')", "'destinations'", "non-empty list"]),
    (
        "destinations unknown",
        {"rules": [rule(destinations=["alert", "email"])]},
        ["rule 0 ('x')", "'destinations'", "unknown value 'email'"],
    ),
    (
        "destinations duplicated",
        {"rules": [rule(destinations=["alert", "alert"])]},
        ["rule 0 ('x')", "'destinations'", "'alert' is listed twice"],
    ),
    (
        "destinations not a list",
        {"rules": [rule(destinations="alert")]},
        ["rule 0 ('x')", "'destinations'", "non-empty list"],
    ),
    ("missing selectors", {"rules": [rule(selectors=...)]}, ["rule 0 ('x')", "missing 'selectors'"]),
    (
        "selectors invalid",
        {"rules": [rule(selectors=[{"FieldSelectors": [{"Field": "eventName", "Equal": ["X"]}]}])]},
        ["rule 0 ('x'): selector 0", "field selector 0", "unknown key 'Equal'"],
    ),
    (
        "selector value invalid",
        {"rules": [rule(selectors=[{"Name": "s", "FieldSelectors": [{"Field": "readOnly", "Equals": ["no"]}]}])]},
        ["rule 0 ('x'): selector 0 ('s')", "'Equals'", "readOnly"],
    ),
    ("selectors empty", {"rules": [rule(selectors=[])]}, ["rule 0 ('x')", "selector list is empty"]),
    ("rule not an object", {"rules": ["x"]}, ["rule 0:", "must be an object"]),
    (
        "second rule at fault",
        {"rules": [rule(), rule(name="y", severity="urgent")]},
        ["rule 1 ('y')", "unknown severity 'urgent'"],
    ),
    ("top level not an object", [rule()], ["pack.json", "object with a 'rules' list"]),
    ("unknown top-level key", {"rules": [rule()], "rule": []}, ["pack.json", "unknown top-level key 'rule'"]),
    ("version 2", {"version": 2, "rules": [rule()]}, ["pack.json", "unsupported version 2"]),
    ("version true", {"version": True, "rules": [rule()]}, ["pack.json", "unsupported version True"]),
    ("version as text", {"version": "1", "rules": [rule()]}, ["pack.json", "unsupported version '1'"]),
    ("rules empty", {"rules": []}, ["pack.json", "'rules' must be a non-empty list"]),
    ("rules missing", {"version": 1}, ["pack.json", "'rules' must be a non-empty list"]),
    ("rules not a list", {"rules": rule()}, ["pack.json", "'rules' must be a non-empty list"]),
]


@pytest.mark.parametrize(("document", "fragments"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_rules_document(document, fragments):
    with pytest.raises(RulesError) as info:
        parse_rules(document, source="pack.json")
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_rules_error_is_a_value_error():
    assert issubclass(RulesError, ValueError)


def test_parse_rule_reports_its_index():
    with pytest.raises(RulesError, match=r"^rule 4 \('x'\): unknown severity"):
        parse_rule(rule(severity="nope"), 4)


# ---------------------------------------------------------------------------------------------
# Files that cannot be read or parsed: the message names the file


def test_invalid_json_file_names_the_path(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"rules": [', encoding="utf-8")
    for load in (load_rules, load_selector_rules, load_document):
        with pytest.raises(RulesError) as info:
            load(path)
        assert str(path) in str(info.value)
        assert "not valid JSON" in str(info.value)


def test_invalid_yaml_file_names_the_path(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("rules:\n  - name: x\n   selectors: [\n", encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(path) in str(info.value)
    assert "not valid YAML" in str(info.value)


def test_json_syntax_in_a_yaml_file_is_read_as_yaml(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"rules": [rule()]}), encoding="utf-8")
    assert load_rules(path).names == ("x",)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.json"
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(path) in str(info.value)
    assert "cannot read" in str(info.value)


def test_directory_is_unreadable(tmp_path):
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "cannot read" in str(info.value)


def test_unreadable_file_names_the_path(tmp_path, monkeypatch):
    # chmod 0 does not stop root (tests may run as root), so the permission error is simulated.
    path = tmp_path / "secret.json"
    path.write_text(json.dumps({"rules": [rule()]}), encoding="utf-8")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value) == f"{path}: cannot read: Permission denied"


def test_valid_syntax_bad_rules_file_names_the_path(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("# no rules yet\n", encoding="utf-8")  # an empty YAML document is null
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value).startswith(f"{path}: ")


def test_invalid_utf8_json_is_a_rules_error(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"rules": [{"name": "caf\xe9"}]}')
    with pytest.raises(RulesError, match="not valid JSON"):
        load_rules(path)


# ---------------------------------------------------------------------------------------------
# Tests a rule carries (`tests`): strict, one-line errors naming the rule and the case

ROOT = {"eventName": "GetCallerIdentity", "userIdentity": {"type": "Root"}}


def test_tests_parse_inline_and_file_cases_and_round_trip():
    from trailsift.rules import RuleCase

    tests = [
        {"name": "root call", "expect": "match", "record": ROOT},
        {"name": "a user", "expect": "no-match", "file": "cases/x.json.gz", "index": 3,
         "origin": "invictus/a.json.gz#3", "edited": "userIdentity.type Root -> IAMUser"},
        {"name": "one-record file", "expect": "no-match", "file": "one.json"},
    ]
    parsed = parse_rules({"rules": [rule(tests=tests)]}, base=Path("/rules"))
    inline, in_file, whole = parsed.rules[0].tests
    assert inline == RuleCase("root call", "match", ROOT)
    assert inline.expects_match and inline.path is None
    assert (in_file.file, in_file.index, in_file.origin, in_file.path) == ("cases/x.json.gz", 3, "invictus/a.json.gz#3", Path("/rules/cases/x.json.gz"))
    assert not in_file.expects_match and whole.index is None
    assert parsed.rules[0].to_json()["tests"] == tests
    assert parse_rules({"rules": [parsed.rules[0].to_json()]}).rules[0] == parsed.rules[0]  # base is not identity
    assert hash(parsed.rules[0])  # a rule with an inline record stays hashable
    assert "tests" not in parse_rule(rule(), 0).to_json()  # none: no key


def test_file_cases_are_relative_to_the_rules_file(tmp_path):
    path = tmp_path / "sub" / "rules.yaml"
    path.parent.mkdir()
    path.write_text(json.dumps({"rules": [rule(tests=[{"name": "n", "expect": "match", "file": "r.json", "index": 0}])]}))
    from trailsift.rules import load_rules_file

    (case,) = load_rules_file(path).rules.rules[0].tests
    assert case.path == tmp_path / "sub" / "r.json"
    assert not (tmp_path / "sub" / "r.json").exists()  # loading reads no case file


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ([], "rule 0 ('x'): 'tests' must be a non-empty list of cases"),
        ({"name": "n"}, "rule 0 ('x'): 'tests' must be a non-empty list of cases"),
        (["n"], "rule 0 ('x'): test 0: must be an object, got str"),
        ([{"name": "n", "expect": "match", "record": ROOT, "why": "w"}],
         "rule 0 ('x'): test 0 ('n'): unknown key 'why'; test keys are name, expect, record, file, index, origin, edited"),
        ([{"expect": "match", "record": ROOT}], "rule 0 ('x'): test 0: 'name' must be a non-empty string"),
        ([{"name": " ", "expect": "match", "record": ROOT}], "rule 0 ('x'): test 0 (' '): 'name' must be a non-empty string"),
        ([{"name": "n", "expect": "matches", "record": ROOT}],
         "rule 0 ('x'): test 0 ('n'): 'expect' must be 'match' or 'no-match', got 'matches'"),
        ([{"name": "n", "record": ROOT}], "rule 0 ('x'): test 0 ('n'): 'expect' must be 'match' or 'no-match', got None"),
        ([{"name": "n", "expect": "match"}],
         "rule 0 ('x'): test 0 ('n'): give the record inline ('record') or in a file ('file' and 'index'), not neither"),
        ([{"name": "n", "expect": "match", "record": ROOT, "file": "f.json"}],
         "rule 0 ('x'): test 0 ('n'): give the record inline ('record') or in a file ('file' and 'index'), not both"),
        ([{"name": "n", "expect": "match", "record": {}}],
         "rule 0 ('x'): test 0 ('n'): 'record' must be a non-empty object (one CloudTrail record)"),
        ([{"name": "n", "expect": "match", "record": [ROOT]}],
         "rule 0 ('x'): test 0 ('n'): 'record' must be a non-empty object (one CloudTrail record)"),
        ([{"name": "n", "expect": "match", "record": ROOT, "index": 0}],
         "rule 0 ('x'): test 0 ('n'): 'index' goes with 'file', not with an inline 'record'"),
        ([{"name": "n", "expect": "match", "file": ""}], "rule 0 ('x'): test 0 ('n'): 'file' must be a non-empty string"),
        ([{"name": "n", "expect": "match", "file": "f.json", "index": -1}],
         "rule 0 ('x'): test 0 ('n'): 'index' must be a whole number from 0 (the record's place in the file's Records)"),
        ([{"name": "n", "expect": "match", "file": "f.json", "index": True}],
         "rule 0 ('x'): test 0 ('n'): 'index' must be a whole number from 0 (the record's place in the file's Records)"),
        ([{"name": "n", "expect": "match", "file": "f.json", "index": "0"}],
         "rule 0 ('x'): test 0 ('n'): 'index' must be a whole number from 0 (the record's place in the file's Records)"),
        ([{"name": "n", "expect": "match", "record": ROOT, "origin": 3}], "rule 0 ('x'): test 0 ('n'): 'origin' must be a non-empty string"),
        ([{"name": "n", "expect": "match", "record": ROOT}, {"name": "n", "expect": "no-match", "record": ROOT}],
         "rule 0 ('x'): test 1 ('n'): name already used by another test of this rule"),
    ],
)
def test_bad_tests_are_refused_in_one_line_naming_rule_and_case(tests, message):
    with pytest.raises(RulesError) as info:
        parse_rules({"rules": [rule(tests=tests)]})
    assert str(info.value) == message
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# Packs by name, combined rule sets, the function's rules setting


def test_pack_names_are_bare_words_and_paths_are_files():
    from trailsift.rules import is_pack_name

    assert all(is_pack_name(name) for name in ("default", "ssm", "my-pack", "x_1"))
    for spec in ("./ssm", "ssm.json", "rules/ssm", "C:\\ssm", "..", "", "s3://b/k", "ssm:/x"):
        assert not is_pack_name(spec), spec


def test_packs_load_by_name_and_an_unknown_name_lists_them():
    from trailsift.rules import PACKS, default_rules, pack_rules, pack_source

    assert tuple(PACKS) == ("default", "ssm")
    assert pack_rules("default") == default_rules()
    assert pack_rules("ssm").source == pack_source("ssm") == "trailsift:rules/ssm.json"
    with pytest.raises(RulesError) as info:
        pack_rules("cis")
    assert str(info.value) == "no built-in pack 'cis'; the packs are default, ssm (a file: give its path, as ./cis)"


def test_combined_rule_sets_keep_order_and_refuse_a_name_twice():
    from trailsift.rules import combine_rules

    a = parse_rules({"rules": [rule(name="a"), rule(name="b")]}, source="a.json")
    b = parse_rules({"rules": [rule(name="c")]}, source="b.json")
    both = combine_rules([a, b])
    assert both.names == ("a", "b", "c") and both.source == "a.json + b.json"
    assert combine_rules([a]) is a
    clash = parse_rules({"rules": [rule(name="b")]}, source="c.json")
    with pytest.raises(RulesError, match=r"^rule 'b' is in both a\.json and c\.json; rule names must be unique"):
        combine_rules([a, b, clash])
    with pytest.raises(RulesError, match=r"^a\.json is given twice"):
        combine_rules([a, a])
    with pytest.raises(RulesError, match="no rules given"):
        combine_rules([])


@pytest.mark.parametrize(
    ("spec", "packs", "location"),
    [
        ("", (), None),
        (",", (), None),
        ("ssm", ("ssm",), None),
        (" ssm , default ", ("ssm", "default"), None),
        ("ssm:/trailsift/rules", (), "ssm:/trailsift/rules"),
        ("default,ssm,s3://bucket/key.yaml", ("default", "ssm"), "s3://bucket/key.yaml"),
        (",s3://bucket/a/b.json", (), "s3://bucket/a/b.json"),
    ],
)
def test_rules_setting(spec, packs, location):
    from trailsift.rules import RulesSetting, parse_rules_setting

    assert parse_rules_setting(spec) == RulesSetting(packs, location)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cis", "unknown rules source 'cis': expected a built-in pack (default, ssm), 'ssm:<parameter name>' or 's3://bucket/key', comma-separated"),
        ("ssm:", "unknown rules source 'ssm:'"),
        ("s3://bucket", "unknown rules source 's3://bucket'"),
        ("ssm,ssm", "pack 'ssm' is named twice"),
        ("ssm:/a,s3://b/k", "one rules document at most, got 2: ssm:/a, s3://b/k"),
    ],
)
def test_bad_rules_setting(spec, message):
    from trailsift.rules import parse_rules_setting

    with pytest.raises(RulesError) as info:
        parse_rules_setting(spec)
    assert str(info.value).startswith(message)
