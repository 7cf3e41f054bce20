"""
### kafka_monitor — MirrorMaker lag, JMX snapshots and the MSK dashboard, every minute

Replaces the hand-written `Lag_monitor.py` (one never-ending SSH loop per topic) with bounded,
observable tasks:

- **plan_lag / plan_jmx** read and validate `include/kafka_monitor.yaml` (or `$KAFKA_MONITOR_CONFIG`, or the
  Variable `kafka_monitor_config_path`) at run time: adding a topic needs no deploy.
- **collect_group** — one mapped task per (MirrorMaker host, consumer group) (label
  `host/group`): SSH to the host with the host key checked and run one bounded
  `kafka-consumer-groups.sh --describe --group G` — once per group per minute, whatever the
  number of topics — and parse it for any Kafka version. In the default `per_topic` fan-out it
  hands each topic its own rows through XCom (one key per topic); in the `per_group` fan-out
  (`lag.fan_out`, for more topics than per-topic tasks can hold) it indexes every topic itself.
- **collect_lag** — `per_topic` fan-out: one mapped task per mirrored topic (label
  `host/topic`): its rows → one document per partition plus a per-topic summary into the lag
  index, and a status document. When the group's describe failed, every topic task records
  the error in its status document and fails naming host, topic and the error kind.
- **collect_admin_lag** — one mapped task per `consumer_groups` entry of `kind: admin`
  (label `name/group/N topics`, or `name/group/topic` when not batched): committed offsets then
  log-end offsets through the Kafka Admin API (apache-kafka provider connection), no SSH or JVM;
  the same documents as collect_lag, with `source: admin`.
- **snapshot_jmx** — one mapped task per JMX target (label: the target name): all of a
  target's preset beans in one bounded jmxquery call, into the JMX index.
- **sync_dashboard** — keeps the CloudWatch dashboard equal to the one rendered from the repo;
  calls AWS only when the definition changed or a drift check is due.

Alerts are judged by the `kafka_monitor_alerts` DAG the minute after; a failed or overrunning
run reaches the same channels through the DAG callbacks below.

Every document id is derived from the scheduled minute, so a retry overwrites and never
duplicates. A task fails with a message naming the cause (SSH, timeout, tool error, vanished
group, store); its status document says the same.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

from kafka_monitor.config import budget

# A per-minute job whose time budget is kafka_monitor.config.budget: every task's
# execution_timeout below comes from it, and check-config / plan_lag refuse a configuration
# whose timeouts cannot fit. No Airflow-level retries: a retry scheduled by Airflow would not
# fit the minute (and a run past dagrun_timeout marks its running tasks *skipped*); the
# describe retries inside collect_group while its budget holds, the store inside the sink, and
# the next minute's run tries again anyway.
DEFAULT_ARGS = {
    "owner": "kafka-monitor",
    "retries": 0,
    "retry_delay": timedelta(seconds=3),  # only for a task given retries by hand
    "execution_timeout": timedelta(seconds=budget.COLLECT_GROUP_TIMEOUT_S),
}
# At most this many describe sessions at once (max_active_runs=1 makes it the bound for the
# whole deployment): well under sshd's default MaxStartups 10:30:100. An Airflow pool named by
# $KAFKA_MONITOR_SSH_POOL can bound it further across DAGs.
SSH_SESSIONS = 4
SSH_POOL = os.environ.get("KAFKA_MONITOR_SSH_POOL") or "default_pool"


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
    dagrun_timeout=timedelta(seconds=budget.RUN_TIMEOUT_S),
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["kafka", "mirrormaker", "monitoring"],
    on_failure_callback=_run_failed,
    on_success_callback=_run_succeeded,
)
def kafka_monitor():
    @task(execution_timeout=timedelta(seconds=budget.PLAN_TIMEOUT_S), multiple_outputs=False)
    def plan_lag() -> list[dict]:
        from kafka_monitor import tasks

        return tasks.plan_lag()

    @task(execution_timeout=timedelta(seconds=budget.PLAN_TIMEOUT_S), multiple_outputs=False)
    def plan_jmx() -> list[dict]:
        from kafka_monitor import tasks

        return tasks.plan_jmx()

    @task(execution_timeout=timedelta(seconds=budget.PLAN_TIMEOUT_S), multiple_outputs=False)
    def plan_topics(groups: list[dict]) -> list[dict]:
        from kafka_monitor import tasks

        items, shared = tasks.plan_topics(groups)
        get_current_context()["ti"].xcom_push(key="shared", value=shared)
        return items

    @task(
        map_index_template="{{ label }}",
        max_active_tis_per_dagrun=SSH_SESSIONS,
        pool=SSH_POOL,
        execution_timeout=timedelta(seconds=budget.COLLECT_GROUP_TIMEOUT_S),
        multiple_outputs=False,
    )
    def collect_group(mirrormaker: dict, lag: dict, store: dict, cloudwatch: dict | None, evaluation: dict) -> dict:
        from kafka_monitor import tasks
        from kafka_monitor.lag.shared import xcom_key

        context = get_current_context()
        ti = context["ti"]
        context["label"] = tasks.group_label({"mirrormaker": mirrormaker})
        return tasks.collect_group(
            mirrormaker,
            lag,
            store,
            cloudwatch,
            evaluation,
            minute=tasks.scheduled_minute(context),
            run_id=context["run_id"],
            try_number=ti.try_number,
            hand_over=lambda topic, rows: ti.xcom_push(key=xcom_key(topic), value=rows),
        )

    @task(execution_timeout=timedelta(seconds=budget.PLAN_TIMEOUT_S), multiple_outputs=False)
    def plan_admin_lag() -> list[dict]:
        from kafka_monitor import tasks

        return tasks.plan_admin_lag()

    # A batched group of 2,000 topics needs most of the minute (bench/bench_admin.py).
    @task(
        map_index_template="{{ label }}",
        max_active_tis_per_dagrun=8,
        execution_timeout=timedelta(seconds=budget.ADMIN_TASK_TIMEOUT_S),
        multiple_outputs=False,
    )
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

    # all_done: when the group's describe failed, each topic still records the error in its
    # own status document and fails naming host, topic and the error kind.
    @task(
        map_index_template="{{ label }}",
        max_active_tis_per_dagrun=16,
        trigger_rule="all_done",
        execution_timeout=timedelta(seconds=budget.COLLECT_TOPIC_TIMEOUT_S),
        multiple_outputs=False,
    )
    def collect_lag(item: dict) -> dict:
        from kafka_monitor import tasks
        from kafka_monitor.lag.shared import xcom_key

        context = get_current_context()
        ti = context["ti"]
        shared = ti.xcom_pull(task_ids="plan_topics", key="shared")
        context["label"] = tasks.topic_label(item, shared)
        payload = ti.xcom_pull(task_ids="collect_group", map_indexes=item["g"], key=xcom_key(item["t"]))
        return tasks.collect_lag(
            item,
            shared,
            payload,
            minute=tasks.scheduled_minute(context),
            run_id=context["run_id"],
            try_number=ti.try_number,
        )

    @task(
        map_index_template="{{ label }}",
        max_active_tis_per_dagrun=8,
        execution_timeout=timedelta(seconds=budget.JMX_TASK_TIMEOUT_S),
        multiple_outputs=False,
    )
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

    @task(execution_timeout=timedelta(seconds=budget.DASHBOARD_TIMEOUT_S), multiple_outputs=False)
    def sync_dashboard() -> dict:
        from kafka_monitor import tasks

        context = get_current_context()
        return tasks.sync_dashboard(
            now=pendulum.now("UTC"), minute=tasks.scheduled_minute(context), run_id=context["run_id"]
        )

    groups = plan_lag()
    described = collect_group.expand_kwargs(groups)
    topics = collect_lag.expand(item=plan_topics(groups))
    described >> topics
    collect_admin_lag.expand_kwargs(plan_admin_lag())
    snapshot_jmx.expand_kwargs(plan_jmx())
    sync_dashboard()


kafka_monitor()
