"""Alerts: a valid SNS subject whatever the event holds, a readable body, attributes, and the 256 KB limit."""

from __future__ import annotations

import copy
import string
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.alerts import MAX_MESSAGE_BYTES, Alert, format_alert
from trailsift.masking import MASK, mask_secrets
from trailsift.record import event_key
from trailsift.rules import Rule, parse_rule
from trailsift.scan import Match

LOCATION = "s3://trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/f.json.gz"
ARN = "arn:aws:iam::123456789012:user/alice"


def make_rule(name: str, severity: str = "high", description: str = "") -> Rule:
    return parse_rule(
        {
            "name": name,
            "severity": severity,
            "description": description,
            "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}],
        },
        0,
    )


TAMPERING = make_rule("cloudtrail-tampering", "high", "Someone stopped, deleted or changed a trail.")
ROOT = make_rule("root-use", "critical", "The root user was used.")
NOISE = make_rule("api-calls", "low")

STOP_LOGGING: dict[str, Any] = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": ARN,
        "accountId": "123456789012",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "userName": "alice",
        "sessionContext": {"attributes": {"creationDate": "2024-01-01T00:00:00Z", "mfaAuthenticated": "true"}},
    },
    "eventTime": "2024-01-01T00:03:00Z",
    "eventSource": "cloudtrail.amazonaws.com",
    "eventName": "StopLogging",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.13.5",
    "requestParameters": {"name": "main-trail"},
    "responseElements": None,
    "requestID": "req-1",
    "eventID": "11111111-2222-3333-4444-555555555555",
    "readOnly": False,
    "eventType": "AwsApiCall",
    "recipientAccountId": "123456789012",
}

SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEOz//////////wEaCXVzLWVhc3QtMSJHMEUCIQDxkFakeButRealLooking"
    "SessionTokenMaterial4TestsOnlyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
)
ASSUME_ROLE: dict[str, Any] = {
    "eventVersion": "1.08",
    "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
    "eventTime": "2024-01-01T00:01:00Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRole",
    "awsRegion": "eu-west-1",
    "sourceIPAddress": "ec2.amazonaws.com",
    "userAgent": "ec2.amazonaws.com",
    "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/app", "roleSessionName": "i-0abc",
                          "tokenCode": "123456"},
    "responseElements": {
        "credentials": {
            "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
            "sessionToken": SESSION_TOKEN,
            "expiration": "Jan 1, 2024, 7:01:00 AM",
        },
        "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:i-0abc",
                            "arn": "arn:aws:sts::123456789012:assumed-role/app/i-0abc"},
    },
    "eventID": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "recipientAccountId": "123456789012",
    "readOnly": True,
}


def alert_for(record: dict[str, Any], rules: tuple[Rule, ...] = (TAMPERING,), index: int = 7) -> Alert:
    return format_alert(Match(LOCATION, index, record, tuple(r.name for r in rules)), rules, LOCATION)


def event_json(alert: Alert) -> Any:
    head, _, body = alert.message.partition("\nEvent JSON:\n")
    assert head and body
    return orjson.loads(body)


def assert_valid_subject(subject: str) -> None:
    assert subject and len(subject) < 100
    assert subject.isascii()
    assert all(" " <= ch <= "~" for ch in subject), subject  # no line breaks or control characters
    assert subject[0].isalnum() or subject[0] in string.punctuation


# ---------------------------------------------------------------------------------------------
# subject


def test_subject_names_severity_event_principal_and_region():
    alert = alert_for(STOP_LOGGING)
    assert alert.subject == "[high] StopLogging by user/alice in us-east-1"
    assert alert.event_key == STOP_LOGGING["eventID"]


def test_severity_is_the_highest_of_the_matched_rules():
    alert = alert_for(STOP_LOGGING, (NOISE, TAMPERING, ROOT))
    assert alert.subject.startswith("[critical] StopLogging")
    assert alert.attributes["severity"]["StringValue"] == "critical"


def test_subject_says_when_the_call_failed():
    record = {**STOP_LOGGING, "errorCode": "AccessDenied", "errorMessage": "not allowed"}
    assert alert_for(record).subject == "[high] StopLogging by user/alice in us-east-1 (failed: AccessDenied)"


