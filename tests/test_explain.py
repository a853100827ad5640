"""trailsift.explain: the evaluation trace agrees with the engine, and says which condition decided."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from tests.test_selectors_properties import FAST, Rules, build_engine, records, ref_field_selector, reference, rule_sets
from trailsift.explain import explain, explain_field_selector, explain_rule, matched_rules
from trailsift.rules import Rule, RuleSet, default_rules
from trailsift.selectors import parse_selectors


@FAST
@given(rules=rule_sets, record=records)
def test_explained_verdict_equals_the_engine(rules: Rules, record: dict[str, Any]) -> None:
    engine = build_engine(rules)
    traces = explain(engine.rules, record)
    assert matched_rules(traces) == engine.match(record), (rules, record)
    for trace, (_, sels) in zip(traces, rules, strict=True):
        # every level agrees with the reference evaluator of selectors.md, not only the verdict
        assert trace.matched is reference(sels, record)
        for selector_trace, raw in zip(trace.selectors, sels, strict=True):
            for fs_trace, raw_fs in zip(selector_trace.fields, raw["FieldSelectors"], strict=True):
                assert fs_trace.held is ref_field_selector(raw_fs, record), (raw_fs, record)


def test_default_pack_on_its_own_kind_of_records() -> None:
    rules = default_rules()
    record = {
        "eventName": "ConsoleLogin",
        "eventSource": "signin.amazonaws.com",
        "eventType": "AwsConsoleSignIn",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"},
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "No"},
    }
    traces = explain(rules, record)
    assert matched_rules(traces) == ("console-login-without-mfa",)
    (login,) = [t for t in traces if t.matched]
    assert [fs.held for fs in login.selectors[0].fields] == [True, True, True, True]
    record["additionalEventData"]["MFAUsed"] = "Yes"
    trace = explain_rule(rules.get("console-login-without-mfa"), record)
    assert not trace.matched
    failed = [fs for fs in trace.selectors[0].fields if not fs.held]
    assert [fs.field_selector.field for fs in failed] == ["additionalEventData.MFAUsed"]
    assert failed[0].reason == "'Yes' is excluded by NotEquals 'Yes'"


def _fs(raw: dict[str, Any]):  # one parsed field selector
    return parse_selectors([{"FieldSelectors": [raw]}])[0].field_selectors[0]


def test_field_trace_says_what_decided() -> None:
    fs = _fs({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b/"], "NotEndsWith": [".key"]})
    record = {"resources": [{"ARN": "arn:aws:s3:::a/x"}, {"ARNPrefix": "arn:aws:s3:::b/y"}]}
    trace = explain_field_selector(fs, record)
    assert trace.values == ("arn:aws:s3:::a/x", "arn:aws:s3:::b/y")
    assert trace.held
    assert trace.included_by is not None and trace.included_by.value == "arn:aws:s3:::b/y"
    assert trace.reason == "'arn:aws:s3:::b/y' satisfies StartsWith 'arn:aws:s3:::b/'"

    record["resources"].append({"ARN": "arn:aws:s3:::c/secret.key"})
    trace = explain_field_selector(fs, record)
    assert not trace.held
    assert trace.excluded_by is not None and trace.excluded_by.operator == "NotEndsWith"
    assert trace.reason == "'arn:aws:s3:::c/secret.key' is excluded by NotEndsWith '.key'"


def test_missing_fields_and_typed_values() -> None:
    include = _fs({"Field": "errorCode", "Equals": ["AccessDenied"]})
    exclude = _fs({"Field": "errorCode", "NotEquals": ["AccessDenied"]})
    assert not explain_field_selector(include, {}).held
    assert "missing or null" in explain_field_selector(include, {"errorCode": None}).reason
    assert explain_field_selector(exclude, {}).held
    assert "no exclude condition applies" in explain_field_selector(exclude, {}).reason
    read_only = _fs({"Field": "readOnly", "Equals": ["false"]})
    trace = explain_field_selector(read_only, {"readOnly": False})  # a JSON boolean reads "false"
    assert trace.held and trace.values == ("false",)
    assert trace.to_json()["included_by"] == {"operator": "Equals", "operand": "false", "value": "false"}


def test_every_rule_and_selector_is_evaluated_without_short_cut() -> None:
    selectors = parse_selectors([
        {"Name": "a", "FieldSelectors": [{"Field": "eventName", "Equals": ["X"]}, {"Field": "awsRegion", "Equals": ["r"]}]},
        {"Name": "b", "FieldSelectors": [{"Field": "eventName", "Equals": ["Y"]}]},
    ])
    rules = RuleSet((Rule("one", selectors), Rule("two", selectors[1:])))
    traces = explain(rules, {"eventName": "Y", "awsRegion": "q"})
    assert [len(s.fields) for t in traces for s in t.selectors] == [2, 1, 1]  # the failed first one still shows its second
    assert matched_rules(traces) == ("one", "two")
    assert traces[0].to_json()["selectors"][0]["matched"] is False
