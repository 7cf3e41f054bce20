"""Alerts end to end, in process, over consecutive scheduled minutes (no real waiting): the
real store (osmem), the real SMTP and webhook receivers, Airflow's apprise and smtp notifiers,
and, where lag is collected, the real sshd and stand-in MirrorMaker host on the live broker.

The verdicts come from topic summaries as the evaluator (issue 10) writes them: same index,
same deterministic id, with ``status`` and friends added (``verdict`` below).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from fixtures.receivers import RECEIVER_PASSWORD, RECEIVER_USER

from kafka_monitor import tasks
from kafka_monitor.config.schema import StoreSettings
from kafka_monitor.store.documents import LAG_DOC_SUMMARY, Doc, daily_index, doc_id, iso
from kafka_monitor.store.sink import SearchSink
from sandbox.search import find_documents
from sandbox.sshd import SshServer

T0 = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
MM, GROUP = "mm-1", "oasis-group"
TOPICS = ["topic-orders", "topic-clicks"]
STORE_CONN, SSH_CONN, HOOK_CONN, MAIL_CONN = "alerts_store", "alerts_ssh", "alerts_hook", "alerts_mail"
RECIPIENT = "ops@example.org"
KIBANA = "http://127.0.0.1:5601/app/dashboards#/view/kafka-monitor-mirrormaker-lag"
AIRFLOW_UI = "http://127.0.0.1:8080"


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


class Alerting:
    """The configuration, connections and helpers one scenario uses."""

    def __init__(self, tmp_path, monkeypatch, store, webhook, smtp, mirrormaker: dict | None = None, **alerts):
        self.store, self.webhook, self.smtp = store, webhook, smtp
        self.monkeypatch = monkeypatch
        for key, value in store.connection_env(STORE_CONN, "opensearch").items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv(f"AIRFLOW_CONN_{HOOK_CONN.upper()}", json.dumps(webhook.apprise_connection("/alerts")))
        monkeypatch.setenv(f"AIRFLOW_CONN_{MAIL_CONN.upper()}", json.dumps(smtp.airflow_connection()))
        self.mirrormaker = mirrormaker or {
            "name": MM,
            "ssh_conn_id": SSH_CONN,
            "kafka_home": "/opt/kafka",
            "bootstrap_servers": ["127.0.0.1:9092"],
            "group": GROUP,
            "topics": TOPICS,
        }
        self.config = {
            "store": {"kind": "opensearch", "conn_id": STORE_CONN, "initial_backoff_s": 0.01, "max_backoff_s": 0.05},
            "mirrormakers": [self.mirrormaker],
            "alerts": {
                "resolve_after_minutes": 3,
                "unknown_after_minutes": 3,
                "max_attempts": 5,
                "kibana_url": KIBANA,
                "airflow_url": AIRFLOW_UI,
                "channels": [
                    {"kind": "apprise", "conn_id": HOOK_CONN, "name": "webhook", "body": "json"},
                    {"kind": "smtp", "conn_id": MAIL_CONN, "name": "mail", "to": [RECIPIENT]},
                ],
                **alerts,
            },
        }
        self.path = tmp_path / "kafka_monitor.yaml"
        self.path.write_text(yaml.safe_dump(self.config))
        self.settings = StoreSettings.model_validate(self.config["store"])
        self.sink = SearchSink(store.opensearch_client(), self.settings)
        self.reports: list[dict] = []

    # -- what issue 10 writes: the topic summary with its verdict
    def verdict(self, n: int, topic: str, status: str, **fields: Any) -> None:
        stamp = iso(minute(n))
        doc_id_ = doc_id(LAG_DOC_SUMMARY, MM, GROUP, topic, stamp)
        index = daily_index(self.settings.lag_index, minute(n))
        existing = find_documents(
            self.store.opensearch_client(),
            f"{self.settings.lag_index}-*",
            {"doc_type": LAG_DOC_SUMMARY, "topic": topic, "@timestamp": stamp},
        )
        source = (
            existing[0]
            if existing
            else {
                "@timestamp": stamp,
                "doc_type": LAG_DOC_SUMMARY,
                "mirrormaker": MM,
                "group": GROUP,
                "topic": topic,
                "partition_count": 18,
                "total_lag": 0,
                "max_lag": 0,
                "run_id": f"scheduled__{stamp}",
            }
        )
        bad = status != "ok"
        source.update(
            status=status,
            status_reason=fields.pop("status_reason", f"{status} on 3 partitions" if bad else "all partitions ok"),
            status_counts=fields.pop("status_counts", {status: 3, "ok": 15} if bad else {"ok": 18}),
            max_lag_seconds=fields.pop("max_lag_seconds", 420.0 if bad else 0.0),
            eta_seconds=fields.pop("eta_seconds", None if bad else 0.0),
            **fields,
        )
        self.sink.index([Doc(index, doc_id_, source)], refresh=True)

    def minute_of_verdicts(self, n: int, **statuses: str) -> None:
        for topic in TOPICS:
            self.verdict(n, topic, statuses.get(topic.replace("topic-", ""), "ok"))

    def evaluate(self, n: int) -> dict:
        report = tasks.evaluate_alerts(str(self.path), minute=minute(n))
        self.reports.append(report)
        return report

    # -- what the receivers got
    def webhook_events(self) -> list[tuple[str, str, str]]:
        out = []
        for request in self.webhook.received("/alerts"):
            payload = json.loads(request.json()["message"])
            out.append(
                (
                    payload["kind"],
                    payload["subject"].get("topic") or payload["subject"].get("dag_id"),
                    payload["status"],
                )
            )
        return out

    def mail_events(self) -> list[tuple[str, str]]:
        return [(m.header("X-Kafka-Monitor-Kind"), m.subject) for m in self.smtp.received()]

    def incident(self, track: str, topic: str) -> dict:
        (doc,) = find_documents(
            self.store.opensearch_client(), "kafka-monitor-incidents-state", {"track": track, "subject.topic": topic}
        )
        return doc


@pytest.fixture
def alerting(tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver):
    return Alerting(tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver)


def test_warn_stop_ok_gives_one_open_one_escalation_one_resolve_per_receiver(alerting):
    a = alerting
    a.minute_of_verdicts(0)
    a.evaluate(0)
    a.minute_of_verdicts(1, orders="warn")
    a.evaluate(1)
    a.evaluate(1)  # the task retried within its minute
    a.minute_of_verdicts(2, orders="stop")
    a.evaluate(2)
    # A flapping partition inside resolve_after_minutes (3): ok, warn, ok, warn.
    for n, status in zip(range(3, 7), ["ok", "warn", "ok", "warn"]):
        a.minute_of_verdicts(n, orders=status)
        a.evaluate(n)
    for n in (7, 8):
        a.minute_of_verdicts(n)
        a.evaluate(n)
    assert a.webhook_events() == [("open", "topic-orders", "warn"), ("escalate", "topic-orders", "stop")]
    a.minute_of_verdicts(9)
    a.evaluate(9)
    a.evaluate(2)  # an old minute run again (a cleared task, a second scheduler)
    a.evaluate(9)  # and the last one
    a.minute_of_verdicts(10)
    a.evaluate(10)

    expected = [
        ("open", "topic-orders", "warn"),
        ("escalate", "topic-orders", "stop"),
        ("resolve", "topic-orders", "ok"),
    ]
    assert a.webhook_events() == expected
    mails = a.mail_events()
    assert [kind for kind, _ in mails] == ["open", "escalate", "resolve"]
    assert mails[0][1] == "[kafka-monitor] OPEN WARN: mm-1/oasis-group/topic-orders - warn on 3 partitions"
    assert all(m.rcpt_tos == [RECIPIENT] and m.authenticated_as == RECEIVER_USER for m in a.smtp.received())

    incident = a.incident("lag", "topic-orders")
    assert (incident["state"], incident["opened_at"], incident["resolved_at"]) == (
        "resolved",
        iso(minute(1)),
        iso(minute(9)),
    )
    assert incident["last_notified_kind"] == "resolve" and incident["outbox"] == []
    assert incident["could_not_notify"] is False
    # A topic that never left ok has nothing to remember: no document is written for it.
    assert (
        find_documents(a.store.opensearch_client(), "kafka-monitor-incidents-state", {"subject.topic": "topic-clicks"})
        == []
    )
    # Each delivered notification is in the history, once.
    history = find_documents(
        a.store.opensearch_client(), "kafka-monitor-incidents-2026.11.22", {"doc_type": "notification"}
    )
    assert sorted(h["kind"] for h in history) == ["escalate", "open", "resolve"]


def test_the_message_says_what_happened_with_links(alerting):
    a = alerting
    a.verdict(
        1,
        "topic-orders",
        "stop",
        status_reason="committed offsets unchanged for 6 minutes",
        status_counts={"stop": 4, "ok": 14},
        total_lag=5120,
        max_lag=900,
        max_lag_seconds=3725.0,
    )
    a.evaluate(1)
    (request,) = a.webhook.received("/alerts")
    payload = json.loads(request.json()["message"])
    assert payload["status_counts"] == {"stop": 4, "ok": 14}
    assert (payload["total_lag"], payload["max_lag"], payload["max_lag_seconds"]) == (5120, 900, 3725.0)
    assert payload["opened_at"] == iso(minute(1)) and payload["reason"] == "committed offsets unchanged for 6 minutes"
    assert payload["links"]["kibana"].startswith(KIBANA + "?") and "topic-orders" in payload["links"]["kibana"]
    assert payload["links"]["airflow_run"] == (
        f"{AIRFLOW_UI}/dags/kafka_monitor/runs/scheduled__2026-11-22T11%3A01%3A00Z"
    )
    (mail,) = a.smtp.received()
    text = mail.text()
    for line in (
        "Status:         stop",
        "Partitions:     18 (ok: 14, stop: 4)",
        "Total lag:      5120 messages",
        "Max lag time:   1 h 2 min",
        "Since:          2026-11-22T11:01:00Z",
    ):
        assert line in text, line


def test_a_webhook_down_two_minutes_gets_the_pending_notification_once_late(alerting):
    a = alerting
    a.webhook.down()
    a.minute_of_verdicts(1, orders="warn")
    r1 = a.evaluate(1)
    a.minute_of_verdicts(2, orders="warn")
    r2 = a.evaluate(2)
    assert (r1["channels_down"], r2["channels_down"]) == (["webhook"], ["webhook"])
    assert [k for k, _ in a.mail_events()] == ["open"]  # the other channel was not held up
    pending = a.incident("lag", "topic-orders")["outbox"]
    assert [n["kind"] for n in pending] == ["open"] and pending[0]["deliveries"]["webhook"]["attempts"] == 2

    a.webhook.up()
    a.minute_of_verdicts(3, orders="warn")
    a.evaluate(3)
    a.minute_of_verdicts(4, orders="warn")
    a.evaluate(4)
    assert a.webhook_events() == [("open", "topic-orders", "warn")]
    payload = json.loads(a.webhook.received("/alerts")[0].json()["message"])
    assert payload["minute"] == iso(minute(1)) and payload["late_minutes"] == 2
    assert [k for k, _ in a.mail_events()] == ["open"]
    assert a.incident("lag", "topic-orders")["outbox"] == []


def test_a_channel_down_too_long_is_given_up_and_the_incident_says_so(alerting, caplog):
    a = alerting
    a.webhook.fail_with(503)
    for n in range(1, 7):  # max_attempts 5
        a.minute_of_verdicts(n, orders="warn")
        a.evaluate(n)
    incident = a.incident("lag", "topic-orders")
    assert incident["could_not_notify"] is True and incident["outbox"] == []
    (undelivered,) = incident["undelivered"]
    assert (undelivered["channel"], undelivered["kind"], undelivered["attempts"]) == ("webhook", "open", 5)
    assert "could not be reached" in undelivered["last_error"] or "refused" in undelivered["last_error"]
    assert len(a.webhook.received("/alerts", accepted_only=False)) == 5  # one attempt a minute, bounded
    assert [k for k, _ in a.mail_events()] == ["open"]
    assert "gave up notifying webhook" in caplog.text


@pytest.fixture
def own_sshd(tmp_path):
    server = SshServer(tmp_path / "own-sshd").start()
    yield server
    server.stop()


def test_sshd_down_three_minutes_opens_one_lag_unknown_incident_resolved_when_it_is_back(
    tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver, mm_host, own_sshd
):
    topic = mm_host.topics[0]
    mm = mm_host.mirrormaker_config(MM, SSH_CONN, connect_s=3, command_s=8, kill_grace_s=1, tool_timeout_ms=5000)
    mm["topics"] = [topic]
    # The stand-in host leaves one partition uncommitted (a no_offset warning on the lag track):
    # an error threshold keeps this test to the collection track.
    a = Alerting(tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver, mirrormaker=mm, threshold="error")
    groups = tasks.plan_lag(str(a.path))
    items, shared = tasks.plan_topics(groups)

    def collect(n: int) -> bool:
        """The minute's lag as the DAG collects it: the group's describe, then the topic's task."""
        monkeypatch.setenv(f"AIRFLOW_CONN_{SSH_CONN.upper()}", json.dumps(own_sshd.airflow_connection(SSH_CONN)))
        run = {"minute": minute(n), "run_id": f"scheduled__{iso(minute(n))}", "try_number": 1}
        handed: dict[str, dict] = {}
        try:
            tasks.collect_group(**groups[0], **run, hand_over=handed.__setitem__)
        except Exception:  # noqa: BLE001 - a failed describe: the topic's task records it
            pass
        try:
            tasks.collect_lag(items[0], shared, handed.get(topic), **run)
            return True
        except Exception:  # noqa: BLE001 - the failed collection is the point; its status doc says why
            return False

    assert collect(0)
    a.evaluate(0)
    own_sshd.process.stop()  # sshd down
    for n in (1, 2):
        assert not collect(n)
        a.evaluate(n)
    assert a.webhook_events() == [] and a.mail_events() == []
    assert not collect(3)
    a.evaluate(3)
    assert a.webhook_events() == [("open", topic, "error")]
    ((kind, title),) = a.mail_events()
    assert title == f"[kafka-monitor] OPEN: lag of {MM}/{GROUP}/{topic} unknown for 3 minutes: ssh_connect_failed"
    assert not collect(4)
    a.evaluate(4)  # still down: nothing more
    own_sshd.start()  # back (on a new port; the connection follows)
    assert collect(5)
    a.evaluate(5)
    by_track = [
        (json.loads(r.json()["message"])["track"], *event)
        for r, event in zip(a.webhook.received("/alerts"), a.webhook_events())
    ]
    assert [e for e in by_track if e[0] == "collection"] == [
        ("collection", "open", topic, "error"),
        ("collection", "resolve", topic, "ok"),
    ]
    assert a.incident("collection", topic)["state"] == "resolved"
    # The stand-in group made no progress through the outage: once collected again, the lag
    # track judges its frozen offsets (a verdict of its own, independent of the collection track).
    assert [e for e in by_track if e[0] == "lag"] == [("lag", "open", topic, "stop")]
    assert sorted(k for k, _ in a.mail_events()) == ["open", "open", "resolve"]