def test_subject_keeps_the_role_name_whole_and_gives_up_the_hint_and_region_first():
    arn = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice"
    record = {**STOP_LOGGING, "userIdentity": {"type": "AssumedRole", "arn": arn}, "errorCode": "AccessDenied"}
    subject = alert_for(record).subject
    assert_valid_subject(subject)
    assert subject == "[high] StopLogging by assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice"


def test_subject_cuts_the_session_then_leaves_it_out_then_cuts_the_event_name():
    role = "R" * 30
    session = "alice.smith@example.com"
    arn = f"arn:aws:sts::111122223333:assumed-role/{role}/{session}"
    record = {**STOP_LOGGING, "userIdentity": {"type": "AssumedRole", "arn": arn}}
    subject = alert_for(record).subject  # 22 + 13 + 30 + 1 + 23 + 13 (@account) = 102: the session is cut
    assert subject == f"[high] StopLogging by assumed-role/{role}/alice.smi...@111122223333"
    role = "R" * 50
    arn = f"arn:aws:sts::111122223333:assumed-role/{role}/{session}"
    subject = alert_for({**record, "userIdentity": {"type": "AssumedRole", "arn": arn}}).subject
    assert subject == f"[high] StopLogging by assumed-role/{role}@111122223333"
    name = "PutBucketPublicAccessBlockConfiguration"
    subject = alert_for({**record, "eventName": name, "userIdentity": {"type": "AssumedRole", "arn": arn}}).subject
    assert subject == f"[high] PutBucket... by assumed-role/{role}@111122223333"
    # 64 characters (IAM's longest role name) from another account cannot fit whole: cut at the end, still valid
    arn = f"arn:aws:sts::111122223333:assumed-role/{'R' * 64}/{session}"
    subject = alert_for({**record, "userIdentity": {"type": "AssumedRole", "arn": arn}}).subject
    assert_valid_subject(subject)
    assert subject.startswith("[high] StopLogging by assumed-role/RRRR") and subject.endswith("...")
    very_long = "arn:aws:iam::123456789012:user/" + "x" * 300
    subject = alert_for({**STOP_LOGGING, "userIdentity": {"arn": very_long}}).subject
    assert_valid_subject(subject)
    assert subject.startswith("[high] StopLogging by user/xxx") and subject.endswith("...")


def test_subject_without_event_name_principal_or_region():
    record = {"eventID": "e1", "eventTime": "2024-01-01T00:00:00Z"}
    assert alert_for(record).subject == "[high] unknown event"
    assert alert_for({**record, "eventName": ""}).subject == "[high] unknown event"
    assert alert_for({**record, "eventName": 42}).subject == "[high] unknown event"


def test_subject_neutralizes_non_ascii_and_line_breaks():
    record = {**STOP_LOGGING, "eventName": "Stop\r\nLogging\u2028é",
              "userIdentity": {"arn": "arn:aws:iam::1:user/bob\x00"}}
    subject = alert_for(record).subject
    assert_valid_subject(subject)
    assert subject == "[high] Stop??Logging?? by user/bob?@1 in us-east-1"


# No lone surrogates: records come from orjson, which rejects them (record.py's helpers assume so too).
chars = st.characters(blacklist_categories=("Cs",))
texts = st.text(chars, max_size=300) | st.text(chars, min_size=90, max_size=2000)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.none() | texts,
    arn=st.none() | texts,
    region=st.none() | texts,
    error=st.none() | texts,
    identity_type=st.none() | texts,
    invoked_by=st.none() | texts,
)
def test_subject_is_always_valid_for_sns(name, arn, region, error, identity_type, invoked_by):
    identity = {k: v for k, v in {"arn": arn, "type": identity_type, "invokedBy": invoked_by}.items() if v is not None}
    record = {"eventID": "e1", "userIdentity": identity}
    for field, value in (("eventName", name), ("awsRegion", region), ("errorCode", error)):
        if value is not None:
            record[field] = value
    alert = alert_for(record, (ROOT,))
    assert_valid_subject(alert.subject)
    assert alert.subject.startswith("[critical] ")
    assert alert.size() <= MAX_MESSAGE_BYTES


# ---------------------------------------------------------------------------------------------
# body


