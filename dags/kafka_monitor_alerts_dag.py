"""
### kafka_monitor_alerts — incidents from the verdicts, delivered through Airflow notifiers

Every minute, one task judges the minute **before** (whose `kafka_monitor` run has ended:
its `dagrun_timeout` is under the minute): it reads that minute's topic summaries and status
documents back from the store, opens, escalates, reminds and resolves incidents (one
document per subject in `<incident_index>-state`), and delivers what is due through the
channels of `alerts:` in the configuration (apprise, smtp: credentials in Airflow
connections). A channel that is down keeps its notification queued for the next minute.

Kept apart from `kafka_monitor` (collect → documents → store ‖ evaluate → notify): a
collection that uses its whole minute, which is exactly what a fault does, cannot crowd the
alert about it out of the run. A failed or overrunning `kafka_monitor` run reaches the same
channels through that DAG's callbacks. See docs/alerts.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

from kafka_monitor.config import budget


@dag(
    dag_id="kafka_monitor_alerts",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=budget.RUN_TIMEOUT_S),
    default_args={
        "owner": "kafka-monitor",
        "retries": 0,  # the next minute's run reads the same stored state and catches up
        "execution_timeout": timedelta(seconds=budget.ALERTS_TIMEOUT_S),
    },
    doc_md=__doc__,
    tags=["kafka", "monitoring", "alerts"],
)
def kafka_monitor_alerts():
    @task(multiple_outputs=False)
    def evaluate_alerts() -> dict:
        from kafka_monitor import tasks

        minute = tasks.scheduled_minute(get_current_context()) - timedelta(minutes=1)
        return tasks.evaluate_alerts(minute=minute)

    evaluate_alerts()


kafka_monitor_alerts()
