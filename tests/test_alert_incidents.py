"""The incident state machine alone (pure: no store, no channels, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kafka_monitor.alerts import incidents as inc

T0 = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
SUBJECT = {"mirrormaker": "mm-1", "group": "oasis-group", "topic": "t"}
CHANNELS = ["hook", "mail"]
LAG = inc.Policy(threshold=inc.THRESHOLDS["warn"], resolve_after_minutes=3)


def run(statuses, policy=LAG, incident=None, start=T0):
    """Feed one status a minute; return the incident and the kinds queued, in order."""
    incident = incident or inc.Incident(track=inc.TRACK_LAG, subject=SUBJECT)
    kinds = []
    for i, status in enumerate(statuses):
        queued = inc.advance(incident, inc.Observation(status), start + timedelta(minutes=i), policy, CHANNELS)
        if queued is not None:
            kinds.append((i, queued.kind, queued.status))
    return incident, kinds


def test_warn_opens_stop_escalates_and_three_ok_minutes_resolve():
    incident, kinds = run(["ok", "warn", "stop", "ok", "ok", "ok"])
    assert kinds == [(1, "open", "warn"), (2, "escalate", "stop"), (5, "resolve", "ok")]
    assert incident.state == "resolved" and incident.opened_at == "2026-11-22T11:01:00Z"
    assert incident.resolved_at == "2026-11-22T11:05:00Z"


def test_every_error_status_escalates_a_warn_incident_once():
    for status in ("stop", "stall", "rewind", "unassigned"):
        _, kinds = run(["warn", status, "warn", status, "stop"])
        assert kinds == [(0, "open", "warn"), (1, "escalate", status)], status


def test_burrow_send_once_gap_is_closed_but_de_escalation_is_quiet():
    # Burrow's send-once swallows WARN -> ERR; here it is sent, and ERR -> WARN says nothing.
    _, kinds = run(["warn", "warn", "stop", "warn", "warn"])
    assert [k for _, k, _ in kinds] == ["open", "escalate"]


def test_flapping_inside_resolve_after_minutes_sends_nothing():
    _, kinds = run(["warn", "ok", "warn", "ok", "warn", "ok", "ok", "warn", "ok", "ok", "ok"])
    assert kinds == [(0, "open", "warn"), (10, "resolve", "ok")]


def test_below_threshold_nothing_opens():
    _, kinds = run(["warn", "warn", "no_offset", "ok"], policy=inc.Policy(threshold=inc.THRESHOLDS["error"]))
    assert kinds == []
    _, kinds = run(["warn", "stop"], policy=inc.Policy(threshold=inc.THRESHOLDS["error"]))
    assert kinds == [(1, "open", "stop")]


def test_open_after_minutes_needs_consecutive_bad_minutes_and_opens_at_the_first():
    policy = inc.Policy(threshold=2, open_after_minutes=3)
    incident, kinds = run(["warn", "warn", "ok", "warn", "warn", "warn"], policy=policy)
    assert kinds == [(5, "open", "warn")]
    assert incident.opened_at == "2026-11-22T11:03:00Z"  # the first bad minute of the streak
    assert incident.outbox[0].facts["bad_minutes"] == 3


def test_a_minute_already_applied_changes_nothing():
    incident, _ = run(["warn", "stop"])
    snapshot = incident.to_source()
    for minute in (T0, T0 + timedelta(minutes=1)):  # a retry of the last minute, a re-run of an older one
        assert inc.advance(incident, inc.Observation("ok"), minute, LAG, CHANNELS) is None
    assert incident.to_source() == snapshot


def test_no_verdict_neither_opens_nor_resolves():
    _, kinds = run(["warn", None, "unknown", "ok", None, "ok", "ok"])
    assert kinds == [(0, "open", "warn"), (6, "resolve", "ok")]


def test_reminders_repeat_every_remind_minutes_while_open():
    _, kinds = run(["warn"] * 7, policy=inc.Policy(threshold=2, remind_minutes=3))
    assert kinds == [(0, "open", "warn"), (3, "remind", "warn"), (6, "remind", "warn")]


def test_a_new_incident_after_a_resolve_has_a_new_id():
    incident, kinds = run(["warn", "ok", "ok", "ok", "warn"])
    first, second = incident.outbox[0].incident_id, incident.outbox[-1].incident_id
    assert [k for _, k, _ in kinds] == ["open", "resolve", "open"] and first != second


def test_delivery_keeps_order_per_channel_and_gives_up_after_max_attempts():
    incident, _ = run(["warn", "stop"])
    assert [n.kind for n in inc.due(incident)["hook"]] == ["open", "escalate"]
    opened, escalated = incident.outbox
    inc.record_attempt(incident, opened, "mail", minute=T0, error=None, max_attempts=2)
    inc.record_attempt(incident, escalated, "mail", minute=T0, error=None, max_attempts=2)
    inc.record_attempt(incident, opened, "hook", minute=T0, error="refused", max_attempts=2)
    assert inc.settle(incident) == [] and incident.could_not_notify is False
    inc.record_attempt(incident, opened, "hook", minute=T0, error="refused again", max_attempts=2)
    assert [n.kind for n in inc.settle(incident)] == ["open"]
    assert incident.could_not_notify is True
    assert incident.undelivered[0]["channel"] == "hook" and incident.undelivered[0]["attempts"] == 2
    assert incident.undelivered[0]["last_error"] == "refused again"
    assert [n.kind for n in inc.due(incident)["hook"]] == ["escalate"]
    assert incident.last_notified_kind == "escalate"  # mail got both


def test_the_incident_survives_its_document():
    incident, _ = run(["warn", "stop"])
    inc.record_attempt(incident, incident.outbox[0], "hook", minute=T0, error="x", max_attempts=5)
    again = inc.Incident.from_source(incident.to_source())
    assert again.to_source() == incident.to_source()
    assert inc.advance(again, inc.Observation("ok"), T0 + timedelta(minutes=2), LAG, CHANNELS) is None
    assert again.good_streak == 1


def test_routes_send_by_severity_and_topic_and_close_only_where_it_was_heard():
    routes = [
        inc.Route("chat"),
        inc.Route("pager", min_severity=inc.THRESHOLDS["error"]),
        inc.Route("orders-team", topics=frozenset({"orders"})),
    ]
    incident = inc.Incident(track=inc.TRACK_LAG, subject=SUBJECT)
    sent = []
    for i, status in enumerate(["warn", "stop", "ok", "ok", "ok", "warn", "ok", "ok", "ok"]):
        queued = inc.advance(incident, inc.Observation(status), T0 + timedelta(minutes=i), LAG, routes)
        if queued is not None:
            sent.append((queued.kind, sorted(queued.deliveries)))
    assert sent == [
        ("open", ["chat"]),
        ("escalate", ["chat", "pager"]),
        ("resolve", ["chat", "pager"]),
        ("open", ["chat"]),  # a new incident: the pager only hears of it if it escalates
        ("resolve", ["chat"]),
    ]
