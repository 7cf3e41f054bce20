"""The incident state machine: pure, no I/O, no clock.

One ``Incident`` per (track, subject). A track is what is judged:

- ``lag``: the evaluator's verdict of a topic (ok, warn, stall, stop, rewind, unassigned, ...);
- ``collection``: whether the topic's lag could be collected at all ("silence is a failure");
- ``jmx`` / ``dashboard``: whether a JMX target was read, the CloudWatch dashboard synced;
- ``dag``: whether the monitor's own runs succeed.

``advance`` takes the incident and one minute's ``Observation`` and returns the incident with at
most one new ``Notification`` queued in its outbox. A minute at or before the last one
evaluated changes nothing, so a retried task or a re-run minute queues nothing twice. Delivery
(``due``/``record_attempt``) is also pure: the caller sends, then records the outcome; a
notification stays queued per channel until it is delivered or ``max_attempts`` are used up,
and then the incident says it could not notify.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafka_monitor.store.documents import doc_id, iso

# Severity of each verdict (the evaluator's own ``severity`` field wins when a summary has one:
# a lag in seconds above its critical bound makes a ``warn`` an error). ``unknown`` in a topic
# summary (the evaluator could not judge) is no verdict at all: it neither opens nor resolves
# anything. Burrow never notifies NOTFOUND either.
SEVERITY = {
    "ok": 0,
    "no_offset": 2,
    "warn": 2,
    "stall": 3,
    "stop": 3,
    "rewind": 3,
    "unassigned": 3,
    "error": 3,  # collection / DAG tracks: lag unknown, run failed
    "failed": 3,
}
THRESHOLDS = {"warn": 2, "error": 3}
MAX_UNDELIVERED_KEPT = 20

TRACK_LAG = "lag"
TRACK_COLLECTION = "collection"
TRACK_DAG = "dag"
TRACK_JMX = "jmx"  # a JMX target could not be read
TRACK_DASHBOARD = "dashboard"  # the CloudWatch dashboard could not be synced

KIND_OPEN = "open"
KIND_ESCALATE = "escalate"
KIND_REMIND = "remind"
KIND_RESOLVE = "resolve"


@dataclass(frozen=True)
class Policy:
    """How one track opens and closes incidents (from the ``alerts`` configuration)."""

    threshold: int  # severity at which a minute counts as bad
    open_after_minutes: int = 1  # consecutive bad minutes before opening
    resolve_after_minutes: int = 3  # consecutive good minutes before resolving
    remind_minutes: int | None = None  # re-notify an open incident this often
    escalate: bool = True  # notify again when the severity rises above what was notified


SEVERITY_LEVELS = {"ok": 0, "warn": 2, "error": 3}


@dataclass(frozen=True)
class Observation:
    """One minute of one subject. ``status`` None: no verdict this minute (nothing changes)."""

    status: str | None
    facts: dict[str, Any] = field(default_factory=dict)  # what a message shows (reason, lags, ...)
    level: str | None = None  # the evaluator's severity (ok, warn, error), when it gave one

    @property
    def severity(self) -> int | None:
        if self.status is None:
            return None
        if self.level in SEVERITY_LEVELS:
            return SEVERITY_LEVELS[self.level]
        return SEVERITY.get(self.status)


@dataclass(frozen=True)
class Route:
    """Which notifications a channel gets: from ``min_severity`` up, for ``topics`` (None: all)."""

    channel: str
    min_severity: int = 0
    topics: frozenset[str] | None = None

    def takes(self, subject: dict[str, str], severity: int) -> bool:
        if self.topics is not None and subject.get("topic") not in self.topics:
            return False
        return severity >= self.min_severity


Channels = list[str] | list[Route]


@dataclass
class Delivery:
    attempts: int = 0
    delivered_at: str | None = None
    gave_up: bool = False
    last_error: str | None = None

    @property
    def settled(self) -> bool:
        return self.delivered_at is not None or self.gave_up


@dataclass
class Notification:
    id: str
    kind: str  # open, escalate, remind, resolve
    status: str
    minute: str  # the minute of the transition (ISO)
    incident_id: str
    facts: dict[str, Any]
    deliveries: dict[str, Delivery]

    @property
    def settled(self) -> bool:
        return all(d.settled for d in self.deliveries.values())


@dataclass
class Incident:
    track: str
    subject: dict[str, str]
    state: str = "quiet"  # quiet, open, resolved
    incident_id: str | None = None
    opened_at: str | None = None  # the first bad minute of the streak that opened it
    resolved_at: str | None = None
    last_minute: str | None = None  # the last minute evaluated
    last_status: str | None = None
    last_facts: dict[str, Any] = field(default_factory=dict)
    bad_streak: int = 0
    bad_since: str | None = None
    good_streak: int = 0
    peak_severity: int = 0  # the highest severity notified in this incident
    last_notice_minute: str | None = None  # when the last notification was queued
    last_notified_status: str | None = None  # delivered to at least one channel
    last_notified_at: str | None = None
    last_notified_kind: str | None = None
    notifications_queued: int = 0
    outbox: list[Notification] = field(default_factory=list)
    undelivered: list[dict[str, Any]] = field(default_factory=list)
    could_not_notify: bool = False
    routed_to: list[str] = field(default_factory=list)  # channels this incident notified so far

    # -- identity
    @property
    def key(self) -> str:
        return incident_key(self.track, self.subject)

    # -- (de)serialisation: the incident document's body
    def to_source(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["doc_type"] = "incident"
        return body

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> Incident:
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in source.items() if k in known}
        data["outbox"] = [
            Notification(
                **{
                    **n,
                    "deliveries": {ch: Delivery(**d) for ch, d in n.get("deliveries", {}).items()},
                }
            )
            for n in data.get("outbox", [])
        ]
        return cls(**data)


def incident_key(track: str, subject: dict[str, str]) -> str:
    return doc_id("incident", track, *(f"{k}={subject[k]}" for k in sorted(subject)))


def _minutes_between(earlier: str, later: datetime) -> float:
    return (later - datetime.fromisoformat(earlier.replace("Z", "+00:00"))) / timedelta(minutes=1)


# --------------------------------------------------------------------------- transitions


def advance(
    incident: Incident, observation: Observation, minute: datetime, policy: Policy, channels: Channels
) -> Notification | None:
    """Apply one minute to ``incident`` (in place); return the notification queued, if any."""
    stamp = iso(minute)
    if incident.last_minute is not None and stamp <= incident.last_minute:
        return None  # a retried task or a re-run minute: already applied
    incident.last_minute = stamp
    severity = observation.severity
    if severity is None:
        return None  # no verdict: neither bad nor good, streaks untouched
    incident.last_status = observation.status
    incident.last_facts = dict(observation.facts)
    bad = severity >= policy.threshold

    if incident.state != "open":
        if not bad:
            incident.bad_streak, incident.bad_since = 0, None
            incident.good_streak += 1
            return None
        incident.good_streak = 0
        incident.bad_streak += 1
        incident.bad_since = incident.bad_since or stamp
        if incident.bad_streak < policy.open_after_minutes:
            return None
        incident.state = "open"
        incident.incident_id = doc_id(incident.key, incident.bad_since)
        incident.opened_at = incident.bad_since
        incident.resolved_at = None
        incident.peak_severity = severity
        incident.could_not_notify = False
        incident.routed_to = []
        return _queue(incident, KIND_OPEN, observation, stamp, channels)

    # open
    if bad:
        incident.good_streak = 0
        incident.bad_streak += 1
        if policy.escalate and severity > incident.peak_severity:
            incident.peak_severity = severity
            return _queue(incident, KIND_ESCALATE, observation, stamp, channels)
        if (
            policy.remind_minutes
            and incident.last_notice_minute is not None
            and _minutes_between(incident.last_notice_minute, minute) >= policy.remind_minutes
        ):
            return _queue(incident, KIND_REMIND, observation, stamp, channels)
        return None
    incident.good_streak += 1
    if incident.good_streak < policy.resolve_after_minutes:
        return None  # a good minute inside a noisy stretch: no close yet
    incident.state = "resolved"
    incident.resolved_at = stamp
    incident.bad_streak, incident.bad_since = 0, None
    return _queue(incident, KIND_RESOLVE, observation, stamp, channels)


def _queue(incident: Incident, kind: str, observation: Observation, stamp: str, channels: Channels) -> Notification:
    assert incident.incident_id is not None and observation.status is not None
    facts = {
        **observation.facts,
        "status": observation.status,
        "bad_minutes": incident.bad_streak,
        "opened_at": incident.opened_at,
        "resolved_at": incident.resolved_at,
    }
    routes = [c if isinstance(c, Route) else Route(c) for c in channels]
    if kind == KIND_RESOLVE:
        # The close goes to the channels that heard of the incident, and only to them.
        chosen = [r.channel for r in routes if r.channel in incident.routed_to]
    else:
        chosen = [r.channel for r in routes if r.takes(incident.subject, incident.peak_severity)]
    incident.routed_to = list(dict.fromkeys([*incident.routed_to, *chosen]))
    notification = Notification(
        id=doc_id(incident.incident_id, kind, stamp),
        kind=kind,
        status=observation.status,
        minute=stamp,
        incident_id=incident.incident_id,
        facts=facts,
        deliveries={channel: Delivery() for channel in chosen},
    )
    incident.outbox.append(notification)
    incident.last_notice_minute = stamp
    incident.notifications_queued += 1
    return notification


# --------------------------------------------------------------------------- delivery bookkeeping


def due(incident: Incident) -> dict[str, list[Notification]]:
    """Per channel, the queued notifications it still has to get, oldest first."""
    out: dict[str, list[Notification]] = {}
    for notification in incident.outbox:
        for channel, delivery in notification.deliveries.items():
            if not delivery.settled:
                out.setdefault(channel, []).append(notification)
    return out


def record_attempt(
    incident: Incident,
    notification: Notification,
    channel: str,
    *,
    minute: datetime,
    error: str | None,
    max_attempts: int,
) -> None:
    """Record one delivery attempt of ``notification`` to ``channel`` (``error`` None: delivered)."""
    delivery = notification.deliveries[channel]
    delivery.attempts += 1
    if error is None:
        delivery.delivered_at = iso(minute)
        delivery.last_error = None
        incident.last_notified_status = notification.status
        incident.last_notified_kind = notification.kind
        incident.last_notified_at = iso(minute)
        return
    delivery.last_error = error
    if delivery.attempts >= max_attempts:
        delivery.gave_up = True
        incident.could_not_notify = True
        incident.undelivered.append(
            {
                "notification_id": notification.id,
                "kind": notification.kind,
                "status": notification.status,
                "minute": notification.minute,
                "channel": channel,
                "attempts": delivery.attempts,
                "last_error": error,
            }
        )
        del incident.undelivered[:-MAX_UNDELIVERED_KEPT]


def settle(incident: Incident) -> list[Notification]:
    """Take the notifications every channel is done with out of the outbox; return them."""
    done = [n for n in incident.outbox if n.settled]
    incident.outbox = [n for n in incident.outbox if not n.settled]
    return done