def test_no_run_at_all_counts_as_unknown_too(alerting):
    a = alerting
    for n in range(1, 4):  # nothing collected, not even a status document
        a.evaluate(n)
    titles = sorted(t for _, t in a.mail_events())
    assert titles == [
        f"[kafka-monitor] OPEN: lag of {MM}/{GROUP}/{t} unknown for 3 minutes: no_data" for t in sorted(TOPICS)
    ]


def test_no_channel_secret_reaches_logs_xcom_documents_or_messages(alerting, caplog, capfd):
    a = alerting
    caplog.set_level(logging.DEBUG)
    a.minute_of_verdicts(1, orders="warn")
    a.evaluate(1)
    a.webhook.down()
    a.minute_of_verdicts(2, orders="stop")
    a.evaluate(2)
    a.webhook.up()
    a.minute_of_verdicts(3, orders="stop")
    a.evaluate(3)
    a.smtp.stop()
    try:
        for n in (4, 5, 6):  # resolved at 6, with the SMTP server down
            a.minute_of_verdicts(n)
            a.evaluate(n)
    finally:
        a.smtp.start()
    a.minute_of_verdicts(7)
    a.evaluate(7)
    # The secrets were used (both receivers demand them), and every message arrived.
    assert [k for k, _, _ in a.webhook_events()] == ["open", "escalate", "resolve"]
    assert [k for k, _ in a.mail_events()] == ["open", "escalate", "resolve"]

    out, err = capfd.readouterr()
    logs = caplog.text + out + err  # records through logging, and what the libraries print themselves
    everything = {
        "task logs": logs,
        "XCom": json.dumps(a.reports),
        "documents": json.dumps(a.store.request("POST", "/kafka-monitor-incidents-*/_search", {"size": 1000})),
        "webhook bodies": " ".join(r.body.decode() for r in a.webhook.received(accepted_only=False)),
        "mails": " ".join(m.raw.decode(errors="replace") for m in a.smtp.received()),
    }
    # The logs checked hold the notifiers' own lines, the failures included.
    assert "Notifying 1 service(s)" in logs and "error occurred sending JSON notification" in logs
    assert "ConnectionRefusedError" in logs  # the SMTP server that was down
    for where, text in everything.items():
        assert RECEIVER_PASSWORD not in text, where
    assert "Pw-4lerts" not in logs


