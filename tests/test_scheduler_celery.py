"""The scale-out path under the real scheduler: CeleryExecutor on Debian's redis-server with two
workers (each its own hostname), Postgres as the metadata database, everything on 127.0.0.1.
Nothing of a run may rely on one worker's disk or memory: the topic tasks take their rows from
the group's describe through XCom, whichever worker ran it. Part of ``make soak`` only (it
needs real minutes)."""

from __future__ import annotations

import os

import pytest
from test_scheduler import LAG_TASKS, next_run_after, statuses

from sandbox.live import DAG_ID, LiveAirflow

SOAK = os.environ.get("KAFKA_MONITOR_SOAK", "") not in ("", "0")
pytestmark = [
    pytest.mark.scheduler,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not SOAK, reason="soak only (make soak): real minutes on two Celery workers"),
]


def test_two_celery_workers_share_the_minute_and_every_topic_is_collected():
    with LiveAirflow(celery_workers=2) as live:
        assert live.airflow is not None
        live.configure(fan_out="per_topic")
        live.wait_until_second(1)
        live.unpause()
        first = next_run_after(live, None)
        run = next_run_after(live, first.logical_date)
        live.airflow.pause(DAG_ID)

        states = {
            (task_id, label or str(index)): state
            for task_id, index, label, state, _ in live.airflow.task_instances(DAG_ID, run.run_id)
            if task_id in LAG_TASKS
        }
        assert run.state == "success", states
        assert set(states.values()) == {"success"}, states
        topics = {label for task_id, label in states if task_id == "collect_lag"}
        assert len(topics) == len(live.sandbox.config()["mirrormakers"][0]["topics"])
        assert {s["status"] for s in statuses(live, run)} == {"ok"}
        # Both workers took tasks of the run (each worker logs the workloads it received), so the
        # topic tasks' rows crossed from one worker process to another through XCom.
        logs = [p.log.read_text(errors="replace") for p in live.airflow.processes if p.name.startswith("celery worker")]
        took = [log.count(run.run_id) for log in logs]
        assert len(took) == 2 and all(took), took
