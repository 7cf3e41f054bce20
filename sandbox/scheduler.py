"""Airflow as operators run it: ``scheduler`` + ``dag-processor`` + ``api-server``.

LocalExecutor on a Postgres metadata database (``sandbox.postgres``), every listener on
127.0.0.1: the API server on a free port, the scheduler with ``--skip-serve-logs`` (the worker
log server would listen on all interfaces; the API server reads the task logs from the local
folder instead). The simple auth manager with every user an admin, so the REST API and the UI
need no login in the sandbox.

``watch`` helpers read the metadata database directly (runs, task instances, XCom rows).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sandbox.airflow_home import AirflowHome, airflow_executable
from sandbox.postgres import PostgresServer
from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, port_open, wait_until


@dataclass
class Run:
    run_id: str
    logical_date: datetime
    start_date: datetime | None
    end_date: datetime | None
    state: str

    @property
    def start_delay_s(self) -> float | None:
        return (self.start_date - self.logical_date).total_seconds() if self.start_date else None

    @property
    def duration_s(self) -> float | None:
        return (self.end_date - self.start_date).total_seconds() if self.start_date and self.end_date else None


class AirflowServices:
    name = "airflow services"

    def __init__(
        self,
        home: Path,
        postgres: PostgresServer,
        extra_env: Mapping[str, str] | None = None,
        celery_workers: int = 0,
    ):
        # celery_workers > 0: CeleryExecutor on Debian's redis-server (127.0.0.1), that many
        # `airflow celery worker` processes, each with its own hostname (a machine of its own
        # as far as Airflow can tell; nothing is shared between them but the API and the DB).
        # Not usable with the current lock: apache-airflow-providers-celery 3.26.0 imports
        # `retry` from celery.backends.database, which celery 5.7.0 removed (ImportError in the
        # scheduler and the workers); it needs celery<5.7 in requirements.lock.
        self.celery_workers = celery_workers
        self.redis_port = free_port() if celery_workers else None
        self.home = AirflowHome(home)
        self.postgres = postgres
        self.api_port = free_port()
        self.extra_env = dict(extra_env or {})
        self.processes: list[ManagedProcess] = []
        self.jwt_secret = secrets.token_hex(32)  # 64 characters: no short-HMAC-key warning
        self._token: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = self.home.environment(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                **self.extra_env,
                **(extra or {}),
            }
        )
        if self.celery_workers:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "airflow.providers.celery.executors.celery_executor.CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": f"redis://{LOOPBACK}:{self.redis_port}/0",
                    # Not the database backend: the locked celery lacks what the provider imports for it.
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://{LOOPBACK}:{self.redis_port}/1",
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                }
            )
        return env

    def cli(self, *args: str, timeout: float = 300) -> str:
        import subprocess

        proc = subprocess.run(
            [airflow_executable(), *args], env=self.environment(), capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise SandboxError(f"{self.name}: airflow {' '.join(args)} failed: {(proc.stdout + proc.stderr)[-2000:]}")
        return proc.stdout

    def start(self) -> AirflowServices:
        self.home.home.mkdir(parents=True, exist_ok=True)
        self.cli("db", "migrate", timeout=600)
        logs = self.home.home / "service-logs"
        exe = airflow_executable()
        env = self.environment()
        self.processes = [
            ManagedProcess(
                "api-server",
                [exe, "api-server", "--host", LOOPBACK, "--port", str(self.api_port), "--workers", "1"],
                logs / "api-server.log",
                env=env,
            ).start(),
            ManagedProcess("dag-processor", [exe, "dag-processor"], logs / "dag-processor.log", env=env).start(),
            ManagedProcess(
                "scheduler", [exe, "scheduler", "--skip-serve-logs"], logs / "scheduler.log", env=env
            ).start(),
        ]
        if self.celery_workers:
            self.processes.insert(
                0,
                ManagedProcess(
                    "redis-server",
                    [
                        "redis-server",
                        "--bind",
                        LOOPBACK,
                        "--port",
                        str(self.redis_port),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    logs / "redis.log",
                ).start(),
            )
            for n in range(1, self.celery_workers + 1):
                self.processes.append(
                    ManagedProcess(
                        f"celery worker {n}",
                        [exe, "celery", "worker", "--celery-hostname", f"worker{n}@kafka-monitor", "--skip-serve-logs"],
                        logs / f"celery-worker-{n}.log",
                        env=env,
                    ).start()
                )
        api = next(p for p in self.processes if p.name == "api-server")
        wait_until(
            lambda: port_open(self.api_port), f"{self.name}: api-server", timeout=180, proc=api.proc, log=api.log
        )
        wait_until(
            lambda: self.api("/api/v2/monitor/health") is not None,
            f"{self.name}: api-server health",
            timeout=120,
            proc=api.proc,
            log=api.log,
        )
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace=10)
        self.processes = []

    def ensure_alive(self) -> None:
        for process in self.processes:
            if not process.alive():
                raise SandboxError(f"{self.name}: {process.name} exited; see {process.log}")

    def __enter__(self) -> AirflowServices:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST API (simple auth manager, all admins: a token from /auth/token)
    def token(self) -> str:
        # With all users admins, GET /auth/token hands out a token without credentials.
        if not self._token:
            with urllib.request.urlopen(f"{self.api_url}/auth/token", timeout=10) as reply:
                self._token = json.loads(reply.read())["access_token"]
        return self._token

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict | None:
        headers = {"Content-Type": "application/json"}
        if not path.startswith("/api/v2/monitor"):
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=15) as reply:
            return json.loads(reply.read())

    # -- the DAG
    def wait_for_dag(self, dag_id: str, timeout: float = 240) -> None:
        def parsed() -> bool:
            return bool(self.postgres.query("select 1 from dag where dag_id=%s", (dag_id,)))

        processor = next(p for p in self.processes if p.name == "dag-processor")
        wait_until(
            parsed,
            f"{self.name}: DAG {dag_id} parsed",
            timeout=timeout,
            interval=1,
            proc=processor.proc,
            log=processor.log,
        )
        errors = self.postgres.query("select filename, stacktrace from import_error")
        if errors:
            raise SandboxError(f"{self.name}: DAG import errors: {errors}")

    def unpause(self, dag_id: str) -> None:
        self.api(f"/api/v2/dags/{dag_id}", method="PATCH", body={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.api(f"/api/v2/dags/{dag_id}", method="PATCH", body={"is_paused": True})

    def runs(self, dag_id: str) -> list[Run]:
        rows = self.postgres.query(
            "select run_id, logical_date, start_date, end_date, state from dag_run "
            "where dag_id=%s and run_type='scheduled' order by logical_date",
            (dag_id,),
        )
        return [Run(*row) for row in rows]

    def hostnames(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
        """{(task_id, map_index): the worker hostname that ran it} for one run."""
        rows = self.postgres.query(
            "select task_id, map_index, hostname from task_instance where dag_id=%s and run_id=%s and hostname <> ''",
            (dag_id, run_id),
        )
        return {(t, i): h for t, i, h in rows}

    def task_instances(self, dag_id: str, run_id: str) -> list[tuple[str, int, str | None, str | None, int]]:
        """(task_id, map_index, rendered_map_index, state, try_number) of one run."""
        return self.postgres.query(
            "select task_id, map_index, rendered_map_index, state, try_number from task_instance "
            "where dag_id=%s and run_id=%s order by task_id, map_index",
            (dag_id, run_id),
        )

    def xcom_rows(self, dag_id: str, run_id: str) -> int:
        return self.postgres.query("select count(*) from xcom where dag_id=%s and run_id=%s", (dag_id, run_id))[0][0]

    def xcom_bytes(self, dag_id: str, run_id: str) -> int:
        rows = self.postgres.query(
            "select coalesce(sum(length(value::text)), 0) from xcom where dag_id=%s and run_id=%s", (dag_id, run_id)
        )
        return int(rows[0][0])

    def task_log_bytes(self, dag_id: str, run_id: str) -> int:
        folder = self.home.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
        folder = self.home.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return {str(p.relative_to(folder)): p.read_text(errors="replace") for p in folder.rglob("*.log")}

    def wait_for_runs(self, dag_id: str, count: int, timeout: float) -> list[Run]:
        """Until ``count`` scheduled runs have ended (or the time is up): the ended runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ensure_alive()
            ended = [r for r in self.runs(dag_id) if r.end_date is not None]
            if len(ended) >= count:
                return ended
            time.sleep(2)
        return [r for r in self.runs(dag_id) if r.end_date is not None]
