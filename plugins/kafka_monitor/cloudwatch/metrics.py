"""Our own per-topic lag as CloudWatch custom metrics (optional: it costs money per metric),
so MSK throughput and MirrorMaker lag share a screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka_monitor.cloudwatch.aws import call, client_of
from kafka_monitor.cloudwatch.errors import CloudWatchError
from kafka_monitor.config.validators import check_custom_namespace
from kafka_monitor.errors import ConfigError
from kafka_monitor.timestamps import parse_iso

LAG_METRIC_TOTAL = "TotalLag"
LAG_METRIC_MAX = "MaxLag"
LAG_DIMENSIONS = ("MirrorMaker", "ConsumerGroup", "Topic")
MAX_DATA_PER_PUT = 1000  # PutMetricData: at most 1000 metrics per request (and 1 MB)
# CloudWatch refuses data points older than two weeks or more than two hours ahead.
MAX_DATA_AGE = timedelta(days=14)
MAX_DATA_AHEAD = timedelta(hours=2)


@dataclass
class PublishReport:
    published: int = 0  # data points accepted by PutMetricData
    requests: int = 0
    skipped_no_value: int = 0  # total_lag/max_lag unknown (no partition had an offset)
    rejected: list[str] = field(default_factory=list)  # summaries that cannot become metrics, and why


class LagPublishError(CloudWatchError):
    """Some summaries could not become metrics (kind "invalid"); ``report`` says what was published."""

    def __init__(self, message: str, *, report: PublishReport):
        super().__init__(message, kind="invalid")
        self.report = report


def _dimension_value(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > 1024 or not value.isascii():
        return None
    return value


def _lag_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        ts = value
    else:
        ts = parse_iso(str(value))
    if ts.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return ts


def lag_metric_data(
    summaries: Iterable[Any], now: datetime | None = None
) -> tuple[list[dict[str, Any]], PublishReport]:
    """PutMetricData entries for per-topic summaries, and what could not be sent (and why)."""
    now = now or datetime.now(UTC)
    report = PublishReport()
    data: list[dict[str, Any]] = []
    for i, summary in enumerate(summaries):
        source = getattr(summary, "source", summary)
        if not isinstance(source, Mapping):
            report.rejected.append(f"summary {i}: not a mapping ({type(source).__name__})")
            continue
        label = f"summary {i} ({source.get('mirrormaker')!r}/{source.get('group')!r}/{source.get('topic')!r})"
        dims = []
        bad = []
        for dim, key in zip(LAG_DIMENSIONS, ("mirrormaker", "group", "topic")):
            value = _dimension_value(source.get(key))
            if value is None:
                bad.append(
                    f"{key} {source.get(key)!r} cannot be a CloudWatch dimension value (non-empty ASCII, at most 1024)"
                )
            dims.append({"Name": dim, "Value": value})
        try:
            ts = _lag_timestamp(source.get("@timestamp"))
            if ts < now - MAX_DATA_AGE or ts > now + MAX_DATA_AHEAD:
                bad.append(
                    f"@timestamp {source.get('@timestamp')!r} is outside what CloudWatch accepts (2 weeks back, 2 hours ahead)"
                )
        except (TypeError, ValueError):
            bad.append(f"@timestamp {source.get('@timestamp')!r} is not an ISO 8601 time with a zone")
            ts = now
        if bad:
            report.rejected.append(f"{label}: {'; '.join(bad)}")
            continue
        for metric, key in ((LAG_METRIC_TOTAL, "total_lag"), (LAG_METRIC_MAX, "max_lag")):
            value = source.get(key)
            if value is None:
                report.skipped_no_value += 1
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                report.rejected.append(f"{label}: {key} {value!r} is not a non-negative number")
                continue
            data.append(
                {
                    "MetricName": metric,
                    "Dimensions": dims,
                    "Timestamp": ts,
                    "Value": float(value),
                    "Unit": "Count",
                    "StorageResolution": 60,
                }
            )
    return data, report


def publish_lag_metrics(
    hook_or_client: Any, namespace: str, summaries: Iterable[Any], *, now: datetime | None = None
) -> PublishReport:
    """Send per-topic lag summaries (lag documents' ``topic_summary`` sources, or ``Doc``s) to
    CloudWatch as ``<namespace>/TotalLag`` and ``MaxLag`` with dimensions MirrorMaker,
    ConsumerGroup, Topic, in as few PutMetricData calls as the API allows.

    Everything valid is sent; summaries that cannot become metrics are then reported in a
    ``CloudWatchError`` (its ``.report`` says what was published).
    """
    try:
        check_custom_namespace(namespace)
    except ValueError as exc:
        raise ConfigError(f"cloudwatch.lag_metric_namespace: {exc}") from None
    data, report = lag_metric_data(summaries, now)
    client = client_of(hook_or_client) if data else None
    for start in range(0, len(data), MAX_DATA_PER_PUT):
        chunk = data[start : start + MAX_DATA_PER_PUT]
        call(client, "PutMetricData", f"namespace {namespace!r}", Namespace=namespace, MetricData=chunk)
        report.requests += 1
        report.published += len(chunk)
    if report.rejected:
        raise LagPublishError(
            f"published {report.published} lag data points to {namespace!r}, but {len(report.rejected)} "
            "summaries could not become metrics:\n" + "\n".join(f"  {r}" for r in report.rejected),
            report=report,
        )
    return report
