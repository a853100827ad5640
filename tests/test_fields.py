"""Value extraction (selectors.md, "Values", "resources.ARN", "Extended fields")."""

from __future__ import annotations

import math

import orjson
import pytest

from trailsift.fields import scalar_text, value_getter

# ---------------------------------------------------------------------------------------------
# scalar_text: how one JSON value becomes selector text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("StopLogging", "StopLogging"),
        ("", ""),
        ("  spaced  ", "  spaced  "),
        ("caf\u00e9 \u2603 \U0001f600", "caf\u00e9 \u2603 \U0001f600"),
        ("true", "true"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1, "1"),
        (-42, "-42"),
        (123456789012345678, "123456789012345678"),
        (100.0, "100"),  # the number 100 written as 100.0 or 1e2
        (-3.0, "-3"),
    ],
)
def test_scalar_text_of_scalars(value: object, expected: str) -> None:
    assert scalar_text(value) == expected


@pytest.mark.parametrize(
    "value",
    [None, {}, {"a": "b"}, [], ["a"], [True], 1.5, -0.25, math.inf, -math.inf, math.nan],
    ids=repr,
)
def test_scalar_text_gives_no_value(value: object) -> None:
    assert scalar_text(value) is None


def test_booleans_are_not_read_as_integers() -> None:
    # bool is a subclass of int in Python; the text must still be "true"/"false", never "1"/"0".
    assert scalar_text(True) == "true"
    assert scalar_text(False) == "false"


def test_integral_numbers_read_the_same_however_they_are_written() -> None:
    for raw in (b"100", b"1e2", b"100.0", b"1.00E+2"):
        assert scalar_text(orjson.loads(raw)) == "100", raw


# ---------------------------------------------------------------------------------------------
# top-level fields


def test_top_level_string() -> None:
    assert value_getter("eventName")({"eventName": "StopLogging"}) == ("StopLogging",)


def test_top_level_missing_and_null_give_no_value() -> None:
    get = value_getter("errorCode")
    assert get({}) == ()
    assert get({"eventName": "x"}) == ()
    assert get({"errorCode": None}) == ()


def test_top_level_booleans_and_integers() -> None:
    assert value_getter("readOnly")({"readOnly": False}) == ("false",)
    assert value_getter("readOnly")({"readOnly": True}) == ("true",)
    assert value_getter("managementEvent")({"managementEvent": True}) == ("true",)
    assert value_getter("count")({"count": 7}) == ("7",)


def test_top_level_object_gives_no_value() -> None:
    assert value_getter("userIdentity")({"userIdentity": {"type": "Root"}}) == ()
    assert value_getter("requestParameters")({"requestParameters": {}}) == ()


def test_top_level_array_fans_out_to_its_scalars() -> None:
    # "fans out over arrays": the array itself is no value, its scalar items are.
    get = value_getter("tags")
    assert get({"tags": ["a", True, 3, None, {"x": "y"}, [["deep"]]]}) == ("a", "true", "3", "deep")
    assert get({"tags": []}) == ()


def test_top_level_name_never_reads_a_nested_key() -> None:
    insight = {
        "eventVersion": "1.07",
        "eventCategory": "Insight",
        "eventType": "AwsCloudTrailInsight",
        "insightDetails": {"eventName": "PutObject", "eventSource": "s3.amazonaws.com"},
    }
    assert value_getter("eventName")(insight) == ()
    assert value_getter("eventSource")(insight) == ()
    assert value_getter("insightDetails.eventName")(insight) == ("PutObject",)


def test_top_level_key_containing_a_dot_is_not_a_path_target() -> None:
    # A path walks objects by key: "a.b" means key "b" inside key "a", not a key named "a.b".
    assert value_getter("a.b")({"a.b": "flat"}) == ()
    assert value_getter("a.b")({"a": {"b": "nested"}, "a.b": "flat"}) == ("nested",)


def test_field_names_are_case_sensitive() -> None:
    assert value_getter("eventname")({"eventName": "x"}) == ()
    assert value_getter("userIdentity.Type")({"userIdentity": {"type": "Root"}}) == ()


# ---------------------------------------------------------------------------------------------
# dotted paths


