"""The alert topic: one SNS message per matched event, sent once through the delivery ledger.

Formatting is :func:`trailsift.alerts.format_alert`; sending is :class:`trailsift.aws.sns.AlertPublisher`
(PublishBatch, 10 at a time); exactly-once is :func:`trailsift.sinks.once.send_once` with the ledger
kept in the index table (without an index table alerts are at-least-once). A backfill that sends alerts
(``SinkContext.backfill``) marks each one's subject ``[backfill]`` (``AlertOptions.label``; :func:`labelled` for a built alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from trailsift.alerts import MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS, Alert, AlertOptions, format_alert
from trailsift.lazy import Lazy
from trailsift.rules import Destination
from trailsift.sinks.base import Delivered, Routed, SinkContext, register
from trailsift.sinks.once import Ledger, Publisher, ledger_for, send_once
from trailsift.text import ascii_subject

__all__ = ["AlertSink", "ALERT_LEDGER_KIND", "labelled"]

ALERT_LEDGER_KIND = "ALERT"  # ledger items ALERT#<event key> / ALERT


@register
class AlertSink:
    """Alerts for the matches of alert rules; ``deliver`` answers how many were published."""

    destination: ClassVar[Destination] = Destination.ALERT
    metric: ClassVar[str] = "AlertsPublished"
    notifies: ClassVar[bool] = True

    def __init__(self, publisher: Publisher[Alert], ledger: Ledger[Alert] | None = None, *, label: str = "",
                 options: AlertOptions = AlertOptions()) -> None:
        self.publisher = publisher
        self.ledger = ledger
        self.label = label  # "backfill": each subject starts with "[backfill] "
        self.options = options  # per-protocol formats (the Chatbot notification for https)

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
        return cls(Lazy(publisher), ledger_for(context, ALERT_LEDGER_KIND), label=label, options=options)

    def deliver(self, log_location: str, routed: Sequence[Routed]) -> Delivered:
        options = replace(self.options, label=self.label) if self.label else self.options
        alerts = [format_alert(item.match, item.rules, log_location, options) for item in routed]
        return send_once(alerts, self.publisher, self.ledger, noun="alert")


def labelled(alert: Alert, label: str) -> Alert:
    """``alert`` with ``[label] `` before its subject. The subject stays a valid SNS subject (under 100
    characters) and the alert within SNS's 256 KB: what would pass either is cut from the subject's end."""
    room = max(0, MAX_MESSAGE_BYTES - alert.size())  # the subject is ASCII: a character is a byte
    limit = min(MAX_SUBJECT_CHARS, len(alert.subject) + room)
    return replace(alert, subject=ascii_subject(f"[{label}] {alert.subject}", limit))
