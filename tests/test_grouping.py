"""Grouping the alert matches of one log file: keys, primary rules, cuts, the text lines of a group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.grouping import AlertGroup, group_matches, primary_rule, resources
from trailsift.rules import GROUP_BY_FIELDS, Rule, RulesError, Severity, parse_rules
from trailsift.scan import Match
from trailsift.selectors import parse_selectors

SELECTORS = parse_selectors([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}])


def rule(name: str, severity: Severity = Severity.MEDIUM, group_by: tuple[str, ...] = ("principal",)) -> Rule:
    return Rule(name, SELECTORS, severity, group_by=group_by)


@dataclass(frozen=True)
class Item:
    match: Match
    rules: tuple[Rule, ...]


def record(n: int, *, who: str = "alice", name: str = "AuthorizeSecurityGroupIngress", **extra: Any) -> dict[str, Any]:
    return {
        "eventID": f"00000000-0000-0000-0000-{n:012d}",
        "eventName": name,
        "eventTime": f"2024-01-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/{who}"},
        "requestParameters": {"groupId": f"sg-{n:04d}"},
        **extra,
    }


def item(n: int, *rules: Rule, **fields: Any) -> Item:
    return Item(Match("s3://b/k.json.gz", n, record(n, **fields), tuple(r.name for r in rules)), rules)


SG, VPC = rule("security-group-changes"), rule("vpc-changes")
ROOT = rule("root-account-use", Severity.CRITICAL, group_by=())


def test_same_rule_and_principal_make_one_group_in_file_order() -> None:
    items = [item(0, SG), item(1, VPC), item(2, SG), item(3, SG, who="bob"), item(4, VPC)]
    groups = group_matches(items)
    assert [(g.rule.name, [i.match.index for i in g.items]) for g in groups] == [
        ("security-group-changes", [0, 2]), ("vpc-changes", [1, 4]), ("security-group-changes", [3]),
    ]
    assert groups[0].key == (("principal", "arn:aws:iam::111122223333:user/alice"),)
    assert groups[0].group_key == "security-group-changes principal=arn:aws:iam::111122223333:user/alice"
    assert groups[0].event_keys == ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000002")


def test_group_by_nothing_is_one_alert_per_event() -> None:
    groups = group_matches([item(0, ROOT), item(1, ROOT)])
    assert [len(g) for g in groups] == [1, 1]
    assert groups[0].key == (("event", "00000000-0000-0000-0000-000000000000"),)


def test_group_by_principal_and_event_name() -> None:
    by_name = rule("sg", group_by=("principal", "eventName"))
    items = [item(0, by_name), item(1, by_name, name="CreateSecurityGroup"), item(2, by_name)]
    assert [[i.match.index for i in g.items] for g in group_matches(items)] == [[0, 2], [1]]


def test_an_event_of_several_rules_is_in_one_group_under_its_primary_rule() -> None:
    # Event 1 matched the critical per-event rule and the grouping one: alone, under the critical rule,
    # listing both; the security-group group holds the others only.
    items = [item(0, SG), item(1, ROOT, SG), item(2, SG)]
    groups = group_matches(items)
    assert [(g.rule.name, [i.match.index for i in g.items]) for g in groups] == [
        ("security-group-changes", [0, 2]), ("root-account-use", [1]),
    ]
    assert [r.name for r in groups[1].rules] == ["root-account-use", "security-group-changes"]  # as given
    both = group_matches([item(0, SG), item(1, SG, VPC)])
    assert [r.name for r in both[0].rules] == ["security-group-changes", "vpc-changes"]


def test_primary_rule_is_the_first_at_the_highest_severity() -> None:
    high = rule("high-one", Severity.HIGH)
    assert primary_rule([SG, high, VPC]) is high
    assert primary_rule([SG, VPC]) is SG
    with pytest.raises(ValueError):
        primary_rule([])


def test_a_large_group_is_cut_into_groups_of_max_events() -> None:
    groups = group_matches([item(n, SG) for n in range(7)], max_events=3)
    assert [[i.match.index for i in g.items] for g in groups] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        group_matches([], max_events=0)


def test_summary_lines_count_names_resources_span_and_every_id() -> None:
    items = [item(0, SG, name="CreateSecurityGroup"), item(1, SG), item(92, SG)]
    [group] = group_matches(items)
    lines = group.summary_lines()
    assert lines[0] == "Group: 3 events (grouped by rule, principal; one log file)"
    assert lines[1] == "  events:         CreateSecurityGroup, AuthorizeSecurityGroupIngress x2"
    assert lines[2] == "  resources:      sg-0000, sg-0001, sg-0092"
    assert lines[3] == "  time span:      2024-01-01T10:00:00Z to 2024-01-01T10:01:32Z (92 s)"
    assert lines[4:] == ["  event IDs:", *(f"    {key}" for key in group.event_keys)]
    assert group_matches([item(0, SG)])[0].summary_lines() == []  # a group of one reads as today


def test_resources_prefer_arns_and_escape_text() -> None:
    arn = {"resources": [{"ARN": "arn:aws:s3:::bucket"}], "requestParameters": {"bucketName": "bucket"}}
    assert resources([arn, {"requestParameters": {"vpcId": "vpc-1\nforged line", "cidr": "10.0.0.0/8"}}]) == [
        "arn:aws:s3:::bucket", "vpc-1\\nforged line",
    ]
    assert resources([{"resources": "not a list", "requestParameters": None}]) == []


def test_time_span_without_times() -> None:
    group = AlertGroup(SG, (), (Item(Match("f", 0, {"eventID": "x"}, ("sg",)), (SG,)),))
    assert group.time_span is None


keys = st.sampled_from(GROUP_BY_FIELDS)
RULES = [rule("a"), rule("b", Severity.HIGH, ("eventName",)), rule("c", group_by=()),
         rule("d", group_by=("principal", "region", "errorCode"))]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sets(st.integers(0, 3), min_size=1), st.sampled_from(["alice", "bob"]),
                          st.sampled_from(["A", "B"])), max_size=40),
       st.integers(1, 6))
def test_every_event_in_exactly_one_group_keyed_alike(spec: list[tuple[set[int], str, str]], max_events: int) -> None:
    items = [item(n, *(RULES[i] for i in sorted(chosen)), who=who, name=name)
             for n, (chosen, who, name) in enumerate(spec)]
    groups = group_matches(items, max_events=max_events)
    members = [i.match.index for g in groups for i in g.items]
    assert sorted(members) == list(range(len(items)))  # each exactly once
    for group in groups:
        assert 1 <= len(group) <= max_events
        assert all(primary_rule(i.rules) is group.rule for i in group.items)
        assert [i.match.index for i in group.items] == sorted(i.match.index for i in group.items)
        if not group.rule.group_by:
            assert len(group) == 1
        for name in group.rule.group_by:
            assert len({str(i.match.record.get("eventName") if name == "eventName" else
                            i.match.record["userIdentity"]["arn"] if name == "principal" else "")
                        for i in group.items}) == 1


def _rules(group_by: Any) -> Any:
    return parse_rules({"rules": [{"name": "r", "group_by": group_by, "selectors": [
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]}]})


def test_group_by_in_a_rules_file() -> None:
    assert _rules(["principal", "eventName"]).rules[0].group_by == ("principal", "eventName")
    assert _rules(False).rules[0].group_by == ()
    assert _rules([]).rules[0].group_by == ()
    parsed = _rules(["account"]).rules[0]
    assert parse_rules({"rules": [parsed.to_json()]}).rules[0] == parsed
    assert "group_by" not in _rules(["principal"]).rules[0].to_json()  # the default is left out
    for bad, said in [(["user"], "unknown field 'user'"), ("principal", "must be a list"), (True, "must be a list"),
                      (["region", "region"], "listed twice")]:
        with pytest.raises(RulesError, match=said):
            _rules(bad)
