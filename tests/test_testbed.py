"""The test bed as a whole, seen from outside: a child pytest session uses the real parts.

1. A session that uses every part leaves no process and no listening port behind.
2. A part killed mid-session makes the tests that need it fail at once with a message that
   names it — no hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.process import port_open, process_group_alive

TESTS = Path(__file__).resolve().parent

CONFTEST = """
pytest_plugins = ["fixtures.common", "fixtures.sshd", "fixtures.broker", "fixtures.search",
                  "fixtures.aws", "fixtures.jvm", "fixtures.airflow"]
"""

INNER = """
import json, os, signal
from pathlib import Path
import pytest

RECORD = Path(os.environ["TESTBED_RECORD"])
SESSION = ["ssh_server", "tansu_broker", "search_store", "moto_server", "jmx_jvm"]


def pid_of(part):
    pid = getattr(part, "pid", None)
    return pid if isinstance(pid, int) else part.process.pid


def test_use_every_part(request, airflow_home):
    parts = {name: request.getfixturevalue(name) for name in SESSION}
    RECORD.write_text(json.dumps({name: [pid_of(p), p.port] for name, p in parts.items()}))
    if os.environ.get("TESTBED_KILL"):
        for part in parts.values():
            os.killpg(pid_of(part), signal.SIGKILL)


@pytest.mark.parametrize("fixture", ["sshd", "broker", "store", "aws", "jvm"])
def test_needs(fixture, request):
    request.getfixturevalue(fixture)
"""


def run_inner(tmp_path: Path, kill: bool) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    record = tmp_path / "record.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(TESTS),
        "TESTBED_RECORD": str(record),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
    }
    env.pop("TESTBED_KILL", None)
    if kill:
        env["TESTBED_KILL"] = "1"
    # The timeout bounds a hang; it is no speed target.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=120",
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    return proc, json.loads(record.read_text())


def test_a_session_using_every_part_leaves_nothing_running(tmp_path):
    proc, parts = run_inner(tmp_path, kill=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert set(parts) == {"ssh_server", "tansu_broker", "search_store", "moto_server", "jmx_jvm"}
    for name, (pid, port) in parts.items():
        assert not process_group_alive(pid), f"{name} (pid {pid}) is still running after the session"
        assert not port_open(port), f"{name}'s port {port} is still open after the session"


def test_a_part_killed_mid_session_fails_the_tests_that_need_it_naming_it(tmp_path):
    proc, parts = run_inner(tmp_path, kill=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    assert "5 failed, 1 passed" in out, out[-4000:]
    assert "Timeout" not in out
    for name, (pid, port) in parts.items():
        part_words = {
            "ssh_server": "sshd",
            "tansu_broker": "tansu broker",
            "search_store": "osmem-server",
            "moto_server": "moto",
            "jmx_jvm": "JVM",
        }[name]
        assert f"pid {pid}" in out and str(port) in out, f"{name}: the failure does not name pid {pid}/port {port}"
        assert part_words.lower() in out.lower(), f"{name}: the failure does not name the part"
