"""What judging a minute costs: the evaluation of a 1,000-partition topic with a 10-minute
window (the history query plus the compute), beside the collection itself.

Starts the sandbox's tansu broker, sshd, stand-in MirrorMaker host and osmem store; creates a
topic of ``--partitions`` partitions with the group committed on each; stores
``window - 1`` earlier minutes of that topic's partition documents (varied offsets); then runs
the real lag pipeline for the minute (SSH describe of 1,000 partitions, parse, evaluation,
bulk index) ``--rounds`` times, timing the evaluation's two parts inside it (the live
partitions hold no records, so against the stored history every partition's history restarts:
the compute walks the whole window all the same). Also times the pure compute alone on a
consistent history. Prints medians and the ratio of the evaluation to the rest of the task.

    .venv/bin/python bench/bench_evaluate.py [--partitions 1000] [--window 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The SSH hook logs every output line (1,000 per run) through Airflow's logging: warnings only.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from kafka_monitor.config.evaluation import Thresholds  # noqa: E402
from kafka_monitor.config.schema import MirrorMaker, StoreSettings  # noqa: E402
from kafka_monitor.evaluate import step  # noqa: E402
from kafka_monitor.evaluate.topic import evaluate_topic  # noqa: E402
from kafka_monitor.lag.pipeline import collect_and_index_topic  # noqa: E402
from kafka_monitor.store.documents import lag_documents  # noqa: E402
from kafka_monitor.store.sink import SearchSink  # noqa: E402
from sandbox.broker import TansuBroker  # noqa: E402
from sandbox.mirrormaker import MirrorMakerHost  # noqa: E402
from sandbox.search import SearchStore  # noqa: E402
from sandbox.sshd import SshServer  # noqa: E402

TOPIC = "bench-evaluate"
GROUP = "bench-group"
MINUTE = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Timed:
    """Wraps a function and adds its wall time to ``total``."""

    def __init__(self, fn):
        self.fn = fn
        self.total = 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.total += time.perf_counter() - started


def history_rows(partitions: int, minutes_back: int) -> list[dict]:
    return [
        {
            "partition": p,
            "current_offset": 1000 * (20 - minutes_back) + p,
            "log_end_offset": 1000 * (20 - minutes_back) + p + (p % 7) * minutes_back,
            "lag": (p % 7) * minutes_back,
            "consumer_id": f"{GROUP}-0-x",
            "host": "/127.0.0.1",
            "client_id": f"{GROUP}-0",
        }
        for p in range(partitions)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    thresholds = Thresholds(
        window_minutes=args.window, allowed_lag=0, max_lag_seconds=300.0, critical_lag_seconds=900.0
    )
    settings = StoreSettings(kind="opensearch", conn_id="bench", request_timeout_s=60)

    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        work = Path(tmp)
        with TansuBroker(work / "tansu") as broker, SearchStore(work / "search") as store:
            server = SshServer(base_dir=work / "sshd")
            server.start()
            try:
                host = MirrorMakerHost(work / "mm", broker, group=GROUP).install()
                host.topics = [TOPIC]
                broker.create_topics([TOPIC], args.partitions)
                broker.commit(GROUP, {(TOPIC, p): 0 for p in range(args.partitions)})
                member = {
                    "consumer_id": f"{GROUP}-0-x",
                    "host": "/127.0.0.1",
                    "client_id": f"{GROUP}-0",
                    "assignment": {TOPIC: list(range(args.partitions))},
                }
                host.members_file.write_text(json.dumps({GROUP: [member]}))
                os.environ["AIRFLOW_CONN_BENCH_SSH"] = json.dumps(server.airflow_connection("bench_ssh"))
                mm = MirrorMaker.model_validate(
                    host.mirrormaker_config("mm-bench", "bench_ssh", command_s=50, tool_timeout_ms=45000)
                )
                client = store.opensearch_client()
                sink = SearchSink(client, settings)
                sink.ensure_templates()
                for back in range(1, args.window):
                    at = MINUTE - timedelta(minutes=back)
                    sink.index(
                        lag_documents(
                            index_prefix=settings.lag_index,
                            minute=at,
                            mirrormaker=mm.name,
                            group=GROUP,
                            topic=TOPIC,
                            rows=history_rows(args.partitions, back),
                            group_state="Stable",
                            collected_at=at,
                        ),
                        refresh=True,
                    )

                read, judge = Timed(step.read_history), Timed(step.evaluate_topic)
                step.read_history, step.evaluate_topic = read, judge  # type: ignore[assignment]
                totals, queries, computes = [], [], []
                for _ in range(args.rounds):
                    read.total = judge.total = 0.0
                    started = time.perf_counter()
                    outcome = collect_and_index_topic(mm, TOPIC, sink, settings, minute=MINUTE, evaluation=thresholds)
                    totals.append(time.perf_counter() - started)
                    queries.append(read.total)
                    computes.append(judge.total)
                assert outcome.partitions == args.partitions, outcome
                history = read.fn(
                    sink,
                    settings.lag_index,
                    mirrormaker=mm.name,
                    group=GROUP,
                    topic=TOPIC,
                    minute=MINUTE,
                    window_minutes=args.window,
                    partitions=args.partitions,
                )
                rows = history_rows(args.partitions, 0)
                pure = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    evaluate_topic(rows, history, thresholds, MINUTE)
                    pure.append(time.perf_counter() - started)
                client.close()
            finally:
                server.stop()

    total, query, compute = (statistics.median(x) for x in (totals, queries, computes))
    evaluation = query + compute
    collection = total - evaluation
    print(f"partitions {args.partitions}, window {args.window} minutes, history documents read {len(history)}")
    print(f"  lag task for the minute (SSH describe, parse, evaluate, bulk index): {total * 1000:,.0f} ms")
    print(
        f"  evaluation: history query {query * 1000:,.0f} ms + compute {compute * 1000:,.0f} ms = {evaluation * 1000:,.0f} ms"
    )
    print(f"  compute alone (no store): {statistics.median(pure) * 1000:,.0f} ms")
    print(f"  the rest of the task (collection and indexing): {collection * 1000:,.0f} ms")
    print(f"  evaluation / collection: {evaluation / collection:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
