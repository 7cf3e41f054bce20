"""
### kafka_monitor_retention — keeps the monitoring indices bounded

Every hour: makes sure the index templates exist, then deletes the daily lag, status and JMX
indices (`<prefix>-YYYY.MM.DD`) older than `store.retention_days` of the configuration. Only
indices whose names match that pattern exactly are ever deleted.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="kafka_monitor_retention",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    default_args={
        "owner": "kafka-monitor",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=5),
    },
    doc_md=__doc__,
    tags=["kafka", "monitoring", "housekeeping"],
)
def kafka_monitor_retention():
    @task
    def enforce_retention() -> list[str]:
        from kafka_monitor import tasks

        return tasks.enforce_retention(now=pendulum.now("UTC"))

    enforce_retention()


kafka_monitor_retention()
