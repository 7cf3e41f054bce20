"""
### kafka_monitor — MirrorMaker lag, JMX snapshots and the MSK dashboard, every minute

Replaces the hand-written `Lag_monitor.py` (one never-ending SSH loop per topic) with bounded,
observable tasks:

- **plan_lag / plan_jmx** read and validate `include/kafka_monitor.yaml` (or `$KAFKA_MONITOR_CONFIG`, or the
  Variable `kafka_monitor_config_path`) at run time: adding a topic needs no deploy.
- **collect_lag** — one mapped task per mirrored topic (label `host/topic`): SSH to the
  MirrorMaker host with the host key checked, run one bounded
  `kafka-consumer-groups.sh --describe --group G`, parse it for any Kafka version, bulk-index one
  document per partition plus a per-topic summary into the lag index, and a status document.
- **collect_admin_lag** — one mapped task per `consumer_groups` entry of `kind: admin`
  (label `name/group/N topics`, or `name/group/topic` when not batched): committed offsets then
  log-end offsets through the Kafka Admin API (apache-kafka provider connection), no SSH or JVM;
  the same documents as collect_lag, with `source: admin`.
- **snapshot_jmx** — one mapped task per JMX target (label: the target name): all of a
  target's preset beans in one bounded jmxquery call, into the JMX index.
- **evaluate_alerts** — after the lag, JMX and dashboard tasks (a teardown: it runs even when some failed, and
  leaves the run's state to them): opens, escalates and
  resolves incidents from the verdicts and delivers them through Airflow notifiers
  (`alerts:` in the configuration; see docs/alerts.md). Failed runs reach the same channels
  through the DAG callbacks.
- **sync_dashboard** — keeps the CloudWatch dashboard equal to the one rendered from the repo;
  calls AWS only when the definition changed or a drift check is due.

Every document id is derived from the scheduled minute, so a retry overwrites and never
duplicates. A task fails with a message naming the cause (SSH, timeout, tool error, vanished
group, store); its status document says the same.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

# A per-minute job: retry once, quickly, for a passing SSH or store hiccup; anything slower
# is the next minute's business. Failures a retry cannot fix fail at once (see tasks.py).
DEFAULT_ARGS = {
    "owner": "kafka-monitor",
    "retries": 1,
    "retry_delay": timedelta(seconds=3),
    "execution_timeout": timedelta(seconds=45),
}


# DAG-level callbacks as plain functions: a BaseNotifier instance here breaks `airflow dags test`
# in 3.3.2 (apache/airflow#64649). A run over its minute is failed by dagrun_timeout.
def _run_failed(context):
    from kafka_monitor import tasks

    tasks.notify_dag_run(context, failed=True)


def _run_succeeded(context):
    from kafka_monitor import tasks

    tasks.notify_dag_run(context, failed=False)


@dag(
    dag_id="kafka_monitor",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=58),
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["kafka", "mirrormaker", "monitoring"],
    on_failure_callback=_run_failed,
    on_success_callback=_run_succeeded,
)
def kafka_monitor():
    @task(execution_timeout=timedelta(seconds=20))
    def plan_lag() -> list[dict]:
        from kafka_monitor import tasks

        return tasks.plan_lag()

    @task(execution_timeout=timedelta(seconds=20))
    def plan_jmx() -> list[dict]:
        from kafka_monitor import tasks

        return tasks.plan_jmx()

    @task(map_index_template="{{ label }}", max_active_tis_per_dagrun=16)
    def collect_lag(target: dict, store: dict, cloudwatch: dict | None) -> dict:
        from kafka_monitor import tasks

        context = get_current_context()
        context["label"] = tasks.lag_label(target)
        return tasks.collect_lag(
            target,
            store,
            cloudwatch,
            minute=tasks.scheduled_minute(context),
            run_id=context["run_id"],
            try_number=context["ti"].try_number,
        )

    @task(execution_timeout=timedelta(seconds=20))
    def plan_admin_lag() -> list[dict]:
        from kafka_monitor import tasks

        return tasks.plan_admin_lag()

    # A batched group of 2,000 topics needs most of the minute (bench/bench_admin.py).
    @task(map_index_template="{{ label }}", max_active_tis_per_dagrun=8, execution_timeout=timedelta(seconds=55))
    def collect_admin_lag(target: dict, store: dict) -> dict:
        from kafka_monitor import tasks

        context = get_current_context()
        context["label"] = tasks.admin_lag_label(target)
        return tasks.collect_admin_lag(
            target,
            store,
            minute=tasks.scheduled_minute(context),
            run_id=context["run_id"],
            try_number=context["ti"].try_number,
        )

    @task(map_index_template="{{ label }}", max_active_tis_per_dagrun=8)
    def snapshot_jmx(target: dict, jmx: dict, store: dict) -> dict:
        from kafka_monitor import tasks

        context = get_current_context()
        context["label"] = target["name"]
        return tasks.snapshot_jmx(
            target,
            jmx,
            store,
            minute=tasks.scheduled_minute(context),
            run_id=context["run_id"],
            try_number=context["ti"].try_number,
        )

    @task(execution_timeout=timedelta(seconds=30))
    def sync_dashboard() -> dict:
        from kafka_monitor import tasks

        context = get_current_context()
        return tasks.sync_dashboard(
            now=pendulum.now("UTC"), minute=tasks.scheduled_minute(context), run_id=context["run_id"]
        )

    @task(execution_timeout=timedelta(seconds=40))
    def evaluate_alerts() -> dict:
        from kafka_monitor import tasks

        return tasks.evaluate_alerts(minute=tasks.scheduled_minute(get_current_context()))

    lag = collect_lag.expand_kwargs(plan_lag())
    admin_lag = collect_admin_lag.expand_kwargs(plan_admin_lag())
    jmx = snapshot_jmx.expand_kwargs(plan_jmx())
    dashboard = sync_dashboard()
    # A teardown runs when its upstream is done, failed or not, and unlike an all_done task it
    # does not decide the run's state: a failed collection still fails the run.
    [lag, admin_lag, jmx, dashboard] >> evaluate_alerts().as_teardown()


kafka_monitor()
