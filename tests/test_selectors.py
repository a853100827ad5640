"""Selector validation, evaluation and CloudTrail compatibility (shared/docs/selectors.md)."""

from __future__ import annotations

from typing import Any

import pytest

from trailsift.selectors import (
    EXCLUDE_OPERATORS,
    INCLUDE_OPERATORS,
    OPERATORS,
    SelectorError,
    cloudtrail_compatibility,
    compile_selectors,
    parse_selectors,
)

GOOD_FS = {"Field": "eventName", "Equals": ["StopLogging"]}
GOOD = {"Name": "good", "FieldSelectors": [GOOD_FS]}


def second_selector(selector: Any) -> list[Any]:
    """A selector set whose selector 1 is ``selector`` (selector 0 is valid)."""
    return [GOOD, selector]


def second_field_selector(field_selector: Any, name: str = "bad-one") -> list[Any]:
    """A selector set whose selector 1 ('bad-one') has ``field_selector`` as field selector 1."""
    return [GOOD, {"Name": name, "FieldSelectors": [GOOD_FS, field_selector]}]


SEL = "selector 1 ('bad-one')"
FS = "field selector 1"

# (id, document, substrings the message must contain)
MALFORMED: list[tuple[str, Any, list[str]]] = [
    (
        "unknown-operator",
        second_field_selector({"Field": "eventName", "Contains": ["Stop"]}),
        [SEL, FS, "'Contains'", "unknown key"],
    ),
    (
        "lower-case-operator",
        second_field_selector({"Field": "eventName", "equals": ["Stop"]}),
        [SEL, FS, "'equals'", "did you mean 'Equals'"],
    ),
    (
        "camel-case-operator",
        second_field_selector({"Field": "eventName", "notEquals": ["Stop"]}),
        [SEL, FS, "'notEquals'", "did you mean 'NotEquals'"],
    ),
    (
        "lower-case-field-key",
        second_field_selector({"field": "eventName", "Equals": ["Stop"]}),
        [SEL, FS, "'field'", "did you mean 'Field'"],
    ),
    (
        "non-string-operator-key",  # YAML 1.1 reads an `on:` key as True
        second_field_selector({"Field": "readOnly", True: ["true"]}),
        [SEL, FS, "unknown key True"],
    ),
    (
        "empty-list",
        second_field_selector({"Field": "eventName", "Equals": []}),
        [SEL, FS, "Field 'eventName'", "operator 'Equals'", "empty list"],
    ),
    (
        "operator-not-a-list",
        second_field_selector({"Field": "eventName", "StartsWith": "Stop"}),
        [SEL, FS, "Field 'eventName'", "operator 'StartsWith'", "must be a list"],
    ),
    (
        "empty-string-value",
        second_field_selector({"Field": "eventSource", "EndsWith": ["x", ""]}),
        [SEL, FS, "Field 'eventSource'", "operator 'EndsWith'", "value 1", "empty string"],
    ),
    (
        "int-value",
        second_field_selector({"Field": "errorCode", "NotEquals": ["a", "b", 5]}),
        [SEL, FS, "Field 'errorCode'", "operator 'NotEquals'", "value 2", "must be a string", "5"],
    ),
    (
        "null-value",
        second_field_selector({"Field": "errorCode", "NotStartsWith": [None]}),
        [SEL, FS, "Field 'errorCode'", "operator 'NotStartsWith'", "value 0", "must be a string", "None"],
    ),
    (
        "bool-value",
        second_field_selector({"Field": "readOnly", "Equals": [False]}),
        [SEL, FS, "Field 'readOnly'", "operator 'Equals'", "value 0", "must be a string", "False"],
    ),
    (
        "list-value",
        second_field_selector({"Field": "eventName", "Equals": [["Stop"]]}),
        [SEL, FS, "operator 'Equals'", "value 0", "must be a string"],
    ),
    (
        "too-long-value",
        second_field_selector({"Field": "resources.ARN", "NotEndsWith": ["ok", "a" * 2049]}),
        [SEL, FS, "Field 'resources.ARN'", "operator 'NotEndsWith'", "value 1", "2049 characters", "2048"],
    ),
    (
        "missing-field",
        second_field_selector({"Equals": ["Stop"]}),
        [SEL, FS, "missing 'Field'"],
    ),
    (
        "field-not-a-string",
        second_field_selector({"Field": 7, "Equals": ["Stop"]}),
        [SEL, FS, "'Field' must be a string"],
    ),
    (
        "missing-field-selectors",
        second_selector({"Name": "bad-one"}),
        [SEL, "missing 'FieldSelectors'"],
    ),
    (
        "field-selectors-empty",
        second_selector({"Name": "bad-one", "FieldSelectors": []}),
        [SEL, "'FieldSelectors' is empty"],
    ),
    (
        "field-selectors-not-a-list",
        second_selector({"Name": "bad-one", "FieldSelectors": GOOD_FS}),
        [SEL, "'FieldSelectors' must be a list"],
    ),
    (
        "field-selector-not-an-object",
        second_field_selector("eventName=StopLogging"),
        [SEL, FS, "must be an object"],
    ),
    ("field-name-empty", second_field_selector({"Field": "", "Equals": ["x"]}), [SEL, FS, "bad field name ''"]),
    (
        "field-name-double-dot",
        second_field_selector({"Field": "a..b", "Equals": ["x"]}),
        [SEL, FS, "bad field name 'a..b'"],
    ),
    (
        "field-name-leading-dot",
        second_field_selector({"Field": ".x", "Equals": ["x"]}),
        [SEL, FS, "bad field name '.x'"],
    ),
    (
        "field-name-trailing-dot",
        second_field_selector({"Field": "x.", "Equals": ["x"]}),
        [SEL, FS, "bad field name 'x.'"],
    ),
    (
        "field-name-space",
        second_field_selector({"Field": "event name", "Equals": ["x"]}),
        [SEL, FS, "bad field name 'event name'"],
    ),
    (
        "field-name-wildcard",
        second_field_selector({"Field": "eventName*", "Equals": ["x"]}),
        [SEL, FS, "bad field name 'eventName*'"],
    ),
    (
        "field-name-too-long",
        second_field_selector({"Field": "f" * 1001, "Equals": ["x"]}),
        [SEL, FS, "bad field name", "1000"],
    ),
    (
        "no-operator",
        second_field_selector({"Field": "eventName"}),
        [SEL, FS, "Field 'eventName'", "no operator"],
    ),
    (
        "readonly-startswith",
        second_field_selector({"Field": "readOnly", "StartsWith": ["t"]}),
        [SEL, FS, "Field 'readOnly'", "operator 'StartsWith'", "Equals"],
    ),
    (
        "readonly-notequals",
        second_field_selector({"Field": "readOnly", "NotEquals": ["true"]}),
        [SEL, FS, "Field 'readOnly'", "operator 'NotEquals'"],
    ),
    (
        "readonly-yes",
        second_field_selector({"Field": "readOnly", "Equals": ["true", "yes"]}),
        [SEL, FS, "Field 'readOnly'", "operator 'Equals'", "value 1", "'yes'"],
    ),
    (
        "readonly-capitalised",
        second_field_selector({"Field": "readOnly", "Equals": ["True"]}),
        [SEL, FS, "Field 'readOnly'", "operator 'Equals'", "value 0", "'True'"],
    ),
    (
        "eventcategory-notequals",
        second_field_selector({"Field": "eventCategory", "NotEquals": ["Data"]}),
        [SEL, FS, "Field 'eventCategory'", "operator 'NotEquals'", "Equals"],
    ),
    (
        "resources-type-startswith",
        second_field_selector({"Field": "resources.type", "StartsWith": ["AWS::S3"]}),
        [SEL, FS, "Field 'resources.type'", "operator 'StartsWith'", "Equals"],
    ),
    (
        "session-credential-startswith",
        second_field_selector({"Field": "sessionCredentialFromConsole", "StartsWith": ["t"]}),
        [SEL, FS, "Field 'sessionCredentialFromConsole'", "operator 'StartsWith'", "Equals and NotEquals"],
    ),
    (
        "name-not-a-string",
        second_selector({"Name": 42, "FieldSelectors": [GOOD_FS]}),
        ["selector 1", "'Name' must be a string"],
    ),
    (
        "name-too-long",
        second_selector({"Name": "n" * 1001, "FieldSelectors": [GOOD_FS]}),
        ["selector 1", "'Name'", "1000"],
    ),
    (
        "selector-not-an-object",
        second_selector(["FieldSelectors"]),
        ["selector 1", "must be an object"],
    ),
    (
        "unknown-selector-key",
        second_selector({"Name": "bad-one", "FieldSelectors": [GOOD_FS], "Tags": []}),
        [SEL, "unknown key 'Tags'"],
    ),
    (
        "non-string-selector-key",
        second_selector({"Name": "bad-one", "FieldSelectors": [GOOD_FS], 1: "x"}),
        [SEL, "unknown key 1"],
    ),
    (
        "selector-key-typo",
        second_selector({"Name": "bad-one", "fieldSelectors": [GOOD_FS]}),
        [SEL, "unknown key 'fieldSelectors'", "did you mean 'FieldSelectors'"],
    ),
    ("top-level-string", "eventName=StopLogging", ["expected a list"]),
    ("top-level-null", None, ["expected a list"]),
    ("top-level-empty-list", [], ["empty"]),
    (
        "basic-event-selectors",
        {"TrailARN": "arn:aws:cloudtrail:us-east-1:111122223333:trail/t", "EventSelectors": [
            {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}
        ]},
        ["basic 'EventSelectors'", "AdvancedEventSelectors"],
    ),
    ("bare-selector-object", GOOD, ["wrap this selector in [ ]"]),
    ("unrelated-object", {"Selectors": [GOOD]}, ["AdvancedEventSelectors"]),
    (
        "get-event-selectors-with-bad-inner",
        {"TrailARN": "t", "AdvancedEventSelectors": second_field_selector({"Field": "eventName", "Equals": [""]})},
        ["AdvancedEventSelectors: ", SEL, FS, "operator 'Equals'", "value 0", "empty string"],
    ),
    (
        "get-event-selectors-not-a-list",
        {"AdvancedEventSelectors": None},
        ["AdvancedEventSelectors: ", "expected a list"],
    ),
]


