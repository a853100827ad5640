"""Console links: only for management events with a region and an eventID of AWS's shapes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.console import console_link

EVENT_ID = "694d604a-d190-4470-8dd1-EXAMPLEe20c1"
RECORD: dict[str, Any] = {"eventID": EVENT_ID, "awsRegion": "eu-west-3", "eventCategory": "Management"}


def test_a_management_event_links_to_its_event_history_page() -> None:
    assert console_link(RECORD) == (
        f"https://eu-west-3.console.aws.amazon.com/cloudtrail/home?region=eu-west-3#/events/{EVENT_ID}"
    )
    assert console_link({k: v for k, v in RECORD.items() if k != "eventCategory"}) is not None  # before 2021


@pytest.mark.parametrize("category", ["Data", "Insight", "NetworkActivity", "management", 1])
def test_no_link_outside_event_history(category: Any) -> None:
    assert console_link({**RECORD, "eventCategory": category}) is None


def test_no_link_for_insights_without_a_category() -> None:
    record = {k: v for k, v in RECORD.items() if k != "eventCategory"}
    assert console_link({**record, "eventType": "AwsCloudTrailInsight"}) is None
    assert console_link({**record, "insightDetails": {}}) is None


@pytest.mark.parametrize("region", [None, "", "us-northeast-1r", "cn-north-1", "us-gov-west-1", "eu-west-3/../x",
                                    "evil.com#", "us-east-1\n", 7])
def test_no_link_for_a_region_of_another_shape_or_partition(region: Any) -> None:
    assert console_link({**RECORD, "awsRegion": region}) is None


@pytest.mark.parametrize("event_id", [None, "", "e1", "sha256-abc", EVENT_ID + "?x", "694d604a-d190-4470-8dd1/../../x",
                                     "javascript:alert(1)-d190-4470-8dd1-EXAMPLEe20c1"])
def test_no_link_for_an_event_id_of_another_shape(event_id: Any) -> None:
    assert console_link({**RECORD, "eventID": event_id}) is None


@settings(max_examples=200, deadline=None, database=None)
@given(region=st.text(max_size=30), event_id=st.text(max_size=40))
def test_any_link_is_made_of_safe_characters(region: str, event_id: str) -> None:
    link = console_link({**RECORD, "awsRegion": region, "eventID": event_id})
    if link is not None:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./:?=#")
        assert set(link) <= allowed and link.count("#") == 1 and link.count("?") == 1
