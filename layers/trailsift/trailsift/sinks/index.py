"""The index table: one DynamoDB row per matched event and index rule, idempotent by its key.

Formatting is :func:`trailsift.index.index_items`; writing is :class:`trailsift.aws.dynamodb.IndexWriter`
(BatchWriteItem, 25 at a time). Writing a match twice rewrites the same rows, so no ledger is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from trailsift.index import index_items
from trailsift.lazy import Lazy
from trailsift.rules import Destination
from trailsift.sinks.base import Delivered, Routed, SinkContext, register

__all__ = ["IndexSink", "RowWriter"]


class RowWriter(Protocol):
    """Writes index rows; raises :class:`~trailsift.aws.dynamodb.IndexWriteError` naming those not written."""

    def write(self, items: Sequence[Mapping[str, Any]]) -> int: ...


@register
class IndexSink:
    """Index rows for the matches of index rules; ``deliver`` answers how many rows were written."""

    destination: ClassVar[Destination] = Destination.INDEX
    metric: ClassVar[str] = "IndexRowsWritten"
    notifies: ClassVar[bool] = False

    def __init__(self, writer: RowWriter, *, retention_days: int = 90, clock: Callable[[], float] = time.time) -> None:
        self.writer = writer
        self.retention_days = retention_days
        self.clock = clock

    @classmethod
    def from_context(cls, context: SinkContext) -> IndexSink | None:
        """Configured by ``TRAILSIFT_INDEX_TABLE``."""
        settings = context.settings
        table = settings.index_table
        if table is None:
            return None

        def writer() -> RowWriter:
            from trailsift.aws.dynamodb import IndexWriter

            return IndexWriter(context.client("dynamodb"), table, deadline=context.deadline)

        return cls(Lazy(writer), retention_days=settings.retention_days, clock=context.clock)

    def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
        indexed_at = int(self.clock())
        items = [
            row
            for item in routed
            for row in index_items(
                item.match, item.rules, log_location, indexed_at=indexed_at, retention_days=self.retention_days
            )
        ]
        return Delivered(sent=self.writer.write(items)) if items else Delivered()
