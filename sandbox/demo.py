"""``make demo``: one full run of the kafka_monitor DAG against the sandbox, then a lag table.

1. starts the sandbox (tansu broker, stand-in MirrorMaker host behind sshd, osmem search store,
   a JMX JVM, moto for CloudWatch, a migrated Airflow home) and mirrors the seed's five
   topics with consumer group ``oasis-group`` lagging;
2. runs ``airflow dags test kafka_monitor <this minute>``;
3. reads the per-topic summaries back from the store and prints them beside the broker's own
   truth (log-end offset minus committed offset, read through the Kafka admin client);
4. stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime

from sandbox.airflow_home import REPO
from sandbox.search import find_documents
from sandbox.stack import MIRRORMAKER_NAME, Sandbox

LOG_DIR = REPO / ".sandbox"  # ignored by git


def lag_table(sandbox: Sandbox, minute: datetime) -> tuple[list[str], bool]:
    """Lines of the per-topic table and whether every partition equals the broker's truth."""
    assert sandbox.store is not None and sandbox.mirrormaker is not None
    client = sandbox.store.opensearch_client()
    stamp = minute.strftime("%Y-%m-%dT%H:%M:00Z")
    lines = [
        f"{'topic':<28} {'partitions':>10} {'total lag':>10} {'max lag':>8} {'no offset':>9}  "
        f"{'group state':<12} {'status':<7} broker agrees"
    ]
    all_match = True
    for topic in sandbox.topics:
        summary = _one(client, "kafka-lag-*", {"doc_type": "topic_summary", "topic": topic, "@timestamp": stamp})
        status = _one(client, "kafka-monitor-status-*", {"source": "lag", "topic": topic, "@timestamp": stamp})
        partitions = find_documents(
            client, "kafka-lag-*", {"doc_type": "partition", "topic": topic, "@timestamp": stamp}
        )
        truth = sandbox.mirrormaker.truth(topic)
        indexed = {d["partition"]: d["lag"] for d in partitions}
        match = indexed == truth
        all_match &= match
        if summary is None:
            lines.append(
                f"{topic:<28} {'-':>10} {'-':>10} {'-':>8} {'-':>9}  {'-':<12} "
                f"{(status or {}).get('status', 'missing'):<7} no ({(status or {}).get('error_message')})"
            )
            continue
        lines.append(
            f"{topic:<28} {summary['partition_count']:>10} {summary['total_lag']:>10} {summary['max_lag']:>8} "
            f"{summary['partitions_without_offset']:>9}  {summary['group_state'] or '-':<12} "
            f"{(status or {}).get('status', 'missing'):<7} {'yes' if match else 'NO'}"
        )
    return lines, all_match


def _one(client, index: str, filters: dict) -> dict | None:
    hits = find_documents(client, index, filters)
    return hits[0] if hits else None


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- Admin-API groups (issue 13)