def test_body_reads_like_an_email():
    rules = (TAMPERING, NOISE)
    record = {**STOP_LOGGING, "errorCode": "AccessDenied", "errorMessage": "User is not authorized",
              "userIdentity": {**STOP_LOGGING["userIdentity"], "invokedBy": "signin.amazonaws.com"}}
    message = alert_for(record, rules).message
    human = message.partition("\nEvent JSON:\n")[0]
    for expected in [
        "trailsift alert (high)",
        "  - cloudtrail-tampering [high]: Someone stopped, deleted or changed a trail.",
        "  - api-calls [low]",
        "principal:      user/alice",
        f"ARN:            {ARN}",
        "identity type:  IAMUser",
        "access key:     AKIAIOSFODNN7EXAMPLE",
        "MFA:            yes",
        "invoked by:     signin.amazonaws.com",
        "event:          cloudtrail.amazonaws.com / StopLogging",
        "read-only:      no",
        "account:        123456789012",
        "region:         us-east-1",
        "source IP:      198.51.100.7",
        "user agent:     aws-cli/2.13.5",
        "event time:     2024-01-01T00:03:00Z",
        "code:           AccessDenied",
        "message:        User is not authorized",
        "event ID:       11111111-2222-3333-4444-555555555555",
        f"log file:       {LOCATION}",
        "index:          7",
    ]:
        assert expected in human.splitlines() or f"  {expected}" in human.splitlines(), expected
    assert message.count("\nEvent JSON:\n") == 1
    assert event_json(alert_for(record, rules)) == record
    assert "\n  \"awsRegion\": \"us-east-1\"," in message  # indented, sorted keys
    assert message.index('"awsRegion"') < message.index('"eventID"')


def test_body_leaves_out_what_the_record_does_not_say():
    human = alert_for({"eventID": "e1"}).message.partition("\nEvent JSON:\n")[0]
    assert "event:          unknown event" in human
    for absent in ("Who:", "MFA", "read-only", "Where:", "When:", "Error:"):
        assert absent not in human


def test_mfa_from_console_login():
    record = {**STOP_LOGGING, "userIdentity": {"type": "IAMUser", "arn": ARN},
              "additionalEventData": {"MFAUsed": "No"}}
    assert "MFA:            no" in alert_for(record).message


def test_event_text_cannot_forge_lines_in_the_body():
    record = {**STOP_LOGGING, "userAgent": "curl\nRules:\n  - fake [critical]\r\x1b[2J\u2028\u202e",
              "sourceIPAddress": "1.2.3.4\x85"}
    alert = alert_for(record)
    human = alert.message.partition("\nEvent JSON:\n")[0]
    assert "  user agent:     curl\\nRules:\\n  - fake [critical]\\r\\x1b[2J\\u2028\\u202e" in human.splitlines()
    assert "  source IP:      1.2.3.4\\x85" in human.splitlines()
    assert not any(line.startswith("  - fake") for line in human.splitlines())
    assert event_json(alert)["userAgent"] == record["userAgent"]  # the JSON keeps the exact value


def test_no_credential_reaches_the_alert():
    alert = alert_for(ASSUME_ROLE, (ROOT,))
    everything = alert.subject + alert.message + orjson.dumps(alert.attributes).decode()
    assert SESSION_TOKEN not in everything
    assert SESSION_TOKEN[:20] not in everything
    assert "123456" not in everything.replace("123456789012", "")  # the MFA tokenCode
    body = event_json(alert)
    assert body["responseElements"]["credentials"] == {
        "accessKeyId": "ASIAIOSFODNN7EXAMPLE", "sessionToken": MASK, "expiration": "Jan 1, 2024, 7:01:00 AM"}
    assert body == mask_secrets(ASSUME_ROLE).value
    assert "invoked by:     ec2.amazonaws.com" in alert.message
    assert alert.subject == "[critical] AssumeRole by ec2.amazonaws.com in eu-west-1"


def test_the_human_part_never_shows_credential_text():
    record = {**STOP_LOGGING, "userAgent": "x AWS_SESSION_TOKEN=FQoGZXIvYXdzEXAMPLE y",
              "errorMessage": "bad aws_secret_access_key=wJalrXUtnFEMI"}
    alert = alert_for(record)
    assert "FQoGZXIvYXdzEXAMPLE" not in alert.message and "wJalrXUtnFEMI" not in alert.message
    assert f"user agent:     {MASK}" in alert.message


def test_event_key_is_computed_from_the_unmasked_record():
    record = {k: v for k, v in ASSUME_ROLE.items() if k != "eventID"}
    alert = alert_for(record)
    assert alert.event_key == event_key(record) and alert.event_key.startswith("sha256-")
    assert f"event ID:       {alert.event_key}" in alert.message


