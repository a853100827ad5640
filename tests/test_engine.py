"""RuleEngine: an eventName index that must give exactly what evaluating every selector gives."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailsift.engine import RuleEngine, guards
from trailsift.rules import Rule, RuleSet, default_rules
from trailsift.selectors import compile_selectors, parse_selectors


def rule(name: str, *selectors: dict[str, Any]) -> Rule:
    return Rule(name, parse_selectors(list(selectors)))


def names_sel(*names: str, **extra: list[str]) -> dict[str, Any]:
    """A selector: eventName Equals names (plus optional extra field selectors given as Field=Equals)."""
    fss: list[dict[str, Any]] = [{"Field": "eventName", "Equals": list(names)}]
    fss += [{"Field": field.replace("__", "."), "Equals": values} for field, values in extra.items()]
    return {"FieldSelectors": fss}


def brute_force(rules: RuleSet, record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(r.name for r in rules if compile_selectors(r.selectors)(record))


def engine_of(*rules: Rule) -> RuleEngine:
    return RuleEngine(RuleSet(tuple(rules)))


def test_results_follow_rule_order_not_selector_kind() -> None:
    engine = engine_of(
        rule("z-unindexed", {"FieldSelectors": [{"Field": "eventSource", "StartsWith": ["s3"]}]}),
        rule("a-indexed", names_sel("PutObject")),
        rule("m-other", names_sel("GetObject")),
        rule("b-both", names_sel("PutObject"), {"FieldSelectors": [{"Field": "readOnly", "Equals": ["true"]}]}),
        rule("c-prefix", {"FieldSelectors": [{"Field": "eventName", "StartsWith": ["Put"]}]}),
    )
    record = {"eventName": "PutObject", "eventSource": "s3.amazonaws.com", "readOnly": False}
    assert engine.match(record) == ("z-unindexed", "a-indexed", "b-both", "c-prefix")
    assert engine.match({"eventName": "GetObject", "readOnly": True}) == ("m-other", "b-both")
    assert engine.match({"eventName": "Nothing"}) == ()


def test_rule_with_indexed_and_unindexed_selectors() -> None:
    engine = engine_of(
        rule(
            "mixed",
            names_sel("StopLogging", "DeleteTrail"),
            {"FieldSelectors": [{"Field": "errorCode", "StartsWith": ["AccessDenied"]}]},
        )
    )
    assert engine.match({"eventName": "StopLogging"}) == ("mixed",)
    assert engine.match({"eventName": "DeleteTrail"}) == ("mixed",)
    assert engine.match({"eventName": "ListTrails", "errorCode": "AccessDenied"}) == ("mixed",)
    assert engine.match({"errorCode": "AccessDeniedException"}) == ("mixed",)
    assert engine.match({"eventName": "ListTrails"}) == ()


def test_indexed_selector_still_checks_its_other_field_selectors() -> None:
    engine = engine_of(rule("writes", names_sel("StopLogging", readOnly=["false"])))
    assert engine.match({"eventName": "StopLogging", "readOnly": False}) == ("writes",)
    assert engine.match({"eventName": "StopLogging", "readOnly": True}) == ()
    assert engine.match({"eventName": "StopLogging"}) == ()


@pytest.mark.parametrize(
    ("event_name", "selector_value", "matched"),
    [
        (True, "true", True),
        (False, "false", True),
        (5, "5", True),
        (5, "6", False),
        (["A", "B"], "B", True),
        ([["B"]], "B", True),
        ({"name": "B"}, "B", False),
        (None, "None", False),
        (None, "null", False),
    ],
    ids=repr,
)
def test_event_name_given_as_non_string(event_name: Any, selector_value: str, matched: bool) -> None:
    rules = RuleSet((rule("r", names_sel(selector_value)),))
    record = {"eventName": event_name}
    expected = ("r",) if matched else ()
    assert RuleEngine(rules).match(record) == expected
    assert brute_force(rules, record) == expected


def test_non_string_event_name_with_exclude_selector() -> None:
    rules = RuleSet(
        (
            rule("not-true", {"FieldSelectors": [{"Field": "eventName", "NotEquals": ["true"]}]}),
            rule("eq-true", names_sel("true")),
        )
    )
    engine = RuleEngine(rules)
    assert engine.match({"eventName": True}) == ("eq-true",)
    assert engine.match({"eventName": "true"}) == ("eq-true",)
    assert engine.match({"eventName": False}) == ("not-true",)
    assert engine.match({"eventName": {"x": "true"}}) == ("not-true",)


def test_record_without_event_name_hits_unindexed_selectors() -> None:
    engine = engine_of(
        rule("by-name", names_sel("StopLogging")),
        rule("not-stop", {"FieldSelectors": [{"Field": "eventName", "NotEquals": ["StopLogging"]}]}),
        rule("insight", {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}),
        rule("nested", {"FieldSelectors": [{"Field": "insightDetails.eventName", "Equals": ["StopLogging"]}]}),
    )
    insight = {"eventCategory": "Insight", "insightDetails": {"eventName": "StopLogging"}}
    assert engine.match(insight) == ("not-stop", "insight", "nested")
    assert engine.match({}) == ("not-stop",)
    assert engine.match({"eventName": None}) == ("not-stop",)


def test_event_name_starts_with_or_ends_with_is_not_indexed() -> None:
    engine = engine_of(
        rule("starts", {"FieldSelectors": [{"Field": "eventName", "Equals": ["Exact"], "StartsWith": ["Delete"]}]}),
        rule("ends", {"FieldSelectors": [{"Field": "eventName", "Equals": ["Exact"], "EndsWith": ["Policy"]}]}),
    )
    assert engine.match({"eventName": "DeleteBucket"}) == ("starts",)
    assert engine.match({"eventName": "PutRolePolicy"}) == ("ends",)
    assert engine.match({"eventName": "DeletePolicy"}) == ("starts", "ends")
    assert engine.match({"eventName": "Exact"}) == ("starts", "ends")
    assert engine.match({"eventName": "Other"}) == ()


def test_event_name_with_equals_and_a_separate_starts_with_selector() -> None:
    # Equals in one field selector, StartsWith in another: the Equals set is still a necessary condition.
    engine = engine_of(
        rule(
            "r",
            {
                "FieldSelectors": [
                    {"Field": "eventName", "Equals": ["DeleteBucket", "PutObject"]},
                    {"Field": "eventName", "StartsWith": ["Delete"]},
                ]
            },
        )
    )
    assert engine.match({"eventName": "DeleteBucket"}) == ("r",)
    assert engine.match({"eventName": "PutObject"}) == ()
    assert engine.match({"eventName": "DeleteTrail"}) == ()


def test_event_name_equals_with_exclusions_on_the_same_field() -> None:
    engine = engine_of(rule("r", {"FieldSelectors": [{"Field": "eventName", "Equals": ["A", "B"], "NotEquals": ["B"]}]}))
    assert engine.match({"eventName": "A"}) == ("r",)
    assert engine.match({"eventName": "B"}) == ()
    assert engine.match({"eventName": ["A", "B"]}) == ()  # one excluded value drops it


def test_duplicate_matches_counted_once() -> None:
    engine = engine_of(
        rule(
            "dup",
            names_sel("StopLogging"),
            names_sel("StopLogging", "DeleteTrail"),
            {"FieldSelectors": [{"Field": "eventSource", "Equals": ["cloudtrail.amazonaws.com"]}]},
            {"FieldSelectors": [{"Field": "eventName", "StartsWith": ["Stop"]}]},
        ),
        rule("other", names_sel("StopLogging")),
    )
    record = {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"}
    assert engine.match(record) == ("dup", "other")
    # an eventName array naming the same indexed event twice still gives each rule once
    assert engine.match({"eventName": ["StopLogging", "StopLogging", "DeleteTrail"]}) == ("dup", "other")


def test_same_selector_indexed_under_several_names_counts_once() -> None:
    engine = engine_of(rule("r", names_sel("A", "B", "C")))
    assert engine.match({"eventName": ["A", "B", "C"]}) == ("r",)


def test_two_event_name_equals_use_the_tighter_one_correctly() -> None:
    engine = engine_of(
        rule(
            "r",
            {
                "FieldSelectors": [
                    {"Field": "eventName", "Equals": ["A", "B", "C"]},
                    {"Field": "eventName", "Equals": ["C", "D"]},
                ]
            },
        )
    )
    assert engine.match({"eventName": "C"}) == ("r",)
    assert engine.match({"eventName": "A"}) == ()
    assert engine.match({"eventName": "D"}) == ()
    assert engine.match({"eventName": ["A", "D"]}) == ("r",)  # fan-out: each field selector finds a value


def test_empty_rule_set_matches_nothing() -> None:
    assert RuleEngine(RuleSet(())).match({"eventName": "StopLogging"}) == ()


def test_engine_exposes_its_rules() -> None:
    rules = RuleSet((rule("r", names_sel("A")),))
    assert RuleEngine(rules).rules is rules


DEFAULT_PACK_RECORDS: list[dict[str, Any]] = [
    {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "readOnly": False},
    {"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser"}, "additionalEventData": {"MFAUsed": "No"},
     "responseElements": {"ConsoleLogin": "Success"}, "eventType": "AwsConsoleSignIn"},
    {"eventName": "ConsoleLogin", "errorMessage": "Failed authentication", "eventType": "AwsConsoleSignIn",
     "responseElements": {"ConsoleLogin": "Failure"}},
    {"eventName": "ListBuckets", "userIdentity": {"type": "Root"}, "eventType": "AwsApiCall"},
    {"eventName": "DescribeInstances", "errorCode": "Client.UnauthorizedOperation"},
    {"eventName": "PutBucketPolicy", "eventSource": "s3.amazonaws.com"},
    {"eventName": "DisableKey", "eventSource": "kms.amazonaws.com"},
    {"eventName": "CreateVpc", "eventSource": "ec2.amazonaws.com"},
    {"eventName": "AuthorizeSecurityGroupIngress", "eventSource": "ec2.amazonaws.com"},
    {"eventName": "PutRolePolicy", "eventSource": "iam.amazonaws.com"},
    {"eventName": "StopConfigurationRecorder", "eventSource": "config.amazonaws.com"},
    {"eventName": "CreateAccount", "eventSource": "organizations.amazonaws.com"},
    {"eventCategory": "Insight", "insightDetails": {"eventName": "StopLogging"}},
    {},
]


def test_default_pack_engine_equals_brute_force() -> None:
    rules = default_rules()
    engine = RuleEngine(rules)
    hits = 0
    for record in DEFAULT_PACK_RECORDS:
        got = engine.match(record)
        assert got == brute_force(rules, record), record
        hits += bool(got)
    assert hits >= 8  # the sample exercises the pack, it is not all misses


# ---------------------------------------------------------------------------------------------
# real records (shared/data/cloudtrail): the index never changes the answer

SHARED_CLOUDTRAIL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cloudtrail"


def load_shared_records() -> list[dict[str, Any]]:
    assert SHARED_CLOUDTRAIL.is_dir(), f"missing shared data at {SHARED_CLOUDTRAIL}"
    records: list[dict[str, Any]] = []
    for path in sorted(SHARED_CLOUDTRAIL.rglob("*.json*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        records.extend(orjson.loads(data)["Records"])
    return records


EXTRA_RULES = [
    rule("writes-by-name", names_sel("PutObject", "GetObject", "ListBuckets", "AssumeRole", "ConsoleLogin")),
    rule("reads", {"FieldSelectors": [{"Field": "readOnly", "Equals": ["true"]}]}),
    rule(
        "s3-outside-bucket",
        {
            "FieldSelectors": [
                {"Field": "eventSource", "Equals": ["s3.amazonaws.com"]},
                {"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::"]},
            ]
        },
    ),
    rule(
        "describe-not-ec2",
        {
            "FieldSelectors": [
                {"Field": "eventName", "StartsWith": ["Describe", "List"], "NotEndsWith": ["Instances"]},
                {"Field": "eventSource", "NotEquals": ["ec2.amazonaws.com"]},
            ]
        },
    ),
    rule(
        "assumed-role-errors",
        names_sel("GetCallerIdentity", "ListBuckets", userIdentity__type=["AssumedRole", "IAMUser"]),
        {"FieldSelectors": [{"Field": "errorCode", "StartsWith": ["AccessDenied"]}]},
    ),
    rule("typed", {"FieldSelectors": [{"Field": "resources.type", "Equals": ["AWS::S3::Bucket", "AWS::IAM::Role"]}]}),
]


def test_real_records_engine_equals_brute_force() -> None:
    records = load_shared_records()
    assert len(records) > 3000
    rules = RuleSet(default_rules().rules + tuple(EXTRA_RULES))
    engine = RuleEngine(rules)
    compiled = [(r.name, compile_selectors(r.selectors)) for r in rules]
    per_rule: dict[str, int] = {}
    for record in records:
        expected = tuple(name for name, test in compiled if test(record))
        assert engine.match(record) == expected, record.get("eventID")
        for name in expected:
            per_rule[name] = per_rule.get(name, 0) + 1
    # the comparison is not vacuous: many rules (indexed and not) fire, and most records match nothing
    assert len(per_rule) >= 8, per_rule
    for name in ("writes-by-name", "reads", "describe-not-ec2", "typed", "unauthorized-api-calls"):
        assert per_rule.get(name, 0) > 0, (name, per_rule)


def test_guards_say_what_a_record_must_hold() -> None:
    rules = RuleSet(
        (
            Rule("stop", parse_selectors([{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}])),
            Rule("denied", parse_selectors([{"FieldSelectors": [{"Field": "errorCode", "StartsWith": ["AccessDenied"]}]}])),
        )
    )
    found = {field: (accepts("StopLogging"), accepts("AccessDeniedException"), members) for field, accepts, members in guards(rules)}
    assert found == {
        "eventName": (True, False, frozenset({"StopLogging"})),
        "errorCode": (False, True, None),
    }


def test_a_selector_of_exclude_operators_only_makes_every_record_a_candidate() -> None:
    rules = RuleSet((Rule("not-read", parse_selectors([{"FieldSelectors": [{"Field": "eventName", "NotEquals": ["A"]}]}])),))
    assert guards(rules) is None
    engine = RuleEngine(rules)
    views = engine.projection.decode(b'{"Records":[{},{"eventName":"A"},{"eventName":"B"}]}')
    assert views is not None
    assert engine.candidates(views) == [0, 1, 2]
