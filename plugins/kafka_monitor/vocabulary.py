"""Words every room shares: the kinds of JVM in the flow and the status values.

A leaf (imports nothing from the package) so the configuration, the JMX presets, the
documents and the tests all spell these the same way without importing each other.
"""

from __future__ import annotations

from typing import Literal, get_args

# The kinds of JVM a JMX target can be (config ``jmx.targets[].component``, preset ``components``).
Component = Literal[
    "kafka_broker", "zookeeper", "mirrormaker", "mirrormaker2", "logstash", "spark_driver", "spark_executor", "jvm"
]
COMPONENTS: tuple[str, ...] = get_args(Component)

# Where each component sits in the flow (logstash -> Kafka -> MirrorMaker -> Spark), for the
# one Kibana view that shows the flow in order: (stage label, stage order).
FLOW_STAGES: dict[str, tuple[str, int]] = {
    "jvm": ("0-jvm", 0),
    "logstash": ("1-ingest", 1),
    "kafka_broker": ("2-broker", 2),
    "zookeeper": ("2-broker", 2),
    "mirrormaker": ("3-mirror", 3),
    "mirrormaker2": ("3-mirror", 3),
    "spark_driver": ("4-processing", 4),
    "spark_executor": ("4-processing", 4),
}

# The ``status`` field of a status document.
STATUS_OK = "ok"
STATUS_ERROR = "error"
# The collection worked but the store confirmed only some of its documents; the status
# document's documents_confirmed / documents_expected and error_message say which.
STATUS_PARTIAL = "partial"
STATUS_VALUES = (STATUS_OK, STATUS_ERROR, STATUS_PARTIAL)