@pytest.mark.parametrize(("document", "expected"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_selectors_are_rejected_with_a_precise_message(document: Any, expected: list[str]) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selectors(document)
    message = str(info.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_malformed_shapes_are_many_and_distinct() -> None:
    assert len(MALFORMED) >= 22
    assert len({c[0] for c in MALFORMED}) == len(MALFORMED)


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


def test_unnamed_selector_is_named_by_index() -> None:
    with pytest.raises(SelectorError) as info:
        parse_selectors([GOOD, GOOD, {"FieldSelectors": [{"Field": "eventName", "Equals": []}]}])
    assert str(info.value).startswith("selector 2, field selector 0 (Field 'eventName'), operator 'Equals'")


def test_context_prefixes_every_message() -> None:
    with pytest.raises(SelectorError) as info:
        parse_selectors([{"FieldSelectors": [{"Field": "x"}]}], context="rule 'r': ")
    assert str(info.value).startswith("rule 'r': selector 0, field selector 0 (Field 'x'): no operator")


# ---------------------------------------------------------------------------------------------
# accepted shapes


def test_get_event_selectors_output_is_accepted() -> None:
    output = {
        "TrailARN": "arn:aws:cloudtrail:us-east-1:111122223333:trail/management",
        "AdvancedEventSelectors": [
            {
                "Name": "Management events",
                "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}],
            },
            {
                "Name": "S3 data events",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::bucket/"]},
                ],
            },
        ],
    }
    parsed = parse_selectors(output)
    assert [s.name for s in parsed] == ["Management events", "S3 data events"]
    assert [fs.field for fs in parsed[1].field_selectors] == ["eventCategory", "resources.type", "resources.ARN"]
    assert parsed[1].field_selectors[2].values("StartsWith") == ("arn:aws:s3:::bucket/",)
    assert parse_selectors(output) == parse_selectors(output["AdvancedEventSelectors"])


def test_all_six_operators_on_event_name() -> None:
    raw = [{"FieldSelectors": [{"Field": "eventName", **{op: [f"v-{op}"] for op in OPERATORS}}]}]
    (selector,) = parse_selectors(raw)
    assert selector.name is None
    (fs,) = selector.field_selectors
    for op in OPERATORS:
        assert fs.values(op) == (f"v-{op}",)
    assert [op for op, _ in fs.conditions] == list(OPERATORS)


@pytest.mark.parametrize(
    "field",
    [
        "eventSource",
        "eventType",
        "resources.ARN",
        "userIdentity.arn",
        "errorCode",
        "vpcEndpointId",
        "userIdentity.type",
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
        "additionalEventData.MFAUsed",
        "responseElements.ConsoleLogin",
        "requestParameters.bucketName",
        "sourceIPAddress",
        "awsRegion",
        "recipientAccountId",
        "a_b.C9.d",
        "x" * 1000,
    ],
)
def test_all_operators_on_unrestricted_and_extended_fields(field: str) -> None:
    raw = [{"FieldSelectors": [{"Field": field, **{op: ["v"] for op in OPERATORS}}]}]
    assert parse_selectors(raw)[0].field_selectors[0].field == field


@pytest.mark.parametrize(
    "field_selector",
    [
        {"Field": "readOnly", "Equals": ["true"]},
        {"Field": "readOnly", "Equals": ["false", "true"]},
        {"Field": "eventCategory", "Equals": ["Management", "Data", "Insight", "NetworkActivity"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "sessionCredentialFromConsole", "Equals": ["true"]},
        {"Field": "sessionCredentialFromConsole", "NotEquals": ["true"]},
        {"Field": "eventName", "Equals": ["a" * 2048]},
        {"Field": "eventName", "Equals": ["*"]},
    ],
    ids=repr,
)
def test_restricted_fields_accept_what_cloudtrail_accepts(field_selector: dict) -> None:
    parsed = parse_selectors([{"FieldSelectors": [field_selector]}])
    assert parsed[0].field_selectors[0].field == field_selector["Field"]


def test_names_from_empty_to_1000_characters_are_accepted() -> None:
    for name in ("", "n", "n" * 1000):
        assert parse_selectors([{"Name": name, "FieldSelectors": [GOOD_FS]}])[0].name == name


def test_to_json_round_trips() -> None:
    raw = [
        {"Name": "a", "FieldSelectors": [{"Field": "eventName", "Equals": ["x", "y"], "NotEquals": ["z"]}]},
        {"FieldSelectors": [{"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::b/"]}]},
    ]
    parsed = parse_selectors(raw)
    assert [s.to_json() for s in parsed] == raw
    assert parse_selectors([s.to_json() for s in parsed]) == parsed


# ---------------------------------------------------------------------------------------------
# evaluation


def matches(selectors: Any, record: dict[str, Any]) -> bool:
    return compile_selectors(parse_selectors(selectors))(record)


def one(field: str, **conditions: list[str]) -> list[dict[str, Any]]:
    """A selector set with one selector holding one field selector."""
    return [{"FieldSelectors": [{"Field": field, **conditions}]}]


def test_or_across_selectors() -> None:
    sels = [
        {"FieldSelectors": [{"Field": "eventName", "Equals": ["A"]}]},
        {"FieldSelectors": [{"Field": "eventName", "Equals": ["B"]}]},
    ]
    assert matches(sels, {"eventName": "A"})
    assert matches(sels, {"eventName": "B"})
    assert not matches(sels, {"eventName": "C"})
    assert not matches(sels, {})


def test_and_across_field_selectors() -> None:
    sels = [
        {
            "FieldSelectors": [
                {"Field": "eventName", "Equals": ["StopLogging"]},
                {"Field": "readOnly", "Equals": ["false"]},
                {"Field": "eventSource", "EndsWith": [".amazonaws.com"]},
            ]
        }
    ]
    full = {"eventName": "StopLogging", "readOnly": False, "eventSource": "cloudtrail.amazonaws.com"}
    assert matches(sels, full)
    for key, other in (("eventName", "StartLogging"), ("readOnly", True), ("eventSource", "x")):
        assert not matches(sels, {**full, key: other}), key
        assert not matches(sels, {k: v for k, v in full.items() if k != key}), key


def test_same_field_twice_in_one_selector_is_and() -> None:
    sels = [
        {
            "FieldSelectors": [
                {"Field": "eventName", "StartsWith": ["Delete"]},
                {"Field": "eventName", "EndsWith": ["Policy"]},
            ]
        }
    ]
    assert matches(sels, {"eventName": "DeleteRolePolicy"})
    assert not matches(sels, {"eventName": "DeleteRole"})
    assert not matches(sels, {"eventName": "PutRolePolicy"})


@pytest.mark.parametrize(
    ("operator", "value", "hits", "misses"),
    [
        ("Equals", "PutObject", ["PutObject"], ["PutObjectAcl", "putobject", "Put", ""]),
        ("StartsWith", "Put", ["Put", "PutObject"], ["Pu", "put", "GetPut"]),
        ("EndsWith", "Policy", ["Policy", "PutRolePolicy"], ["Policies", "PutRolePolicyX", "policy"]),
    ],
)
def test_include_operators(operator: str, value: str, hits: list[str], misses: list[str]) -> None:
    sels = one("eventName", **{operator: [value]})
    for name in hits:
        assert matches(sels, {"eventName": name}), name
    for name in misses:
        assert not matches(sels, {"eventName": name}), name


@pytest.mark.parametrize(
    ("operator", "value", "dropped", "kept"),
    [
        ("NotEquals", "PutObject", ["PutObject"], ["PutObjectAcl", "putobject", ""]),
        ("NotStartsWith", "Get", ["Get", "GetObject"], ["get", "ObjectGet", "Ge"]),
        ("NotEndsWith", "Describe", ["Describe", "XDescribe"], ["Describes", "describe"]),
    ],
)
def test_exclude_operators(operator: str, value: str, dropped: list[str], kept: list[str]) -> None:
    sels = one("eventName", **{operator: [value]})
    for name in dropped:
        assert not matches(sels, {"eventName": name}), name
    for name in kept:
        assert matches(sels, {"eventName": name}), name


def test_include_values_and_operators_are_ored() -> None:
    sels = one("eventName", Equals=["A", "B"], StartsWith=["Get"], EndsWith=["Policy"])
    for name in ("A", "B", "GetX", "PutPolicy"):
        assert matches(sels, {"eventName": name}), name
    assert not matches(sels, {"eventName": "C"})


def test_any_exclude_condition_drops() -> None:
    sels = one("eventName", NotEquals=["A"], NotStartsWith=["Get"], NotEndsWith=["Policy"])
    for name in ("A", "GetX", "PutPolicy"):
        assert not matches(sels, {"eventName": name}), name
    assert matches(sels, {"eventName": "C"})


def test_include_and_exclude_together() -> None:
    sels = one("eventName", StartsWith=["Delete"], NotEquals=["DeleteTags"], NotEndsWith=["Snapshot"])
    assert matches(sels, {"eventName": "DeleteBucket"})
    assert not matches(sels, {"eventName": "DeleteTags"})
    assert not matches(sels, {"eventName": "DeleteSnapshot"})
    assert not matches(sels, {"eventName": "CreateBucket"})
    assert not matches(sels, {})


@pytest.mark.parametrize("record", [{}, {"errorCode": None}], ids=["missing", "null"])
def test_missing_or_null_field_fails_include_and_passes_exclude(record: dict) -> None:
    for op in INCLUDE_OPERATORS:
        assert not matches(one("errorCode", **{op: ["AccessDenied"]}), record), op
    for op in EXCLUDE_OPERATORS:
        assert matches(one("errorCode", **{op: ["AccessDenied"]}), record), op
    assert not matches(one("errorCode", Equals=["x"], NotEquals=["y"]), record)


def test_missing_nested_field_passes_exclude() -> None:
    sels = one("userIdentity.invokedBy", NotEndsWith=["amazonaws.com"])
    assert matches(sels, {"userIdentity": {"type": "Root"}})
    assert matches(sels, {})
    assert not matches(sels, {"userIdentity": {"invokedBy": "ec2.amazonaws.com"}})


def test_boolean_read_only_reads_as_text() -> None:
    false_only = one("readOnly", Equals=["false"])
    assert matches(false_only, {"readOnly": False})
    assert matches(false_only, {"readOnly": "false"})
    assert not matches(false_only, {"readOnly": True})
    assert not matches(false_only, {"readOnly": "true"})
    assert not matches(false_only, {"readOnly": 0})
    assert not matches(false_only, {})
    true_only = one("readOnly", Equals=["true"])
    assert matches(true_only, {"readOnly": True})
    assert not matches(true_only, {"readOnly": False})
    assert not matches(true_only, {"readOnly": 1})


def test_management_event_boolean() -> None:
    assert matches(one("managementEvent", Equals=["true"]), {"managementEvent": True})
    assert not matches(one("managementEvent", NotEquals=["true"]), {"managementEvent": True})
    assert matches(one("managementEvent", NotEquals=["true"]), {"managementEvent": False})


def test_integers_read_in_decimal() -> None:
    assert matches(one("requestParameters.maxResults", Equals=["100"]), {"requestParameters": {"maxResults": 100}})
    assert matches(one("requestParameters.port", StartsWith=["-2"]), {"requestParameters": {"port": -22}})
    assert not matches(one("requestParameters.maxResults", Equals=["100"]), {"requestParameters": {"maxResults": 10}})
    assert not matches(one("requestParameters.n", Equals=["0100"]), {"requestParameters": {"n": 100}})


def test_objects_and_arrays_of_objects_give_no_value() -> None:
    record = {"requestParameters": {"filter": {"name": "x"}, "items": [{"a": 1}]}}
    assert not matches(one("requestParameters.filter", StartsWith=["{"]), record)
    assert matches(one("requestParameters.filter", NotStartsWith=["{"]), record)
    assert not matches(one("requestParameters.items", EndsWith=["}"]), record)


S3_RECORD = {
    "eventName": "PutObject",
    "eventSource": "s3.amazonaws.com",
    "eventCategory": "Data",
    "resources": [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::secret-bucket/reports/q1.csv"},
        {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::secret-bucket"},
    ],
}
LIST_RECORD = {
    "eventName": "ListObjects",
    "resources": [
        {"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::secret-bucket/logs/"},
        {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::secret-bucket"},
    ],
}


def test_resources_arn_covers_arn_of_every_entry() -> None:
    assert matches(one("resources.ARN", Equals=["arn:aws:s3:::secret-bucket"]), S3_RECORD)
    assert matches(one("resources.ARN", EndsWith=[".csv"]), S3_RECORD)
    assert not matches(one("resources.ARN", Equals=["arn:aws:s3:::other"]), S3_RECORD)


def test_resources_arn_covers_arnprefix() -> None:
    assert matches(one("resources.ARN", Equals=["arn:aws:s3:::secret-bucket/logs/"]), LIST_RECORD)
    assert matches(one("resources.ARN", StartsWith=["arn:aws:s3:::secret-bucket/lo"]), LIST_RECORD)


def test_resources_type() -> None:
    assert matches(one("resources.type", Equals=["AWS::S3::Bucket"]), S3_RECORD)
    assert matches(one("resources.type", Equals=["AWS::S3::Object"]), S3_RECORD)
    assert not matches(one("resources.type", Equals=["AWS::Lambda::Function"]), S3_RECORD)
    assert not matches(one("resources.type", Equals=["AWS::S3::Object"]), {"eventName": "x"})


def test_resources_arn_not_starts_with_drops_event_with_any_resource_in_bucket() -> None:
    sels = one("resources.ARN", NotStartsWith=["arn:aws:s3:::secret-bucket/"])
    # the object entry is in the bucket (the bucket entry alone, "arn:aws:s3:::secret-bucket", is not)
    assert not matches(sels, S3_RECORD)
    assert not matches(sels, LIST_RECORD)  # via ARNPrefix
    mixed = {"resources": [{"ARN": "arn:aws:s3:::public/x"}, {"ARN": "arn:aws:s3:::secret-bucket/y"}]}
    assert not matches(sels, mixed)
    assert matches(sels, {"resources": [{"ARN": "arn:aws:s3:::public/x"}, {"ARN": "arn:aws:s3:::secret-bucket"}]})
    assert matches(sels, {"eventName": "ConsoleLogin"})  # no resources at all


def test_include_with_exclude_on_multi_valued_field() -> None:
    # include needs one value in the bucket family, exclude drops when any value is in the secret bucket
    sels = one("resources.ARN", StartsWith=["arn:aws:s3:::"], NotStartsWith=["arn:aws:s3:::secret-bucket/"])
    assert not matches(sels, S3_RECORD)
    assert matches(sels, {"resources": [{"ARN": "arn:aws:s3:::public/x"}]})


def test_dotted_path_fans_out_over_arrays() -> None:
    record = {
        "requestParameters": {
            "instancesSet": {"items": [{"instanceId": "i-111"}, {"instanceId": "i-222"}]},
            "ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]}}]},
        }
    }
    assert matches(one("requestParameters.instancesSet.items.instanceId", Equals=["i-222"]), record)
    assert not matches(one("requestParameters.instancesSet.items.instanceId", NotEquals=["i-222"]), record)
    cidr = "requestParameters.ipPermissions.items.ipRanges.items.cidrIp"
    assert matches(one(cidr, Equals=["0.0.0.0/0"]), record)
    assert not matches(one(cidr, Equals=["192.168.0.0/16"]), record)


def test_extended_fields() -> None:
    console = {
        "eventName": "ConsoleLogin",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
        "additionalEventData": {"MFAUsed": "No"},
        "responseElements": {"ConsoleLogin": "Success"},
        "sourceIPAddress": "203.0.113.5",
        "awsRegion": "us-east-1",
    }
    sels = [
        {
            "FieldSelectors": [
                {"Field": "eventName", "Equals": ["ConsoleLogin"]},
                {"Field": "additionalEventData.MFAUsed", "NotEquals": ["Yes"]},
                {"Field": "userIdentity.type", "Equals": ["IAMUser"]},
                {"Field": "responseElements.ConsoleLogin", "Equals": ["Success"]},
                {"Field": "sourceIPAddress", "StartsWith": ["203.0.113."]},
                {"Field": "awsRegion", "Equals": ["us-east-1"]},
            ]
        }
    ]
    assert matches(sels, console)
    assert not matches(sels, {**console, "additionalEventData": {"MFAUsed": "Yes"}})
    assert not matches(sels, {**console, "responseElements": None})
    assert matches(one("userIdentity.arn", EndsWith=[":user/alice"]), console)


def test_top_level_name_never_matches_nested_key() -> None:
    insight = {
        "eventVersion": "1.07",
        "eventType": "AwsCloudTrailInsight",
        "eventCategory": "Insight",
        "insightDetails": {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"},
    }
    assert not matches(one("eventName", Equals=["StopLogging"]), insight)
    assert not matches(one("eventSource", StartsWith=["cloudtrail"]), insight)
    assert matches(one("eventName", NotEquals=["StopLogging"]), insight)
    assert matches(one("insightDetails.eventName", Equals=["StopLogging"]), insight)
    nested_same_name = {"requestParameters": {"eventName": "StopLogging"}}
    assert not matches(one("eventName", Equals=["StopLogging"]), nested_same_name)


def test_comparison_is_case_sensitive() -> None:
    assert not matches(one("eventName", Equals=["stoplogging"]), {"eventName": "StopLogging"})
    assert not matches(one("eventName", StartsWith=["stop"]), {"eventName": "StopLogging"})
    assert not matches(one("eventName", EndsWith=["LOGGING"]), {"eventName": "StopLogging"})
    assert matches(one("eventName", NotEquals=["stoplogging"]), {"eventName": "StopLogging"})
    assert not matches(one("readOnly", Equals=["true"]), {"readOnly": "True"})


def test_star_is_literal() -> None:
    assert not matches(one("eventName", Equals=["*"]), {"eventName": "StopLogging"})
    assert not matches(one("eventName", StartsWith=["Stop*"]), {"eventName": "StopLogging"})
    assert not matches(one("eventName", EndsWith=["*Logging"]), {"eventName": "StopLogging"})
    assert matches(one("eventName", Equals=["*"]), {"eventName": "*"})
    assert matches(one("eventName", StartsWith=["Stop*"]), {"eventName": "Stop*Now"})
    assert matches(one("eventName", NotEquals=["*"]), {"eventName": "StopLogging"})


def test_no_regex_or_glob_characters_are_special() -> None:
    for pattern in ("Stop.*", "Stop?ogging", "[S]topLogging", "^StopLogging$", "%"):
        assert not matches(one("eventName", Equals=[pattern]), {"eventName": "StopLogging"}), pattern
        assert matches(one("eventName", Equals=[pattern]), {"eventName": pattern}), pattern


def test_unicode_values_compare_on_decoded_text() -> None:
    assert matches(one("requestParameters.key", Equals=["caf\u00e9"]), {"requestParameters": {"key": "caf\u00e9"}})
    # a decomposed e + combining accent is a different string
    assert not matches(
        one("requestParameters.key", Equals=["caf\u00e9"]), {"requestParameters": {"key": "cafe\u0301"}}
    )


# ---------------------------------------------------------------------------------------------
# cloudtrail_compatibility

MGMT = {"Field": "eventCategory", "Equals": ["Management"]}


def compat(raw: Any) -> list[str]:
    return cloudtrail_compatibility(parse_selectors(raw))


def test_compatible_set_gives_no_problems() -> None:
    raw = [
        {"Name": "mgmt", "FieldSelectors": [MGMT, {"Field": "readOnly", "Equals": ["false"]}]},
        {
            "Name": "s3",
            "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                {"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::secret/"]},
                {"Field": "eventName", "Equals": ["PutObject"], "NotEquals": ["GetObject"]},
                {"Field": "errorCode", "StartsWith": ["Access"]},
                {"Field": "userIdentity.arn", "EndsWith": ["/alice"]},
                {"Field": "eventSource", "NotEndsWith": ["x"]},
                {"Field": "eventType", "Equals": ["AwsApiCall"]},
                {"Field": "vpcEndpointId", "NotEquals": ["vpce-1"]},
                {"Field": "sessionCredentialFromConsole", "NotEquals": ["true"]},
            ],
        },
    ]
    assert compat(raw) == []


def test_extended_field_is_reported() -> None:
    problems = compat([{"Name": "root", "FieldSelectors": [MGMT, {"Field": "userIdentity.type", "Equals": ["Root"]}]}])
    assert len(problems) == 1
    assert "selector 0 ('root')" in problems[0]
    assert "field selector 1" in problems[0]
    assert "'userIdentity.type'" in problems[0]
    assert "extended" in problems[0]


def test_missing_event_category_is_reported() -> None:
    problems = compat([{"FieldSelectors": [MGMT]}, {"Name": "x", "FieldSelectors": [GOOD_FS]}])
    assert len(problems) == 1
    assert "selector 1 ('x')" in problems[0]
    assert "eventCategory" in problems[0]


def test_more_than_500_values_is_reported() -> None:
    names = [f"Call{i}" for i in range(300)]
    raw = [
        {"FieldSelectors": [MGMT, {"Field": "eventName", "Equals": names}]},
        {"FieldSelectors": [MGMT, {"Field": "eventName", "NotEquals": names}]},
    ]
    problems = compat(raw)
    assert len(problems) == 1
    assert "602" in problems[0]
    assert "500" in problems[0]


def test_exactly_500_values_is_compatible() -> None:
    raw = [{"FieldSelectors": [MGMT, {"Field": "eventName", "Equals": [f"C{i}" for i in range(499)]}]}]
    assert compat(raw) == []
    raw[0]["FieldSelectors"][1]["Equals"].append("one-more")
    assert len(compat(raw)) == 1


def test_two_resources_type_selectors_are_reported() -> None:
    raw = [
        {
            "Name": "two types",
            "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                {"Field": "resources.type", "Equals": ["AWS::Lambda::Function"]},
            ],
        }
    ]
    problems = compat(raw)
    assert len(problems) == 1
    assert "selector 0 ('two types')" in problems[0]
    assert "resources.type" in problems[0]


def test_several_problems_are_all_reported() -> None:
    raw = [
        {"FieldSelectors": [{"Field": "awsRegion", "Equals": ["us-east-1"]}]},
        {
            "FieldSelectors": [
                {"Field": "resources.type", "Equals": ["A"]},
                {"Field": "resources.type", "Equals": ["B"]},
            ]
        },
    ]
    problems = compat(raw)
    assert len(problems) == 4
    assert "'awsRegion'" in problems[0] and "selector 0" in problems[0]
    assert sum("no 'eventCategory'" in p for p in problems) == 2
    assert any(p.startswith("selector 1") and "resources.type" in p for p in problems)
