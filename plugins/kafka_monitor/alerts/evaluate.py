"""One minute of alerting: read the minute's verdicts and collection outcomes from the store,
advance each subject's incidents, deliver what is queued, write the incidents back.

Order, for "exactly one notification per transition":
1. read the incident documents (deterministic ids, one per track and subject);
2. advance them with the minute (a minute already applied changes nothing);
3. write the incidents that changed, queued notifications included, BEFORE sending: a crash
   after this point loses nothing, the next run delivers from the outbox;
4. deliver each channel's queue, oldest first; a failing channel is skipped for the rest of
   the minute (one attempt a minute, ``max_attempts`` in all) and never blocks the others;
5. write the incidents again with the outcomes, and each settled notification as a history
   document in the daily incident index.
A crash between a send and step 5 can repeat that one message at the next run (at least
once); nothing else is ever sent twice.
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
from kafka_monitor.store.documents import LAG_DOC_SUMMARY, Doc, daily_index, iso, minute_of
from kafka_monitor.store.sink import MAX_SEARCH_SIZE, SearchSink

log = logging.getLogger(__name__)

STATE_SUFFIX = "state"
DAG_ID = "kafka_monitor"
# Sending stops after this long in one evaluation (the task has 40 s; slow SMTP servers
# should also get a small `timeout` extra on their connection).
DELIVERY_BUDGET_S = 25.0
# The evaluator marks the summary of a minute whose collection failed with this reason prefix.
COLLECTION_FAILED = "collection_failed:"
SOURCES = ("lag", "jmx", "cloudwatch")  # the status documents read


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


# --------------------------------------------------------------------------- policies


def routes(settings: AlertSettings) -> list[inc.Route]:
    return [
        inc.Route(
            c.channel_id,
            inc.THRESHOLDS[c.threshold] if c.threshold else 0,
            frozenset(c.topics) if c.topics is not None else None,
        )
        for c in settings.channels
    ]


def policies(settings: AlertSettings) -> dict[str, inc.Policy]:
    return {
        inc.TRACK_LAG: inc.Policy(
            threshold=inc.THRESHOLDS[settings.threshold],
            open_after_minutes=settings.open_after_minutes,
            resolve_after_minutes=settings.resolve_after_minutes,
            remind_minutes=settings.remind_minutes,
            escalate=True,
        ),
        inc.TRACK_COLLECTION: inc.Policy(
            threshold=inc.SEVERITY["error"],
            open_after_minutes=settings.unknown_after_minutes,
            resolve_after_minutes=settings.unknown_resolve_after_minutes,
            remind_minutes=settings.remind_minutes,
            escalate=False,
        ),
        # A JMX target not read, the dashboard not synced: the same path as a topic's lag.
        inc.TRACK_JMX: inc.Policy(
            threshold=inc.SEVERITY["error"],
            open_after_minutes=settings.unknown_after_minutes,
            resolve_after_minutes=settings.unknown_resolve_after_minutes,
            remind_minutes=settings.remind_minutes,
            escalate=False,
        ),
        inc.TRACK_DASHBOARD: inc.Policy(
            threshold=inc.SEVERITY["error"],
            open_after_minutes=settings.unknown_after_minutes,
            resolve_after_minutes=settings.unknown_resolve_after_minutes,
            remind_minutes=settings.remind_minutes,
            escalate=False,
        ),
        inc.TRACK_DAG: inc.Policy(
            threshold=inc.SEVERITY["failed"],
            open_after_minutes=1,
            resolve_after_minutes=1,
            remind_minutes=None,  # a failing DAG already fails every minute; one message is enough
            escalate=False,
        ),
    }


# --------------------------------------------------------------------------- observations


def lag_observation(summary: dict[str, Any] | None) -> inc.Observation:
    """The evaluator's verdict, if the summary has one (``unknown`` and no status: none)."""
    status = (summary or {}).get("status")
    if status is None or status == "unknown":
        return inc.Observation(None)
    assert summary is not None
    if status not in inc.SEVERITY:
        log.warning(
            "%s/%s: verdict %r is not one alerts know (%s); no verdict this minute",
            summary.get("mirrormaker"),
            summary.get("topic"),
            status,
            ", ".join(sorted(inc.SEVERITY)),
        )
        return inc.Observation(None)
    facts = {
        "reason": summary.get("status_reason"),
        "status_counts": summary.get("status_counts"),
        "worst_partition": summary.get("worst_partition"),
        "partition_count": summary.get("partition_count"),
        "total_lag": summary.get("total_lag"),
        "max_lag": summary.get("max_lag"),
        "max_lag_seconds": summary.get("max_lag_seconds"),
        "eta_seconds": summary.get("eta_seconds"),
        "run_id_of_event": summary.get("run_id"),
    }
    level = summary.get("severity")
    return inc.Observation(status, facts, level if level in inc.SEVERITY_LEVELS else None)


