"""The test bed's JMX JVM (sandbox/jvm.py): it works through jmxquery, its values are the ones
a test sets, and starting + stopping it leaves no process and no open port behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest
from jmxquery import JMXConnection, JMXQuery

from sandbox.jvm import HEAP_BYTES, JmxJvm, SilentServer
from sandbox.process import SandboxError, port_open, process_group_alive, wait_until

MESSAGES_IN = "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec"


def test_jmxquery_reads_the_value_the_test_set(jvm):
    jvm.set(MESSAGES_IN, {"Count": 424242, "OneMinuteRate": 17.5})
    jvm.set(f"{MESSAGES_IN},topic=orders", {"Count": 31337})

    got = JMXConnection(jvm.url).query(
        [
            JMXQuery(MESSAGES_IN, "Count"),
            JMXQuery(MESSAGES_IN, "OneMinuteRate"),
            JMXQuery(f"{MESSAGES_IN},topic=orders", "Count"),
        ],
        timeout=30,
    )

    values = {(m.mBeanName, m.attribute): m.value for m in got}
    assert values == {
        (MESSAGES_IN, "Count"): 424242,
        (MESSAGES_IN, "OneMinuteRate"): 17.5,
        (f"{MESSAGES_IN},topic=orders", "Count"): 31337,
    }


def test_heap_is_fixed_so_init_committed_and_max_are_known(jvm):
    heap = jvm.heap()
    assert heap["init"] == heap["committed"] == heap["max"] == HEAP_BYTES
    before = heap["used"]
    jvm.retain(16 * 1024 * 1024)
    assert jvm.heap()["used"] >= before + 16 * 1024 * 1024 - 1024 * 1024  # a GC may reclaim other garbage
    jvm.release()


def test_a_bad_command_is_reported_with_the_jvm_named(jvm):
    with pytest.raises(SandboxError, match=r"jmx jvm: set kafka.nope:type=X: error .*no bean"):
        jvm.set("kafka.nope:type=X", {"Value": 1})


def test_start_and_stop_leave_no_process_and_no_port(tmp_path):
    part = JmxJvm(tmp_path).start()
    pgid, ports = part.pid, (part.port, part.control_port)
    assert process_group_alive(pgid) and all(port_open(p) for p in ports)

    part.stop()

    assert not process_group_alive(pgid)
    assert not any(port_open(p) for p in ports)


def test_ensure_alive_names_the_part_when_it_died(tmp_path):
    with JmxJvm(tmp_path) as part:
        part.ensure_alive()
        os.kill(part.pid, signal.SIGKILL)
        wait_until(lambda: not part.process.alive(), "the killed JVM to exit", timeout=10)
        with pytest.raises(SandboxError, match=rf"jmx jvm \(pid {part.pid}, 127\.0\.0\.1:{part.port}\) is not running"):
            part.ensure_alive()


def test_authenticating_jvm_wants_the_password(auth_jvm):
    from fixtures.jvm import JMX_PASSWORD, JMX_USER

    auth_jvm.set(MESSAGES_IN, {"Count": 777})
    got = JMXConnection(auth_jvm.url, JMX_USER, JMX_PASSWORD).query([JMXQuery(MESSAGES_IN, "Count")], timeout=30)
    assert [(m.mBeanName, m.value) for m in got] == [(MESSAGES_IN, 777)]
    # Without credentials the jar exits 1 (SecurityException); jmxquery's wrapper re-raises that.
    with pytest.raises(subprocess.CalledProcessError):
        JMXConnection(auth_jvm.url).query([JMXQuery(MESSAGES_IN, "Count")], timeout=30)


def test_silent_server_accepts_and_never_answers():
    with SilentServer() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as conn:
            conn.sendall(b"JRMI\x00\x02K")  # an RMI handshake: a real registry would answer at once
            conn.settimeout(0.5)
            with pytest.raises(socket.timeout):
                conn.recv(1)
        assert server.accepted == 1
    assert not port_open(server.port)


def test_its_targets_are_a_valid_jmx_configuration(jvm):
    from kafka_monitor.config.schema import parse_config

    config = parse_config(
        {
            "store": {"kind": "opensearch", "conn_id": "store"},
            "mirrormakers": [
                {
                    "name": "mm",
                    "ssh_conn_id": "ssh",
                    "kafka_home": "/opt/kafka",
                    "bootstrap_servers": "k:9092",
                    "group": "g",
                    "topics": ["t"],
                }
            ],
            "jmx": {"targets": jvm.jmx_targets()},
        },
        "sandbox",
    )
    # One target per component of the flow (the list spelled out: an oracle, not the vocabulary).
    assert sorted(t.component for t in config.jmx.targets) == sorted(
        [
            "logstash",
            "kafka_broker",
            "zookeeper",
            "mirrormaker",
            "mirrormaker2",
            "spark_driver",
            "spark_executor",
            "jvm",
        ]
    )
    assert {t.address for t in config.jmx.targets} == {jvm.address}
