"""The sandbox under the real scheduler: what ``make soak``, the short scheduler test and
``bench/bench_scheduler.py`` run.

The sandbox's parts (tansu broker, stand-in MirrorMaker host behind sshd with sshd's *default*
MaxStartups, the search store) plus Postgres and Airflow's scheduler, dag-processor and
api-server (``sandbox.scheduler``), all on 127.0.0.1. The configuration file is re-read by
every run, so a test or a bench changes the fan-out or the topics between minutes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox.mirrormaker import SEED_TOPICS
from sandbox.postgres import PostgresServer
from sandbox.scheduler import AirflowServices
from sandbox.stack import Sandbox

DAG_ID = "kafka_monitor"
# Airflow 3.3.2's task runner loads plugins/.airflowignore (glob syntax) through pathspec's
# deprecated GitWildMatchPattern, which warns in every task log; the deployment filters it.
PYTHONWARNINGS = "ignore:GitWildMatchPattern:DeprecationWarning"


class LiveAirflow:
    def __init__(
        self,
        topics: tuple[str, ...] = SEED_TOPICS,
        partitions: int | None = None,
        workdir: Path | None = None,
        celery_workers: int = 0,
    ):
        self.celery_workers = celery_workers
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kafka-monitor-live-"))
        self._own_dir = workdir is None
        self.stack = contextlib.ExitStack()
        self.sandbox = Sandbox(
            self.workdir / "sandbox",
            jmx=False,
            aws=False,
            airflow=False,
            topics=topics,
            partitions=partitions,
            ssh_max_startups=None,
        )
        self.postgres: PostgresServer | None = None
        self.airflow: AirflowServices | None = None
        self.unpaused_at: float | None = None

    def start(self) -> LiveAirflow:
        try:
            self.stack.enter_context(self.sandbox)
            self.postgres = self.stack.enter_context(PostgresServer())
            env = {**self.sandbox.environment(), "PYTHONWARNINGS": PYTHONWARNINGS}
            self.airflow = self.stack.enter_context(
                AirflowServices(self.workdir / "airflow", self.postgres, env, celery_workers=self.celery_workers)
            )
            self.airflow.wait_for_dag(DAG_ID)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stack.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LiveAirflow:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def configure(self, topics: list[str] | None = None, **lag: Any) -> None:
        """Rewrite the configuration (read by the next run): the mirrored topics to watch (a
        subset of the host's), and ``lag`` section values."""
        config = self.sandbox.config()
        if topics is not None:
            config["mirrormakers"][0]["topics"] = list(topics)
        if lag:
            config["lag"] = lag
        self.sandbox.write_config(config)

    def unpause(self) -> None:
        assert self.airflow is not None
        self.airflow.unpause(DAG_ID)
        self.unpaused_at = time.time()

    def wait_until_second(self, second: float) -> None:
        """Sleep until ``second`` past the next minute boundary."""
        now = time.time()
        target = now - now % 60 + second
        if target <= now:
            target += 60
        time.sleep(target - now)
