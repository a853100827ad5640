"""Write index rows to DynamoDB and read them back by rule, principal, account or event.

The low-level client is passed in (never created here), so tests and the CLI choose the endpoint.
Writes are idempotent puts (same pk/sk, same row) batched 25 at a time; reads only ever Query. Whole
calls are retried by the client's botocore retry mode only (see :mod:`trailsift.aws.clients`); the
writer resends just the ``UnprocessedItems`` of a BatchWriteItem
(:func:`~trailsift.aws.retry.retry_failed_entries`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from trailsift.aws.errors import BatchWriteError
from trailsift.aws.retry import BatchAdapter, BatchCallFailed, EntryFailure, retry_failed_entries
from trailsift.index import (
    EVENT_PREFIX,
    GSI_BY_ACCOUNT,
    GSI_BY_PRINCIPAL,
    GSI_BY_RULE,
    GSI_KEYS,
    PARTITION_KEY,
    SORT_KEY,
    TIME_KEY,
)

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_DELAY = 5.0
Key = dict[str, str]


class IndexWriteError(BatchWriteError[Key]):
    """Some rows could not be written; ``failed`` holds their keys ({"pk", "sk"}), ``written`` the count that were."""

    def __init__(self, message: str, failed: Sequence[Key], written: int = 0) -> None:
        super().__init__(message, failed)
        self.written = written


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int (or float); sets to sorted lists; everything else as is."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value


class IndexWriter(BatchAdapter):
    """Put index rows with BatchWriteItem into one table (``target``), resending what DynamoDB leaves unprocessed."""

    BASE_DELAY = 0.05
    MAX_DELAY = MAX_DELAY
    _serialize = staticmethod(TypeSerializer().serialize)

    def write(self, items: Sequence[Mapping[str, Any]]) -> int:
        """Write ``items`` (last one wins for a repeated pk/sk) and return how many rows were written.

        Raises :class:`IndexWriteError` with the keys left unwritten when a batch's items are still
        unprocessed after its rounds (or the invocation's deadline leaves no time for the next backoff
        sleep), or when a call raises: throttling or a fault outlasting the client's retries, or a
        refusal (missing table, invalid item, no permission). The batches after it are not tried.
        """
        unique: dict[tuple[str, str], Mapping[str, Any]] = {}
        for item in items:
            unique[(item[PARTITION_KEY], item[SORT_KEY])] = item
        requests = [
            {"PutRequest": {"Item": {name: self._serialize(value) for name, value in item.items()}}}
            for item in unique.values()
        ]
        batches = [requests[start : start + BATCH_SIZE] for start in range(0, len(requests), BATCH_SIZE)]
        try:
            result = retry_failed_entries(self._write_batch, batches, max_rounds=self.max_rounds, backoff=self._backoff)
        except BatchCallFailed as stopped:
            unwritten = [failure.entry for failure in stopped.result.failed] + stopped.result.unsent
            raise IndexWriteError(
                f"{len(unwritten)} rows not written to {self.target}: {stopped.error}",
                [_key(request) for request in unwritten],
                stopped.result.accepted,
            ) from stopped.error
        if result.failed:
            raise IndexWriteError(
                f"{len(result.failed)} rows still unprocessed by {self.target} after {result.rounds} round(s)",
                [_key(failure.entry) for failure in result.failed] + [_key(request) for request in result.unsent],
                result.accepted,
            )
        return result.accepted

    def _write_batch(self, batch: list[dict[str, Any]]) -> list[EntryFailure[dict[str, Any]]]:
        """One BatchWriteItem call; answers the put requests DynamoDB left unprocessed."""
        answer = self.client.batch_write_item(RequestItems={self.target: batch})
        left = (answer.get("UnprocessedItems") or {}).get(self.target) or []
        return [EntryFailure(request, "UnprocessedItems", "left unprocessed by DynamoDB") for request in left]


def _key(request: Mapping[str, Any]) -> Key:
    item = request["PutRequest"]["Item"]
    return {PARTITION_KEY: item[PARTITION_KEY]["S"], SORT_KEY: item[SORT_KEY]["S"]}


class IndexReader:
    """Query the index newest first over ``[since, until)`` (ISO-8601 UTC, like eventTime); never Scan."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.target = table_name
        self._deserialize = TypeDeserializer().deserialize

    def by_rule(self, rule: str, since: str | None, until: str | None, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Rows of one rule."""
        return self._by(GSI_BY_RULE, rule, since, until, limit)

    def by_principal(
        self, arn: str, since: str | None, until: str | None, *, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rows whose record's ``userIdentity.arn`` is ``arn``."""
        return self._by(GSI_BY_PRINCIPAL, arn, since, until, limit)

    def by_account(
        self, account: str, since: str | None, until: str | None, *, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rows of events recorded in ``account``."""
        return self._by(GSI_BY_ACCOUNT, account, since, until, limit)

    def event(self, event_id: str) -> list[dict[str, Any]]:
        """All rows of one event (one per rule it matched), with ``event`` parsed back from JSON.

        A trimmed event whose text had to be cut is no longer JSON and stays text.
        """
        rows = list(self._query(
            {
                "KeyConditionExpression": "#pk = :pk",
                "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                "ExpressionAttributeValues": {":pk": {"S": f"{EVENT_PREFIX}{event_id}"}},
            },
            None,
        ))
        for row in rows:
            text = row.get("event")
            if isinstance(text, str):
                try:
                    row["event"] = orjson.loads(text)
                except orjson.JSONDecodeError:
                    pass
        return rows

    def _by(self, index: str, value: str, since: str | None, until: str | None, limit: int | None) -> Iterator[dict[str, Any]]:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if not value:
            raise ValueError(f"{index}: the key value must not be empty")
        hash_key, range_key = GSI_KEYS[index]
        names = {"#h": hash_key}
        values: dict[str, Any] = {":h": {"S": value}}
        condition = "#h = :h"
        if since is not None or until is not None:
            names["#r"] = range_key
        if since is not None and until is not None:
            if since >= until:
                return iter(())
            # BETWEEN is inclusive; a ts equal to `until` is dropped below to make the range [since, until)
            condition += " AND #r BETWEEN :since AND :until"
            values |= {":since": {"S": since}, ":until": {"S": until}}
        elif since is not None:
            condition += " AND #r >= :since"
            values[":since"] = {"S": since}
        elif until is not None:
            condition += " AND #r < :until"
            values[":until"] = {"S": until}
        params = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        keep = None if until is None else (lambda row: row.get(TIME_KEY, "") < until)
        return self._query(params, limit, keep)

    def _query(
        self, params: dict[str, Any], limit: int | None, keep: Callable[[dict[str, Any]], bool] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row the Query gives (that ``keep`` accepts), newest first, page after page, at most ``limit``."""
        request = {"TableName": self.target, "ScanIndexForward": False, **params}
        remaining = limit
        while True:
            if remaining is not None:
                request["Limit"] = remaining
            answer = self.client.query(**request)
            for raw in answer.get("Items", []):
                row = self._row(raw)
                if keep is not None and not keep(row):
                    continue
                yield row
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _row(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {name: _plain(self._deserialize(value)) for name, value in raw.items()}