def collection_observation(summary: dict[str, Any] | None, status_doc: dict[str, Any] | None) -> inc.Observation:
    """Whether the lag was collected this minute: an error status, or nothing at all, is not."""
    if status_doc is not None and status_doc.get("status") == "error":
        return inc.Observation(
            "error",
            {
                "error_kind": status_doc.get("error_kind") or "error",
                "error_message": (status_doc.get("error_message") or "")[:500] or None,
                "run_id_of_event": status_doc.get("run_id"),
            },
        )
    reason = str((summary or {}).get("status_reason") or "")
    if reason.startswith(COLLECTION_FAILED):  # the evaluator's summary of a failed minute
        return inc.Observation(
            "error",
            {
                "error_kind": reason[len(COLLECTION_FAILED) :] or "error",
                "run_id_of_event": (summary or {}).get("run_id"),
            },
        )
    if summary is not None or (status_doc is not None and status_doc.get("status") == "ok"):
        return inc.Observation("ok", {"run_id_of_event": (summary or status_doc or {}).get("run_id")})
    return inc.Observation("error", {"error_kind": "no_data", "error_message": "no summary and no status document"})


def group_observation(by_topic: dict[str, inc.Observation], track: str) -> inc.Observation:
    """A consumer group's minute (``scope: group``): its worst topic, with the sums of all."""
    judged = {t: o for t, o in by_topic.items() if o.severity is not None}
    if not judged:
        return inc.Observation(None)
    worst_topic, worst = max(judged.items(), key=lambda item: (item[1].severity or 0, item[0]))
    facts = dict(worst.facts)
    by_status: dict[str, list[str]] = {}
    for topic, observation in sorted(judged.items()):
        by_status.setdefault(str(observation.status), []).append(topic)
    facts["topics_by_status"] = by_status
    if track == inc.TRACK_COLLECTION:
        return inc.Observation(worst.status, facts)
    facts.pop("worst_partition", None)
    if worst.facts.get("reason"):
        facts["reason"] = f"{worst_topic}: {worst.facts['reason']}"
    counts: dict[str, int] = {}
    for observation in judged.values():
        for status, n in (observation.facts.get("status_counts") or {}).items():
            counts[status] = counts.get(status, 0) + int(n)
    facts["status_counts"] = counts or None

    def combine(name: str, how) -> Any:
        values = [o.facts.get(name) for o in judged.values() if o.facts.get(name) is not None]
        return how(values) if values else None

    facts["partition_count"] = combine("partition_count", sum)
    facts["total_lag"] = combine("total_lag", sum)
    facts["max_lag"] = combine("max_lag", max)
    facts["max_lag_seconds"] = combine("max_lag_seconds", max)
    facts["eta_seconds"] = combine("eta_seconds", max)
    return inc.Observation(worst.status, facts, worst.level)


# --------------------------------------------------------------------------- the store


def state_index(config: MonitorConfig) -> str:
    return f"{config.store.incident_index}-{STATE_SUFFIX}"


def read_incidents(sink: SearchSink, config: MonitorConfig, keys: list[str]) -> dict[str, inc.Incident]:
    found: dict[str, inc.Incident] = {}
    for start in range(0, len(keys), MAX_SEARCH_SIZE):
        chunk = keys[start : start + MAX_SEARCH_SIZE]
        for source in sink.search(state_index(config), {"ids": {"values": chunk}}, size=len(chunk)):
            incident = inc.Incident.from_source(source)
            found[incident.key] = incident
    return found


