"""Wall time of one minute's alert evaluation, by number of topics.

Starts the sandbox search store (osmem-server) and the SMTP and webhook receivers, writes one
topic summary per topic per minute (with a verdict, as the evaluator writes them) and times
``tasks.evaluate_alerts`` for: a quiet minute (every topic ok), a minute where 10 % of the
topics open an incident (one webhook post and one mail each), and the same minute run again
(nothing to do but read). Prints the median of the rounds.

    .venv/bin/python bench/bench_alerts.py [--topics 50 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

import yaml  # noqa: E402

from kafka_monitor import tasks  # noqa: E402
from kafka_monitor.config.schema import StoreSettings  # noqa: E402
from kafka_monitor.store.documents import LAG_DOC_SUMMARY, Doc, daily_index, doc_id, iso  # noqa: E402
from kafka_monitor.store.sink import SearchSink  # noqa: E402
from sandbox.search import SearchStore  # noqa: E402
from sandbox.smtp_receiver import SmtpReceiver  # noqa: E402
from sandbox.webhook_receiver import WebhookReceiver  # noqa: E402

T0 = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


def summaries(topics: list[str], minute: datetime, bad: set[str]) -> list[Doc]:
    stamp = iso(minute)
    return [
        Doc(
            daily_index("kafka-lag", minute),
            doc_id(LAG_DOC_SUMMARY, "mm-1", "g", t, stamp),
            {
                "@timestamp": stamp,
                "doc_type": LAG_DOC_SUMMARY,
                "mirrormaker": "mm-1",
                "group": "g",
                "topic": t,
                "partition_count": 18,
                "total_lag": 100,
                "max_lag": 10,
                "status": "stop" if t in bad else "ok",
                "status_counts": {"ok": 18},
            },
        )
        for t in topics
    ]


def one_size(store: SearchStore, workdir: Path, n: int, rounds: int) -> dict[str, float]:
    topics = [f"topic-{i:05d}" for i in range(n)]
    config = {
        "store": {"kind": "opensearch", "conn_id": "bench_store"},
        "mirrormakers": [
            {
                "name": "mm-1",
                "ssh_conn_id": "x",
                "kafka_home": "/k",
                "bootstrap_servers": ["h:1"],
                "group": "g",
                "topics": topics,
            }
        ],
        "alerts": {
            "channels": [
                {"kind": "apprise", "conn_id": "bench_hook", "name": "webhook", "body": "json"},
                {"kind": "smtp", "conn_id": "bench_mail", "name": "mail", "to": ["ops@example.org"]},
            ]
        },
    }
    path = workdir / f"config-{n}.yaml"
    path.write_text(yaml.safe_dump(config))
    times: dict[str, list[float]] = {"quiet minute": [], "10% open": [], "same minute again": []}
    for _ in range(rounds):
        store.reset()
        sink = SearchSink(store.opensearch_client(), StoreSettings(kind="opensearch", conn_id="bench_store"))
        sink.index(summaries(topics, T0, set()), refresh=True)
        tasks.evaluate_alerts(str(path), minute=T0)  # first minute: creates the incident documents
        m1 = T0 + timedelta(minutes=1)
        sink.index(summaries(topics, m1, set()), refresh=True)
        t = time.perf_counter()
        tasks.evaluate_alerts(str(path), minute=m1)
        times["quiet minute"].append(time.perf_counter() - t)
        m2 = T0 + timedelta(minutes=2)
        sink.index(summaries(topics, m2, set(topics[::10])), refresh=True)
        t = time.perf_counter()
        report = tasks.evaluate_alerts(str(path), minute=m2)
        times["10% open"].append(time.perf_counter() - t)
        assert report["queued"] == {"open": len(topics[::10])} and report["delivered"] == 2 * len(topics[::10]), report
        t = time.perf_counter()
        tasks.evaluate_alerts(str(path), minute=m2)
        times["same minute again"].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SearchStore(Path(tmp) / "store") as store,
        SmtpReceiver() as smtp,
        WebhookReceiver() as hook,
    ):
        os.environ.update(store.connection_env("bench_store", "opensearch"))
        os.environ["AIRFLOW_CONN_BENCH_HOOK"] = json.dumps(hook.apprise_connection("/alerts"))
        os.environ["AIRFLOW_CONN_BENCH_MAIL"] = json.dumps(smtp.airflow_connection())
        print(f"alert evaluation, median of {args.rounds} rounds (osmem store, real SMTP and webhook receivers):")
        for n in args.topics:
            figures = one_size(store, Path(tmp), n, args.rounds)
            sends = 2 * len(range(0, n, 10))
            print(
                f"  {n:>5} topics: quiet minute {figures['quiet minute'] * 1000:7.0f} ms; "
                f"10% open ({sends} sends) {figures['10% open'] * 1000:7.0f} ms; "
                f"same minute again {figures['same minute again'] * 1000:7.0f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