def test_the_dag_callbacks_open_one_incident_for_failing_runs_and_resolve_it(alerting, monkeypatch):
    a = alerting
    monkeypatch.setenv("KAFKA_MONITOR_CONFIG", str(a.path))

    class Run:
        def __init__(self, n):
            self.run_id = f"scheduled__{iso(minute(n))}"
            self.run_after = minute(n)

    for n in (1, 2, 3):  # three failed runs in a row: one message
        tasks.notify_dag_run({"dag_run": Run(n), "logical_date": minute(n), "reason": "task_failure"}, failed=True)
    tasks.notify_dag_run({"dag_run": Run(4), "logical_date": minute(4), "reason": "timed_out"}, failed=True)
    tasks.notify_dag_run({"dag_run": Run(5), "logical_date": minute(5)}, failed=False)
    tasks.notify_dag_run({"dag_run": Run(6), "logical_date": minute(6)}, failed=False)
    assert a.webhook_events() == [("open", "kafka_monitor", "failed"), ("resolve", "kafka_monitor", "ok")]
    assert [t for _, t in a.mail_events()] == [
        "[kafka-monitor] OPEN: DAG kafka_monitor run failed",
        "[kafka-monitor] RESOLVED: DAG kafka_monitor runs succeed again",
    ]


def test_an_invalid_alerts_section_names_the_field(tmp_path):
    from kafka_monitor.config.schema import parse_config
    from kafka_monitor.errors import ConfigError

    base = {
        "store": {"kind": "opensearch", "conn_id": "s"},
        "mirrormakers": [
            {
                "name": "mm",
                "ssh_conn_id": "c",
                "kafka_home": "/k",
                "bootstrap_servers": ["h:1"],
                "group": "g",
                "topics": ["t"],
            }
        ],
    }
    cases = [
        ({"channels": [{"kind": "smtp", "conn_id": "m"}]}, "alerts.channels[0]: to: an smtp channel needs"),
        ({"channels": [{"kind": "slack", "conn_id": "m"}]}, "alerts.channels[0].kind:"),
        (
            {"channels": [{"kind": "apprise", "conn_id": "m", "password": "x"}]},
            "alerts.channels[0].password: unknown field",
        ),
        ({"threshold": "stop", "channels": [{"kind": "apprise", "conn_id": "m"}]}, "alerts.threshold:"),
        ({"channels": []}, "alerts.channels:"),
        (
            {"channels": [{"kind": "apprise", "conn_id": "m"}, {"kind": "apprise", "conn_id": "m"}]},
            "repeated: apprise-m",
        ),
        (
            {"resolve_after_minutes": 0, "channels": [{"kind": "apprise", "conn_id": "m"}]},
            "alerts.resolve_after_minutes:",
        ),
    ]
    for alerts, message in cases:
        with pytest.raises(ConfigError) as caught:
            parse_config({**base, "alerts": alerts}, "test.yaml")
        assert message in str(caught.value), (alerts, str(caught.value))


