"""The Airflow home of the test bed: a migrated SQLite database, usable by `airflow`."""

from __future__ import annotations

import sqlite3


def test_database_is_migrated_and_the_project_dags_are_listed(airflow):
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert {"dag_run", "task_instance", "connection", "variable", "alembic_version"} <= tables

    listed = airflow.run(["dags", "list", "--output", "json", "--local"], timeout=180)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "kafka_monitor" in listed.stdout and "kafka_monitor_retention" in listed.stdout
