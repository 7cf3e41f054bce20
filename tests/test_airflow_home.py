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


def test_a_variable_set_by_one_test_is_gone_for_the_next(airflow, request):
    # Set the way Airflow itself stores it (its CLI writes the metadata database).
    stored = airflow.run(["variables", "set", "kafka_monitor_dashboard_sync", '{"left": "behind"}'], timeout=180)
    assert stored.returncode == 0, stored.stderr[-2000:]
    assert airflow.variable_keys() == {"kafka_monitor_dashboard_sync"}
    # What the next test's `airflow` fixture does before it starts.
    request.getfixturevalue("airflow_home").clear_variables()
    assert airflow.variable_keys() == set()