def test_group_scope_opens_one_incident_for_the_group_with_its_worst_topic(
    tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver
):
    a = Alerting(tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver, scope="group")
    a.verdict(1, "topic-orders", "warn", total_lag=100, max_lag=40)
    a.verdict(1, "topic-clicks", "stop", total_lag=50, max_lag=50, status_reason="no commit for 6 minutes")
    a.evaluate(1)
    a.verdict(2, "topic-orders", "stop")
    a.verdict(2, "topic-clicks", "stop")
    a.evaluate(2)  # still stop: nothing new
    for n in (3, 4, 5):
        a.minute_of_verdicts(n)
        a.evaluate(n)
    posts = [json.loads(r.json()["message"]) for r in a.webhook.received("/alerts")]
    assert [(p["kind"], p["status"], p["subject"]) for p in posts] == [
        ("open", "stop", {"mirrormaker": MM, "group": GROUP}),
        ("resolve", "ok", {"mirrormaker": MM, "group": GROUP}),
    ]
    opened = posts[0]
    assert opened["reason"] == "topic-clicks: no commit for 6 minutes"
    assert opened["topics_by_status"] == {"stop": ["topic-clicks"], "warn": ["topic-orders"]}
    assert (opened["total_lag"], opened["max_lag"], opened["partition_count"]) == (150, 50, 36)
    assert opened["status_counts"] == {"ok": 30, "stop": 3, "warn": 3}
    assert 'group:"oasis-group"' in urllib.parse.unquote(opened["links"]["kibana"])
    assert (
        a.mail_events()[0][1] == "[kafka-monitor] OPEN STOP: mm-1/oasis-group - topic-clicks: no commit for 6 minutes"
    )


