"""The alert topic: one SNS message per group of matched events, each event sent once through the delivery ledger.

The matches of one log file are grouped by rule and principal (the rule's ``group_by``) and bounded per
rule and window (:mod:`trailsift.sinks.alert_groups`); formatting is :func:`trailsift.alerts.format_group`
and :func:`trailsift.alerts.format_summary`; sending is :class:`trailsift.aws.sns.AlertPublisher`
(PublishBatch, 10 at a time); exactly-once is :func:`trailsift.sinks.once.send_covering` with the ledger
kept in the index table, which claims each event (without an index table alerts are at-least-once and
the rate bound is the invocation's). A backfill that sends alerts
(``SinkContext.backfill``) marks each one's subject ``[backfill]`` (``AlertOptions.label``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from trailsift.alerts import Alert, AlertOptions, format_group, format_summary
from trailsift.grouping import MAX_GROUP_EVENTS
from trailsift.lazy import Lazy
from trailsift.ratebound import DEFAULT_RATE_WINDOW_SECONDS, InvocationBound, RateBound
from trailsift.rules import Destination
from trailsift.sinks.alert_groups import AlertForming, claimables
from trailsift.sinks.base import Delivered, Routed, SinkContext, register
from trailsift.sinks.once import Ledger, Publisher, ledger_for, send_covering

__all__ = ["AlertSink", "ALERT_LEDGER_KIND"]

ALERT_LEDGER_KIND = "ALERT"  # ledger items ALERT#<event key> / ALERT, and ALERT#summary:<rule>:<window> / ALERT


@register
class AlertSink:
    """Alerts for the matches of alert rules; ``deliver`` answers how many were published."""

    destination: ClassVar[Destination] = Destination.ALERT
    metric: ClassVar[str] = "AlertsPublished"
    notifies: ClassVar[bool] = True

    def __init__(self, publisher: Publisher[Alert], ledger: Ledger[Any] | None = None, *,
                 options: AlertOptions = AlertOptions(), bound: RateBound | None = None,
                 window_seconds: int = DEFAULT_RATE_WINDOW_SECONDS, max_events: int = MAX_GROUP_EVENTS) -> None:
        self.publisher = publisher
        self.ledger = ledger  # claims each event (ALERT#<event key>) and each summary, not each alert
        self.options = options  # per-protocol formats (the Chatbot notification for https), the backfill's label
        # One per invocation (a sink is built per invocation): the rate bound's summaries it formed.
        self.forming: AlertForming[Alert] = AlertForming(
            lambda group, location: format_group(group, location, self.options),
            lambda held, location: format_summary(held, location, self.options),
            bound, ledger, window_seconds, max_events,
        )

    @property
    def label(self) -> str:
        """``backfill`` when each subject starts with ``[backfill] `` (a backfill that sends alerts), else empty."""
        return self.options.label

    @classmethod
    def from_context(cls, context: SinkContext) -> AlertSink | None:
        """Configured by ``TRAILSIFT_ALERT_TOPIC_ARN``; the ledger needs ``TRAILSIFT_INDEX_TABLE`` too."""
        settings = context.settings
        topic = settings.alert_topic_arn
        if topic is None:
            return None

        def publisher() -> Publisher[Alert]:
            from trailsift.aws.sns import AlertPublisher

            return AlertPublisher(context.client("sns"), topic, deadline=context.deadline)

        label = "backfill" if context.backfill is not None else ""
        options = AlertOptions(chatbot=settings.alert_chatbot, index_table=settings.index_table, label=label)
        return cls(Lazy(publisher), ledger_for(context, ALERT_LEDGER_KIND), options=options,
                   bound=rate_bound(context), window_seconds=settings.alert_rate_window_seconds,
                   max_events=settings.alert_group_max_events)

    def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
        """Group the matches, send each admitted group and at most one summary per rule and window; every
        event of ``routed`` ends in one sent alert, or settled by its window's summary (:mod:`~trailsift.sinks.alert_groups`).
        ``already_sent`` counts events an earlier attempt had sent."""
        return send_covering(
            claimables(routed), lambda claimed: self.forming.form(claimed, log_location), self.publisher, self.ledger,
            noun="alert",
        )


def rate_bound(context: SinkContext) -> RateBound | None:
    """The invocation's rate bound: counted in the index table when there is one (every invocation shares
    it), else in memory (this invocation's alone); ``None`` when ``TRAILSIFT_ALERT_RATE_LIMIT`` is 0."""
    settings = context.settings
    limit = settings.alert_rate_limit
    if limit == 0:
        return None
    table = settings.index_table
    if table is None:
        return InvocationBound(limit)

    def build() -> object:
        from trailsift.aws.ratebound import RateCounter

        return RateCounter(context.client("dynamodb"), table, limit=limit)

    lazy: RateBound = Lazy(build)
    return lazy

