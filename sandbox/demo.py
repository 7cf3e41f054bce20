"""``make demo``: one full run of the kafka_monitor DAG against the sandbox, then a lag table.

1. starts the sandbox (tansu broker, stand-in MirrorMaker host behind sshd, osmem search store,
   a JMX JVM, moto for CloudWatch, a migrated Airflow home) and mirrors the seed's five
   topics with consumer group ``oasis-group`` lagging;
2. runs ``airflow dags test kafka_monitor <this minute>``;
3. reads the per-topic summaries back from the store and prints them beside the broker's own
   truth (log-end offset minus committed offset, read through the Kafka admin client);
4. shows an alert opened and resolved, as a real SMTP server and a real webhook received them
   (``alerts_demo``: sshd down for three minutes, then back);
5. stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta

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
        if summary is None or summary.get("status") == "unknown":  # a failed minute's summary holds no lag
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


# ---- verdict (issue 10): the minute's judgement per topic, read back from the store ----------
def verdict_table(sandbox: Sandbox, minute: datetime) -> list[str]:
    """Per topic: status (worst partition) and its reason, status counts, max lag seconds, ETA."""
    assert sandbox.store is not None
    client = sandbox.store.opensearch_client()
    stamp = minute.strftime("%Y-%m-%dT%H:%M:00Z")
    lines = [f"{'topic':<28} {'verdict':<10} {'reason':<36} {'max lag s':>10} {'ETA s':>8}  partitions by status"]
    for topic in sandbox.topics:
        summary = _one(client, "kafka-lag-*", {"doc_type": "topic_summary", "topic": topic, "@timestamp": stamp})
        if summary is None or summary.get("status") is None:
            lines.append(f"{topic:<28} {'(none)':<10} no verdict indexed for this minute")
            continue
        seconds = summary.get("max_lag_seconds")
        shown = (
            "-" if seconds is None else f"{seconds:.0f}" + ("+" if summary.get("max_lag_seconds_lower_bound") else "")
        )
        eta = summary.get("eta_seconds")
        counts = ", ".join(f"{k} {v}" for k, v in (summary.get("status_counts") or {}).items() if v)
        lines.append(
            f"{topic:<28} {summary['status']:<10} {summary.get('status_reason') or '-':<36} {shown:>10} "
            f"{'-' if eta is None else f'{eta:.0f}':>8}  {counts or '-'}"
        )
    lines.append(
        "(+ : a lower bound — the committed offset is older than the history read back; ETA - : "
        + "not catching up or no history yet)"
    )
    return lines


# ---- end of the verdict block ------------------------------------------------------------------


def _one(client, index: str, filters: dict) -> dict | None:
    hits = find_documents(client, index, filters)
    return hits[0] if hits else None


# --------------------------------------------------------------------------- alerts (issue 11)


def alerts_demo(sandbox: Sandbox, after: datetime) -> bool:
    """The minutes after ``after``, driven in process: the MirrorMaker host's sshd goes down for
    three minutes and comes back; prints what the SMTP and webhook receivers got. True when
    exactly one "lag unknown" incident was opened and resolved on both."""
    import html

    import yaml

    from kafka_monitor import tasks
    from sandbox.smtp_receiver import SmtpReceiver
    from sandbox.webhook_receiver import WebhookReceiver

    assert sandbox.ssh is not None and sandbox.ssh.process is not None
    topic = sandbox.topics[0]
    with SmtpReceiver("alerts", "demo-secret") as smtp, WebhookReceiver("alerts", "demo-secret") as hook:
        config = sandbox.config(
            alerts={
                "unknown_after_minutes": 3,
                "airflow_url": "http://127.0.0.1:8080",
                "channels": [
                    {"kind": "apprise", "conn_id": "demo_webhook", "name": "webhook", "body": "json"},
                    {"kind": "smtp", "conn_id": "demo_mail", "name": "mail", "to": ["oncall@example.org"]},
                ],
            }
        )
        config["mirrormakers"][0]["topics"] = [topic]  # one topic keeps the demo short
        # Only the lag is collected in these minutes: no JMX targets, dashboard or Admin-API groups
        # here, or they would (rightly) report themselves unknown too.
        config["jmx"] = {"targets": []}
        config.pop("cloudwatch", None)
        config.pop("consumer_groups", None)
        path = sandbox.workdir / "kafka_monitor_alerts_demo.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        receivers = {
            "AIRFLOW_CONN_DEMO_WEBHOOK": json.dumps(hook.apprise_connection("/alerts")),
            "AIRFLOW_CONN_DEMO_MAIL": json.dumps(smtp.airflow_connection()),
        }
        print(f"\nAlerts: sshd of {MIRRORMAKER_NAME} down for three minutes, then back (topic {topic}):")
        for n, sshd_up in enumerate([True, False, False, False, True], start=1):
            minute = after + timedelta(minutes=n)
            if not sshd_up and sandbox.ssh.process.alive():
                sandbox.ssh.process.stop()
            if sshd_up and not sandbox.ssh.process.alive():
                sandbox.ssh.start()  # a new port; the connection below follows it
            # The in-process tasks' own log lines are in the stored documents; the demo prints its own.
            with _environment({**sandbox.environment(), **receivers}), _quiet_logs():
                # As the DAG does it: the group's one describe, then the topic's task with its rows.
                groups = tasks.plan_lag(str(path))
                (item,), shared = tasks.plan_topics(groups)
                run = {"minute": minute, "run_id": f"demo__{minute.isoformat()}"}
                handed: dict[str, dict] = {}
                with contextlib.suppress(Exception):  # a failed describe: the topic's task records it
                    tasks.collect_group(**groups[0], **run, hand_over=handed.__setitem__)
                try:
                    tasks.collect_lag(item, shared, handed.get(topic), **run)
                    collected = "collected"
                except Exception as exc:  # noqa: BLE001 - the failure is the demo; its status document says why
                    collected = "not collected: " + str(exc).partition("]")[0].lstrip("[")
                # What the kafka_monitor_alerts DAG does the next minute, for this minute.
                report = tasks.evaluate_alerts(str(path), minute=minute)
            queued = ", ".join(f"{k}: {v}" for k, v in report["queued"].items()) or "-"
            print(
                f"  {minute:%H:%M}  sshd {'up  ' if sshd_up else 'DOWN'}  lag {collected:<36} notifications: {queued}"
            )
        mails = smtp.received()
        posts = [json.loads(json.loads(r.body)["message"]) for r in hook.received("/alerts")]
        print(f"  SMTP receiver got {len(mails)} mails:")
        for mail in mails:
            print(f"    To {', '.join(mail.rcpt_tos)}: {mail.subject}")
        print(f"  webhook receiver got {len(posts)} JSON posts:")
        for post in posts:
            print(f"    {post['kind']:<8} {post['status']:<6} {post['title']}")
        if mails:
            print("  the first mail's body:")
            body = html.unescape(mails[0].text().removeprefix("<pre>").removesuffix("</pre>"))
            print("\n".join("    | " + line for line in body.splitlines()))
        # The stand-in group makes no progress, so once collected again the lag track may judge
        # its frozen offsets on its own; the outage's own incident is the collection track's.
        kinds = [p["kind"] for p in posts if p["track"] == "collection"]
        outage_mails = [m for m in mails if "unknown for" in m.subject or "collected again" in m.subject]
        return kinds == ["open", "resolve"] and len(outage_mails) == 2


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def _quiet_logs():
    """The in-process tasks' own lines (their failures included) are in the stored documents;
    the demo prints its own account of each minute."""
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(logging.INFO)


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
    print(
        "kafka-monitor demo: starting the sandbox (tansu, sshd, osmem, JVM, ZooKeeper, Spark, moto, Airflow home)…",
        flush=True,
    )
    with Sandbox() as sandbox:
        assert sandbox.airflow is not None
        # ---- real JMX targets (issue 15): a ZooKeeper and a Spark driver beside the test JVM ----
        from sandbox.real_jvms import add_real_jvm_targets, real_jvm_lines

        real_jvms = add_real_jvm_targets(sandbox)
        print(
            f"  real JVMs: ZooKeeper JMX {real_jvms.zookeeper.jmx_address}, "
            f"Spark driver {real_jvms.spark.app_id} JMX {real_jvms.spark.jmx_address}",
            flush=True,
        )
        # ---- end of the real JMX targets block (its report is printed below) ----
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
        # From here the demo reads back and prints its own lines; the in-process calls' INFO
        # lines (one per store request) would bury them.
        logging.disable(logging.INFO)
        lines, all_match = lag_table(sandbox, minute)
        print("\nMirrorMaker lag read back from the store (minute " + minute.strftime("%H:%M") + " UTC):")
        print("\n".join("  " + line for line in lines))
        print("\nThe minute's verdict per topic (docs/evaluation.md), read back from the store:")
        print("\n".join("  " + line for line in verdict_table(sandbox, minute)))
        print("\nEvery consumer group of the flow, SSH and Admin API side by side (same minute):")
        print("\n".join("  " + line for line in admin_groups_beside_ssh(sandbox, minute)))
        client = sandbox.store.opensearch_client()
        jmx_docs = client.count(index="kafka-jmx-*")["count"] if sandbox.jvm else 0
        print(f"\n  JMX documents indexed: {jmx_docs}")
        # ---- real JMX targets (issue 15): indexed values beside their truths ----
        real_lines, real_match = real_jvm_lines(sandbox, real_jvms, minute)
        print("\n".join("  " + line for line in real_lines))
        # ---- end of the real JMX targets block ----
        if sandbox.aws is not None:
            from kafka_monitor.cloudwatch.aws import cloudwatch_client
            from kafka_monitor.config.schema import load_config

            with _environment(sandbox.environment()):
                settings = load_config(sandbox.config_path).cloudwatch
                body = json.loads(
                    cloudwatch_client(settings).get_dashboard(DashboardName=settings.dashboard_name)["DashboardBody"]
                )
            print(f"  CloudWatch dashboard {settings.dashboard_name!r} on moto: {len(body['widgets'])} widgets")
        print(f"\n  every partition's indexed lag equals the broker's truth: {'yes' if all_match else 'NO'}")
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-connection chatter
        alerts_ok = alerts_demo(sandbox, minute)
        print(f"\n  one alert opened and resolved, on both receivers: {'yes' if alerts_ok else 'NO'}")
        LOG_DIR.mkdir(exist_ok=True)
        log_path.write_text(output)
        print(f"  the full `airflow dags test` log: {log_path}")
    print(f"demo finished in {time.monotonic() - started:.1f} s; everything it started is stopped.")
    return 0 if proc.returncode == 0 and all_match and real_match and alerts_ok else 1


if __name__ == "__main__":
    sys.exit(main())
