"""The JSON document of SQS, Lambda and HTTP(S) subscribers: valid against its published schema, whatever the record."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.alert_document import SCHEMA, SCHEMA_PATH, AlertEvent, alert_document, primary_rule, s3_parts
from trailsift.alerts import JSON_PROTOCOLS, MAX_MESSAGE_BYTES, Alert, AlertOptions, fit_alert, format_alert
from trailsift.masking import MASK
from trailsift.engine import RuleEngine
from trailsift.rules import Rule, default_rules, parse_rule
from trailsift.scan import Match, scan_log_file

from tests.test_alerts import ASSUME_ROLE, LOCATION, ROOT, SESSION_TOKEN, STOP_LOGGING, TAMPERING, make_rule

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def document_of(alert: Alert) -> dict[str, Any]:
    """The document an SQS subscriber receives, checked against the schema, and the same for every JSON protocol."""
    copies = {alert.per_protocol[protocol] for protocol in JSON_PROTOCOLS}
    assert len(copies) == 1
    document: dict[str, Any] = json.loads(copies.pop())
    VALIDATOR.validate(document)
    return document


def alert_for(record: dict[str, Any], rules: tuple[Rule, ...] = (TAMPERING,), index: int = 7,
              options: AlertOptions = AlertOptions()) -> Alert:
    return format_alert(Match(LOCATION, index, record, tuple(r.name for r in rules)), rules, LOCATION, options)


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_with_the_package() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["const"] == SCHEMA == "trailsift.alert/1"
    assert SCHEMA_PATH.parent.name == "schemas" and SCHEMA_PATH.parent.parent.name == "trailsift"


def test_one_event() -> None:
    alert = alert_for(STOP_LOGGING, (TAMPERING, ROOT))
    document = document_of(alert)
    assert document["schema"] == SCHEMA and document["severity"] == "critical" and document["rule"] == "root-use"
    assert [rule["name"] for rule in document["rules"]] == ["cloudtrail-tampering", "root-use"]
    assert document["subject"] == alert.subject == "[critical] StopLogging by user/alice in us-east-1"
    assert document["principal"] == {"shown": "user/alice", "arn": STOP_LOGGING["userIdentity"]["arn"],
                                     "account": "123456789012", "external": False}
    event_id = STOP_LOGGING["eventID"]
    assert document["eventIDs"] == [event_id] and document["eventID"] == event_id and document["eventCount"] == 1
    assert document["firstEventTime"] == document["lastEventTime"] == "2024-01-01T00:03:00Z"
    assert document["consoleLink"] == (
        f"https://us-east-1.console.aws.amazon.com/cloudtrail/home?region=us-east-1#/events/{event_id}")
    [event] = document["events"]
    assert event["eventName"] == "StopLogging" and event["eventSource"] == "cloudtrail.amazonaws.com"
    assert event["sourceIPAddress"] == "198.51.100.7" and event["recordIndex"] == 7 and event["readOnly"] is False
    assert event["logFile"] == LOCATION and event["logBucket"] == "trail-bucket"
    assert event["logKey"] == LOCATION.removeprefix("s3://trail-bucket/")
    assert event["record"] == STOP_LOGGING
    assert not document.keys() & {"recordsTrimmed", "recordsOmitted", "eventsNotListed"}
    # e-mail gets the text: SNS's default
    structure = json.loads(alert.sns_message())
    assert structure["default"] == alert.message and "Event JSON:" in structure["default"]
    assert set(structure) == {"default", *JSON_PROTOCOLS} and alert.message_structure == "json"


def test_no_credential_reaches_the_document() -> None:
    alert = alert_for(ASSUME_ROLE, (ROOT,))
    document = document_of(alert)
    assert SESSION_TOKEN[:20] not in alert.sns_message()
    assert document["events"][0]["record"]["responseElements"]["credentials"]["sessionToken"] == MASK
    assert document["principal"] == {"shown": "ec2.amazonaws.com", "external": False}


def test_a_large_record_is_trimmed_in_every_copy_and_the_whole_fits() -> None:
    record = {**STOP_LOGGING, "requestParameters": {"policy": "p" * 60_000}}
    alert = alert_for(record)  # 60 KB in the text and four documents would pass 256 KB
    assert alert.size() <= MAX_MESSAGE_BYTES
    assert len(alert.sns_message().encode()) < alert.size()  # the size counts subject and attributes too
    document = document_of(alert)
    assert document["recordsTrimmed"] is True
    assert document["events"][0]["record"]["requestParameters"].startswith("[trimmed: ")
    assert "[trimmed: event was " in alert.message


def test_a_record_too_large_even_trimmed_is_left_out_and_the_text_cut() -> None:
    record = {**STOP_LOGGING, "userAgent": "u" * 300_000}
    alert = alert_for(record)
    assert MAX_MESSAGE_BYTES - 300 < alert.size() <= MAX_MESSAGE_BYTES
    document = document_of(alert)
    assert document["recordsOmitted"] is True and "record" not in document["events"][0]
    assert document["events"][0]["recordIndex"] == 7  # where to read it
    assert alert.message.splitlines()[-1].startswith("[trimmed: event was ")


def test_chatbot_option_puts_the_notification_on_https_only() -> None:
    alert = alert_for(STOP_LOGGING, options=AlertOptions(chatbot=True, index_table="trailsift-index"))
    notification = json.loads(alert.per_protocol["https"])
    assert notification["version"] == "1.0" and notification["source"] == "custom"
    assert json.loads(alert.per_protocol["sqs"])["schema"] == SCHEMA
    assert alert.per_protocol["sqs"] == alert.per_protocol["http"] == alert.per_protocol["lambda"]


def test_a_backfill_label_is_in_the_subject_everywhere() -> None:
    alert = alert_for(STOP_LOGGING, options=AlertOptions(label="backfill"))
    assert alert.subject.startswith("[backfill] [high] StopLogging")
    assert document_of(alert)["subject"] == alert.subject


# --- groups (several events in one alert), as the grouping passes them ---------------------------


def group(count: int, size: int = 0) -> list[AlertEvent]:
    events = []
    for number in range(count):
        record = {**STOP_LOGGING, "eventID": f"{number:08d}-2222-3333-4444-555555555555",
                  "eventTime": f"2024-01-01T00:{number % 60:02d}:00Z",
                  "eventName": ["CreateVpc", "DeleteRoute"][number % 2], "requestParameters": {"x": "y" * size}}
        events.append(AlertEvent(Match(LOCATION, number, record, ("r",)), record))
    return events


def test_a_group_lists_every_event_id_and_its_time_span() -> None:
    events = group(14)
    document = alert_document(events, (TAMPERING,), "[high] 14 events by user/alice")
    VALIDATOR.validate(document)
    assert document["eventCount"] == 14 and len(document["eventIDs"]) == 14
    assert document["eventID"] == document["eventIDs"][0] == events[0].key
    assert document["eventNames"] == ["CreateVpc", "DeleteRoute"]
    assert document["firstEventTime"] == "2024-01-01T00:00:00Z" and document["lastEventTime"] == "2024-01-01T00:13:00Z"
    assert [event["recordIndex"] for event in document["events"]] == list(range(14))


def test_a_large_group_keeps_every_event_id_and_fewer_summaries() -> None:
    events = group(400, size=500)
    alert = fit_alert(events[0].key, "[high] 400 events", {}, "text\n", events, (TAMPERING,), AlertOptions())
    assert alert.size() <= MAX_MESSAGE_BYTES
    document = document_of(alert)
    assert document["eventIDs"] == [event.key for event in events]  # all of them
    assert document["recordsOmitted"] is True
    assert 0 < len(document["events"]) < 400 and document["eventsNotListed"] == 400 - len(document["events"])


def test_primary_rule_and_locations() -> None:
    low, high_a, high_b = make_rule("a", "low"), make_rule("b", "high"), make_rule("c", "high")
    assert primary_rule([low, high_a, high_b]) is high_a
    assert s3_parts("s3://b/k/x.json.gz?versionId=1") == ("b", "k/x.json.gz")
    assert s3_parts("/tmp/x.json.gz") is None and s3_parts("s3://b") is None
    with pytest.raises(ValueError):
        alert_document([], (TAMPERING,), "s")


# --- real records and hostile ones ---------------------------------------------------------------


def test_every_alert_of_the_samples_and_the_real_records_is_valid(events_logs: Path, shared_cloudtrail: Path) -> None:
    rules = default_rules()
    engine = RuleEngine(rules)
    by_name = {rule.name: rule for rule in rules}
    count = 0
    paths = [*events_logs.rglob("*.json.gz"), *shared_cloudtrail.rglob("*.json.gz")]
    for path in sorted(path for path in paths if "/CloudTrail/" in str(path)):
        for match in scan_log_file(path.read_bytes(), f"s3://b/{path.name}", engine).matches:
            document = document_of(format_alert(match, [by_name[name] for name in match.rules], match.source))
            count += 1
            assert document["eventID"] in document["eventIDs"]
    assert count >= 100


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["eventID", "eventName", "eventSource", "eventTime", "awsRegion", "recipientAccountId", "userIdentity",
          "sourceIPAddress", "errorCode", "errorMessage", "readOnly", "eventCategory", "requestParameters"]


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
def test_hostile_records_still_give_a_valid_document(fields: dict[str, Any]) -> None:
    record = copy.deepcopy(STOP_LOGGING) | fields
    alert = format_alert(Match(LOCATION, 0, record, ("r",)), (TAMPERING,), LOCATION)
    assert alert.size() <= MAX_MESSAGE_BYTES
    document_of(alert)
    orjson.loads(alert.sns_message())


def test_rule_descriptions_from_a_rules_file_are_kept_as_text() -> None:
    rule = parse_rule({"name": "x", "severity": "low", "description": "</script>\n`rm`",
                       "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}]}, 0)
    document = document_of(alert_for(STOP_LOGGING, (rule,)))
    assert document["rules"][0]["description"] == "</script>\n`rm`"


def test_the_readme_example_has_the_schema_shape() -> None:
    """The README's example document: what the schema requires, with only its record shortened."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    found = re.search(r'```json\n(\{"schema": "trailsift\.alert/1".*?)\n```', readme, re.S)
    assert found is not None
    example = json.loads(found[1])
    example["events"][0]["principal"] = example["principal"]  # shortened there with "...": "..."
    example["events"][0]["consoleLink"] = example["consoleLink"]
    VALIDATOR.validate(example)
