"""Collecting a topic's lag over real SSH (the sandbox sshd) from a fake Kafka install.

The fake ``kafka-consumer-groups.sh`` prints Kafka 2.6 describe output built from the
tool's own format string, or hangs; faults are real: a stopped sshd, a host key that is not
the pinned one, a server that accepts and never speaks, a command that goes silent.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from airflow.providers.ssh.hooks.ssh import SSHHook
from fixtures.sshd import HANG, HANG_IGNORING_TERM, process_gone

from kafka_monitor.config.schema import MirrorMaker
from kafka_monitor.lag.ssh import (
    CollectionError,
    RemoteOutput,
    collect_topic,
    run_command,
)
from kafka_monitor.retry_policy import is_retryable
from sandbox.sshd import SshServer, generate_key, public_key_line

GROUP = "oasis-group"
TOPIC = "topic-navilog2-post-json"
FAST = {"connect_s": 3, "command_s": 1.2, "kill_grace_s": 0.5, "tool_timeout_ms": 1000}


def kafka26_describe(rows: list[tuple]) -> str:
    """stdout of Kafka 2.6 ``--describe --group`` (ConsumerGroupCommand.scala@2.6.0 printOffsets)."""
    header = (
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    )
    cells = [tuple("-" if v is None else str(v) for v in row) for row in rows]
    width = lambda i: max([15] + [len(c[i]) for c in cells])  # noqa: E731 - max(15, longest value)
    fmt = f"%-{width(0)}s %-{width(1)}s %-10s %-15s %-15s %-15s %-{width(6)}s %-{width(7)}s %s"
    return "\n" + fmt % header + "\n" + "".join(fmt % c + "\n" for c in cells)


def member(n: int) -> tuple[str, str, str]:
    return (f"{GROUP}-{n}-6f1c2a3b-9d4e-4f5a-8b6c-7d8e9f0a1b2{n}", f"/10.0.0.{5 + n}", f"{GROUP}-{n}")


# Printed out of partition order (as Kafka does above 4 partitions per member), with a topic
# whose name contains ours (the old script's `grep <topic>` mixed them) and a partition with no
# committed offset.
ROWS = [
    (GROUP, TOPIC, 2, 1500, 1530, 30, *member(0)),
    (GROUP, f"{TOPIC}-backup", 0, 10, 10, 0, *member(0)),
    (GROUP, TOPIC, 0, 98765432109, 98765432209, 100, *member(1)),
    (GROUP, TOPIC, 1, None, 700, None, *member(1)),
    (GROUP, "HEC_H_RECV_01", 0, 5, 9, 4, *member(1)),
]
LOG4J_WARN = "[2026-11-22 02:00:01,123] WARN [AdminClient clientId=adminclient-1] slow metadata (org.apache.kafka.clients.NetworkClient)\n"


def mirrormaker(kafka, conn_id: str, **timeouts) -> MirrorMaker:
    return MirrorMaker(
        name="mm-sandbox-1",
        ssh_conn_id=conn_id,
        kafka_home=str(kafka.home),
        bootstrap_servers=["source-kafka-1.example.internal:9092"],
        group=GROUP,
        topics=[TOPIC],
        timeouts=timeouts or {"connect_s": 5, "command_s": 10, "kill_grace_s": 1, "tool_timeout_ms": 5000},
    )


def raised(call, *args) -> CollectionError:
    with pytest.raises(CollectionError) as info:
        call(*args)
    return info.value


# --------------------------------------------------------------------------- the good path


def test_collect_topic_returns_this_topics_rows_sorted_by_partition(ssh_connection, fake_kafka):
    kafka = fake_kafka(stdout=kafka26_describe(ROWS), stderr=LOG4J_WARN)
    mm = mirrormaker(kafka, ssh_connection())
    collection = collect_topic(mm, TOPIC)

    assert [r["partition"] for r in collection.rows] == [0, 1, 2]
    assert {r["topic"] for r in collection.rows} == {TOPIC}
    assert {r["group"] for r in collection.rows} == {GROUP}
    by_partition = {r["partition"]: r for r in collection.rows}
    assert (by_partition[0]["current_offset"], by_partition[0]["log_end_offset"], by_partition[0]["lag"]) == (
        98765432109,
        98765432209,
        100,
    )
    assert (by_partition[1]["current_offset"], by_partition[1]["lag"]) == (None, None)
    assert by_partition[2]["consumer_id"] == member(0)[0]
    assert by_partition[2]["host"] == "/10.0.0.5"
    assert by_partition[2]["client_id"] == f"{GROUP}-0"
    assert collection.group_state == collection.result.group_states.get(GROUP)
    # stdout and stderr came back apart.
    assert collection.output.exit_status == 0
    assert collection.output.stderr == LOG4J_WARN
    assert "WARN" not in collection.output.stdout
    assert collection.output.duration_s > 0
    # The tool ran once, as one --describe of the group, never with --topic.
    argv = kafka.argv()
    assert "--describe" in argv and f"--group={GROUP}" in argv and "--topic" not in argv


def test_the_json_form_of_a_mirrormaker_is_accepted(ssh_connection, fake_kafka):
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    mm = mirrormaker(kafka, ssh_connection())
    collection = collect_topic(mm.model_dump(mode="json"), "HEC_H_RECV_01")
    assert [(r["partition"], r["lag"]) for r in collection.rows] == [(0, 4)]


def test_a_hostile_group_id_is_one_literal_argument_over_ssh(ssh_connection, fake_kafka, tmp_path):
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    canary = tmp_path / "canary"
    group = f"$(touch {canary}); `touch {canary}` ' \" && touch {canary}"
    mm = mirrormaker(kafka, ssh_connection()).model_copy(update={"group": group})
    error = raised(collect_topic, mm, TOPIC)
    # The tool ran and answered for the canned group only: none of its rows are this group's.
    assert error.kind == "group_without_offsets" and error.output.exit_status == 0
    assert f"--group={group}" in kafka.argv()
    assert not canary.exists()


def test_jmx_port_exported_on_the_host_does_not_reach_the_tool(ssh_connection, fake_kafka, tmp_path):
    with SshServer(base_dir=tmp_path / "sshd-jmx", session_env={"JMX_PORT": "9997"}) as host:
        conn_id = ssh_connection("mm_exports_jmx", server=host)
        # The host really exports it (asked through the provider's hook itself, not our code).
        hook = SSHHook(ssh_conn_id=conn_id)
        with hook.get_conn() as client:
            _, probe, _ = hook.exec_ssh_client_command(client, 'printf %s "$JMX_PORT"', False, None, 10)
        assert probe == b"9997"
        kafka = fake_kafka(stdout=kafka26_describe(ROWS))
        collect_topic(mirrormaker(kafka, conn_id), TOPIC)
    assert kafka.env_seen()["JMX_PORT"] == "(unset)"


# --------------------------------------------------------------------------- what the tool said


def test_tool_error_with_exit_status_0_is_group_not_found(ssh_connection, fake_kafka):
    kafka = fake_kafka(stdout="\nError: Consumer group 'oasis-group' does not exist.\n", exit_status=0)
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), TOPIC)
    assert error.kind == "group_not_found"
    assert "mm-sandbox-1" in str(error) and "oasis-group" in str(error) and "does not exist" in str(error)
    assert error.output.stdout.startswith("\nError: Consumer group")


def test_a_topic_missing_from_a_good_answer_is_topic_not_in_group(ssh_connection, fake_kafka):
    others = [row for row in ROWS if row[1] != TOPIC]
    kafka = fake_kafka(stdout=kafka26_describe(others))
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), TOPIC)
    assert error.kind == "topic_not_in_group"
    assert f"topic {TOPIC!r} is not in consumer group {GROUP!r}" in str(error)
    assert f"{TOPIC}-backup" in str(error)  # what the group does have
    assert error.result is not None and error.output is not None


def test_a_group_without_any_partition_is_reported(ssh_connection, fake_kafka):
    # A Stable group whose members have no assignment and no offsets prints nothing at all.
    kafka = fake_kafka(stdout="", stderr="")
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), TOPIC)
    assert error.kind == "group_without_offsets"
    assert GROUP in str(error) and "no partitions" in str(error)


def test_a_tool_that_cannot_start_java_reports_its_stderr(ssh_connection, fake_kafka):
    stderr = "/opt/kafka/bin/kafka-run-class.sh: line 330: exec: java: not found\n"
    kafka = fake_kafka(stderr=stderr, exit_status=127)
    mm = mirrormaker(kafka, ssh_connection())
    error = raised(collect_topic, mm, TOPIC)
    assert error.kind == "jvm_startup"  # not retried: a retry cannot install java
    assert error.output.exit_status == 127 and "java: not found" in str(error)
    assert "mm-sandbox-1" in str(error) and "mm_sandbox_ssh" in str(error)
    assert error.output.stderr == stderr


def test_a_failing_command_without_a_known_cause_is_remote_command_failed(ssh_connection, fake_kafka):
    kafka = fake_kafka(stderr="something odd happened\n", exit_status=2)
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), TOPIC)
    assert error.kind == "remote_command_failed"
    assert "exit status 2" in str(error) and "something odd happened" in str(error)


def test_a_jvm_that_cannot_start_is_classified_by_the_parser(ssh_connection, fake_kafka):
    # What kafka-run-class.sh does when JMX_PORT reaches the tool on a MirrorMaker host.
    stderr = (
        "Error: Exception thrown by the agent : java.rmi.server.ExportException: Port already in use: 9997; "
        "nested exception is: \n\tjava.net.BindException: Address already in use\n"
    )
    kafka = fake_kafka(stderr=stderr, exit_status=1)
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), TOPIC)
    assert error.kind == "jvm_startup"
    assert "Port already in use" in str(error)
    assert error.output.exit_status == 1


@pytest.mark.parametrize(
    "behaviour, status",
    [
        pytest.param(HANG, 124, id="ends-on-TERM"),
        pytest.param(HANG_IGNORING_TERM, 137, id="ignores-TERM"),
    ],
)
def test_a_hanging_tool_is_ended_by_the_remote_timeout(ssh_connection, fake_kafka, behaviour, status):
    kafka = fake_kafka(behaviour)
    mm = mirrormaker(kafka, ssh_connection(), **FAST)
    error = raised(collect_topic, mm, TOPIC)
    assert error.kind == "command_timeout"
    assert error.output.exit_status == status
    assert "did not finish within 1.2 s" in str(error) and "mm-sandbox-1" in str(error)
    assert error.output.duration_s < 20  # bounded by the remote timeout, not by the 300 s sleep
    pids = kafka.pids()
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while not all(process_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(process_gone(p) for p in pids), "the tool or its child outlived the remote timeout"


# --------------------------------------------------------------------------- SSH faults


def test_a_stopped_sshd_is_ssh_connect_failed(ssh_connection, fake_kafka, tmp_path):
    host = SshServer(base_dir=tmp_path / "sshd-stopped")
    host.start()
    conn_id = ssh_connection("mm_stopped", server=host)
    port = host.port
    host.stop()
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, conn_id), TOPIC)
    assert error.kind == "ssh_connect_failed"
    assert f"127.0.0.1:{port}" in str(error) and "'mm_stopped'" in str(error)
    assert not kafka.ran


def test_a_host_key_that_is_not_the_pinned_one_runs_nothing(ssh_connection, fake_kafka, tmp_path):
    impostor = public_key_line(generate_key(tmp_path / "impostor"))
    conn_id = ssh_connection("mm_wrong_key", host_key=impostor)
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, conn_id), TOPIC)
    assert error.kind == "host_key_mismatch"
    assert "does not match the pinned key" in str(error) and "'mm_wrong_key'" in str(error)
    assert not kafka.ran  # the canary: the tool never started


def test_an_unknown_host_key_is_never_added(ssh_connection, fake_kafka, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty ~/.ssh/known_hosts
    conn_id = ssh_connection("mm_unpinned", pin_host_key=False)
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, conn_id), TOPIC)
    assert error.kind == "host_key_unknown"
    assert "not found in known_hosts" in str(error)
    assert not kafka.ran
    assert not (tmp_path / ".ssh" / "known_hosts").exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"no_host_key_check": True, "pin_host_key": False},
        {"no_host_key_check": "true"},
        {"allow_host_key_change": True},
    ],
)
def test_connections_that_skip_host_key_checks_are_refused(ssh_connection, fake_kafka, extra):
    conn_id = ssh_connection("mm_insecure", **extra)
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, conn_id), TOPIC)
    assert error.kind == "insecure_connection"
    assert "'mm_insecure'" in str(error) and "refusing to connect" in str(error)
    assert not kafka.ran


def test_a_key_the_server_does_not_accept_is_ssh_auth_failed(ssh_connection, fake_kafka, tmp_path):
    conn_id = ssh_connection("mm_bad_key", key_file=str(generate_key(tmp_path / "stranger")))
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, conn_id), TOPIC)
    assert error.kind == "ssh_auth_failed"
    assert "authentication failed" in str(error) and "'mm_bad_key'" in str(error)
    assert not kafka.ran


def test_a_server_that_accepts_and_never_speaks_is_ssh_timeout(ssh_connection, sshd, fake_kafka, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    try:
        conn = sshd.airflow_connection("mm_silent")
        conn["port"] = silent.getsockname()[1]
        monkeypatch.setenv("AIRFLOW_CONN_MM_SILENT", json.dumps(conn))
        kafka = fake_kafka()
        error = raised(collect_topic, mirrormaker(kafka, "mm_silent", **{**FAST, "connect_s": 1}), TOPIC)
    finally:
        for s in accepted + [silent]:
            s.close()
    assert error.kind == "ssh_timeout"
    assert f"127.0.0.1:{conn['port']}" in str(error) and "within 1 s" in str(error)


def test_a_command_that_goes_silent_hits_the_idle_timeout(ssh_connection):
    conn_id = ssh_connection()
    # The provider's idle timeout is the one AirflowException run_command maps to ssh_timeout:
    # this pins that provider behaviour.
    error = raised(lambda: run_command(conn_id, "sleep 2", connect_s=5, idle_s=0.5))
    assert error.kind == "ssh_timeout"
    assert "sent nothing for 0.5 s" in str(error)


def test_an_undefined_connection_is_named(fake_kafka):
    error = raised(collect_topic, mirrormaker(fake_kafka(), "mm_nowhere"), TOPIC)
    # Airflow 3 reports a secrets backend that failed to answer as "not defined": retried.
    assert error.kind == "connection_lookup_failed" and is_retryable(error.kind)
    assert "'mm_nowhere'" in str(error) and "not defined" in str(error)


@pytest.fixture
def flaky_secrets(monkeypatch, sshd):
    """The SSH connection served only by a secrets backend that fails its next lookups."""
    from airflow.sdk.configuration import clear_secrets_backends_cache
    from fixtures.flaky_secrets import FlakySecretsBackend

    conn_id = "mm_vault_ssh"
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "fixtures.flaky_secrets.FlakySecretsBackend")
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections": {conn_id: sshd.airflow_connection(conn_id)}})
    )
    monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
    clear_secrets_backends_cache()
    FlakySecretsBackend.failures_left = 1
    FlakySecretsBackend.lookups = 0
    yield conn_id
    clear_secrets_backends_cache()


def test_a_passing_secrets_backend_failure_is_retryable_and_the_retry_collects(flaky_secrets, fake_kafka):
    from fixtures.flaky_secrets import FlakySecretsBackend

    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    mm = mirrormaker(kafka, flaky_secrets)
    error = raised(collect_topic, mm, TOPIC)
    assert error.kind == "connection_lookup_failed" and is_retryable(error.kind)
    assert not kafka.ran  # nothing reached the host
    # The retry (Airflow's, in the same minute) finds the backend answering again.
    collection = collect_topic(mm, TOPIC)
    assert [r["partition"] for r in collection.rows] == [0, 1, 2]
    assert FlakySecretsBackend.lookups >= 2


def test_a_parser_bug_is_an_internal_error_not_the_hosts_fault(ssh_connection, fake_kafka, monkeypatch):
    from kafka_monitor.lag import describe

    def broken_result(self):  # stands for any bug inside our parser
        raise KeyError("partition")

    monkeypatch.setattr(describe._Parser, "result", broken_result)
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), TOPIC)
    assert error.kind == "internal_error" and not is_retryable(error.kind)
    assert "bug in kafka-monitor" in str(error) and "KeyError" in str(error)
    assert error.output is not None and error.output.stdout  # kept for the log


# --------------------------------------------------------------------------- validation first


def test_an_invalid_topic_runs_nothing(ssh_connection, fake_kafka):
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    error = raised(collect_topic, mirrormaker(kafka, ssh_connection()), "x; rm -rf /")
    assert error.kind == "invalid_command_value"
    assert "is not a valid Kafka topic name" in str(error) and "nothing was run" in str(error)
    assert not kafka.ran


def test_an_invalid_mirrormaker_runs_nothing(ssh_connection, fake_kafka):
    kafka = fake_kafka(stdout=kafka26_describe(ROWS))
    data = mirrormaker(kafka, ssh_connection()).model_dump(mode="json")
    data["bootstrap_servers"] = ["kafka:9092; reboot"]
    error = raised(collect_topic, data, TOPIC)
    assert error.kind == "invalid_command_value"
    assert "bootstrap_servers[0]" in str(error)
    assert not kafka.ran


def test_collection_error_survives_pickling():
    import pickle

    out = RemoteOutput(exit_status=124, stdout="", stderr="x", duration_s=1.0)
    copy = pickle.loads(pickle.dumps(CollectionError("boom", "command_timeout", out)))
    assert (str(copy), copy.kind, copy.output) == ("boom", "command_timeout", out)