def test_a_verdict_alerts_do_not_know_is_logged_not_guessed(alerting, caplog):
    a = alerting
    a.verdict(1, "topic-orders", "on_fire")
    a.evaluate(1)
    assert a.webhook.received() == [] and a.smtp.received() == []
    assert "verdict 'on_fire' is not one alerts know" in caplog.text


def test_sending_stops_when_the_minute_budget_is_spent_and_resumes_next_minute(alerting, monkeypatch):
    from kafka_monitor.alerts import delivery

    a = alerting
    monkeypatch.setattr(delivery, "DELIVERY_BUDGET_S", -1.0)
    a.minute_of_verdicts(1, orders="warn")
    report = a.evaluate(1)
    assert report["deferred"] == 2 and report["delivered"] == 0 and report["pending"] == 1
    pending = a.incident("lag", "topic-orders")["outbox"][0]
    assert {ch: d["attempts"] for ch, d in pending["deliveries"].items()} == {"webhook": 0, "mail": 0}
    monkeypatch.setattr(delivery, "DELIVERY_BUDGET_S", 25.0)
    a.minute_of_verdicts(2, orders="warn")
    assert a.evaluate(2)["delivered"] == 2
    assert a.webhook_events() == [("open", "topic-orders", "warn")] and len(a.mail_events()) == 1


