"""Lag collection cost: the Admin API (kafka_monitor.lag.admin) against the SSH describe, on the sandbox.

On a fresh tansu broker, creates TOPICS topics of PARTITIONS partitions, writes one record to
every partition (linger.ms=0) and commits offset 0 for group ``bench-group`` everywhere (lag 1
per partition). Then measures, in this order:

1. the batched Admin-API path: one ``collect_group`` for every topic of the group (one set of
   Admin requests), checked against the expected rows and lag;
2. the per-topic Admin-API path: ``collect_topic`` for a sample of topics, one after another;
3. the whole batched task, ``tasks.collect_admin_lag``: the collection plus every topic's
   documents and status document into the sandbox store (osmem), ``ADMIN_INDEX_WORKERS`` topics
   at a time;
4. the SSH path: ``lag.ssh.collect_topic`` (bounded describe over the real sshd, answered by
   the stand-in ``kafka-consumer-groups.sh``, a Python process, not a JVM) for the seed's five
   topics of oasis-group, one after another.

Prints per-topic costs and the topics one minute can hold for each path on this machine,
run sequentially (one worker slot). The batched figure is measured directly when TOPICS is
2,000 (the goal: 2,000 topics x 18 partitions inside the minute). No assertion on speed.

    .venv/bin/python bench/bench_admin.py [--topics 2000] [--partitions 18] [--sample 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sandbox.broker import TansuBroker
from sandbox.mirrormaker import SEED_TOPICS, MirrorMakerHost
from sandbox.search import SearchStore
from sandbox.sshd import SshServer

GROUP = "bench-group"
KAFKA_CONN = "bench_kafka"
SSH_CONN = "bench_ssh"
STORE_CONN = "bench_store"


def create_and_fill(broker: TansuBroker, topics: list[str], partitions: int) -> float:
    from confluent_kafka import Producer

    started = time.perf_counter()
    for i in range(0, len(topics), 100):
        broker.create_topics(topics[i : i + 100], partitions)
    created_s = time.perf_counter() - started
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(0, len(topics), 100):
        for topic in topics[i : i + 100]:
            for p in range(partitions):
                while True:
                    try:
                        producer.produce(topic, b"x", partition=p)
                        break
                    except BufferError:
                        producer.poll(0.1)
            producer.poll(0)
        if producer.flush(300):  # per 100 topics: a stuck broker shows early
            raise SystemExit(f"records to topics {i}..{i + 99} were not acknowledged within 300 s")
    print(
        f"  created {len(topics)} topics in {created_s:.1f} s; one record per partition written in "
        f"{time.perf_counter() - started - created_s:.1f} s",
        flush=True,
    )
    offsets = {(t, p): 0 for t in topics for p in range(partitions)}
    broker.commit(GROUP, offsets)
    return time.perf_counter() - started


def watch(topics: list[str], group: str = GROUP) -> dict:
    return {
        "name": "bench-admin",
        "kind": "admin",
        "kafka_conn_id": KAFKA_CONN,
        "group": group,
        "topics": topics,
        "timeouts": {"connect_s": 5, "request_s": 50, "total_s": 55},
    }


def per_minute(seconds_per_topic: float) -> int:
    return int(60 / seconds_per_topic) if seconds_per_topic > 0 else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=18)
    parser.add_argument("--sample", type=int, default=20, help="topics timed one by one on the per-topic paths")
    args = parser.parse_args()

    from kafka_monitor import tasks
    from kafka_monitor.config.schema import MirrorMaker
    from kafka_monitor.lag import admin
    from kafka_monitor.lag import ssh as ssh_path

    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        work = Path(tmp)
        with TansuBroker(work / "broker") as broker, SshServer(work / "sshd") as sshd:
            os.environ[f"AIRFLOW_CONN_{KAFKA_CONN.upper()}"] = json.dumps(
                {"conn_type": "kafka", "extra": {"bootstrap.servers": broker.bootstrap}}
            )
            os.environ[f"AIRFLOW_CONN_{SSH_CONN.upper()}"] = json.dumps(sshd.airflow_connection(SSH_CONN))
            topics = [f"bench-{i:05d}" for i in range(args.topics)]
            setup_s = create_and_fill(broker, topics, args.partitions)
            print(
                f"set-up: {args.topics} topics x {args.partitions} partitions created, filled, committed in {setup_s:.1f} s"
            )

            # 1. batched
            collect_group = admin.collect_group
            walls = []
            for _ in range(3):
                t0 = time.perf_counter()
                collection = collect_group(watch(topics), topics)
                walls.append(time.perf_counter() - t0)
                steps = ", ".join(f"{k} {v:.2f} s" for k, v in collection.step_s.items())
                print(f"  batched run {len(walls)}: {walls[-1]:.2f} s ({steps})", flush=True)
            failed = {t: str(v) for t, v in collection.topics.items() if isinstance(v, Exception)}
            if failed:
                raise SystemExit(
                    f"batched collection failed for {len(failed)} topics, e.g. {next(iter(failed.items()))}"
                )
            rows = sum(len(collection.topic_rows(t).rows) for t in topics)
            lag = sum(r["lag"] for t in topics for r in collection.topic_rows(t).rows)
            assert rows == args.topics * args.partitions and lag == rows, (rows, lag)
            batched = min(walls)
            print(
                f"Admin API, batched: {args.topics} topics ({rows} partitions) in {batched:.2f} s with "
                f"{collection.requests} Admin requests (best of {len(walls)}; the first, cold: {walls[0]:.2f} s); "
                f"{batched / args.topics * 1000:.2f} ms per topic; "
                f"fits in the minute: {'yes' if max(walls) < 60 else 'NO'} (worst run {max(walls):.2f} s); about {per_minute(batched / args.topics):,} topics/minute"
            )

            # 2. per topic, Admin API
            sample = topics[: args.sample]
            times = []
            for topic in sample:
                t0 = time.perf_counter()
                admin.collect_group(watch([topic]), [topic]).topic_rows(topic)
                times.append(time.perf_counter() - t0)
            admin_each = statistics.median(times)
            print(
                f"Admin API, one topic per collection: median {admin_each * 1000:.0f} ms per topic over {len(sample)} "
                f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); about {per_minute(admin_each):,} topics/minute sequentially"
            )

            # 3. the whole batched task: collection + indexing into the sandbox store
            logging.getLogger("opensearch").setLevel(logging.WARNING)
            logging.getLogger("kafka_monitor").setLevel(logging.WARNING)
            with SearchStore(work / "store") as store:
                os.environ[f"AIRFLOW_CONN_{STORE_CONN.upper()}"] = json.dumps(store.airflow_connection("opensearch"))
                settings = {"kind": "opensearch", "conn_id": STORE_CONN}
                t0 = time.perf_counter()
                returned = tasks.collect_admin_lag(
                    {"watch": watch(topics), "topics": topics}, settings, minute=datetime.now(UTC), run_id="bench"
                )
                task_s = time.perf_counter() - t0
                indexed = sum(t["indexed"] for t in returned["topics"])
            print(
                f"whole batched task (collect + index {indexed:,} documents + {len(topics)} status documents, "
                f"{tasks.ADMIN_INDEX_WORKERS} topics at a time): {task_s:.2f} s; fits in the minute: {'yes' if task_s < 60 else 'NO'}",
                flush=True,
            )

            # 4. per topic, SSH describe (stand-in tool)
            host = MirrorMakerHost(work / "mm-host", broker).install()
            host.mirror(SEED_TOPICS, args.partitions)
            mm = MirrorMaker.model_validate(
                host.mirrormaker_config(
                    "bench-mm", SSH_CONN, connect_s=5, command_s=25, kill_grace_s=2, tool_timeout_ms=10000
                )
            )
            times = []
            for i in range(max(5, min(args.sample, 10))):
                topic = SEED_TOPICS[i % len(SEED_TOPICS)]
                t0 = time.perf_counter()
                ssh_path.collect_topic(mm, topic)
                times.append(time.perf_counter() - t0)
            ssh_each = statistics.median(times)
            print(
                f"SSH describe (stand-in tool, no JVM), one topic per run: median {ssh_each * 1000:.0f} ms per topic over "
                f"{len(times)} (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); about {per_minute(ssh_each):,} "
                "topics/minute sequentially (a real kafka-consumer-groups.sh adds a JVM start, seconds, per run)"
            )
            print(
                f"ratio: SSH describe / Admin API per topic = {ssh_each / admin_each:.1f}x; "
                f"SSH per topic / batched Admin per topic = {ssh_each / (batched / args.topics):.0f}x"
            )


if __name__ == "__main__":
    main()
