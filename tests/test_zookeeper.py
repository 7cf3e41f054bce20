"""A real ZooKeeper (Debian's package, sandbox/zookeeper.py) read through the product's own JMX
path with the shipped presets, against an independent truth: the znodes a client sees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kafka_monitor.config.schema import JmxSettings, JmxTarget, StoreSettings
from kafka_monitor.jmx.snapshot import collect_and_index, take_snapshot
from kafka_monitor.store.sink import SearchSink
from sandbox.process import port_open, process_group_alive, wait_until
from sandbox.search import find_documents
from sandbox.zookeeper import ZooKeeperServer

SETTINGS = JmxSettings(timeout_s=30)
MINUTE = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
ZNODES_CREATED = 7
# ZooKeeper's DataTree keeps the root under two keys ("" and "/"), so its NodeCount (and srvr's
# "Node count") is one more than the znodes a client can walk to.
ROOT_COUNTED_TWICE = 1


def count_znodes(client, path: str = "/") -> int:
    """Every znode under ``path`` (itself included), walked with the client."""
    children = client.get_children(path)
    return 1 + sum(count_znodes(client, f"{path.rstrip('/')}/{child}") for child in children)


def zookeeper_values(snap) -> dict[str, float]:
    return {s.metric: s.value for s in snap.samples if s.domain == "org.apache.ZooKeeperService"}


def test_node_count_read_over_jmx_equals_the_znodes_a_client_sees(zookeeper):
    target = JmxTarget(**zookeeper.jmx_target())
    client = zookeeper.client()
    try:
        before = zookeeper_values(take_snapshot(target, SETTINGS))["NodeCount"]
        assert before == count_znodes(client) + ROOT_COUNTED_TWICE

        root = f"/kafka-monitor-test-{uuid.uuid4().hex[:8]}"
        client.create(root)
        for i in range(ZNODES_CREATED - 1):
            client.create(f"{root}/node-{i}", b"x")
        snap = take_snapshot(target, SETTINGS)
        walked = count_znodes(client)
    finally:
        client.stop()
        client.close()

    values = zookeeper_values(snap)
    assert values["NodeCount"] == walked + ROOT_COUNTED_TWICE == before + ZNODES_CREATED
    # The client was connected while the snapshot ran.
    assert values["NumAliveConnections"] >= 1
    # Every preset query had its answer: no unmatched expectation, and nothing skipped (the
    # composite keys the presets do not ask for, like HeapMemoryUsage.init, are no warning).
    assert snap.unmatched == [] and snap.skipped == []
    assert {"HeapMemoryUsage.used", "ThreadCount", "Uptime"} <= {s.metric for s in snap.samples}


def test_the_zookeeper_target_is_indexed_through_collect_and_index(zookeeper, store):
    target = JmxTarget(**zookeeper.jmx_target())
    settings = StoreSettings(kind="opensearch", conn_id="kafka_monitor_store", initial_backoff_s=0.01)
    sink = SearchSink(store.opensearch_client(), settings)
    summary = collect_and_index(
        target, SETTINGS, sink, status_index_prefix="kafka-monitor-status", jmx_index_prefix="kafka-jmx", minute=MINUTE
    )
    client = store.opensearch_client()
    store.request("POST", "/_refresh")
    docs = find_documents(client, "kafka-jmx-*", {"target": target.name})
    status = find_documents(client, "kafka-monitor-status-*", {"target": target.name})
    assert summary["status"] == "ok" and len(docs) == summary["samples"] > 20
    assert {d["flow_stage"] for d in docs} == {"2-broker"}
    assert {d["preset"] for d in docs} == {"jvm_basics", "zookeeper_server"}
    node_count = [d for d in docs if d["metric"] == "NodeCount"]
    assert len(node_count) == 1 and node_count[0]["mbean"]["name1"] == "InMemoryDataTree"
    assert [(s["status"], s["skipped_count"], s["skipped_digest"]) for s in status] == [("ok", 0, None)]


def test_start_and_stop_leave_no_process_and_no_port(tmp_path):
    part = ZooKeeperServer(tmp_path / "zk").start()
    pgid, ports = part.pid, (part.client_port, part.jmx_port)
    assert pgid is not None and process_group_alive(pgid) and all(port_open(p) for p in ports)
    part.stop()
    wait_until(lambda: not process_group_alive(pgid), "the zookeeper process group to end", timeout=15)
    assert not any(port_open(p) for p in ports)
    # Everything it wrote is in its own folder.
    assert {p.name for p in (tmp_path / "zk").iterdir()} <= {"data", "zoo.cfg", "zookeeper.log"}