def test_the_evaluators_severity_wins_over_the_status(alerting):
    # A lag in seconds above the critical bound: status warn, severity error -> an escalation.
    a = alerting
    a.verdict(1, "topic-orders", "warn", severity="warn")
    a.evaluate(1)
    a.verdict(2, "topic-orders", "warn", severity="error", status_reason="lag_seconds_above_critical")
    a.evaluate(2)
    assert a.webhook_events() == [("open", "topic-orders", "warn"), ("escalate", "topic-orders", "warn")]
    assert (
        a.mail_events()[1][1]
        == "[kafka-monitor] ESCALATED WARN: mm-1/oasis-group/topic-orders - lag seconds above critical"
    )


def test_a_summary_the_evaluator_marked_collection_failed_counts_as_not_collected(alerting):
    a = alerting
    for n in (1, 2, 3):
        # As issue 10 writes a failed minute: status unknown, reason collection_failed:<kind>.
        a.verdict(n, "topic-orders", "unknown", status_reason="collection_failed:ssh_auth_failed")
        a.verdict(n, "topic-clicks", "ok")
        a.evaluate(n)
    assert a.webhook_events() == [("open", "topic-orders", "error")]
    assert a.mail_events()[0][1].endswith("unknown for 3 minutes: ssh_auth_failed")
    # unknown is no verdict: the lag track has nothing to remember.
    assert find_documents(a.store.opensearch_client(), "kafka-monitor-incidents-state", {"track": "lag"}) == []


def test_partitions_by_status_leave_out_the_empty_ones(alerting):
    a = alerting
    counts = {"ok": 14, "no_offset": 0, "warn": 0, "unknown": 0, "rewind": 0, "stall": 1, "stop": 3, "unassigned": 0}
    a.verdict(1, "topic-orders", "stop", status_counts=counts, worst_partition=7)
    a.evaluate(1)
    text = a.smtp.received()[0].text()
    assert "Partitions:     18 (ok: 14, stall: 1, stop: 3)" in text
    assert "Reason:         stop on 3 partitions (partition 7)" in text


def test_retention_keeps_the_live_incidents_and_drops_old_history(alerting):
    a = alerting
    a.verdict(1, "topic-orders", "warn")
    a.evaluate(1)
    a.sink.index([Doc("kafka-monitor-incidents-2026.10.01", "old", {"doc_type": "notification"})], refresh=True)
    deleted = a.sink.delete_expired(datetime(2026, 11, 30, tzinfo=UTC))
    assert "kafka-monitor-incidents-2026.10.01" in deleted
    assert "kafka-monitor-incidents-state" not in deleted
    assert a.incident("lag", "topic-orders")["state"] == "open"


