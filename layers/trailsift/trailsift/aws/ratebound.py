"""The alert rate bound shared by every invocation: one counter item per rule and window in the index table.

The item ``pk = "RATE#<rule>#<window start>"``, ``sk = "RATE"`` holds ``admitted``, the string set of the
ids of the alerts admitted in that window (a group's first event key), and the TTL ``expires_at`` (a day
after the window's end: late files still find it). One conditional UpdateItem admits an alert::

    ADD admitted :id   IF  admitted is absent OR size(admitted) < :limit OR contains(admitted, :id)

so the count never passes the limit, whatever runs at the same time, and admitting the same alert
again (a retry, a duplicate delivery, botocore resending a timed-out call) takes no second place. Like
the ledger's items, these carry no GSI key attribute: no index query returns them. See
:mod:`trailsift.ratebound` for what the bound is for.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from trailsift.aws.ledger import CONDITION_FAILED, LedgerError
from trailsift.index import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from trailsift.ratebound import Window

__all__ = ["KIND", "RateCounter"]

KIND = "RATE"
KEEP_SECONDS = 86_400  # after the window's end


class RateCounter:
    """Admits alerts of a rule in a window against ``limit``, in the index table ``table_name``."""

    def __init__(self, client: Any, table_name: str, *, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.client = client
        self.table_name = table_name
        self.limit = limit

    def key(self, rule: str, window: Window) -> dict[str, dict[str, str]]:
        return {PARTITION_KEY: {"S": f"{KIND}#{rule}#{window.start}"}, SORT_KEY: {"S": KIND}}

    def admit(self, rule: str, window: Window, group_id: str) -> bool:
        """True when the alert ``group_id`` is (or was already) among the ``limit`` admitted; raises
        :class:`~trailsift.aws.ledger.LedgerError` when DynamoDB fails after the client's retries."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self.key(rule, window),
                UpdateExpression="ADD #admitted :ids SET #expires = :expires",
                ConditionExpression=(
                    "attribute_not_exists(#admitted) OR size(#admitted) < :limit OR contains(#admitted, :id)"
                ),
                ExpressionAttributeNames={"#admitted": "admitted", "#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":ids": {"SS": [group_id]},
                    ":id": {"S": group_id},
                    ":limit": {"N": str(self.limit)},
                    ":expires": {"N": str(window.end + KEEP_SECONDS)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                return False
            raise LedgerError(f"rate bound {KIND}#{rule}#{window.start} in {self.table_name}: {error}") from error
        except Exception as error:  # noqa: BLE001 - botocore's transport errors, after its retries
            raise LedgerError(f"rate bound {KIND}#{rule}#{window.start} in {self.table_name}: {error}") from error
        return True