def test_records_orjson_cannot_render_still_give_an_alert():
    deep: Any = "bottom"
    for _ in range(2000):
        deep = {"d": deep}
    record = {**STOP_LOGGING, "requestParameters": deep, "big": 2**70, 3: "int key", "bad": "\ud800"}
    alert = alert_for(record)
    body = event_json(alert)
    assert body["big"] == str(2**70) and body["3"] == "int key" and body["bad"] == "\\ud800"
    assert "[nested too deeply]" in alert.message
    alert.message.encode()  # valid UTF-8


def test_no_rules_is_an_error():
    with pytest.raises(ValueError, match="no rules"):
        format_alert(Match(LOCATION, 0, STOP_LOGGING, ()), (), LOCATION)


# ---------------------------------------------------------------------------------------------
# attributes


def test_attributes_for_subscription_filters():
    alert = alert_for(STOP_LOGGING, (TAMPERING, ROOT))
    assert alert.attributes == {
        "rule": {"DataType": "String.Array", "StringValue": '["cloudtrail-tampering","root-use"]'},
        "severity": {"DataType": "String", "StringValue": "critical"},
        "eventName": {"DataType": "String", "StringValue": "StopLogging"},
        "eventSource": {"DataType": "String", "StringValue": "cloudtrail.amazonaws.com"},
        "account": {"DataType": "String", "StringValue": "123456789012"},
        "region": {"DataType": "String", "StringValue": "us-east-1"},
    }


def test_attributes_only_with_values_and_capped():
    alert = alert_for({"eventID": "e1", "eventName": "x" * 1000, "userIdentity": {"accountId": "999"}})
    assert set(alert.attributes) == {"rule", "severity", "eventName", "account"}
    assert len(alert.attributes["eventName"]["StringValue"]) <= 512
    assert alert.attributes["account"]["StringValue"] == "999"
    many = tuple(make_rule(f"rule-{i:03d}-" + "n" * 100) for i in range(20))
    names = orjson.loads(alert_for(STOP_LOGGING, many).attributes["rule"]["StringValue"])
    assert names == [rule.name for rule in many[: len(names)]] and 0 < len(names) < 20
    for attribute_name, attribute in alert.attributes.items():
        assert not attribute_name.startswith(("AWS.", "Amazon."))
        assert attribute["StringValue"]


def test_size_counts_subject_message_and_attributes():
    alert = Alert("k", "sé", "mé", {"ab": {"DataType": "String", "StringValue": "é"}})
    assert alert.size() == 3 + 3 + 2 + 6 + 2


# ---------------------------------------------------------------------------------------------
# the 256 KB limit


