"""Destinations for matches, one module each: the alert topic, the index table, the event bus.

See :mod:`trailsift.sinks.base` for what a sink is given, how it batches, how it stays idempotent and
what it reports; :mod:`trailsift.sinks.once` for exactly-once delivery through services that cannot
deduplicate. Importing this package registers every sink, in the order matches are delivered: the
index first (a match is queryable before anyone is told about it), then the alert topic, then the
event bus.
"""

from trailsift.sinks.base import (
    Delivered,
    DeliveryPending,
    Routed,
    Sink,
    SinkContext,
    SinkFactory,
    build_sinks,
    register,
    registered,
)
from trailsift.sinks.index import IndexSink
from trailsift.sinks.alert import AlertSink
from trailsift.sinks.eventbus import EventBusSink

__all__ = [
    "AlertSink",
    "Delivered",
    "DeliveryPending",
    "EventBusSink",
    "IndexSink",
    "Routed",
    "Sink",
    "SinkContext",
    "SinkFactory",
    "build_sinks",
    "register",
    "registered",
]
