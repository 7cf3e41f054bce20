"""The Admin-API lag task end to end: one `airflow dags test kafka_monitor` against the sandbox.

One run holds both collectors: MirrorMaker's oasis-group over SSH (``mirrormakers``) and the
same group over the Admin API (``consumer_groups``, batched), plus an Admin entry whose broker
is down. Its Kafka connection carries a SASL password in its extra (ignored under PLAINTEXT),
which must appear in no log line and no XCom value.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from sandbox.mirrormaker import SEED_GROUP, SEED_TOPICS
from sandbox.search import find_documents
from sandbox.tcpfault import refused_address

pytestmark = pytest.mark.slow

MINUTE = "2026-11-22T10:05:00+00:00"
MINUTE_Z = "2026-11-22T10:05:00Z"
STORE_CONN = "e2e_admin_store"
SSH_CONN = "e2e_admin_ssh"
KAFKA_CONN = "e2e_kafka"
DOWN_CONN = "e2e_kafka_down"
SECRET = "e2e-sasl-pw-9f3a7c"


def base_config(mm_host) -> dict:
    return {
        "store": {
            "kind": "opensearch",
            "conn_id": STORE_CONN,
            "initial_backoff_s": 0.05,
            "max_backoff_s": 0.2,
            "max_retries": 1,
        },
        "mirrormakers": [
            mm_host.mirrormaker_config("mm-1", SSH_CONN, connect_s=3, command_s=8, kill_grace_s=1, tool_timeout_ms=5000)
        ],
    }


def run_dag(airflow, tmp_path: Path, config: dict, connections: dict[str, dict]):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in connections.items()}
    env["KAFKA_MONITOR_CONFIG"] = str(path)
    return airflow.dags_test("kafka_monitor", MINUTE, extra_env=env, timeout=400)


@pytest.fixture(scope="module")
def admin_run(airflow_home, ssh_server, search_store, mirrormaker_host, tmp_path_factory):
    search_store.reset()
    broker = mirrormaker_host.broker
    conns = {
        SSH_CONN: ssh_server.airflow_connection(SSH_CONN),
        STORE_CONN: search_store.airflow_connection("opensearch"),
        KAFKA_CONN: {
            "conn_type": "kafka",
            "extra": {"bootstrap.servers": broker.bootstrap, "sasl.username": "monitor", "sasl.password": SECRET},
        },
        DOWN_CONN: {"conn_type": "kafka", "extra": {"bootstrap.servers": refused_address()}},
    }
    config = base_config(mirrormaker_host)
    config["consumer_groups"] = [
        {
            "name": "oasis-admin",
            "kind": "admin",
            "kafka_conn_id": KAFKA_CONN,
            "group": SEED_GROUP,
            "topics": list(SEED_TOPICS),
            # Inside the minute's budget with this store's timeouts (check-config and plan_lag refuse more).
            "timeouts": {"connect_s": 3, "request_s": 5, "total_s": 15},
        },
        {
            "name": "spark-down",
            "kind": "admin",
            "kafka_conn_id": DOWN_CONN,
            "group": "spark-oasis-streaming",
            "topics": [SEED_TOPICS[0]],
            "batched": False,
            "timeouts": {"connect_s": 1, "request_s": 2, "total_s": 5},
        },
    ]
    proc = run_dag(airflow_home, tmp_path_factory.mktemp("e2e-admin"), config, conns)
    truth = {topic: mirrormaker_host.truth(topic) for topic in SEED_TOPICS}
    return {"proc": proc, "truth": truth}


def test_the_admin_task_is_mapped_per_group_and_indexes_what_ssh_indexes(admin_run, airflow_home, search_store):
    proc = admin_run["proc"]
    assert airflow_home.task_states("collect_admin_lag") == {
        "oasis-admin/oasis-group/5 topics": "success",
        f"spark-down/spark-oasis-streaming/{SEED_TOPICS[0]}": "failed",
    }, (proc.stdout + proc.stderr)[-6000:]
    assert airflow_home.task_states("collect_lag") == {f"mm-1/{t}": "success" for t in SEED_TOPICS}, (
        proc.stdout + proc.stderr
    )[-6000:]

    client = search_store.opensearch_client()
    for topic in SEED_TOPICS:
        by_source = {}
        for source in ("ssh", "admin"):
            docs = find_documents(
                client,
                "kafka-lag-*",
                {"doc_type": "partition", "topic": topic, "source": source, "@timestamp": MINUTE_Z},
            )
            by_source[source] = {d["partition"]: (d["current_offset"], d["log_end_offset"], d["lag"]) for d in docs}
        assert by_source["admin"] == by_source["ssh"], topic
        assert {p: v[2] for p, v in by_source["admin"].items()} == admin_run["truth"][topic]

    (down,) = find_documents(client, "kafka-monitor-status-*", {"mirrormaker": "spark-down", "@timestamp": MINUTE_Z})
    assert (down["status"], down["error_kind"], down["collector"]) == ("error", "broker_unreachable", "admin")


def test_no_secret_in_the_run_log_or_any_xcom(admin_run, airflow_home):
    proc = admin_run["proc"]
    assert SECRET not in proc.stdout + proc.stderr
    with sqlite3.connect(airflow_home.home / "airflow.db") as db:
        values = [row[0] for row in db.execute("select value from xcom where dag_id='kafka_monitor'")]
    admin_values = [v for v in values if v is not None and "oasis-admin" in str(v)]
    assert admin_values, "the Admin task's return value is in XCom"
    assert all(SECRET not in (v.decode() if isinstance(v, bytes) else str(v)) for v in values)
    json.loads(admin_values[0] if isinstance(admin_values[0], str) else admin_values[0].decode())
