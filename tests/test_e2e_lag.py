"""End to end through `airflow dags test kafka_monitor` against the sandbox.

The healthy run is the whole DAG: lag for the seed's five topics, JMX snapshots of the
sandbox JVM (one target per component of the flow) and the CloudWatch dashboard sync on moto.

The stand-in MirrorMaker host (real sshd; its kafka-consumer-groups.sh answers from the live
tansu broker in Kafka 2.6's exact format) mirrors the seed's five topics with oasis-group
lagging. The indexed lag of every partition must equal the broker's own truth, read
independently through the Kafka admin client.

Faults share one DAG run to keep the suite fast: each faulty MirrorMaker entry of the
configuration is its own mapped task, and each task instance's state (from the metadata
database) is checked beside its status document.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sandbox.mirrormaker import SEED_GROUP, SEED_TOPICS, MirrorMakerHost
from sandbox.process import free_port
from sandbox.search import find_documents
from sandbox.sshd import SshServer

pytestmark = pytest.mark.slow

MINUTE = "2026-11-22T10:00:00+00:00"
MINUTE_Z = "2026-11-22T10:00:00Z"
STORE_CONN = "e2e_store"
SSH_CONN = "e2e_mm_ssh"
AWS_CONN = "e2e_aws"


def base_config(mm_host: MirrorMakerHost, **store) -> dict:
    return {
        "store": {
            "kind": "opensearch",
            "conn_id": STORE_CONN,
            "initial_backoff_s": 0.05,
            "max_backoff_s": 0.2,
            "max_retries": 1,
            **store,
        },
        "mirrormakers": [
            mm_host.mirrormaker_config("mm-1", SSH_CONN, connect_s=3, command_s=8, kill_grace_s=1, tool_timeout_ms=5000)
        ],
    }


def run_dag(airflow, tmp_path: Path, config: dict, connections: dict[str, dict], minute: str = MINUTE):
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in connections.items()}
    env["KAFKA_MONITOR_CONFIG"] = str(path)
    return airflow.dags_test("kafka_monitor", minute, extra_env=env, timeout=400)


def search(client, index: str, **terms) -> list[dict]:
    return find_documents(client, index, terms)


@pytest.fixture(scope="module")
def healthy_run(airflow_home, ssh_server, search_store, mirrormaker_host, jmx_jvm, moto_server, tmp_path_factory):
    search_store.reset()
    moto_server.reset()
    airflow_home.clear_variables()  # no dashboard sync state from an earlier test
    tmp = tmp_path_factory.mktemp("e2e")
    conns = {
        SSH_CONN: ssh_server.airflow_connection(SSH_CONN),
        STORE_CONN: search_store.airflow_connection("opensearch"),
        AWS_CONN: moto_server.airflow_connection(),
    }
    config = base_config(mirrormaker_host)
    config["jmx"] = {"timeout_s": 20, "targets": jmx_jvm.jmx_targets()}
    config["cloudwatch"] = {
        "aws_conn_id": AWS_CONN,
        "region": "ap-northeast-2",
        "msk_cluster_name": "oasis-msk",
        "broker_ids": [1, 2, 3],
        "mirrormaker_instance_ids": ["i-0a1b2c3d4e5f60718"],
        "consumer_group": SEED_GROUP,
    }
    proc = run_dag(airflow_home, tmp, config, conns)
    truth = {topic: mirrormaker_host.truth(topic) for topic in SEED_TOPICS}
    return {"proc": proc, "config": config, "conns": conns, "tmp": tmp, "truth": truth}


def test_indexed_lag_equals_the_brokers_truth_for_every_partition(healthy_run, search_store, airflow_home):
    proc = healthy_run["proc"]
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert airflow_home.task_states("collect_lag") == {f"mm-1/{t}": "success" for t in SEED_TOPICS}

    client = search_store.opensearch_client()
    for topic in SEED_TOPICS:
        docs = search(client, "kafka-lag-*", doc_type="partition", topic=topic, **{"@timestamp": MINUTE_Z})
        indexed = {d["partition"]: d["lag"] for d in docs}
        assert indexed == healthy_run["truth"][topic], topic
        assert all(d["group"] == SEED_GROUP and d["mirrormaker"] == "mm-1" for d in docs)
        assert {d["group_state"] for d in docs} == {"Stable"}
        # Every partition of an active MirrorMaker has an owner.
        assert all(d["client_id"].startswith(f"{SEED_GROUP}-") for d in docs)


def test_topic_summaries_keep_the_old_p_fields_by_partition_number(healthy_run, search_store):
    client = search_store.opensearch_client()
    for topic in SEED_TOPICS:
        (summary,) = search(client, "kafka-lag-*", doc_type="topic_summary", topic=topic, **{"@timestamp": MINUTE_Z})
        truth = healthy_run["truth"][topic]
        assert summary["partition_count"] == 18
        assert [summary[f"p{p}"] for p in range(18)] == [truth[p] for p in range(18)]
        known = [v for v in truth.values() if v is not None]
        assert summary["total_lag"] == sum(known) and summary["max_lag"] == max(known)
        assert summary["partitions_without_offset"] == sum(v is None for v in truth.values())


def test_each_mapped_task_indexes_an_ok_status_document(healthy_run, search_store):
    client = search_store.opensearch_client()
    statuses = search(client, "kafka-monitor-status-*", source="lag", **{"@timestamp": MINUTE_Z})
    assert sorted(s["topic"] for s in statuses) == sorted(SEED_TOPICS)
    for status in statuses:
        assert status["status"] == "ok" and status["error_kind"] is None
        assert status["row_count"] == 18 and status["duration_ms"] > 0


def test_jmx_snapshots_of_every_target_land_in_flow_order(healthy_run, search_store, airflow_home, jmx_jvm):
    targets = {t["name"]: t["component"] for t in jmx_jvm.jmx_targets()}
    assert airflow_home.task_states("snapshot_jmx") == {name: "success" for name in targets}
    client = search_store.opensearch_client()
    samples = search(client, "kafka-jmx-*", **{"@timestamp": MINUTE_Z})
    assert {d["target"] for d in samples} == set(targets)
    stages = {d["component"]: (d["flow_order"], d["flow_stage"]) for d in samples}
    assert stages["logstash"][0] < stages["kafka_broker"][0] < stages["mirrormaker"][0] < stages["spark_driver"][0]
    statuses = search(client, "kafka-monitor-status-*", source="jmx", **{"@timestamp": MINUTE_Z})
    assert {s["target"]: s["status"] for s in statuses} == {name: "ok" for name in targets}


def test_the_dashboard_is_synced_and_its_status_recorded(healthy_run, search_store, airflow_home):
    assert airflow_home.task_states("sync_dashboard") == {"-1": "success"}
    client = search_store.opensearch_client()
    (status,) = search(client, "kafka-monitor-status-*", source="cloudwatch", **{"@timestamp": MINUTE_Z})
    assert status["dashboard"] == "kafka-monitor-all-in-one" and status["status"] == "ok"
    # Fresh moto and no sync state in the Airflow home: the first sync creates the dashboard.
    assert status["action"] == "created" and status["aws_called"] is True


def test_running_the_same_minute_again_leaves_the_same_documents(healthy_run, search_store, airflow_home):
    client = search_store.opensearch_client()
    client.indices.refresh(index="kafka-*")
    before = client.count(index="kafka-*")["count"]
    proc = run_dag(airflow_home, healthy_run["tmp"], healthy_run["config"], healthy_run["conns"])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    client.indices.refresh(index="kafka-*")
    assert client.count(index="kafka-*")["count"] == before
    assert client.count(index="kafka-lag-*")["count"] == 5 * (18 + 1)  # partitions + a summary per topic
    # One status per topic, per JMX target and for the dashboard; the second sync needed no AWS call.
    statuses = search(client, "kafka-monitor-status-*")
    assert len(statuses) == 5 + len(healthy_run["config"]["jmx"]["targets"]) + 1
    (dashboard,) = [s for s in statuses if s["source"] == "cloudwatch"]
    assert (dashboard["action"], dashboard["aws_called"]) == ("skipped_no_change", False)


def test_faults_fail_their_own_task_with_the_cause_and_a_status_document(
    airflow, ssh_server, search_store, tansu_broker, mirrormaker_host, tmp_path
):
    """sshd stopped; wrong host key (no command runs); a hanging tool (bounded, nothing left on
    the host); a vanished group — each in its own mapped task, beside a healthy one."""
    search_store.reset()
    # A second sshd, stopped: its port refuses connections.
    with SshServer(tmp_path / "stopped-sshd") as stopped:
        down_conn = stopped.airflow_connection("e2e_down")
    # A host that hangs: its own install of the stand-in tool in "hang" mode.
    hanging = MirrorMakerHost(tmp_path / "hanging-host", tansu_broker).install()
    hanging.topics = ["topic-lgs5.0-json"]
    hanging.set_mode("hang")
    # The same sshd pinned to someone else's host key: the canary proves nothing ran.
    with SshServer(tmp_path / "other-sshd") as other:
        wrong_key = other.host_key_line()
    canary_host = MirrorMakerHost(tmp_path / "canary-host", tansu_broker).install()
    canary_host.topics = ["HEC_H_RECV_01"]

    config = base_config(mirrormaker_host)
    mm_ok = config["mirrormakers"][0]
    mm_ok["topics"] = ["HEC_H_RECV_01"]
    config["mirrormakers"] += [
        {**mm_ok, "name": "mm-sshd-down", "ssh_conn_id": "e2e_down"},
        {**canary_host.mirrormaker_config("mm-wrong-key", "e2e_wrong_key")},
        {
            **hanging.mirrormaker_config(
                "mm-hang", SSH_CONN, connect_s=5, command_s=3, kill_grace_s=1, tool_timeout_ms=2000
            )
        },
        {**mm_ok, "name": "mm-no-group", "group": "vanished-group"},
    ]
    conns = {
        SSH_CONN: ssh_server.airflow_connection(SSH_CONN),
        "e2e_down": down_conn,
        "e2e_wrong_key": ssh_server.airflow_connection("e2e_wrong_key", host_key=wrong_key),
        STORE_CONN: search_store.airflow_connection("opensearch"),
    }
    proc = run_dag(airflow, tmp_path, config, conns)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a run with failed tasks must fail"

    states = airflow.task_states("collect_lag")
    assert states == {
        "mm-1/HEC_H_RECV_01": "success",
        "mm-sshd-down/HEC_H_RECV_01": "failed",
        "mm-wrong-key/HEC_H_RECV_01": "failed",
        "mm-hang/topic-lgs5.0-json": "failed",
        "mm-no-group/HEC_H_RECV_01": "failed",
    }, output[-6000:]

    client = search_store.opensearch_client()
    statuses = {s["mirrormaker"]: s for s in search(client, "kafka-monitor-status-*", source="lag")}
    assert statuses["mm-1"]["status"] == "ok"
    assert statuses["mm-sshd-down"]["error_kind"] == "ssh_connect_failed"
    assert statuses["mm-wrong-key"]["error_kind"] == "host_key_mismatch"
    assert statuses["mm-hang"]["error_kind"] == "command_timeout"
    assert statuses["mm-no-group"]["error_kind"] == "group_not_found"
    for name in ("mm-sshd-down", "mm-wrong-key", "mm-hang", "mm-no-group"):
        assert statuses[name]["status"] == "error" and statuses[name]["error_message"]
        assert statuses[name]["row_count"] == 0
    assert "vanished-group" in statuses["mm-no-group"]["error_message"]

    # Wrong host key: the tool never ran on that host.
    assert canary_host.last_tool_pid() is None
    # The hanging tool was killed by the remote timeout: its process is gone.
    pid = hanging.last_tool_pid()
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists(), f"the hanging tool (pid {pid}) was left running on the host"
    # Only the healthy task returned an outcome (the oracle that the store-down test relies on).
    assert len(airflow.task_return_values("collect_lag")) == 1
    # Failures name their cause in the task log too.
    assert "host key" in output.lower() and "vanished-group" in output


def test_store_down_fails_the_task_and_reports_nothing_indexed(airflow, ssh_server, mirrormaker_host, tmp_path):
    closed_port = free_port()
    config = base_config(mirrormaker_host)
    config["mirrormakers"][0]["topics"] = ["HEC_H_RECV_01"]
    conns = {
        SSH_CONN: ssh_server.airflow_connection(SSH_CONN),
        STORE_CONN: {"conn_type": "opensearch", "host": "127.0.0.1", "port": closed_port, "extra": {"use_ssl": False}},
    }
    proc = run_dag(airflow, tmp_path, config, conns)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert airflow.task_states("collect_lag") == {"mm-1/HEC_H_RECV_01": "failed"}
    assert f"127.0.0.1:{closed_port}" in output
    # Nothing is reported as indexed: the failed task returned no outcome (the metadata DB's XCom).
    assert airflow.task_return_values("collect_lag") == []
