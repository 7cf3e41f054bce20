"""Delivering the queued notifications of the incidents, channel by channel.

Each channel gets its queue oldest first, one attempt a minute; a channel that fails is skipped
for the rest of the minute (its order kept) and never holds up the others; after
``max_attempts`` the incident records that it could not notify. Sending stops when the minute's
budget is spent: what is left stays queued, with no attempt counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka_monitor.alerts import incidents as inc
from kafka_monitor.alerts.channels import ChannelError, Sender, send
from kafka_monitor.alerts.messages import render
from kafka_monitor.config.schema import AlertSettings, MonitorConfig

log = logging.getLogger(__name__)

DAG_ID = "kafka_monitor"
# Sending stops after this long in one evaluation (the task has 40 s; slow SMTP servers
# should also get a small `timeout` extra on their connection).
DELIVERY_BUDGET_S = 25.0


@dataclass
class AlertReport:
    """What one evaluation did (returned to XCom: counts only, no secrets, no message text)."""

    minute: str
    subjects: int = 0
    queued: dict[str, int] = field(default_factory=dict)  # kind -> count
    delivered: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    channels_down: list[str] = field(default_factory=list)
    deferred: int = 0  # sends left for the next minute when the delivery budget ran out
    open_incidents: int = 0
    pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def deliver(
    incidents: Iterable[inc.Incident],
    settings: AlertSettings,
    config: MonitorConfig,
    *,
    minute: datetime,
    report: AlertReport,
    sender: Sender = send,
    budget_s: float | None = None,
) -> list[tuple[inc.Incident, inc.Notification]]:
    """Send what each incident has queued; return the notifications now settled.

    Sending stops when ``budget_s`` is spent (slow channels): what is left stays queued, with
    no attempt counted, for the next minute."""
    budget_s = DELIVERY_BUDGET_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget_s
    channels = {c.channel_id: c for c in settings.channels}
    down: set[str] = set()
    kibana = settings.kibana_url or (config.cloudwatch.kibana_url if config.cloudwatch else None)
    airflow_url = settings.airflow_url or _airflow_base_url()
    settled: list[tuple[inc.Incident, inc.Notification]] = []
    for incident in incidents:
        for channel_id, queue in inc.due(incident).items():
            channel = channels.get(channel_id)
            for notification in queue:
                if channel is None:
                    # The channel was removed from the configuration: nobody to deliver to.
                    inc.record_attempt(
                        incident, notification, channel_id, minute=minute, error="channel removed", max_attempts=1
                    )
                    continue
                if channel_id in down:
                    break  # already failed this minute: no more attempts, order kept
                if time.monotonic() > deadline:
                    report.deferred += 1
                    break
                message = render(
                    kind=notification.kind,
                    track=incident.track,
                    subject=incident.subject,
                    facts=notification.facts,
                    incident_id=notification.incident_id,
                    minute=notification.minute,
                    delivered_minute=minute,
                    kibana_url=kibana,
                    airflow_url=airflow_url,
                    dag_id=DAG_ID,
                )
                try:
                    sender(channel, message, notification.kind)
                except ChannelError as exc:
                    error = str(exc)
                    down.add(channel_id)
                    report.failed_attempts += 1
                    inc.record_attempt(
                        incident,
                        notification,
                        channel_id,
                        minute=minute,
                        error=error,
                        max_attempts=settings.max_attempts,
                    )
                    delivery = notification.deliveries[channel_id]
                    if delivery.gave_up:
                        report.gave_up += 1
                        log.error(
                            "gave up notifying %s of %s (%s) after %d attempts: %s",
                            channel_id,
                            message.title,
                            notification.id,
                            delivery.attempts,
                            error,
                        )
                    else:
                        log.warning(
                            "%s not delivered (attempt %d of %d, retried next minute): %s",
                            message.title,
                            delivery.attempts,
                            settings.max_attempts,
                            error,
                        )
                    break
                inc.record_attempt(
                    incident, notification, channel_id, minute=minute, error=None, max_attempts=settings.max_attempts
                )
                report.delivered += 1
                log.info("notified %s: %s", channel_id, message.title)
        settled.extend((incident, n) for n in inc.settle(incident))
    report.channels_down = sorted(down)
    if report.deferred:
        log.warning(
            "delivery took over %.0f s: %d notifications deferred to the next minute", budget_s, report.deferred
        )
    return settled


def _airflow_base_url() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("api", "base_url", fallback=None) or None
    except Exception:  # noqa: BLE001 - outside Airflow: no run links
        return None
