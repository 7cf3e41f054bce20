"""The demo's two real JVM targets beside the Kafka-like test JVM: a ZooKeeper from Debian's
package and a local Spark driver, each with some activity whose truth is known (znodes made
with a client, jobs run by the driver), and the lines the demo prints comparing the indexed
values with those truths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.search import find_documents
from sandbox.spark import SparkDriver
from sandbox.zookeeper import ZooKeeperServer

ZOOKEEPER_TARGET = "sandbox-zookeeper-real"
SPARK_TARGET = "sandbox-spark-driver-real"
DEMO_ZNODES = 5
DEMO_JOBS = 3


@dataclass
class RealJvms:
    zookeeper: ZooKeeperServer
    spark: SparkDriver
    znode_count: int  # what ZooKeeper's NodeCount must say (client walk + the root counted twice)
    jobs_run: int  # jobs the Spark driver ran


def _walk(client: Any, path: str = "/") -> int:
    return 1 + sum(_walk(client, f"{path.rstrip('/')}/{child}") for child in client.get_children(path))


def add_real_jvm_targets(sandbox: Any) -> RealJvms:
    """Start both (stopped with the sandbox), give them work, add them to the configuration."""
    zookeeper = sandbox.stack.enter_context(ZooKeeperServer(sandbox.workdir / "zookeeper"))
    spark = sandbox.stack.enter_context(SparkDriver(sandbox.workdir / "spark"))
    client = zookeeper.client()
    try:
        client.create("/kafka-monitor-demo")
        for i in range(DEMO_ZNODES - 1):
            client.create(f"/kafka-monitor-demo/node-{i}")
        znode_count = _walk(client) + 1  # ZooKeeper's DataTree holds the root under "" and "/"
    finally:
        client.stop()
        client.close()
    jobs_run = spark.run_jobs(DEMO_JOBS)["jobs"]
    config = sandbox.config()
    config.setdefault("jmx", {"timeout_s": 20, "targets": []})["targets"] += [
        zookeeper.jmx_target(ZOOKEEPER_TARGET),
        spark.jmx_target(SPARK_TARGET),
    ]
    sandbox.write_config(config)
    return RealJvms(zookeeper, spark, znode_count, jobs_run)


def real_jvm_lines(sandbox: Any, real: RealJvms, minute: datetime) -> tuple[list[str], bool]:
    """What the store holds for both targets at ``minute``, beside each truth."""
    client = sandbox.store.opensearch_client()
    stamp = minute.strftime("%Y-%m-%dT%H:%M:00Z")
    checks = [
        (ZOOKEEPER_TARGET, {"metric": "NodeCount"}, real.znode_count, "NodeCount (znodes)"),
        (
            SPARK_TARGET,
            {"spark.metric": "driver.appStatus.jobs.succeededJobs"},
            real.jobs_run,
            "appStatus.jobs.succeededJobs",
        ),
    ]
    lines, all_match = [], True
    for target, terms, truth, label in checks:
        docs = find_documents(client, "kafka-jmx-*", {"target": target, "@timestamp": stamp})
        values = [d["value"] for d in docs if all(_get(d, k) == v for k, v in terms.items())]
        match = values == [float(truth)]
        all_match &= match
        lines.append(
            f"{target:<28} {len(docs):>5} values   {label} = {values[0] if values else 'missing'} "
            f"(truth {truth}): {'yes' if match else 'NO'}"
        )
    return lines, all_match


def _get(doc: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None  # type: ignore[assignment]
    return doc
