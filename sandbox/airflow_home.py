"""An AIRFLOW_HOME in a scratch folder with a migrated SQLite database, for ``airflow dags test``.

Nothing of the developer's own ``~/airflow`` is read: every setting that matters is passed
through the environment of the ``airflow`` processes this starts.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.process import SandboxError

REPO = Path(__file__).resolve().parent.parent


def airflow_executable() -> str:
    # The airflow entry point of the environment this sandbox runs in (the project's .venv).
    candidate = Path(sys.executable).with_name("airflow")
    found = str(candidate) if candidate.exists() else shutil.which("airflow")
    if not found:
        raise SandboxError("airflow home: the `airflow` command is not installed in this environment")
    return found


class AirflowHome:
    name = "airflow home"

    def __init__(self, home: Path, dags_folder: Path | None = None, plugins_folder: Path | None = None):
        self.home = Path(home)
        self.dags_folder = dags_folder or REPO / "dags"
        self.plugins_folder = plugins_folder or REPO / "plugins"
        self.migrated = False

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != "AIRFLOW_HOME"
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
                # Keeps `airflow dags test` output readable in the demo.
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Airflow 3.3.2 + pathspec: a DeprecationWarning in every task (docs/operations.md).
                "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",
            }
        )
        if extra:
            env.update(extra)
        return env

    def migrate(self) -> AirflowHome:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.home / "migrate.log"
        with open(log, "wb") as out:
            proc = subprocess.run(
                [airflow_executable(), "db", "migrate"],
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SandboxError(f"{self.name}: `airflow db migrate` failed (exit {proc.returncode}):\n{tail}")
        self.migrated = True
        return self

    def ensure_alive(self) -> None:
        if not (self.home / "airflow.db").exists():
            raise SandboxError(f"{self.name} ({self.home}): the metadata database is missing")

    def variable_keys(self) -> set[str]:
        """The keys of every Airflow Variable in the metadata database (values may be encrypted)."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            return {key for (key,) in db.execute("select key from variable")}

    def clear_variables(self) -> None:
        """Forget every Airflow Variable, so one user of this home never sees another's state."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            db.execute("delete from variable")

    def _latest_run_id(self, db: sqlite3.Connection, dag_id: str) -> str:
        return db.execute("select run_id from dag_run where dag_id=? order by id desc limit 1", (dag_id,)).fetchone()[0]

    def task_states(self, task_id: str, dag_id: str = "kafka_monitor") -> dict[str, str]:
        """{rendered map index (or map index): state} of the latest run's instances of ``task_id``."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "select rendered_map_index, map_index, state from task_instance "
                "where dag_id=? and task_id=? and run_id=?",
                (dag_id, task_id, self._latest_run_id(db, dag_id)),
            ).fetchall()
        return {label or str(index): state for label, index, state in rows}

    def task_return_values(self, task_id: str, dag_id: str = "kafka_monitor") -> list[str]:
        """The XCom return values (as stored) of the latest run's instances of ``task_id``."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "select value from xcom where dag_id=? and task_id=? and run_id=? and key='return_value'",
                (dag_id, task_id, self._latest_run_id(db, dag_id)),
            ).fetchall()
        return [value for (value,) in rows]

    def run(
        self,
        args: Sequence[str],
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 600,
        capture: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``airflow <args>`` against this home."""
        return subprocess.run(
            [airflow_executable(), *args],
            env=self.environment(extra_env),
            text=True,
            capture_output=capture,
            timeout=timeout,
        )

    def dags_test(
        self,
        dag_id: str,
        logical_date: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 600,
        capture: bool = True,
    ) -> subprocess.CompletedProcess:
        args = ["dags", "test", dag_id]
        if logical_date:
            args.append(logical_date)
        return self.run(args, extra_env, timeout, capture)
