"""Every DAG file imports cleanly and every DAG is documented, tagged, owned and bounded.

Astronomer's template calls ``DagBag(include_examples=False)``, which raises TypeError in
Airflow 3.3 (apache/airflow#70283); examples are switched off through the environment
(tests/conftest.py) and the bag is built from dags/ only.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from croniter import croniter

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"
APPROVED_TAGS = {"kafka", "mirrormaker", "monitoring", "housekeeping", "alerts"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_DIR))


def dag_files() -> list[str]:
    return sorted(p.name for p in DAGS_DIR.glob("*.py"))


@pytest.mark.parametrize("filename", dag_files())
def test_dag_file_imports_without_errors(dagbag, filename):
    errors = {Path(path).name: err for path, err in dagbag.import_errors.items()}
    assert filename not in errors, errors.get(filename)
    assert any(Path(dag.fileloc).name == filename for dag in dagbag.dags.values()), f"{filename} defines no DAG"


def test_the_expected_dags_exist(dagbag):
    assert {"kafka_monitor", "kafka_monitor_retention"} <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", ["kafka_monitor", "kafka_monitor_retention"])
def test_dag_is_documented_tagged_and_owned(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md.strip()) > 200, "doc_md should explain the DAG"
    assert dag.tags and set(dag.tags) <= APPROVED_TAGS, f"tags {dag.tags} not in {APPROVED_TAGS}"
    for task in dag.tasks:
        assert task.owner == "kafka-monitor", f"{task.task_id} has owner {task.owner!r}"


@pytest.mark.parametrize("dag_id", ["kafka_monitor", "kafka_monitor_retention"])
def test_retries_and_timeouts_are_sane(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout is not None
    for task in dag.tasks:
        # The per-minute DAG retries inside its tasks (an Airflow retry would not fit the minute).
        assert task.retries >= (0 if dag_id == "kafka_monitor" else 1), f"{task.task_id}: no retries"
        assert task.execution_timeout is not None, f"{task.task_id}: no execution_timeout"
        assert task.execution_timeout <= dag.dagrun_timeout, f"{task.task_id}: outlives its run"
        # A retry must be able to start inside the run it belongs to.
        assert task.retry_delay < dag.dagrun_timeout


@pytest.mark.parametrize("dag_id", ["kafka_monitor", "kafka_monitor_alerts"])
def test_the_per_minute_dag_fits_in_its_minute(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    cron = dag.timetable.expression
    times = croniter(cron).all_next(float)
    first, second = next(times), next(times)
    assert second - first == 60, f"schedule {cron!r} is not every minute"
    assert dag.dagrun_timeout < timedelta(minutes=1)
    # Every chain of tasks fits the run, tries and retries summed: a task may start only when its
    # upstream tasks have ended (their worst case), then use all its tries and the delays between.
    finish: dict[str, timedelta] = {}
    for task in dag.topological_sort():
        start = max((finish[u] for u in task.upstream_task_ids), default=timedelta(0))
        finish[task.task_id] = start + task.execution_timeout * (task.retries + 1) + task.retry_delay * task.retries
    worst = max(finish, key=finish.__getitem__)
    assert finish[worst] <= dag.dagrun_timeout, (
        f"worst case {finish[worst].total_seconds():g} s (ending with {worst}) exceeds dagrun_timeout "
        f"{dag.dagrun_timeout.total_seconds():g} s: "
        + ", ".join(f"{t}={d.total_seconds():g} s" for t, d in sorted(finish.items()))
    )


@pytest.mark.parametrize("dag_id", ["kafka_monitor", "kafka_monitor_alerts"])
def test_every_path_of_the_minute_ends_before_the_run_times_out(dagbag, dag_id):
    """A task still running at dagrun_timeout is marked *skipped*: along every path of the DAG,
    the execution timeouts plus each task's start allowance must fit in the run's timeout."""
    from kafka_monitor.config.budget import STAGE_START_S

    dag = dagbag.dags[dag_id]

    def longest(task) -> float:
        own = STAGE_START_S + task.execution_timeout.total_seconds()
        return own + max((longest(t) for t in task.downstream_list), default=0.0)

    roots = [t for t in dag.tasks if not t.upstream_list]
    worst = {t.task_id: longest(t) for t in roots}
    assert max(worst.values()) <= dag.dagrun_timeout.total_seconds(), worst


def test_no_task_return_is_split_into_one_xcom_per_key(dagbag):
    # A `-> dict` return annotation makes Airflow store one XCom row per key, plus the whole.
    for task in dagbag.dags["kafka_monitor"].tasks:
        assert task.multiple_outputs is False, task.task_id


def test_the_lag_and_jmx_tasks_are_mapped_and_labelled(dagbag):
    dag = dagbag.dags["kafka_monitor"]
    for task_id in ("collect_group", "collect_lag", "collect_admin_lag", "snapshot_jmx"):
        task = dag.get_task(task_id)
        assert task.is_mapped, f"{task_id} is not dynamically mapped"
        assert task.partial_kwargs.get("map_index_template") or getattr(task, "map_index_template", None)


def test_the_package_is_not_loaded_as_airflow_plugin_files():
    # Airflow execs each plugins/ file as a top-level module named after the file
    # (sys.modules["config"], sys.modules["__main__"], …); plugins/.airflowignore prevents it.
    from airflow._shared.module_loading import find_path_from_directory

    plugins = Path(__file__).resolve().parent.parent / "plugins"
    scanned = [p for p in find_path_from_directory(str(plugins), ".airflowignore", "glob") if p.endswith(".py")]
    assert scanned == []
    assert (plugins / "kafka_monitor" / "__main__.py").exists()  # the package is still there to import
