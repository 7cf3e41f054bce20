"""Spark metric names split into application id, role, executor id and a stable name
(kafka_monitor.jmx.spark_names), for every form Spark's MetricsSystem gives them."""

from __future__ import annotations

import pytest

from kafka_monitor.jmx.spark_names import SparkName, spark_fields, split_spark_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "local-1796001799230.driver.jvm.heap.used",
            SparkName("local-1796001799230", "driver", None, "driver.jvm.heap.used"),
        ),
        (
            "app-20261122101500-0003.driver.BlockManager.memory.memUsed_MB",
            SparkName("app-20261122101500-0003", "driver", None, "driver.BlockManager.memory.memUsed_MB"),
        ),
        # An executor: its id out of the name too, so every executor's gauge is one series name.
        (
            "app-20261122101500-0003.7.executor.threadpool.activeTasks",
            SparkName("app-20261122101500-0003", "executor", "7", "executor.executor.threadpool.activeTasks"),
        ),
        (
            "application_1700000000000_0042.12.jvm.heap.used",
            SparkName("application_1700000000000_0042", "executor", "12", "executor.jvm.heap.used"),
        ),
        # spark.metrics.namespace set by the operator: it takes the application id's place.
        (
            "orders_stream.driver.spark.streaming.q1.inputRate-total",
            SparkName("orders_stream", "driver", None, "driver.spark.streaming.q1.inputRate-total"),
        ),
        # A source registered without application or executor id keeps its name.
        ("master.workers", SparkName(None, None, None, "master.workers")),
        ("jvm.heap.used", SparkName(None, None, None, "jvm.heap.used")),
        # "driver" as the last segment is a metric name, not an instance.
        ("x.driver", SparkName(None, None, None, "x.driver")),
    ],
)
def test_split_spark_name(name, expected):
    assert split_spark_name(name) == expected


def test_only_spark_targets_in_the_metrics_domain_get_spark_fields():
    props = {"name": "local-1.driver.jvm.heap.used", "type": "gauges"}
    assert spark_fields("spark_driver", "metrics", props) == {
        "app_id": "local-1",
        "role": "driver",
        "executor_id": None,
        "metric": "driver.jvm.heap.used",
    }
    assert spark_fields("spark_executor", "metrics", props) is not None
    assert spark_fields("kafka_broker", "metrics", props) is None  # another Dropwizard user
    assert spark_fields("spark_driver", "java.lang", {"type": "Memory"}) is None
