"""Wall time of one full `kafka_monitor` DAG run for the seed's setup, against the sandbox.

The seed's setup: one MirrorMaker host, five topics of 18 partitions, group oasis-group
(plus, with --full, the sandbox JVM as a JMX target and the CloudWatch dashboard sync on
moto). Prints the time of `airflow dags test` as a whole (CLI start-up included) and the
per-task durations read from the metadata database.

    .venv/bin/python bench/bench_dag_run.py [--full] [--runs N]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta

from sandbox.stack import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="also JMX and the CloudWatch sync")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    with Sandbox(jmx=args.full, aws=args.full) as sandbox:
        assert sandbox.airflow is not None
        walls = []
        base = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(args.runs):
            minute = (base + timedelta(minutes=i)).isoformat()
            t0 = time.perf_counter()
            proc = sandbox.airflow.dags_test("kafka_monitor", minute, extra_env=sandbox.environment())
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"run {i} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
        with sqlite3.connect(sandbox.airflow.home / "airflow.db") as db:
            rows = db.execute(
                "select task_id, count(*), avg(duration), max(duration) from task_instance "
                "where dag_id='kafka_monitor' group by task_id order by task_id"
            ).fetchall()
            run_secs = [
                r[0]
                for r in db.execute(
                    "select (julianday(end_date) - julianday(start_date)) * 86400 from task_instance "
                    "where dag_id='kafka_monitor'"
                )
            ]

    scope = "lag + JMX + dashboard sync" if args.full else "lag (5 topics x 18 partitions)"
    print(f"bench_dag_run: one full DAG run, seed setup, {scope}")
    print(
        f"  airflow dags test wall time: median {statistics.median(walls):.1f} s "
        f"(runs: {', '.join(f'{w:.1f}' for w in walls)})"
    )
    print(f"  sum of task durations per run: {sum(r for r in run_secs if r) / args.runs:.1f} s")
    for task_id, n, avg, mx in rows:
        if avg is None:  # e.g. a mapped task over an empty list: skipped, never ran
            print(f"  {task_id:<16} skipped (nothing to map over)")
            continue
        print(f"  {task_id:<16} {n // args.runs:>3} per run  mean {avg:.2f} s  max {mx:.2f} s")


if __name__ == "__main__":
    main()
