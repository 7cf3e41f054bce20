"""kafka_monitor under the real scheduler: what a minute costs, per fan-out and topic count.

Starts the sandbox with Postgres and Airflow's scheduler + dag-processor + api-server
(``sandbox.live``; LocalExecutor), unpauses the DAG, and for each phase (fan-out, number of
topics) watches ``--minutes`` real runs. Prints per phase:

- start delay after the minute (run start − logical date) and run duration,
- describe invocations per group per run (the stand-in tool's own count),
- XCom rows, XCom bytes and task-instance rows per run (from the metadata database),
- task-log bytes per run (the log folder),
- and whether the runs ended inside the minute; the topic ceiling of a fan-out on this
  machine is the largest topic count whose runs all ended inside their minute.

    .venv/bin/python bench/bench_scheduler.py                 # default phases, 2 minutes each
    .venv/bin/python bench/bench_scheduler.py --phases per_topic:5,per_topic:40,per_group:200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.live import DAG_ID, LiveAirflow  # noqa: E402

DEFAULT_PHASES = "per_topic:5,per_topic:20,per_topic:40,per_group:40,per_group:150"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default=DEFAULT_PHASES, help="fan_out:topics,… (default %(default)s)")
    parser.add_argument("--minutes", type=int, default=2, help="runs measured per phase (after one to settle)")
    parser.add_argument("--partitions", type=int, default=2, help="partitions per topic (default %(default)s)")
    args = parser.parse_args()
    phases = [(p.split(":")[0], int(p.split(":")[1])) for p in args.phases.split(",")]
    most = max(n for _, n in phases)
    topics = tuple(f"bench-topic-{i:04d}" for i in range(most))

    print(f"starting the sandbox with {most} topics x {args.partitions} partitions, Postgres and Airflow …", flush=True)
    with LiveAirflow(topics=topics, partitions=args.partitions) as live:
        assert live.airflow is not None and live.sandbox.mirrormaker is not None
        af, mm = live.airflow, live.sandbox.mirrormaker
        live.configure(topics=list(topics[: phases[0][1]]), fan_out=phases[0][0])
        live.wait_until_second(1)  # the catch-up run then ends before the next minute
        live.unpause()
        seen: set[str] = set()
        rows = []
        for fan_out, count in phases:
            live.configure(topics=list(topics[:count]), fan_out=fan_out)
            measured = []
            wanted = args.minutes + 1  # the first run of a phase may have started under the previous one
            deadline = time.monotonic() + 90 * (wanted + 1)
            while len(measured) < wanted and time.monotonic() < deadline:
                af.ensure_alive()
                for run in af.runs(DAG_ID):
                    if run.run_id in seen or run.end_date is None:
                        continue
                    seen.add(run.run_id)
                    measured.append(run)
                time.sleep(3)
            settled = measured[1:]
            stamps = mm.tool_invocations()
            for run in settled:
                tis = af.task_instances(DAG_ID, run.run_id)
                describes = sum(1 for s in stamps if run.start_date.timestamp() <= s <= run.end_date.timestamp())
                rows.append(
                    {
                        "fan_out": fan_out,
                        "topics": count,
                        "state": run.state,
                        "start_delay_s": run.start_delay_s,
                        "duration_s": run.duration_s,
                        "describes": describes,
                        "xcom_rows": af.xcom_rows(DAG_ID, run.run_id),
                        "xcom_bytes": af.xcom_bytes(DAG_ID, run.run_id),
                        "ti_rows": len(tis),
                        "log_bytes": af.task_log_bytes(DAG_ID, run.run_id),
                        "in_minute": run.end_date.timestamp() < run.logical_date.timestamp() + 60,
                        "failed": sum(1 for t in tis if t[3] in ("failed", "upstream_failed")),
                        "skipped_lag": sum(1 for t in tis if t[3] == "skipped" and t[0] != "snapshot_jmx"),
                    }
                )
                r = rows[-1]
                print(
                    f"  {fan_out:9} {count:4} topics  {run.run_id[-25:]}: {r['state']:7} start +{r['start_delay_s']:.1f} s, "
                    f"{r['duration_s']:.1f} s, describes {r['describes']}, XCom {r['xcom_rows']} rows / "
                    f"{r['xcom_bytes']} B, TIs {r['ti_rows']}, logs {r['log_bytes']} B",
                    flush=True,
                )
        af.pause(DAG_ID)

    print("\nper phase (median over its runs; 'ceiling ok' = every run ended inside its minute)")
    print(
        f"{'fan-out':9} {'topics':>6} {'start+s':>8} {'run s':>6} {'describes/group':>15} {'XCom rows':>9} "
        f"{'XCom KB':>8} {'TI rows':>7} {'log KB':>7} {'ceiling ok':>10}"
    )
    for fan_out, count in phases:
        mine = [r for r in rows if r["fan_out"] == fan_out and r["topics"] == count]
        if not mine:
            print(f"{fan_out:9} {count:6}  (no run measured)")
            continue

        def med(key: str, rows=mine) -> float:
            return statistics.median(r[key] for r in rows)

        ok = all(r["in_minute"] and r["state"] == "success" for r in mine)
        print(
            f"{fan_out:9} {count:6} {med('start_delay_s'):8.1f} {med('duration_s'):6.1f} {med('describes'):15.0f} "
            f"{med('xcom_rows'):9.0f} {med('xcom_bytes') / 1024:8.1f} {med('ti_rows'):7.0f} "
            f"{med('log_bytes') / 1024:7.1f} {'yes' if ok else 'NO'}"
        )
    for fan_out in dict.fromkeys(f for f, _ in phases):
        fits = [
            n
            for f, n in phases
            if f == fan_out
            and all(r["in_minute"] and r["state"] == "success" for r in rows if r["fan_out"] == f and r["topics"] == n)
            and any(r["fan_out"] == f and r["topics"] == n for r in rows)
        ]
        print(
            f"topic ceiling measured for {fan_out}: {max(fits) if fits else 'below the smallest phase'} topics per minute"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