def test_a_megabyte_of_request_parameters_is_trimmed_with_a_marker():
    record = {**STOP_LOGGING, "requestParameters": {"policy": "p" * 1_000_000},
              "responseElements": {"ok": True}}
    alert = alert_for(record)
    assert alert.size() <= MAX_MESSAGE_BYTES
    lines = alert.message.splitlines()
    full = len(orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    assert lines[-1] == (
        f"[trimmed: event was {full} bytes; full record in {LOCATION} at index 7, eventID {STOP_LOGGING['eventID']}]"
    )
    trimmed = orjson.loads(alert.message.partition("\nEvent JSON:\n")[2].rpartition("\n[trimmed:")[0])
    assert trimmed["requestParameters"].startswith("[trimmed: ") and trimmed["requestParameters"].endswith(" bytes]")
    assert trimmed["eventName"] == "StopLogging" and trimmed["userIdentity"] == STOP_LOGGING["userIdentity"]
    assert alert.subject == "[high] StopLogging by user/alice in us-east-1"


def test_an_event_too_big_even_without_its_bulky_fields_is_cut():
    record = {**STOP_LOGGING, "tlsDetails": {"x": "é" * 400_000}, "userAgent": "u" * 300_000}
    alert = alert_for(record)
    assert MAX_MESSAGE_BYTES - 200 < alert.size() <= MAX_MESSAGE_BYTES
    assert alert.message.splitlines()[-1].startswith("[trimmed: event was ")
    assert "\n...\n[trimmed: " in alert.message
    alert.message.encode()  # not cut inside a character


big_text = st.integers(0, 400_000).map(lambda n: "\u00e9\n\"" * (n // 3))


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(
        st.sampled_from(["requestParameters", "responseElements", "additionalEventData", "serviceEventDetails",
                         "userAgent", "errorMessage", "tlsDetails", "resources", "eventName", "userIdentity"]),
        big_text.map(lambda text: {"v": text}) | big_text | big_text.map(lambda text: [text, text]),
        max_size=5,
    ),
    location=st.text(max_size=3000),
)
def test_any_alert_fits_sns(fields: dict[str, Any], location: str):
    record = copy.deepcopy(STOP_LOGGING) | fields
    alert = format_alert(Match(location, 3, record, ("r",)), (TAMPERING,), location)
    assert alert.size() <= MAX_MESSAGE_BYTES
    assert_valid_subject(alert.subject)


ascii_names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=70)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["assumed-role", "role", "user", "federated-user", "root"]),
    name=ascii_names, session=ascii_names | texts,
    account=st.sampled_from(["123456789012", "444455556666", "", "x" * 40]),
    recipient=st.none() | st.sampled_from(["123456789012", "999988887777"]),
    event=st.none() | texts, region=st.none() | st.sampled_from(["us-east-1", "ap-southeast-2"]) | texts,
    error=st.none() | st.sampled_from(["AccessDenied", "Client.UnauthorizedOperation"]) | texts,
)
def test_subject_with_any_principal_form_is_valid(kind: str, name: str, session: str, account: str,
                                                  recipient: str | None, event: str | None, region: str | None,
                                                  error: str | None) -> None:
    resource = {"assumed-role": f"assumed-role/{name.replace('/', '_')}/{session}", "root": "root"}.get(
        kind, f"{kind}/{name}")
    record: dict[str, Any] = {"eventID": "e1", "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{account}:{resource}"}}
    for field, value in (("eventName", event), ("awsRegion", region), ("errorCode", error),
                         ("recipientAccountId", recipient)):
        if value is not None:
            record[field] = value
    subject = alert_for(record, (ROOT,)).subject
    assert_valid_subject(subject)
    assert subject.startswith("[critical] ")
    role = name.replace("/", "_")
    if kind == "assumed-role" and len(role) <= 40 and len(account) in (0, 12):
        assert f"assumed-role/{role}" in subject  # the role name whole whenever it can fit
    if recipient and account and account != recipient and kind == "root":
        assert f"root@{account}" in subject or subject.endswith("...")


# ---------------------------------------------------------------------------------------------
# groups (trailsift.grouping) and the rate bound's summary

from trailsift.alerts import AlertOptions, format_group, format_summary  # noqa: E402
from trailsift.alert_document import SCHEMA_PATH  # noqa: E402

SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(orjson.loads(SCHEMA_PATH.read_bytes()))
from trailsift.grouping import MAX_GROUP_EVENTS, group_matches  # noqa: E402
from trailsift.ratebound import HeldBack, Window  # noqa: E402
from trailsift.sinks.base import Routed  # noqa: E402


def routed_events(count: int, *, name: str = "AuthorizeSecurityGroupIngress", rules: tuple[Rule, ...] = (TAMPERING,),
                  **fields: Any) -> list[Routed]:
    out = []
    for n in range(count):
        record = copy.deepcopy(STOP_LOGGING) | {"eventName": name, "eventID": f"00000000-0000-0000-0000-{n:012d}",
                                                "eventTime": f"2024-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
                                                "requestParameters": {"groupId": f"sg-{n:05d}"}} | fields
        out.append(Routed(Match(LOCATION, n, record, tuple(r.name for r in rules)), rules))
    return out


def test_a_group_of_one_is_the_alert_of_its_event():
    [item] = routed_events(1)
    [group] = group_matches([item])
    assert format_group(group, LOCATION) == format_alert(item.match, item.rules, LOCATION)
    assert format_group(group, LOCATION).event_keys == ("00000000-0000-0000-0000-000000000000",)


