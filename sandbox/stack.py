"""The whole sandbox wired together: what ``make demo`` runs and the end-to-end tests use.

``Sandbox`` starts every part on 127.0.0.1, mirrors the seed's five topics (18 partitions
each) through the stand-in MirrorMaker host so that ``oasis-group`` lags, writes a
kafka-monitor configuration for it, and gives the environment (``AIRFLOW_CONN_*``,
``KAFKA_MONITOR_CONFIG``) under which ``airflow dags test kafka_monitor`` runs against it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from sandbox.airflow_home import AirflowHome
from sandbox.broker import TansuBroker
from sandbox.mirrormaker import SEED_GROUP, SEED_TOPICS, MirrorMakerHost
from sandbox.search import SearchStore
from sandbox.sshd import SshServer

SSH_CONN_ID = "sandbox_mm_ssh"
STORE_CONN_ID = "sandbox_store"
AWS_CONN_ID = "sandbox_aws"
MIRRORMAKER_NAME = "mm-sandbox-1"


class Sandbox:
    """``with Sandbox(workdir, jmx=True, aws=True) as sb: sb.environment()``."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        store_kind: str = "opensearch",
        jmx: bool = True,
        aws: bool = True,
        airflow: bool = True,
        topics: tuple[str, ...] = SEED_TOPICS,
        partitions: int | None = None,
        ssh_max_startups: str | None = "100:30:200",
    ):
        self.partitions = partitions
        self.ssh_max_startups = ssh_max_startups
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kafka-monitor-sandbox-"))
        self.store_kind = store_kind
        self.topics = topics
        self.want_jmx = jmx
        self.want_aws = aws
        self.want_airflow = airflow
        self.config_path = self.workdir / "kafka_monitor.yaml"
        self.stack = contextlib.ExitStack()
        self.broker: TansuBroker | None = None
        self.ssh: SshServer | None = None
        self.store: SearchStore | None = None
        self.mirrormaker: MirrorMakerHost | None = None
        self.jvm: Any = None
        self.aws: Any = None
        self.airflow: AirflowHome | None = None
        self.plan: dict = {}

    # -- lifetime
    def start(self) -> Sandbox:
        try:
            self.broker = self.stack.enter_context(TansuBroker(self.workdir / "broker"))
            self.ssh = self.stack.enter_context(SshServer(self.workdir / "sshd", max_startups=self.ssh_max_startups))
            self.store = self.stack.enter_context(SearchStore(self.workdir / "store"))
            self.mirrormaker = MirrorMakerHost(self.workdir / "mirrormaker-host", self.broker).install()
            self.plan = (
                self.mirrormaker.mirror(self.topics, self.partitions)
                if self.partitions
                else self.mirrormaker.mirror(self.topics)
            )
            if self.want_jmx:
                from sandbox.jvm import JmxJvm

                self.jvm = self.stack.enter_context(JmxJvm(self.workdir / "jvm"))
            if self.want_aws:
                from sandbox.aws import MotoServer

                self.aws = self.stack.enter_context(MotoServer())
            if self.want_airflow:
                self.airflow = AirflowHome(self.workdir / "airflow").migrate()
            self.write_config()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stack.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- configuration
    def config(self, **overrides: Any) -> dict:
        assert self.mirrormaker is not None
        config: dict[str, Any] = {
            "store": {
                "kind": self.store_kind,
                "conn_id": STORE_CONN_ID,
                "retention_days": 7,
                "initial_backoff_s": 0.1,
                "max_backoff_s": 0.5,
            },
            "mirrormakers": [
                self.mirrormaker.mirrormaker_config(
                    MIRRORMAKER_NAME, SSH_CONN_ID, connect_s=3, command_s=8, kill_grace_s=1, tool_timeout_ms=5000
                )
            ],
        }
        if self.jvm is not None:
            config["jmx"] = {"timeout_s": 20, "targets": self.jvm.jmx_targets()}
        if self.aws is not None:
            config["cloudwatch"] = {
                "enabled": True,
                "aws_conn_id": AWS_CONN_ID,
                "region": "ap-northeast-2",
                "msk_cluster_name": "oasis-msk",
                "broker_ids": [1, 2, 3],
                "mirrormaker_instance_ids": ["i-0a1b2c3d4e5f60718"],
                "consumer_group": SEED_GROUP,
                "drift_check_minutes": 60,
                "kibana_url": "http://127.0.0.1:5601/app/dashboards#/view/kafka-monitor-mirrormaker-lag",
            }
        config.update(overrides)
        return config

    def write_config(self, config: dict | None = None) -> Path:
        self.config_path.write_text(yaml.safe_dump(config or self.config(), sort_keys=False))
        return self.config_path

    def connections(self) -> dict[str, dict]:
        assert self.ssh is not None and self.store is not None
        conns = {
            SSH_CONN_ID: self.ssh.airflow_connection(SSH_CONN_ID),
            STORE_CONN_ID: self.store.airflow_connection(self.store_kind),
        }
        if self.aws is not None:
            conns[AWS_CONN_ID] = self.aws.airflow_connection()
        return conns

    def environment(self) -> dict[str, str]:
        """What the Airflow processes need: the connections and the configuration's path."""
        env = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in self.connections().items()}
        env["KAFKA_MONITOR_CONFIG"] = str(self.config_path)
        return env