def test_dotted_path_walks_objects() -> None:
    record = {"userIdentity": {"type": "IAMUser", "sessionContext": {"attributes": {"mfaAuthenticated": "true"}}}}
    assert value_getter("userIdentity.type")(record) == ("IAMUser",)
    assert value_getter("userIdentity.sessionContext.attributes.mfaAuthenticated")(record) == ("true",)


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"userIdentity": None},
        {"userIdentity": "Root"},
        {"userIdentity": 5},
        {"userIdentity": True},
        {"userIdentity": {}},
        {"userIdentity": {"type": None}},
        {"userIdentity": {"type": {"nested": "Root"}}},
        {"userIdentity": {"Type": "Root"}},
        {"type": "Root"},
    ],
    ids=repr,
)
def test_dotted_path_missing_gives_no_value(record: dict) -> None:
    assert value_getter("userIdentity.type")(record) == ()


def test_dotted_path_leaf_types() -> None:
    get = value_getter("requestParameters.x")
    assert get({"requestParameters": {"x": False}}) == ("false",)
    assert get({"requestParameters": {"x": 12}}) == ("12",)
    assert get({"requestParameters": {"x": {"y": 1}}}) == ()
    assert get({"requestParameters": None}) == ()


def test_dotted_path_fans_out_over_arrays_at_every_step() -> None:
    record = {
        "requestParameters": {
            "instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}, {"other": "i-3"}, "junk"]},
            "groups": [[{"name": "g1"}], {"name": "g2"}, [[{"name": "g3"}]]],
            "policyArns": ["arn:a", "arn:b", 3, None],
        }
    }
    assert value_getter("requestParameters.instancesSet.items.instanceId")(record) == ("i-1", "i-2")
    assert value_getter("requestParameters.groups.name")(record) == ("g1", "g2", "g3")
    assert value_getter("requestParameters.policyArns")(record) == ("arn:a", "arn:b", "3")


def test_array_at_the_root_of_a_path_fans_out() -> None:
    record = {"a": [{"b": [{"c": "1"}, {"c": "2"}]}, {"b": {"c": "3"}}]}
    assert value_getter("a.b.c")(record) == ("1", "2", "3")


# ---------------------------------------------------------------------------------------------
# resources


def test_resources_arn_reads_arn_and_arnprefix_of_every_entry() -> None:
    record = {
        "resources": [
            {"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::bucket/prefix/"},
            {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::bucket", "accountId": "111122223333"},
            {"accountId": "111122223333"},
            {"type": "AWS::X::Y", "ARN": "arn:one", "ARNPrefix": "arn:two"},
        ]
    }
    values = value_getter("resources.ARN")(record)
    assert sorted(values) == sorted(
        ["arn:aws:s3:::bucket/prefix/", "arn:aws:s3:::bucket", "arn:one", "arn:two"]
    )
    assert len(values) == 4


def test_resources_type_reads_every_type() -> None:
    record = {"resources": [{"type": "AWS::S3::Object"}, {"type": "AWS::S3::Bucket"}, {"ARN": "x"}]}
    assert value_getter("resources.type")(record) == ("AWS::S3::Object", "AWS::S3::Bucket")


def test_arnprefix_alias_only_applies_to_resources_arn() -> None:
    record = {"resources": [{"ARNPrefix": "p"}, {"ARN": "a"}], "other": [{"ARNPrefix": "q"}]}
    assert value_getter("resources.ARNPrefix")(record) == ("p",)
    assert value_getter("other.ARN")(record) == ()


def test_resources_missing_or_null_or_empty() -> None:
    get = value_getter("resources.ARN")
    assert get({}) == ()
    assert get({"resources": None}) == ()
    assert get({"resources": []}) == ()
    assert get({"resources": [None, {"ARN": None}]}) == ()


def test_getters_do_not_mutate_the_record() -> None:
    record = {"resources": [{"ARN": "a"}], "eventName": "x", "readOnly": True}
    snapshot = orjson.dumps(record)
    value_getter("resources.ARN")(record)
    value_getter("eventName")(record)
    value_getter("readOnly")(record)
    assert orjson.dumps(record) == snapshot