def test_a_jmx_target_and_the_dashboard_failing_three_minutes_take_the_same_path(
    tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver
):
    from kafka_monitor.store.documents import status_document

    a = Alerting(tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver)
    a.config["jmx"] = {"targets": [{"name": "broker-1", "component": "kafka_broker", "address": "127.0.0.1:9999"}]}
    a.config["cloudwatch"] = {
        "region": "ap-northeast-2",
        "msk_cluster_name": "oasis-msk",
        "broker_ids": [1],
        "mirrormaker_instance_ids": ["i-0a1b2c3d4e5f60718"],
    }
    a.path.write_text(yaml.safe_dump(a.config))

    def outcome(n: int, source: str, subject: dict, error: str | None) -> Doc:
        return status_document(
            index_prefix="kafka-monitor-status",
            minute=minute(n),
            source=source,
            subject=subject,
            status="error" if error else "ok",
            duration_ms=1.0,
            row_count=0,
            error_kind=error,
            error_message=f"{error} (test)" if error else None,
            collected_at=minute(n),
        )

    for n, broken in enumerate([True, True, True, False], start=1):
        a.minute_of_verdicts(n)
        a.sink.index(
            [
                outcome(
                    n,
                    "jmx",
                    {"target": "broker-1", "component": "kafka_broker"},
                    "target_unreachable" if broken else None,
                ),
                outcome(
                    n, "cloudwatch", {"dashboard": "kafka-monitor-all-in-one"}, "aws_throttled" if broken else None
                ),
            ],
            refresh=True,
        )
        a.evaluate(n)
    assert sorted(t for _, t in a.mail_events()) == [
        "[kafka-monitor] OPEN: CloudWatch dashboard kafka-monitor-all-in-one not synced for 3 minutes: aws_throttled",
        "[kafka-monitor] OPEN: JMX target broker-1 (kafka_broker) not read for 3 minutes: target_unreachable",
        "[kafka-monitor] RESOLVED: CloudWatch dashboard kafka-monitor-all-in-one is synced again",
        "[kafka-monitor] RESOLVED: JMX target broker-1 (kafka_broker) is read again",
    ]
    posts = [json.loads(r.json()["message"]) for r in a.webhook.received("/alerts")]
    assert sorted((p["track"], p["kind"]) for p in posts) == [
        ("dashboard", "open"),
        ("dashboard", "resolve"),
        ("jmx", "open"),
        ("jmx", "resolve"),
    ]


def test_a_channel_with_an_error_threshold_hears_of_the_escalation_and_its_close_only(
    tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver
):
    a = Alerting(tmp_path, monkeypatch, store, webhook_receiver, smtp_receiver)
    a.config["alerts"]["channels"][1]["threshold"] = "error"  # mail pages on errors only
    a.path.write_text(yaml.safe_dump(a.config))
    for n, status in enumerate(["warn", "warn", "stop", "ok", "ok", "ok"], start=1):
        a.minute_of_verdicts(n, orders=status)
        a.evaluate(n)
    assert [k for k, _, _ in a.webhook_events()] == ["open", "escalate", "resolve"]
    assert [k for k, _ in a.mail_events()] == ["escalate", "resolve"]


def test_a_dag_callback_with_the_minimal_context_still_alerts(alerting, monkeypatch):
    # The DAG processor calls with only dag, run_id and reason when no task instance is known.
    a = alerting
    monkeypatch.setenv("KAFKA_MONITOR_CONFIG", str(a.path))
    run_id = f"scheduled__{minute(7).isoformat()}"
    tasks.notify_dag_run({"dag": None, "run_id": run_id, "reason": "timed_out"}, failed=True)
    (post,) = [json.loads(r.json()["message"]) for r in a.webhook.received("/alerts")]
    assert (post["kind"], post["minute"]) == ("open", iso(minute(7)))
    assert post["title"] == "[kafka-monitor] OPEN: DAG kafka_monitor run took longer than its minute"
    assert post["links"]["airflow_run"].endswith("/runs/scheduled__2026-11-22T11%3A07%3A00%2B00%3A00")