def test_a_group_counts_its_events_and_lists_every_event_id():
    items = routed_events(3)
    items.append(Routed(Match(LOCATION, 3, items[0].match.record | {"eventName": "CreateSecurityGroup",
                                                                   "eventID": "00000000-0000-0000-0000-000000000009"},
                              ("cloudtrail-tampering",)), (TAMPERING,)))
    [group] = group_matches(items)
    alert = format_group(group, LOCATION)
    assert alert.subject == "[high] 4 cloudtrail-tampering events by user/alice in us-east-1"
    assert alert.event_key == group.event_keys[0] and alert.event_keys == group.event_keys
    text = alert.message
    assert "Group: 4 events (grouped by rule, principal; one log file)" in text
    assert "  events:         AuthorizeSecurityGroupIngress x3, CreateSecurityGroup" in text
    assert "  resources:      sg-00000, sg-00001, sg-00002" in text
    assert "  time span:      2024-01-01T00:00:00Z to 2024-01-01T00:00:02Z (2 s)" in text
    assert all(f"\n    {key}" in text for key in group.event_keys)
    assert "First event:" in text and "Events JSON (4):" in text
    document = orjson.loads(alert.per_protocol["sqs"])
    assert document["eventIDs"] == list(group.event_keys) and document["eventCount"] == 4
    assert document["kind"] == "group" and document["groupedBy"] == {
        "rule": "cloudtrail-tampering", "principal": dict(group.key)["principal"],
    }
    SCHEMA_VALIDATOR.validate(document)
    assert orjson.loads(format_group(group_matches(items[:1])[0], LOCATION).per_protocol["sqs"])["kind"] == "event"
    assert alert.attributes["eventName"] == {
        "DataType": "String.Array", "StringValue": '["AuthorizeSecurityGroupIngress","CreateSecurityGroup"]',
    }
    one_name = format_group(group_matches(items[:3])[0], LOCATION)
    assert one_name.subject == "[high] 3 AuthorizeSecurityGroupIngress by user/alice in us-east-1"
    assert one_name.attributes["eventName"] == {"DataType": "String", "StringValue": "AuthorizeSecurityGroupIngress"}


def test_a_group_says_failed_only_when_every_event_failed_alike():
    failed = routed_events(2, errorCode="AccessDenied")
    assert format_group(group_matches(failed)[0], LOCATION).subject.endswith("(failed: AccessDenied)")
    mixed = failed[:1] + routed_events(2)[1:]
    assert "failed" not in format_group(group_matches(mixed)[0], LOCATION).subject


def test_the_largest_group_fits_sns_and_names_every_event():
    items = routed_events(MAX_GROUP_EVENTS, responseElements={"big": "x" * 2000})
    [group] = group_matches(items)
    alert = format_group(group, LOCATION)
    assert alert.size() <= MAX_MESSAGE_BYTES and len(alert.event_keys) == MAX_GROUP_EVENTS
    document = orjson.loads(alert.per_protocol["sqs"])
    assert document["eventIDs"] == list(group.event_keys) and "eventIDsNotListed" not in document
    assert all(f"\n    {key}" in alert.message for key in group.event_keys)


def test_a_summary_names_the_window_the_query_and_what_it_holds_back():
    groups = group_matches(routed_events(3) + [
        Routed(Match(LOCATION, 9, STOP_LOGGING | {"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/bob"},
                                                  "eventID": "00000000-0000-0000-0000-00000000000b"},
                     ("cloudtrail-tampering",)), (TAMPERING,)),
    ])
    held = HeldBack(TAMPERING, Window(1704067200, 3600), tuple(groups), 20)
    alert = format_summary(held, LOCATION, AlertOptions(index_table="trailsift-index"))
    assert alert.subject == "[high] cloudtrail-tampering: past 20 alerts in 60 min, 4 more held back"
    assert alert.event_key == "summary:cloudtrail-tampering:1704067200"
    assert alert.event_keys == (alert.event_key, *held.event_keys)
    assert ("  trailsift query --rule cloudtrail-tampering --since 2024-01-01T00:00:00Z --until 2024-01-01T01:00:00Z"
            " --table trailsift-index") in alert.message
    assert "Held back here: 4 more event(s) in 2 group(s)." in alert.message
    assert all(f"\n    {key}" in alert.message for key in held.event_keys)
    document = orjson.loads(alert.per_protocol["sqs"])
    assert document["eventIDs"] == list(held.event_keys)
    assert document["kind"] == "summary" and document["rateBound"] == {
        "limit": 20, "windowStart": "2024-01-01T00:00:00Z", "windowEnd": "2024-01-01T01:00:00Z", "heldBack": 4,
        "query": "trailsift query --rule cloudtrail-tampering --since 2024-01-01T00:00:00Z --until 2024-01-01T01:00:00Z"
                 " --table trailsift-index",
    }
    SCHEMA_VALIDATOR.validate(document)
    assert alert.size() <= MAX_MESSAGE_BYTES
