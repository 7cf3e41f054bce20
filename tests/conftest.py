"""Test bed set-up shared by the whole suite.

Airflow reads its configuration when first imported, so the environment is fixed here, at
import time, before any test module imports airflow: a throw-away AIRFLOW_HOME, no example
DAGs, this repository's dags/ folder, and nothing from the developer's own ~/airflow.

The real parts (sshd, tansu, osmem, moto, a JMX JVM, ZooKeeper, a Spark driver, a migrated Airflow home) are fixtures
from tests/fixtures/, one module per part, all built on the sandbox package that the demo
uses too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_home = Path(tempfile.mkdtemp(prefix="kafka-monitor-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(_home / "logs")
os.environ.pop("KAFKA_MONITOR_CONFIG", None)

pytest_plugins = [
    "fixtures.common",
    "fixtures.sshd",
    "fixtures.broker",
    "fixtures.search",
    "fixtures.aws",
    "fixtures.jvm",
    "fixtures.zookeeper",
    "fixtures.spark",
    "fixtures.airflow",
    "fixtures.receivers",
]
