"""A link to an event in the CloudTrail console's event history, where one can exist.

Event history shows the management events of the last 90 days of an account and region, one page an
event: ``https://<region>.console.aws.amazon.com/cloudtrail/home?region=<region>#/events/<eventID>``.
It holds no data events, Insights events or network activity events, and the commercial console
serves only the ``aws`` partition, so those get no link. The record's ``awsRegion`` and ``eventID``
are written into a URL: both are attacker-controlled, so both must have the shape AWS gives them
(a region such as ``eu-west-3``, an event ID of letters and digits in UUID groups) or there is no link.
An event older than 90 days (a backfill) still gets its link, which then finds nothing: the link does
not depend on the clock, so the same record always gives the same alert.

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CONSOLE_EVENT_URL", "LINKED_CATEGORIES", "console_link"]

CONSOLE_EVENT_URL = "https://{region}.console.aws.amazon.com/cloudtrail/home?region={region}#/events/{event_id}"
LINKED_CATEGORIES = frozenset({"Management"})  # the only category event history holds; absent: older records
_REGION = re.compile(r"(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]{4,10}-[0-9]{1,2}")
_EVENT_ID = re.compile(r"[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}")


def console_link(record: dict[str, Any]) -> str | None:
    """The event history page of ``record``, or ``None`` when it is not a management event of the ``aws``
    partition with a well-formed ``awsRegion`` and ``eventID``.

    ``eventCategory`` missing (records written before CloudTrail added it, 2021) counts as a management
    event unless ``eventType`` says Insight or the record names ``insightDetails``.
    """
    category = record.get("eventCategory")
    if category is not None and not (isinstance(category, str) and category in LINKED_CATEGORIES):
        return None
    if record.get("eventType") == "AwsCloudTrailInsight" or "insightDetails" in record:
        return None
    region, event_id = record.get("awsRegion"), record.get("eventID")
    if not (isinstance(region, str) and _REGION.fullmatch(region)):
        return None
    if not (isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)):
        return None
    return CONSOLE_EVENT_URL.format(region=region, event_id=event_id)
