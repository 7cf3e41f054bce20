"""Index prefixes that other software writes to: ``check-config`` warns before we share them.

kafka-monitor owns what carries its marker (see ``kafka_monitor.store.sink``), so a shared
prefix cannot make retention delete someone else's index; but the sink then refuses to install
its templates, and the lag stops being indexed. The warning says so before deployment.
"""

from __future__ import annotations

from typing import Any

# Prefixes written by the Elastic Stack, OpenSearch and common shippers (daily indices,
# data streams ``<type>-<dataset>-<namespace>``, and the stores' own indices).
FOREIGN_PREFIXES: dict[str, str] = {
    "logstash": "Logstash's default daily indices (logstash-YYYY.MM.DD)",
    "filebeat": "Filebeat",
    "metricbeat": "Metricbeat",
    "packetbeat": "Packetbeat",
    "heartbeat": "Heartbeat",
    "auditbeat": "Auditbeat",
    "winlogbeat": "Winlogbeat",
    "functionbeat": "Functionbeat",
    "journalbeat": "Journalbeat",
    "apm": "Elastic APM",
    "logs": "Elasticsearch's built-in logs-*-* data streams",
    "metrics": "Elasticsearch's built-in metrics-*-* data streams",
    "traces": "Elasticsearch's built-in traces-*-* data streams",
    "synthetics": "Elasticsearch's built-in synthetics-*-* data streams",
    "profiling": "Elastic Universal Profiling",
    "kibana": "Kibana (.kibana and kibana_sample_data_*)",
    "kibana_sample_data": "Kibana's sample data",
    "ilm-history": "Elasticsearch's ILM history",
    "security-auditlog": "the OpenSearch security plugin's audit log",
    "opensearch_dashboards": "OpenSearch Dashboards",
    "fluentd": "Fluentd's default logstash_format prefix",
    "fluent-bit": "Fluent Bit",
    "jaeger-span": "Jaeger",
    "jaeger-service": "Jaeger",
    "otel-v1-apm-span": "OpenSearch Data Prepper traces",
    "ss4o": "OpenSearch simple schema for observability",
}

PREFIX_FIELDS = ("lag_index", "status_index", "jmx_index")


def collision_warnings(store: Any) -> list[str]:
    """One warning per configured prefix that equals, or falls under, a foreign one."""
    warnings = []
    for field in PREFIX_FIELDS:
        prefix: str = getattr(store, field)
        for foreign, owner in FOREIGN_PREFIXES.items():
            if prefix == foreign or prefix.startswith(f"{foreign}-"):
                warnings.append(
                    f"store.{field} {prefix!r} shares the index names of {owner} ({foreign}-*): kafka-monitor "
                    f"never deletes or maps indices without its marker, so where those exist it will refuse "
                    f"to install its template and index nothing; choose a prefix of its own (e.g. 'kafka-{field[:-6]}')"
                )
                break
    return warnings