def admin_groups_beside_ssh(sandbox: Sandbox, minute: datetime) -> list[str]:
    """The flow's other consumer groups over the Admin API, beside MirrorMaker's over SSH.

    Gives the example groups of include/kafka_monitor.yaml (Logstash's input, a Spark job)
    committed offsets on the sandbox broker, collects them and oasis-group itself through
    ``kafka_monitor.tasks.collect_admin_lag`` (in process, the same minute as the DAG run),
    and returns table lines: per group and collector, the total lag read back from the store.
    """
    from kafka_monitor import tasks

    assert sandbox.broker is not None and sandbox.store is not None
    broker, topics = sandbox.broker, list(sandbox.topics)
    # Logstash keeps up with the first two topics; Spark trails every topic by 2 per partition.
    for group, watched, behind in (("logstash", topics[:2], 0), ("spark-oasis-streaming", topics, 2)):
        offsets = {}
        for topic in watched:
            for p, end in broker.end_offsets(topic, broker.partitions(topic)).items():
                offsets[(topic, p)] = max(0, end - behind)
        broker.commit(group, offsets)
    watches = [
        ("oasis-admin", "oasis-group", topics),
        ("logstash-ingest", "logstash", topics[:2]),
        ("spark-processing", "spark-oasis-streaming", topics),
    ]
    kafka = {"conn_type": "kafka", "extra": {"bootstrap.servers": broker.bootstrap}}
    env = {**sandbox.environment(), "AIRFLOW_CONN_SANDBOX_KAFKA": json.dumps(kafka)}
    store = tasks.load_checked(str(sandbox.config_path)).store.model_dump(mode="json")
    with _environment(env):
        for name, group, watched in watches:
            watch = {"name": name, "kind": "admin", "kafka_conn_id": "sandbox_kafka", "group": group, "topics": watched}
            try:
                tasks.collect_admin_lag({"watch": watch, "topics": watched}, store, minute=minute, run_id="demo-admin")
            except Exception as exc:  # noqa: BLE001 - shown in the table, not hidden
                print(f"  Admin-API collection of {group!r} failed: {exc}")
    client = sandbox.store.opensearch_client()
    stamp = minute.strftime("%Y-%m-%dT%H:%M:00Z")
    summaries = find_documents(client, "kafka-lag-*", {"doc_type": "topic_summary", "@timestamp": stamp}, size=500)
    lines = [f"{'group':<24} {'collector':<9} {'entry':<18} {'topics':>6} {'total lag':>10} {'no offset':>9}"]
    rows: dict[tuple[str, str, str], list[dict]] = {}
    for doc in summaries:
        rows.setdefault((doc["group"], doc.get("source") or "ssh", doc["mirrormaker"]), []).append(doc)
    for (group, source, entry), docs in sorted(rows.items()):
        total = sum(d["total_lag"] or 0 for d in docs)
        no_offset = sum(d["partitions_without_offset"] for d in docs)
        lines.append(f"{group:<24} {source:<9} {entry:<18} {len(docs):>6} {total:>10} {no_offset:>9}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-logs", action="store_true", help="print the whole `airflow dags test` log")
    args = parser.parse_args(argv)

    started = time.monotonic()
    print("kafka-monitor demo: starting the sandbox (tansu, sshd, osmem, JVM, moto, Airflow home)…", flush=True)
    with Sandbox() as sandbox:
        assert sandbox.airflow is not None
        print(f"  sandbox up in {time.monotonic() - started:.1f} s; config {sandbox.config_path}")
        print(
            f"  MirrorMaker host {MIRRORMAKER_NAME}: ssh 127.0.0.1:{sandbox.ssh.port}, "
            f"{len(sandbox.topics)} topics x 18 partitions, group oasis-group lagging",
            flush=True,
        )
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        print(f"running: airflow dags test kafka_monitor {minute.isoformat()}", flush=True)
        t0 = time.monotonic()
        proc = sandbox.airflow.dags_test("kafka_monitor", minute.isoformat(), extra_env=sandbox.environment())
        run_s = time.monotonic() - t0
        log_path = LOG_DIR / "demo-dags-test.log"
        output = proc.stdout + proc.stderr
        if args.keep_logs or proc.returncode != 0:
            print(output[-20000:])
        print(
            f"  DAG run {'succeeded' if proc.returncode == 0 else 'FAILED'} in {run_s:.1f} s (exit {proc.returncode})"
        )
        lines, all_match = lag_table(sandbox, minute)
        print("\nMirrorMaker lag read back from the store (minute " + minute.strftime("%H:%M") + " UTC):")
        print("\n".join("  " + line for line in lines))
        print("\nEvery consumer group of the flow, SSH and Admin API side by side (same minute):")
        print("\n".join("  " + line for line in admin_groups_beside_ssh(sandbox, minute)))
        client = sandbox.store.opensearch_client()
        jmx_docs = client.count(index="kafka-jmx-*")["count"] if sandbox.jvm else 0
        print(f"\n  JMX documents indexed: {jmx_docs}")
        if sandbox.aws is not None:
            from kafka_monitor.cloudwatch.dashboard import cloudwatch_client
            from kafka_monitor.config.schema import load_config

            with _environment(sandbox.environment()):
                settings = load_config(sandbox.config_path).cloudwatch
                body = json.loads(
                    cloudwatch_client(settings).get_dashboard(DashboardName=settings.dashboard_name)["DashboardBody"]
                )
            print(f"  CloudWatch dashboard {settings.dashboard_name!r} on moto: {len(body['widgets'])} widgets")
        print(f"\n  every partition's indexed lag equals the broker's truth: {'yes' if all_match else 'NO'}")
        LOG_DIR.mkdir(exist_ok=True)
        log_path.write_text(output)
        print(f"  the full `airflow dags test` log: {log_path}")
    print(f"demo finished in {time.monotonic() - started:.1f} s; everything it started is stopped.")
    return 0 if proc.returncode == 0 and all_match else 1


if __name__ == "__main__":
    sys.exit(main())
