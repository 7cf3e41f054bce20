"""The sandbox sshd: a real OpenSSH server reached through Airflow's SSHHook, as the product does."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
from pathlib import Path

import paramiko
import pytest

from sandbox.process import SandboxError, port_open, wait_until
from sandbox.sshd import SshServer


def hook_for(monkeypatch, server: SshServer, conn_id: str = "sshd_selftest", **kwargs):
    from airflow.providers.ssh.hooks.ssh import SSHHook

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(server.airflow_connection(conn_id, **kwargs)))
    return SSHHook(ssh_conn_id=conn_id, conn_timeout=5, cmd_timeout=10, conn_retry_attempts=1)


def test_sshhook_runs_a_command_and_reads_stdout_and_stderr_apart(monkeypatch, sshd):
    hook = hook_for(monkeypatch, sshd)
    assert hook.host_key is not None and not hook.no_host_key_check
    with hook.get_conn() as client:
        status, out, err = hook.exec_ssh_client_command(
            client,
            "echo to-stdout; echo to-stderr >&2; printf '%s' \"$USER\"; exit 7",
            get_pty=False,
            environment=None,
            timeout=10,
        )
    assert status == 7
    assert out == f"to-stdout\n{sshd.user}".encode()
    assert err == b"to-stderr\n"


def test_connection_pins_the_key_the_server_really_offers(sshd):
    conn = sshd.airflow_connection("pinned")
    assert conn["extra"]["host_key"] == sshd.host_key_line()
    assert "no_host_key_check" not in conn["extra"]
    key_type, key_b64 = sshd.host_key_line().split()
    # Ask the server itself (a bare SSH handshake, no authentication).
    with socket.create_connection((sshd.host, sshd.port), timeout=5) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=5)
            offered = transport.get_remote_server_key()
        finally:
            transport.close()
    assert offered.get_name() == key_type
    assert base64.b64encode(offered.asbytes()).decode() == key_b64


def test_only_the_generated_client_key_is_accepted(monkeypatch, sshd, tmp_path):
    from sandbox.sshd import generate_key

    stranger = generate_key(tmp_path / "stranger")
    hook = hook_for(monkeypatch, sshd, "sshd_stranger", key_file=str(stranger))
    with pytest.raises(paramiko.AuthenticationException):
        hook.get_conn()


def test_session_env_is_exported_into_sessions(monkeypatch, tmp_path):
    with SshServer(base_dir=tmp_path / "sshd", session_env={"JMX_PORT": "9997"}) as server:
        hook = hook_for(monkeypatch, server, "sshd_env")
        with hook.get_conn() as client:
            status, out, _ = hook.exec_ssh_client_command(client, 'printf %s "$JMX_PORT"', False, None, timeout=10)
    assert (status, out) == (0, b"9997")


def test_a_fresh_server_leaves_no_process_and_no_port_after_stop():
    server = SshServer()
    server.start()
    pid, port, folder = server.pid, server.port, server.dir
    assert port_open(port) and server.group_alive()
    server.ensure_alive()
    server.stop()
    assert not server.group_alive()
    assert not Path(f"/proc/{pid}").exists()
    assert not port_open(port)
    assert not folder.exists()


def test_ensure_alive_names_a_server_that_died(tmp_path):
    with SshServer(base_dir=tmp_path / "sshd") as server:
        os.killpg(server.pid, signal.SIGKILL)
        wait_until(lambda: not server.process.alive(), "sshd to die", timeout=10)
        with pytest.raises(
            SandboxError, match=rf"sshd \(pid {server.pid}, 127\.0\.0\.1:{server.port}\) is not running"
        ):
            server.ensure_alive()
