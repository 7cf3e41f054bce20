"""kafka_monitor under the real scheduler, for real minutes.

Airflow's ``scheduler`` (LocalExecutor, ``--skip-serve-logs``), ``dag-processor`` and
``api-server`` on a Postgres metadata database, with the sandbox (broker, stand-in MirrorMaker
host behind an sshd with its *default* MaxStartups, store), all on 127.0.0.1
(``sandbox.live``). The DAG is unpaused and real minutes are watched:

- short (in ``make test``, selected by ``-m scheduler``): the first run, a healthy minute, a
  minute with a hanging tool, and the minute after it (about 3 minutes of runs);
- ``KAFKA_MONITOR_SOAK=1`` (``make soak``) adds sshd stopped for two minutes and back, and two
  more healthy minutes.

Oracles, each independent of the code under test: the metadata database (runs, task
instances), the stand-in tool's own count of its runs, the documents in the store, and the
Airflow UI in headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.live import DAG_ID, LiveAirflow
from sandbox.mirrormaker import SEED_GROUP, SEED_TOPICS
from sandbox.scheduler import Run
from sandbox.search import find_documents

SOAK = os.environ.get("KAFKA_MONITOR_SOAK", "") not in ("", "0")
pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(1500 if SOAK else 720)]
MM = "mm-sandbox-1"
LAG_TASKS = ("plan_lag", "plan_topics", "collect_group", "collect_lag")


def next_run_after(live: LiveAirflow, logical: datetime | None, timeout: float = 150) -> Run:
    """The first scheduled run with a later logical date than ``logical``, once it has ended."""
    assert live.airflow is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live.airflow.ensure_alive()
        for run in live.airflow.runs(DAG_ID):
            if (logical is None or run.logical_date > logical) and run.end_date is not None:
                return run
        time.sleep(2)
    raise AssertionError(f"no run after {logical} ended within {timeout} s: {live.airflow.runs(DAG_ID)}")


def minute_z(run: Run) -> str:
    return run.logical_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")


@pytest.fixture(scope="module")
def scenario():
    """Runs the timeline once; the tests below read what it saw."""
    with LiveAirflow() as live:
        assert live.airflow is not None
        mm = live.sandbox.mirrormaker
        assert mm is not None and live.sandbox.ssh is not None
        live.configure(fan_out="per_topic")
        # Unpaused just after a minute begins, the catch-up run (for the minute before) ends
        # before the next minute: every later run can start on time.
        live.wait_until_second(1)
        live.unpause()
        phases: dict[str, list[Run]] = {"healthy": [], "hang": [], "sshd_down": [], "recovered": []}
        first = next_run_after(live, None)
        phases["healthy"].append(first)
        phases["healthy"].append(next_run_after(live, first.logical_date))

        mm.set_mode("hang")  # the next minute's describe never answers
        phases["hang"].append(next_run_after(live, phases["healthy"][-1].logical_date))
        mm.set_mode(None)
        phases["recovered"].append(next_run_after(live, phases["hang"][-1].logical_date))

        if SOAK:
            live.sandbox.ssh.stop_serving()  # sshd down for two minutes
            last = phases["recovered"][-1]
            for _ in range(2):
                last = next_run_after(live, last.logical_date)
                phases["sshd_down"].append(last)
            live.sandbox.ssh.serve_again()
            for _ in range(2):
                last = next_run_after(live, last.logical_date)
                phases["recovered"].append(last)
        live.airflow.pause(DAG_ID)
        yield live, phases


def all_runs(phases) -> list[Run]:
    return sorted((r for runs in phases.values() for r in runs), key=lambda r: r.logical_date)


def lag_states(live: LiveAirflow, run: Run) -> dict[tuple[str, str], str]:
    assert live.airflow is not None
    return {
        (task_id, label or str(index)): state
        for task_id, index, label, state, _ in live.airflow.task_instances(DAG_ID, run.run_id)
        if task_id in LAG_TASKS
    }


def statuses(live: LiveAirflow, run: Run) -> list[dict]:
    assert live.sandbox.store is not None
    client = live.sandbox.store.opensearch_client()
    return find_documents(client, "kafka-monitor-status-*", {"source": "lag", "@timestamp": minute_z(run)})


def test_a_run_every_minute_none_overlapping(scenario):
    live, phases = scenario
    runs = all_runs(phases)
    # Every minute after the first has its run, and no run starts before the previous ended.
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.logical_date - before.logical_date == timedelta(minutes=1), (before, after)
        assert after.start_date >= before.end_date, (before, after)
    # From the second run on, a run ends before the next minute begins: the next run is on time.
    for run in runs[1:]:
        assert run.end_date < run.logical_date + timedelta(minutes=1), run


def test_one_describe_per_group_per_run(scenario):
    live, phases = scenario
    mm = live.sandbox.mirrormaker
    stamps = mm.tool_invocations(SEED_GROUP)
    for run in phases["healthy"] + phases["recovered"]:
        inside = [s for s in stamps if run.start_date.timestamp() <= s <= run.end_date.timestamp()]
        assert len(inside) == 1, (run, inside)


def test_one_document_set_per_minute(scenario):
    live, phases = scenario
    client = live.sandbox.store.opensearch_client()
    for run in phases["healthy"] + phases["recovered"]:
        assert {(k, v) for k, v in lag_states(live, run).items()} == {
            *((("collect_lag", f"{MM}/{t}"), "success") for t in SEED_TOPICS),
            (("collect_group", f"{MM}/{SEED_GROUP}"), "success"),
            (("plan_lag", "-1"), "success"),
            (("plan_topics", "-1"), "success"),
        }, run
        docs = statuses(live, run)
        assert sorted(d["topic"] for d in docs) == sorted(SEED_TOPICS) and {d["status"] for d in docs} == {"ok"}
        partitions = find_documents(client, "kafka-lag-*", {"doc_type": "partition", "@timestamp": minute_z(run)})
        assert len(partitions) == 18 * len(SEED_TOPICS)
        assert len({(d["topic"], d["partition"]) for d in partitions}) == len(partitions)  # no duplicates


def test_task_logs_hold_no_remote_table_and_no_warning_repeated_every_minute(scenario):
    live, phases = scenario
    run = phases["healthy"][-1]
    for task_id in ("collect_group", "collect_lag", "plan_lag", "plan_topics"):
        logs = live.airflow.task_logs(DAG_ID, run.run_id, task_id)
        assert logs, task_id
        for name, text in logs.items():
            assert "LOG-END-OFFSET" not in text, f"{task_id}/{name} holds the describe table"
            assert "DeprecationWarning" not in text, f"{task_id}/{name}"
            assert '"level":"warning"' not in text.replace(" ", ""), f"{task_id}/{name}"
    # Each topic's log speaks of its own topic only.
    for name, text in live.airflow.task_logs(DAG_ID, run.run_id, "collect_lag").items():
        assert sum(f"{MM}/{t}:" in text for t in SEED_TOPICS) == 1, name


def test_a_hanging_tool_fails_every_topic_with_command_timeout_and_nothing_is_skipped(scenario):
    live, phases = scenario
    (run,) = phases["hang"]
    states = lag_states(live, run)
    assert states[("collect_group", f"{MM}/{SEED_GROUP}")] == "failed"
    assert {states[("collect_lag", f"{MM}/{t}")] for t in SEED_TOPICS} == {"failed"}
    docs = statuses(live, run)
    assert sorted(d["topic"] for d in docs) == sorted(SEED_TOPICS)
    assert {(d["status"], d["error_kind"]) for d in docs} == {("error", "command_timeout")}
    assert all(MM in d["error_message"] for d in docs)
    # The failed task's own log names host and topic with the kind.
    logs = live.airflow.task_logs(DAG_ID, run.run_id, "collect_lag")
    assert logs and all("command_timeout" in text and f"{MM}/" in text for text in logs.values())


def test_no_lag_task_ever_ends_skipped(scenario):
    live, phases = scenario
    for run in all_runs(phases):
        assert "skipped" not in lag_states(live, run).values(), run
        assert "upstream_failed" not in lag_states(live, run).values(), run


@pytest.mark.skipif(not SOAK, reason="soak only (make soak)")
def test_sshd_down_gives_error_status_documents_and_recovers_without_help(scenario):
    live, phases = scenario
    assert len(phases["sshd_down"]) == 2
    for run in phases["sshd_down"]:
        docs = statuses(live, run)
        assert sorted(d["topic"] for d in docs) == sorted(SEED_TOPICS), run
        assert {d["status"] for d in docs} == {"error"}
        assert {d["error_kind"] for d in docs} <= {"ssh_connect_failed", "ssh_timeout"}
    for run in phases["recovered"][-2:]:
        assert {d["status"] for d in statuses(live, run)} == {"ok"}


def test_the_ui_shows_the_mapped_tasks_labelled_host_topic(scenario, tmp_path):
    live, phases = scenario
    run = phases["recovered"][-1]
    # The REST API, as the UI reads it.
    reply = live.airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{run.run_id}/taskInstances?task_id=collect_lag&limit=100")
    labels = {ti["rendered_map_index"] for ti in reply["task_instances"]}
    assert labels == {f"{MM}/{t}" for t in SEED_TOPICS}

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/ensure-system-deps installs it)")
    url = f"{live.airflow.api_url}/dags/{DAG_ID}/runs/{run.run_id}/tasks/collect_lag/mapped"
    common = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--virtual-time-budget=20000",
        "--window-size=1600,1000",
    ]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    shot = tmp_path / "mapped-tasks.png"
    subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    keep = os.environ.get("KAFKA_MONITOR_SCREENSHOT_DIR")
    if keep and shot.exists():
        shutil.copy(shot, keep)
    assert shot.exists() and shot.stat().st_size > 10_000
    missing = [t for t in SEED_TOPICS if f"{MM}/{t}" not in dom]
    assert not missing, f"labels missing from the UI's DOM: {missing}; DOM starts: {dom[:500]}"
