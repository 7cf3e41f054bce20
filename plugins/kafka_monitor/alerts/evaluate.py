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
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kafka_monitor.alerts import incidents as inc
from kafka_monitor.alerts.channels import Sender, send
from kafka_monitor.alerts.delivery import DAG_ID, AlertReport, deliver
from kafka_monitor.alerts.observe import collection_observation, observations, subjects_of
from kafka_monitor.config.schema import AlertSettings, MonitorConfig
from kafka_monitor.store.documents import LAG_DOC_SUMMARY, Doc, daily_index, iso, minute_of
from kafka_monitor.store.sink import MAX_SEARCH_SIZE, SearchSink

log = logging.getLogger(__name__)

STATE_SUFFIX = "state"
SOURCES = ("lag", "jmx", "cloudwatch")  # the status documents read


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
    # A topic's lag not collected, a JMX target not read, the dashboard not synced: one policy.
    not_collected = inc.Policy(
        threshold=inc.SEVERITY["error"],
        open_after_minutes=settings.unknown_after_minutes,
        resolve_after_minutes=settings.unknown_resolve_after_minutes,
        remind_minutes=settings.remind_minutes,
        escalate=False,
    )
    return {
        inc.TRACK_LAG: inc.Policy(
            threshold=inc.THRESHOLDS[settings.threshold],
            open_after_minutes=settings.open_after_minutes,
            resolve_after_minutes=settings.resolve_after_minutes,
            remind_minutes=settings.remind_minutes,
            escalate=True,
        ),
        inc.TRACK_COLLECTION: not_collected,
        inc.TRACK_JMX: not_collected,
        inc.TRACK_DASHBOARD: not_collected,
        inc.TRACK_DAG: inc.Policy(
            threshold=inc.SEVERITY["failed"],
            open_after_minutes=1,
            resolve_after_minutes=1,
            remind_minutes=None,  # a failing DAG already fails every minute; one message is enough
            escalate=False,
        ),
    }


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


# What changes every quiet minute and matters to no decision (the streak that counts towards a
# resolve only matters while an incident is open).
_VOLATILE = frozenset({"last_minute", "good_streak", "last_status", "last_facts"})


def worth_writing(before: dict[str, Any] | None, incident: inc.Incident) -> bool:
    """Whether the incident document must be written. A healthy subject with nothing open,
    queued or counting is not rewritten every minute (nor created): a quiet minute is then
    read-only. Its only loss is ``last_minute``, which guards against applying a minute twice;
    re-applying a good minute to a quiet incident changes nothing that matters."""
    after = incident.to_source()
    if before == after:
        return False
    if incident.state == "open" or incident.outbox or incident.bad_streak:
        return True
    if before is None:
        return False
    return any(before.get(k) != v for k, v in after.items() if k not in _VOLATILE)


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


# --------------------------------------------------------------------------- one minute


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
    observed = observations(subjects, summaries, statuses, settings.scope)
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

    changed = [i for i in current if worth_writing(before.get(i.key), i)]
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
