"""A real local Spark driver (pyspark's Spark with JmxSink + JvmSource, sandbox/spark.py) read
through the product's own JMX path with the shipped presets: counters against the jobs the
driver itself ran, a busy driver's gauges while a job is held, and a metric name that survives
a restart of the driver (which leaves nothing of the old driver behind). One driver serves the
session: a Spark start costs seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kafka_monitor.config.schema import JmxSettings, JmxTarget, StoreSettings
from kafka_monitor.jmx.snapshot import collect_and_index, take_snapshot
from kafka_monitor.store.sink import SearchSink
from sandbox.process import port_open, process_group_alive, wait_until
from sandbox.search import find_documents
from sandbox.spark import descendants, pid_alive

SETTINGS = JmxSettings(timeout_s=30)
MINUTE = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
JOBS = 4


def spark_values(snap, app_id: str) -> dict[str, float]:
    """Stable metric name (app id cut off) -> value, for this application's driver metrics."""
    prefix = f"{app_id}."
    out = {}
    for s in snap.samples:
        name = s.properties.get("name", "")
        if s.domain == "metrics" and name.startswith(prefix):
            out[f"{name[len(prefix) :]}:{s.metric}"] = s.value
    return out


def test_completed_job_stage_and_task_counters_equal_the_jobs_the_driver_ran(spark_driver):
    target = JmxTarget(**spark_driver.jmx_target())
    before = spark_values(take_snapshot(target, SETTINGS), spark_driver.app_id)
    ran_before = spark_driver.request({"op": "ping"})["jobs"]
    totals = spark_driver.run_jobs(JOBS)
    snap = take_snapshot(target, SETTINGS)
    after = spark_values(snap, spark_driver.app_id)

    # Each job is one count() of a two-partition RDD: one stage, two tasks.
    assert totals["jobs"] == ran_before + JOBS
    assert after["driver.appStatus.jobs.succeededJobs:Count"] == totals["jobs"]
    assert after["driver.appStatus.stages.completedStages:Count"] == totals["stages"]
    assert after["driver.appStatus.tasks.completedTasks:Count"] == totals["tasks"]
    assert (
        after["driver.appStatus.jobs.succeededJobs:Count"] - before["driver.appStatus.jobs.succeededJobs:Count"] == JOBS
    )
    assert after["driver.DAGScheduler.job.activeJobs:Value"] == 0
    # JvmSource is there, and nothing the shipped presets ask for went unanswered.
    assert after["driver.jvm.heap.used:Value"] > 0
    assert snap.unmatched == [] and snap.skipped == []


def test_a_busy_driver_shows_its_running_job_and_stage(spark_driver):
    target = JmxTarget(**spark_driver.jmx_target())
    spark_driver.hold()
    try:
        busy = spark_values(take_snapshot(target, SETTINGS), spark_driver.app_id)
    finally:
        spark_driver.release()
    idle = spark_values(take_snapshot(target, SETTINGS), spark_driver.app_id)
    assert (
        busy["driver.DAGScheduler.job.activeJobs:Value"],
        busy["driver.DAGScheduler.stage.runningStages:Value"],
    ) == (
        1,
        1,
    )
    assert (
        idle["driver.DAGScheduler.job.activeJobs:Value"],
        idle["driver.DAGScheduler.stage.runningStages:Value"],
    ) == (
        0,
        0,
    )


def test_a_restarted_driver_leaves_nothing_behind_and_keeps_each_gauges_stable_metric_name(spark_driver, store):
    target = JmxTarget(**spark_driver.jmx_target())
    sink = SearchSink(store.opensearch_client(), StoreSettings(kind="opensearch", conn_id="s", initial_backoff_s=0.01))
    kwargs = dict(status_index_prefix="kafka-monitor-status", jmx_index_prefix="kafka-jmx")

    first_app, first_pid, first_control = spark_driver.app_id, spark_driver.pid, spark_driver.control_port
    assert first_pid is not None
    # A held job starts PySpark's worker daemon, which puts itself in a process group of its own:
    # the driver JVM, the daemon and its worker are all below the driver process.
    spark_driver.hold()
    try:
        wait_until(lambda: len(descendants(first_pid)) >= 3, "the held job's Python worker", timeout=60)
        below = descendants(first_pid)
    finally:
        spark_driver.release()
    collect_and_index(target, SETTINGS, sink, minute=MINUTE, **kwargs)
    spark_driver.restart()
    second_app = spark_driver.app_id
    collect_and_index(target, SETTINGS, sink, minute=MINUTE + timedelta(minutes=1), **kwargs)

    assert first_app != second_app and first_pid != spark_driver.pid  # a new JVM, a new application
    # Nothing of the first driver is left: no process (the worker daemon included), no port.
    assert not process_group_alive(first_pid)
    assert [pid for pid in below if pid_alive(pid)] == []
    assert not port_open(first_control)
    client = store.opensearch_client()
    heap = find_documents(client, "kafka-jmx-*", {"spark.metric": "driver.jvm.heap.used"})
    assert len(heap) == 2
    assert {d["object_name"] for d in heap} == {
        f"metrics:name={app}.driver.jvm.heap.used,type=gauges" for app in (first_app, second_app)
    }
    assert {(d["spark"]["app_id"], d["spark"]["role"], d["spark"]["executor_id"]) for d in heap} == {
        (first_app, "driver", None),
        (second_app, "driver", None),
    }
    # Every JvmSource gauge of the first run has its series continued by the second.
    docs = find_documents(client, "kafka-jmx-*", {"target": target.name}, size=5000)
    by_app: dict[str, set[str]] = {first_app: set(), second_app: set()}
    for d in docs:
        if "spark" in d:
            by_app[d["spark"]["app_id"]].add(d["spark"]["metric"])
    jvm_gauges = {m for m in by_app[first_app] if m.startswith("driver.jvm.")}
    assert len(jvm_gauges) > 20 and jvm_gauges <= by_app[second_app]
    # Non-Spark beans (java.lang) carry no spark object.
    assert all("spark" not in d for d in docs if d["domain"] == "java.lang")
