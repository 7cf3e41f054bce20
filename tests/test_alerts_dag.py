"""Alerts through real `airflow dags test` runs: a `kafka_monitor` run with a dead host fails and
reaches the channels through its DAG-level failure callback (a plain function: a BaseNotifier
instance there breaks `dags test`, apache/airflow#64649); the next minute's
`kafka_monitor_alerts` run judges that minute's verdicts and status documents."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from sandbox.process import LOOPBACK, free_port
from sandbox.search import find_documents

pytestmark = pytest.mark.slow

MINUTE = "2026-11-22T10:00:00+00:00"
NEXT_MINUTE = "2026-11-22T10:01:00+00:00"


def test_a_run_with_a_dead_mirrormaker_alerts_lag_unknown_and_the_failed_run(
    airflow, tmp_path, store, sshd, mm_host, webhook_receiver, smtp_receiver
):
    topic = mm_host.topics[0]
    healthy = mm_host.mirrormaker_config(
        "mm-ok", "dag_ssh", connect_s=3, command_s=6, kill_grace_s=1, tool_timeout_ms=4000
    )
    dead = {
        **healthy,
        "name": "mm-dead",
        "ssh_conn_id": "dag_dead_ssh",
        "timeouts": {**healthy["timeouts"], "connect_s": 2},
    }
    healthy["topics"] = dead["topics"] = [topic]
    config = {
        "store": {"kind": "opensearch", "conn_id": "dag_store", "max_retries": 1},
        "mirrormakers": [healthy, dead],
        "alerts": {
            "unknown_after_minutes": 1,
            "channels": [
                {"kind": "apprise", "conn_id": "dag_hook", "name": "webhook", "body": "json"},
                {"kind": "smtp", "conn_id": "dag_mail", "name": "mail", "to": ["ops@example.org"]},
            ],
        },
    }
    path = tmp_path / "kafka_monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    dead_conn = {**sshd.airflow_connection("dag_dead_ssh"), "port": free_port(), "host": LOOPBACK}
    connections = {
        "dag_ssh": sshd.airflow_connection("dag_ssh"),
        "dag_dead_ssh": dead_conn,
        "dag_store": store.airflow_connection("opensearch"),
        "dag_hook": webhook_receiver.apprise_connection("/alerts"),
        "dag_mail": smtp_receiver.airflow_connection(),
    }
    env = {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in connections.items()}
    env["KAFKA_MONITOR_CONFIG"] = str(path)
    # Only the lag part of the DAG matters here (no JMX targets, no CloudWatch section).
    proc = airflow.dags_test("kafka_monitor", MINUTE, extra_env=env, timeout=400)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]  # the dead host's task failed the run
    # Only the run's own failure is announced during the run; the verdicts wait for the judge.
    assert [json.loads(r.json()["message"])["track"] for r in webhook_receiver.received("/alerts")] == ["dag"]
    judged = airflow.dags_test("kafka_monitor_alerts", NEXT_MINUTE, extra_env=env, timeout=400)
    assert judged.returncode == 0, (judged.stdout + judged.stderr)[-3000:]
    output += judged.stdout + judged.stderr

    posts = [json.loads(r.json()["message"]) for r in webhook_receiver.received("/alerts")]
    assert sorted(
        (p["track"], p["kind"], p["subject"].get("mirrormaker") or p["subject"]["dag_id"]) for p in posts
    ) == [
        ("collection", "open", "mm-dead"),
        ("dag", "open", "kafka_monitor"),
        # The healthy host's topic has a partition nobody ever committed: its verdict (issue 10)
        # is no_offset, at the warn threshold, so the lag track opens too.
        ("lag", "open", "mm-ok"),
    ], output[-5000:]
    unknown = next(p for p in posts if p["track"] == "collection")
    assert unknown["error_kind"] == "ssh_connect_failed"
    assert sorted(m.subject for m in smtp_receiver.received()) == [
        "[kafka-monitor] OPEN NO_OFFSET: mm-ok/{}/{} - never committed".format(healthy["group"], topic),
        "[kafka-monitor] OPEN: DAG kafka_monitor run failed",
        f"[kafka-monitor] OPEN: lag of mm-dead/{healthy['group']}/{topic} unknown for 1 minutes: ssh_connect_failed",
    ]
    dag_mail = next(m for m in smtp_receiver.received() if "DAG" in m.subject)
    assert re.search(r"Failed tasks:\s+collect_(group|lag)", dag_mail.text()), dag_mail.text()
    assert "Reason:         task_failure" in dag_mail.text()
    (incident,) = find_documents(store.opensearch_client(), "kafka-monitor-incidents-state", {"track": "dag"})
    assert incident["state"] == "open" and incident["last_notified_kind"] == "open"
    assert "Pw-4lerts" not in output  # the channels' secret is not in the run's logs
