"""A name for Spark's JmxSink metrics that stays the same when the Spark application restarts.

Spark names every metric ``<namespace>.<instance>.<source>.<metric>`` (the ``name`` key of
``metrics:name=...,type=gauges``): the namespace is the application id unless the operator
sets ``spark.metrics.namespace``, and the instance is ``driver`` or the executor id (digits).
With the default namespace, every restart (a new application id, e.g. ``local-1796001799230``
or ``app-20261122101500-0003``) would start new series. We split the name into

- ``app_id``: the namespace (the application id, or what ``spark.metrics.namespace`` says);
- ``role``: ``driver`` or ``executor``; ``executor_id``: the executor's id (None for the driver);
- ``metric``: the rest behind the role, e.g. ``driver.jvm.heap.used`` or
  ``executor.jvm.heap.used``: the same for the same gauge across restarts and executors.

A name with no instance segment (Spark registers a source by its bare name when it has no
application or executor id, e.g. the standalone master's) is its own stable name.

The namespace is everything before the first segment that is ``driver`` or all digits: a
``spark.metrics.namespace`` holding such a segment (``team.1.stream``) cannot be told apart, so
docs/jmx.md asks for one without dots.
"""

from __future__ import annotations

from dataclasses import dataclass

SPARK_COMPONENTS = frozenset({"spark_driver", "spark_executor"})
SPARK_DOMAIN = "metrics"  # Spark's JmxSink (Dropwizard's JmxReporter default domain)
DRIVER = "driver"
EXECUTOR = "executor"


@dataclass(frozen=True)
class SparkName:
    app_id: str | None
    role: str | None
    executor_id: str | None
    metric: str

    def fields(self) -> dict[str, str | None]:
        return {"app_id": self.app_id, "role": self.role, "executor_id": self.executor_id, "metric": self.metric}


def split_spark_name(name: str) -> SparkName:
    """``local-1.driver.jvm.heap.used`` -> app_id ``local-1``, role ``driver``, metric ``driver.jvm.heap.used``."""
    parts = name.split(".")
    # The instance is never the first segment (that is the namespace) nor the last (the metric).
    for i in range(1, len(parts) - 1):
        segment = parts[i]
        if segment == DRIVER:
            return SparkName(".".join(parts[:i]), DRIVER, None, ".".join(parts[i:]))
        if segment.isdigit():
            return SparkName(".".join(parts[:i]), EXECUTOR, segment, ".".join([EXECUTOR, *parts[i + 1 :]]))
    return SparkName(None, None, None, name)


def spark_fields(component: str, domain: str, properties: dict[str, str]) -> dict[str, str | None] | None:
    """The ``spark`` object of a JMX document, or None when the value is not a Spark metric."""
    if component not in SPARK_COMPONENTS or domain != SPARK_DOMAIN or "name" not in properties:
        return None
    return split_spark_name(properties["name"]).fields()