def _minute_docs(sink: SearchSink, index: str, minute: datetime, terms: dict[str, str], size: int) -> list[dict]:
    query = {"bool": {"filter": [{"term": {"@timestamp": iso(minute)}}] + [{"term": {k: v}} for k, v in terms.items()]}}
    return sink.search(index, query, size=max(1, min(size, MAX_SEARCH_SIZE)))


def write(sink: SearchSink, config: MonitorConfig, incidents: Iterable[inc.Incident], settled: list[tuple]) -> None:
    docs = [Doc(state_index(config), i.key, i.to_source()) for i in incidents]
    for incident, notification in settled:
        docs.append(
            Doc(
                daily_index(
                    config.store.incident_index, datetime.fromisoformat(notification.minute.replace("Z", "+00:00"))
                ),
                notification.id,
                {
                    "doc_type": "notification",
                    "@timestamp": notification.minute,
                    "track": incident.track,
                    "subject": incident.subject,
                    "incident_id": notification.incident_id,
                    "kind": notification.kind,
                    "status": notification.status,
                    "minute": notification.minute,
                    "facts": notification.facts,
                    "deliveries": {ch: d.__dict__ for ch, d in notification.deliveries.items()},
                },
            )
        )
    if docs:
        sink.index(docs, refresh=True)


# --------------------------------------------------------------------------- delivery


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


# --------------------------------------------------------------------------- one minute


def subjects_of(config: MonitorConfig) -> list[dict[str, str]]:
    """The topics of every MirrorMaker host (collected one by one, judged one by one)."""
    return [{"mirrormaker": mm.name, "group": mm.group, "topic": t} for mm in config.mirrormakers for t in mm.topics]


def _observations(
    subjects: list[dict[str, str]], summaries: dict, statuses: dict, scope: str
) -> list[tuple[str, dict[str, str], inc.Observation]]:
    """(track, subject, observation) for every incident subject of the minute."""
    per_topic: list[tuple[dict[str, str], inc.Observation, inc.Observation]] = []
    for subject in subjects:
        found = (subject["mirrormaker"], subject["group"], subject["topic"])
        per_topic.append(
            (
                subject,
                lag_observation(summaries.get(found)),
                collection_observation(summaries.get(found), statuses.get(found)),
            )
        )
    if scope == "topic":
        return [(inc.TRACK_LAG, s, lag) for s, lag, _ in per_topic] + [
            (inc.TRACK_COLLECTION, s, collected) for s, _, collected in per_topic
        ]
    groups: dict[tuple[str, str], list[tuple[dict[str, str], inc.Observation, inc.Observation]]] = {}
    for entry in per_topic:
        groups.setdefault((entry[0]["mirrormaker"], entry[0]["group"]), []).append(entry)
    out: list[tuple[str, dict[str, str], inc.Observation]] = []
    for (mirrormaker, group), entries in groups.items():
        subject = {"mirrormaker": mirrormaker, "group": group}
        out.append((inc.TRACK_LAG, subject, group_observation({s["topic"]: o for s, o, _ in entries}, inc.TRACK_LAG)))
        out.append(
            (
                inc.TRACK_COLLECTION,
                subject,
                group_observation({s["topic"]: o for s, _, o in entries}, inc.TRACK_COLLECTION),
            )
        )
    return out


