"""Debian's PostgreSQL as Airflow's metadata database, in a scratch folder.

``initdb`` + ``pg_ctl`` on 127.0.0.1 and a free port, TCP only (no Unix socket), trust
authentication for the one local user ``airflow``. PostgreSQL refuses to run as root: when the
test bed is root, the server runs as ``nobody`` in a folder handed over to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sandbox.process import LOOPBACK, SandboxError, free_port, port_open, wait_until

USER = "airflow"
DATABASE = "airflow"


def postgres_bin() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise SandboxError("postgres: no server installed (apt-get install postgresql; see scripts/ensure-system-deps)")
    return Path(found[-1]).parent


class PostgresServer:
    name = "postgres"

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.bin = postgres_bin()
        # Outside pytest's 0700 temp tree: the server's user must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="kafka-monitor-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.run_as = "nobody" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """SQLAlchemy URL for Airflow (psycopg2, from the lock)."""
        return f"postgresql+psycopg2://{USER}@{LOOPBACK}:{self.port}/{DATABASE}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.run_as:
            command = ["setpriv", f"--reuid={self.run_as}", f"--regid={self._gid()}", "--clear-groups", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if proc.returncode != 0:
            raise SandboxError(
                f"{self.name}: {' '.join(argv[:2])} failed (exit {proc.returncode}): {proc.stderr[-1500:]}"
            )

    def _gid(self) -> int:
        return pwd.getpwnam(self.run_as).pw_gid if self.run_as else os.getgid()

    def start(self) -> PostgresServer:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-instructions")
        options = f"-c listen_addresses={LOOPBACK} -p {self.port} -c unix_socket_directories='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        wait_until(lambda: port_open(self.port), f"{self.name} on {LOOPBACK}:{self.port}", timeout=60, log=self.log)
        self._run("createdb", "-h", LOOPBACK, "-p", str(self.port), "-U", USER, DATABASE)
        return self

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
            except SandboxError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def ensure_alive(self) -> None:
        if not port_open(self.port):
            raise SandboxError(f"{self.name} on {LOOPBACK}:{self.port} stopped answering")

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(host=LOOPBACK, port=self.port, user=USER, dbname=DATABASE) as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