def evaluate_minute(config: MonitorConfig, sink: SearchSink, *, minute: datetime, sender: Sender = send) -> AlertReport:
    settings = config.alerts
    assert settings is not None
    minute = minute_of(minute)
    report = AlertReport(minute=iso(minute))
    subjects = subjects_of(config)
    report.subjects = len(subjects)
    rules = policies(settings)
    channel_routes = routes(settings)
    sink.ensure_templates()

    summaries = {
        (d.get("mirrormaker"), d.get("group"), d.get("topic")): d
        for d in _minute_docs(
            sink, daily_index(config.store.lag_index, minute), minute, {"doc_type": LAG_DOC_SUMMARY}, 2 * len(subjects)
        )
    }
    targets = config.jmx.targets if settings.watch_jmx else []
    dashboard = (
        config.cloudwatch if settings.watch_dashboard and config.cloudwatch and config.cloudwatch.enabled else None
    )
    statuses: dict[tuple, dict] = {}
    status_budget = 2 * (len(subjects) + len(targets) + 1)
    status_query = {"bool": {"filter": [{"term": {"@timestamp": iso(minute)}}, {"terms": {"source": list(SOURCES)}}]}}
    for d in sink.search(
        daily_index(config.store.status_index, minute), status_query, size=min(status_budget, MAX_SEARCH_SIZE)
    ):
        if d.get("source") == "lag":
            statuses[(d.get("mirrormaker"), d.get("group"), d.get("topic"))] = d
        elif d.get("source") == "jmx":
            statuses[("jmx", d.get("target"))] = d
        elif d.get("source") == "cloudwatch":
            statuses[("cloudwatch", d.get("dashboard"))] = d
    observed = _observations(subjects, summaries, statuses, settings.scope)
    for target in targets:
        found = statuses.get(("jmx", target.name))
        subject = {"target": target.name, "component": target.component}
        observed.append((inc.TRACK_JMX, subject, collection_observation(None, found)))
    if dashboard is not None:
        found = statuses.get(("cloudwatch", dashboard.dashboard_name))
        observed.append(
            (inc.TRACK_DASHBOARD, {"dashboard": dashboard.dashboard_name}, collection_observation(None, found))
        )
    dag_subject = {"dag_id": DAG_ID}
    keys = [inc.incident_key(t, s) for t, s, _ in observed] + [inc.incident_key(inc.TRACK_DAG, dag_subject)]
    stored = read_incidents(sink, config, keys)
    before = {k: i.to_source() for k, i in stored.items()}

    current: list[inc.Incident] = []
    for track, subject, observation in observed:
        key = inc.incident_key(track, subject)
        incident = stored.get(key) or inc.Incident(track=track, subject=subject)
        queued = inc.advance(incident, observation, minute, rules[track], channel_routes)
        if queued is not None:
            report.queued[queued.kind] = report.queued.get(queued.kind, 0) + 1
            log.info("%s incident of %s: %s (%s)", track, _label(subject), queued.kind, queued.status)
        current.append(incident)
    dag_incident = stored.get(inc.incident_key(inc.TRACK_DAG, dag_subject))
    if dag_incident is not None and dag_incident.outbox:
        current.append(dag_incident)  # a DAG failure message its callback could not deliver

    changed = [i for i in current if before.get(i.key) != i.to_source()]
    write(sink, config, changed, [])  # queued notifications are safe before anything is sent
    settled = deliver([i for i in current if i.outbox], settings, config, minute=minute, report=report, sender=sender)
    write(sink, config, [i for i in current if i.outbox or any(i is s for s, _ in settled)], settled)

    report.open_incidents = sum(1 for i in current if i.state == "open")
    report.pending = sum(len(i.outbox) for i in current)
    return report


def record_dag_run(
    config: MonitorConfig,
    sink: SearchSink,
    *,
    minute: datetime,
    failed: bool,
    run_id: str | None,
    reason: str | None = None,
    failed_tasks: list[str] | None = None,
    sender: Sender = send,
) -> AlertReport:
    """The DAG-level callbacks: one incident for failing runs, resolved by the next success."""
    settings = config.alerts
    assert settings is not None
    minute = minute_of(minute)
    report = AlertReport(minute=iso(minute), subjects=1)
    subject = {"dag_id": DAG_ID}
    key = inc.incident_key(inc.TRACK_DAG, subject)
    stored = read_incidents(sink, config, [key])
    incident = stored.get(key) or inc.Incident(track=inc.TRACK_DAG, subject=subject)
    if not failed and incident.state != "open" and not incident.outbox:
        return report  # the usual case, a good run with nothing open: no write at all
    before = incident.to_source() if key in stored else None
    observation = inc.Observation(
        "failed" if failed else "ok",
        {"reason": reason, "run_id_of_event": run_id, "failed_tasks": failed_tasks or None},
    )
    queued = inc.advance(incident, observation, minute, policies(settings)[inc.TRACK_DAG], routes(settings))
    if queued is not None:
        report.queued[queued.kind] = 1
    if before == incident.to_source():
        return report
    write(sink, config, [incident], [])
    settled = deliver([incident], settings, config, minute=minute, report=report, sender=sender)
    write(sink, config, [incident], settled)
    report.open_incidents = int(incident.state == "open")
    report.pending = len(incident.outbox)
    return report


def _label(subject: dict[str, str]) -> str:
    return "/".join(subject.values())
