"""The MSK CloudWatch dashboard as code: rendered, checked locally, synced; lag as metrics.

The first source document's MSK view was a hand-made CloudWatch dashboard
(``kafka-monitor-all-in-one``). Here its definition is the template
``include/cloudwatch/dashboard.json.j2``, rendered from the configuration's ``cloudwatch``
section, and the per-minute DAG makes CloudWatch match it:

- ``render_dashboard`` + ``validate_dashboard``: the body, checked before any AWS call
  (CloudWatch and moto accept many wrong bodies; the checks name the widget and field);
- ``sync_dashboard``: put only when the deployed copy differs. Most minutes it makes no AWS
  call at all: the hash of the last synced body and the time of the last drift check live
  in a ``SyncState`` (an Airflow Variable in the DAG), and the deployed copy is only read
  again when the definition changed or ``drift_check_minutes`` have passed;
- ``publish_lag_metrics``: optional (it costs money per metric) copy of our own per-topic
  lag into CloudWatch custom metrics, so MSK throughput and MirrorMaker lag share a screen;
- ``cli_render_dashboard``: ``python -m kafka_monitor render-dashboard``.

Credentials come only from the Airflow connection ``cloudwatch.aws_conn_id``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from kafka_monitor.config.schema import CloudWatchSettings, MonitorConfig, load_config
from kafka_monitor.errors import ConfigError, KafkaMonitorError
from kafka_monitor.paths import include_path

log = logging.getLogger(__name__)

TEMPLATE_DIR = "cloudwatch"
TEMPLATE_NAME = "dashboard.json.j2"
STATE_VARIABLE = "kafka_monitor_dashboard_sync"

# CloudWatch's dashboard grid and limits (Dashboard Body Structure and Syntax).
GRID_COLUMNS = 24
MAX_WIDGETS = 500
MAX_METRICS_PER_WIDGET = 500
MAX_WIDGET_HEIGHT = 1000
MAX_DIMENSIONS = 30
WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer")
WIDGET_KEYS = {"type", "x", "y", "width", "height", "properties"}
BODY_KEYS = {"widgets", "start", "end", "periodOverride", "variables"}
METRIC_OPTION_KEYS = {"accountId", "color", "expression", "id", "label", "period", "region", "stat", "visible", "yAxis"}
METRIC_VIEWS = ("timeSeries", "singleValue", "gauge", "bar", "pie", "table")
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum", "IQM")
# Percentiles and trimmed/winsorized statistics: p99, p99.9, tm90, wm99, tc90, ts90, pr(10:20)...
STAT_PATTERN = re.compile(
    r"(p|tm|wm|tc|ts)\d{1,2}(\.\d{1,10})?|(p|tm|wm|tc|ts)100|(TM|WM|TC|TS|PR)\(\s*[^()]*\)|pr\([^()]*\)"
)
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
METRIC_ID_PATTERN = re.compile(r"[a-z][a-zA-Z0-9_]{0,254}")
COLOR_PATTERN = re.compile(r"#[0-9a-fA-F]{6}")
# Lower-case identifiers in a metric math expression are metric ids (functions are upper case).
_EXPR_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_EXPR_IDS = re.compile(r"(?<![A-Za-z0-9_.])[a-z][a-zA-Z0-9_]*(?![A-Za-z0-9_(])")

# Our own lag as custom metrics (publish_lag_metrics), and the dashboard widget showing them.
LAG_METRIC_TOTAL = "TotalLag"
LAG_METRIC_MAX = "MaxLag"
LAG_DIMENSIONS = ("MirrorMaker", "ConsumerGroup", "Topic")
MAX_DATA_PER_PUT = 1000  # PutMetricData: at most 1000 metrics per request (and 1 MB)
# CloudWatch refuses data points older than two weeks or more than two hours ahead.
MAX_DATA_AGE = timedelta(days=14)
MAX_DATA_AHEAD = timedelta(hours=2)

# Bounded by default: the sync runs inside a per-minute DAG. The connection's
# extra "config_kwargs" override any of these.
DEFAULT_BOTO_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 15,
    "retries": {"mode": "standard", "max_attempts": 3},
}

_AUTH_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidSignatureException",
    "AuthFailure",
}
_THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
_NOT_FOUND_CODES = {"ResourceNotFound", "ResourceNotFoundException"}
_INVALID_CODES = {
    "InvalidParameterInput",
    "DashboardInvalidInputError",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "ValidationError",
    "InvalidFormat",
}


class DashboardValidationError(KafkaMonitorError):
    """The rendered dashboard body is not a valid CloudWatch dashboard; names widget and field."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = f"invalid CloudWatch dashboard body: {self.problems[0]}"
        else:
            message = f"invalid CloudWatch dashboard body ({len(self.problems)} problems):\n" + "\n".join(
                f"  {p}" for p in self.problems
            )
        super().__init__(message)


class CloudWatchError(KafkaMonitorError):
    """A CloudWatch call failed; the message names the operation and the cause.

    ``kind``: "auth", "throttled", "invalid", "unreachable", "connection" (the Airflow
    connection) or "aws"; ``code``: AWS's error code when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "aws",
        code: str | None = None,
        validation_messages: Sequence[str] = (),
        report: PublishReport | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.validation_messages = list(validation_messages)
        self.report = report


# --------------------------------------------------------------------------- render


def _settings(config: MonitorConfig) -> CloudWatchSettings:
    if config.cloudwatch is None:
        raise ConfigError("cloudwatch: the configuration has no cloudwatch section, so there is no dashboard")
    return config.cloudwatch


def dashboard_topics(config: MonitorConfig) -> list[str]:
    settings = _settings(config)
    return list(settings.topics) if settings.topics else config.all_topics()


def dashboard_group(config: MonitorConfig) -> str:
    settings = _settings(config)
    return settings.consumer_group or config.mirrormakers[0].group


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _markdown_text(value: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value)


def _markdown_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s<>\"]+", url):
        raise ConfigError(f"cloudwatch.kibana_url: {url!r} is not an http(s) URL without spaces")
    # A bare parenthesis would end the markdown link early.
    return url.replace("(", "%28").replace(")", "%29")


def _lag_markdown(config: MonitorConfig) -> str:
    settings = _settings(config)
    group = _markdown_text(dashboard_group(config))
    index = _markdown_text(f"{config.store.lag_index}-*")
    lines = [
        "## MirrorMaker lag per partition",
        "",
        f"The MSK lag graphs here are per topic, for consumer group {group}, and exist only while that "
        "group consumes from this MSK cluster. kafka-monitor collects MirrorMaker's lag of every "
        f"partition each minute into the search store (indices {index}, documents of doc\\_type "
        "partition and topic\\_summary).",
        "",
    ]
    if settings.kibana_url:
        lines.append(f"**[Open the per-partition lag in Kibana]({_markdown_url(settings.kibana_url)})**")
    else:
        lines.append("Set cloudwatch.kibana\\_url in the configuration to link the Kibana dashboard here.")
    return "\n".join(lines)


def _template_context(config: MonitorConfig) -> dict[str, Any]:
    settings = _settings(config)
    brokers = [str(b) for b in settings.broker_ids]
    topics = [
        {"name": topic, "id": f"t{i}", "series": [{"broker": b, "id": f"t{i}_b{b}"} for b in brokers]}
        for i, topic in enumerate(dashboard_topics(config))
    ]
    custom_lag = None
    if settings.publish_lag_metrics:
        wanted = set(dashboard_topics(config))
        custom_lag = {
            "namespace": settings.lag_metric_namespace,
            "metric": LAG_METRIC_TOTAL,
            "dimensions": list(LAG_DIMENSIONS),
            "series": [
                {"mirrormaker": mm.name, "group": mm.group, "topic": topic}
                for mm in config.mirrormakers
                for topic in mm.topics
                if topic in wanted
            ],
        }
    return {
        "region": settings.region,
        "cluster": settings.msk_cluster_name,
        "instances": list(settings.mirrormaker_instance_ids),
        "topics": topics,
        "group": dashboard_group(config),
        "lag_markdown": _lag_markdown(config),
        "custom_lag": custom_lag,
    }


@lru_cache(maxsize=4)
def _jinja_environment(directory: str):
    """One environment per template folder: compiled once per process (it runs every
    minute), recompiled when the file changes (auto_reload checks its mtime)."""
    import jinja2  # local: only the dashboard needs it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=True,
    )


def render_dashboard_text(config: MonitorConfig) -> str:
    """The template's raw output (JSON text), before parsing."""
    import jinja2

    env = _jinja_environment(str(include_path(TEMPLATE_DIR)))
    where = f"include/{TEMPLATE_DIR}/{TEMPLATE_NAME}"
    try:
        return env.get_template(TEMPLATE_NAME).render(**_template_context(config))
    except jinja2.TemplateNotFound:
        raise ConfigError(f"{include_path(TEMPLATE_DIR, TEMPLATE_NAME)}: the dashboard template is missing") from None
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise DashboardValidationError(f"template {where}{f' line {line}' if line else ''}: {exc}") from None


def render_dashboard(config: MonitorConfig) -> dict[str, Any]:
    """The dashboard body for ``config`` (a dict; ``json.dumps`` it for PutDashboard)."""
    text = render_dashboard_text(config)
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        bad_line = text.splitlines()[exc.lineno - 1] if 0 < exc.lineno <= len(text.splitlines()) else ""
        raise DashboardValidationError(
            f"template include/{TEMPLATE_DIR}/{TEMPLATE_NAME} rendered invalid JSON at line {exc.lineno}, "
            f"column {exc.colno}: {exc.msg}: {bad_line.strip()!r}"
        ) from None
    return body


# --------------------------------------------------------------------------- validate


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _widget_label(index: int, widget: Any) -> str:
    title = None
    if isinstance(widget, dict) and isinstance(widget.get("properties"), dict):
        title = widget["properties"].get("title")
    return f"widget {index} ({title!r})" if isinstance(title, str) and title else f"widget {index}"


def _check_period(value: Any) -> str | None:
    if not _is_int(value) or value <= 0:
        return f"must be a positive integer of seconds, got {value!r}"
    if value not in (1, 5, 10, 30) and value % 60:
        return f"must be 1, 5, 10, 30 or a multiple of 60 seconds, got {value}"
    return None


def _check_stat(value: Any) -> str | None:
    if not isinstance(value, str) or not (value in STATISTICS or STAT_PATTERN.fullmatch(value)):
        return f"{value!r} is not a CloudWatch statistic (e.g. Average, Sum, Maximum, p99)"
    return None


def _check_options(opts: dict[str, Any], path: str, problems: list[str], expression: bool) -> None:
    for key in opts:
        if key not in METRIC_OPTION_KEYS:
            problems.append(f"{path}.{key}: unknown metric option (allowed: {', '.join(sorted(METRIC_OPTION_KEYS))})")
    if "expression" in opts and not expression:
        problems.append(f"{path}.expression: an expression must be the only element of its metric array")
    if "id" in opts and not (isinstance(opts["id"], str) and METRIC_ID_PATTERN.fullmatch(opts["id"])):
        problems.append(
            f"{path}.id: {opts['id']!r} must start with a lower-case letter and hold only letters, digits and _"
        )
    if "label" in opts and not isinstance(opts["label"], str):
        problems.append(f"{path}.label: must be a string")
    if "visible" in opts and not isinstance(opts["visible"], bool):
        problems.append(f"{path}.visible: must be true or false")
    if "yAxis" in opts and opts["yAxis"] not in ("left", "right"):
        problems.append(f"{path}.yAxis: must be 'left' or 'right'")
    if "color" in opts and not (isinstance(opts["color"], str) and COLOR_PATTERN.fullmatch(opts["color"])):
        problems.append(f"{path}.color: {opts['color']!r} is not a #rrggbb colour")
    if "region" in opts and not (isinstance(opts["region"], str) and REGION_PATTERN.fullmatch(opts["region"])):
        problems.append(f"{path}.region: {opts['region']!r} is not an AWS region")
    if "period" in opts and (msg := _check_period(opts["period"])):
        problems.append(f"{path}.period: {msg}")
    if "stat" in opts and (msg := _check_stat(opts["stat"])):
        problems.append(f"{path}.stat: {msg}")


def _check_metric_entry(entry: Any, path: str, problems: list[str], first: bool) -> tuple[str | None, str | None]:
    """Check one element of ``properties.metrics``; returns (id, expression)."""
    if not isinstance(entry, list) or not entry:
        problems.append(
            f"{path}: must be a non-empty array [namespace, metric name, dimension name, value, ..., {{options}}]"
        )
        return None, None
    if isinstance(entry[0], dict):
        opts = entry[0]
        if len(entry) != 1:
            problems.append(f"{path}: an expression entry is a single object, found {len(entry)} elements")
        expr = opts.get("expression")
        if not isinstance(expr, str) or not expr.strip():
            problems.append(f"{path}[0].expression: an options-only entry needs a non-empty expression")
            expr = None
        _check_options(opts, f"{path}[0]", problems, expression=True)
        return (opts.get("id") if isinstance(opts.get("id"), str) else None), expr

    opts: dict[str, Any] = {}
    parts = entry
    if isinstance(entry[-1], dict):
        opts, parts = entry[-1], entry[:-1]
    for i, part in enumerate(parts):
        if isinstance(part, dict):
            problems.append(f"{path}[{i}]: the options object must be the last element")
        elif not isinstance(part, str):
            problems.append(f"{path}[{i}]: must be a string, got {type(part).__name__} {part!r}")
        elif not part.strip():
            problems.append(f"{path}[{i}]: must not be empty")
    strings = [p for p in parts if isinstance(p, str)]
    shorthand = any(p in (".", "...") for p in strings)
    if shorthand:
        if first:
            problems.append(f"{path}: the '.'/'...' shorthand needs an earlier metric to copy from")
    elif len(parts) < 2:
        problems.append(f"{path}: needs at least a namespace and a metric name")
    elif (len(parts) - 2) % 2:
        problems.append(f"{path}: dimension name {parts[-1]!r} has no value (names and values come in pairs)")
    elif (len(parts) - 2) // 2 > MAX_DIMENSIONS:
        problems.append(f"{path}: more than {MAX_DIMENSIONS} dimensions")
    else:
        if isinstance(parts[0], str) and parts[0].startswith(":"):
            problems.append(f"{path}[0]: namespace {parts[0]!r} must not start with ':'")
        for i in range(2, len(parts), 2):
            name, value = parts[i], parts[i + 1]
            if isinstance(value, str) and (len(value) > 1024 or not value.isascii()):
                problems.append(f"{path}[{i + 1}]: dimension {name!r} value must be ASCII and at most 1024 characters")
    _check_options(opts, f"{path}[{len(entry) - 1}]", problems, expression=False)
    return (opts.get("id") if isinstance(opts.get("id"), str) else None), None


def _check_metric_widget(props: dict[str, Any], where: str, problems: list[str]) -> None:
    metrics = props.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        problems.append(f"{where}: properties.metrics: a metric widget needs a non-empty array of metrics")
        return
    if len(metrics) > MAX_METRICS_PER_WIDGET:
        problems.append(
            f"{where}: properties.metrics: {len(metrics)} metrics, CloudWatch allows {MAX_METRICS_PER_WIDGET} per graph"
        )
    ids: dict[str, int] = {}
    expressions: list[tuple[int, str]] = []
    for i, entry in enumerate(metrics):
        path = f"{where}: properties.metrics[{i}]"
        metric_id, expr = _check_metric_entry(entry, path, problems, first=(i == 0))
        if metric_id is not None:
            if metric_id in ids:
                problems.append(f"{path}: id {metric_id!r} is already used by properties.metrics[{ids[metric_id]}]")
            ids[metric_id] = i
        if expr is not None:
            expressions.append((i, expr))
    for i, expr in expressions:
        if expr.lstrip().upper().startswith("SELECT"):
            continue  # Metrics Insights SQL: its own grammar
        for ref in _EXPR_IDS.findall(_EXPR_STRINGS.sub("", expr)):
            if ref not in ids:
                problems.append(
                    f"{where}: properties.metrics[{i}][0].expression: {expr!r} refers to unknown metric id {ref!r}"
                )
    if "view" in props and props["view"] not in METRIC_VIEWS:
        problems.append(f"{where}: properties.view: {props['view']!r} is not one of {', '.join(METRIC_VIEWS)}")
    if "stat" in props and (msg := _check_stat(props["stat"])):
        problems.append(f"{where}: properties.stat: {msg}")
    if "period" in props and (msg := _check_period(props["period"])):
        problems.append(f"{where}: properties.period: {msg}")
    if "title" in props and not isinstance(props["title"], str):
        problems.append(f"{where}: properties.title: must be a string")
    if "yAxis" in props and not isinstance(props["yAxis"], dict):
        problems.append(f"{where}: properties.yAxis: must be an object")


def validate_dashboard(body: Any) -> None:
    """Raise ``DashboardValidationError`` listing every problem (widget index/title and field)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        raise DashboardValidationError(f"the body must be a JSON object, got {type(body).__name__}")
    for key in body:
        if key not in BODY_KEYS:
            problems.append(f"{key}: unknown top-level field (allowed: {', '.join(sorted(BODY_KEYS))})")
    if "periodOverride" in body and body["periodOverride"] not in ("auto", "inherit"):
        problems.append(f"periodOverride: {body['periodOverride']!r} must be 'auto' or 'inherit'")
    for key in ("start", "end"):
        if key in body and not isinstance(body[key], str):
            problems.append(f"{key}: must be a string (e.g. -PT3H or an ISO 8601 time)")
    widgets = body.get("widgets")
    if not isinstance(widgets, list):
        problems.append("widgets: required, an array of widget objects")
        raise DashboardValidationError(problems)
    if len(widgets) > MAX_WIDGETS:
        problems.append(f"widgets: {len(widgets)} widgets, CloudWatch allows {MAX_WIDGETS}")

    placed: list[tuple[int, str, int, int, int, int]] = []
    for index, widget in enumerate(widgets):
        where = _widget_label(index, widget)
        if not isinstance(widget, dict):
            problems.append(f"{where}: must be an object, got {type(widget).__name__}")
            continue
        for key in widget:
            if key not in WIDGET_KEYS:
                problems.append(f"{where}: {key}: unknown widget field (allowed: {', '.join(sorted(WIDGET_KEYS))})")
        wtype = widget.get("type")
        if wtype not in WIDGET_TYPES:
            problems.append(f"{where}: type: {wtype!r} is not one of {', '.join(WIDGET_TYPES)}")
        geometry_ok = True
        for key, low, high in (
            ("x", 0, GRID_COLUMNS - 1),
            ("y", 0, None),
            ("width", 1, GRID_COLUMNS),
            ("height", 1, MAX_WIDGET_HEIGHT),
        ):
            value = widget.get(key)
            if not _is_int(value):
                problems.append(f"{where}: {key}: required integer, got {value!r}")
                geometry_ok = False
            elif value < low or (high is not None and value > high):
                bound = f"{low}..{high}" if high is not None else f">= {low}"
                problems.append(f"{where}: {key}: {value} is out of range ({bound})")
                geometry_ok = False
        if geometry_ok:
            if widget["x"] + widget["width"] > GRID_COLUMNS:
                problems.append(
                    f"{where}: x + width = {widget['x'] + widget['width']} runs past the {GRID_COLUMNS}-column grid"
                )
            else:
                placed.append((index, where, widget["x"], widget["y"], widget["width"], widget["height"]))
        props = widget.get("properties")
        if not isinstance(props, dict):
            problems.append(f"{where}: properties: required object")
            continue
        if wtype == "text":
            markdown = props.get("markdown")
            if not isinstance(markdown, str) or not markdown.strip():
                problems.append(f"{where}: properties.markdown: a text widget needs non-empty markdown")
            continue
        region = props.get("region")
        if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region):
            problems.append(f"{where}: properties.region: required AWS region (e.g. eu-west-1), got {region!r}")
        if wtype == "metric":
            _check_metric_widget(props, where, problems)
        elif wtype == "alarm":
            alarms = props.get("alarms")
            if (
                not isinstance(alarms, list)
                or not alarms
                or not all(isinstance(a, str) and a.startswith("arn:") for a in alarms)
            ):
                problems.append(f"{where}: properties.alarms: a non-empty array of alarm ARNs")
        elif wtype == "log":
            if not isinstance(props.get("query"), str) or not props["query"].strip():
                problems.append(f"{where}: properties.query: a log widget needs a Logs Insights query")

    # Overlapping widgets make the layout unreadable (CloudWatch silently moves them).
    for a in range(len(placed)):
        for b in range(a + 1, len(placed)):
            _, wa, xa, ya, wida, ha = placed[a]
            _, wb, xb, yb, widb, hb = placed[b]
            if xa < xb + widb and xb < xa + wida and ya < yb + hb and yb < ya + ha:
                problems.append(f"{wb}: x/y: overlaps {wa}")
    if problems:
        raise DashboardValidationError(problems)


# --------------------------------------------------------------------------- compare


def canonical_json(body: Any) -> str:
    """One text per meaning: sorted keys, no whitespace (what hashes and comparisons use)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_hash(settings: CloudWatchSettings, body: Any) -> str:
    """Identity of what is synced: region, dashboard name and the normalised body."""
    text = f"{settings.region}\n{settings.dashboard_name}\n{canonical_json(body)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dashboard_diff(deployed: Any, wanted: Any, name: str) -> str:
    """A unified diff of the normalised bodies (``deployed`` None: not deployed yet)."""
    before = [] if deployed is None else json.dumps(deployed, sort_keys=True, indent=2, ensure_ascii=False).splitlines()
    after = json.dumps(wanted, sort_keys=True, indent=2, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(before, after, fromfile=f"deployed:{name}", tofile="repository", lineterm=""))


# --------------------------------------------------------------------------- sync state


def _parse_time(value: str) -> datetime:
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return ts


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SyncRecord:
    """What the last sync left behind (kept between task runs, on any worker)."""

    dashboard: str
    region: str
    body_hash: str
    synced_at: datetime  # when CloudWatch was last found equal to, or made equal to, this body
    drift_checked_at: datetime  # when the deployed copy was last read

    def to_dict(self) -> dict[str, Any]:
        return {
            "dashboard": self.dashboard,
            "region": self.region,
            "body_hash": self.body_hash,
            "synced_at": _iso(self.synced_at),
            "drift_checked_at": _iso(self.drift_checked_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncRecord:
        return cls(
            dashboard=str(data["dashboard"]),
            region=str(data["region"]),
            body_hash=str(data["body_hash"]),
            synced_at=_parse_time(data["synced_at"]),
            drift_checked_at=_parse_time(data["drift_checked_at"]),
        )


class SyncState(ABC):
    """Where the last sync's record lives between task runs."""

    @abstractmethod
    def load(self) -> SyncRecord | None: ...

    @abstractmethod
    def save(self, record: SyncRecord) -> None: ...


class MemorySyncState(SyncState):
    """In-process state, for unit tests and one-off command-line runs."""

    def __init__(self, record: SyncRecord | None = None):
        self.record = record
        self.saves = 0

    def load(self) -> SyncRecord | None:
        return self.record

    def save(self, record: SyncRecord) -> None:
        self.record = record
        self.saves += 1


class VariableSyncState(SyncState):
    """The record as JSON in an Airflow Variable, so every worker sees the same state.

    An unreadable value (edited by hand, older format) counts as no state: the next sync then
    reads the deployed dashboard and compares, which is always safe.
    """

    def __init__(self, key: str = STATE_VARIABLE):
        self.key = key

    def load(self) -> SyncRecord | None:
        from airflow.sdk import Variable

        raw = Variable.get(self.key, default=None)
        if raw is None:
            return None
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
            return SyncRecord.from_dict(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Airflow Variable %s does not hold a dashboard sync record (%s); ignoring it", self.key, exc)
            return None

    def save(self, record: SyncRecord) -> None:
        from airflow.sdk import Variable

        Variable.set(
            self.key,
            json.dumps(record.to_dict(), sort_keys=True),
            description="kafka-monitor: last CloudWatch dashboard sync (written by the DAG)",
        )


# --------------------------------------------------------------------------- AWS client and errors


def cloudwatch_client(settings: CloudWatchSettings):
    """A boto3 CloudWatch client from the Airflow connection ``settings.aws_conn_id``.

    A missing connection is an error here (AwsBaseHook would only log it and fall back to
    whatever credentials the worker happens to have).
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    hook = AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type="cloudwatch", region_name=settings.region)
    try:
        hook.get_connection(settings.aws_conn_id)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException differs between airflow and airflow.sdk
        if type(exc).__name__ != "AirflowNotFoundException":
            raise
        raise CloudWatchError(
            f"Airflow connection {settings.aws_conn_id!r} (cloudwatch.aws_conn_id) is not defined; "
            "create an aws connection holding the key id/secret or role to use",
            kind="connection",
        ) from None
    config = Config(**DEFAULT_BOTO_CONFIG).merge(hook.config)
    return hook.get_client_type(region_name=settings.region, config=config)


def _client_of(hook_or_client: Any):
    if hasattr(hook_or_client, "get_conn") and not hasattr(hook_or_client, "meta"):
        return hook_or_client.get_conn()
    return hook_or_client


_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def _error_parts(exc: Exception) -> tuple[str | None, str, int | None, int]:
    """(code, message, HTTP status, retries made) of a botocore ClientError."""
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {}) or {}
    meta = response.get("ResponseMetadata", {}) or {}
    code = error.get("Code")
    message = error.get("Message") or str(exc)
    # Some servers (moto, proxies) answer a JSON-protocol call with an XML error body; botocore
    # then only knows the HTTP status. Take the real code and message from the XML.
    if message.lstrip().startswith("<") and (found := _XML_CODE.search(message)):
        code = found.group(1)
        text = _XML_MESSAGE.search(message)
        message = text.group(1) if text else message
    return code, message, meta.get("HTTPStatusCode"), int(meta.get("RetryAttempts") or 0)


def _validation_messages(source: Mapping[str, Any] | None) -> list[str]:
    if not source:
        return []
    items = source.get("DashboardValidationMessages") or source.get("dashboardValidationMessages") or []
    messages = []
    for item in items:
        if isinstance(item, Mapping):
            path = item.get("DataPath") or item.get("dataPath") or ""
            text = item.get("Message") or item.get("message") or ""
            messages.append(f"{path}: {text}" if path else str(text))
        else:
            messages.append(str(item))
    return messages


def _call(
    client: Any, operation: str, subject: str, *, missing_ok: bool = False, **kwargs: Any
) -> dict[str, Any] | None:
    """One CloudWatch API call; any failure becomes a CloudWatchError naming it and the cause.

    With ``missing_ok`` a "does not exist" answer returns None.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    method = re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()
    try:
        return getattr(client, method)(**kwargs)
    except ClientError as exc:
        code, message, status, retries = _error_parts(exc)
        if missing_ok and code in _NOT_FOUND_CODES:
            return None
        kind = (
            "auth"
            if code in _AUTH_CODES or status in (401, 403)
            else "throttled"
            if code in _THROTTLE_CODES or status == 429
            else "invalid"
            if code in _INVALID_CODES
            else "aws"
        )
        retried = f" after {retries} retries" if retries else ""
        messages = _validation_messages(exc.response)
        detail = f"; validation messages: {'; '.join(messages)}" if messages else ""
        raise CloudWatchError(
            f"CloudWatch {operation} for {subject} failed{retried}: {code or 'error'} "
            f"(HTTP {status}): {message}{detail}",
            kind=kind,
            code=code,
            validation_messages=messages,
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CloudWatchError(
            f"CloudWatch {operation} for {subject} failed: no usable AWS credentials: {exc}", kind="auth"
        ) from exc
    except BotoConnectionError as exc:
        raise CloudWatchError(
            f"CloudWatch {operation} for {subject} failed: cannot reach the endpoint: {exc}", kind="unreachable"
        ) from exc
    except BotoCoreError as exc:
        raise CloudWatchError(f"CloudWatch {operation} for {subject} failed: {exc}", kind="aws") from exc


# --------------------------------------------------------------------------- sync


@dataclass
class SyncResult:
    """What one sync did.

    ``action``: "disabled" (no cloudwatch section or enabled: false), "skipped_no_change"
    (same body as last synced and no drift check due: no AWS call), "unchanged" (read the
    deployed copy, equal), "created", "updated" (the definition changed) or "drift_repaired"
    (the definition did not change but the deployed copy had been edited).
    """

    action: str
    dashboard: str | None
    aws_called: bool = False
    aws_calls: list[str] = field(default_factory=list)
    put: bool = False
    drift_checked: bool = False
    diff: str = ""
    validation_messages: list[str] = field(default_factory=list)
    body_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def put_dashboard_body(client: Any, name: str, body: Mapping[str, Any]) -> list[str]:
    """PutDashboard; returns CloudWatch's validation messages (warnings: the dashboard was saved).

    A body CloudWatch refuses raises ``CloudWatchError`` (kind "invalid") carrying its messages.
    """
    response = _call(client, "PutDashboard", f"dashboard {name!r}", DashboardName=name, DashboardBody=json.dumps(body))
    messages = _validation_messages(response)
    for message in messages:
        log.warning("dashboard %s: CloudWatch validation message: %s", name, message)
    return messages


def drift_check_due(record: SyncRecord, now: datetime, minutes: int) -> bool:
    elapsed = now - record.drift_checked_at
    # A clock that went backwards also counts as due.
    return elapsed < timedelta(0) or elapsed >= timedelta(minutes=minutes)


def sync_dashboard(config: MonitorConfig, *, state: SyncState, now: datetime, client: Any = None) -> SyncResult:
    """Make the CloudWatch dashboard match the repository's definition.

    ``client``: a boto3 CloudWatch client; by default one is made from the Airflow connection,
    and only when AWS has to be asked. Raises ``DashboardValidationError`` (bad definition,
    before any AWS call) or ``CloudWatchError`` (AWS refused or could not be reached); the
    state is only updated after a successful check or put.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    settings = config.cloudwatch
    if settings is None or not settings.enabled:
        return SyncResult(action="disabled", dashboard=settings.dashboard_name if settings else None)

    body = render_dashboard(config)
    validate_dashboard(body)
    name = settings.dashboard_name
    wanted_hash = body_hash(settings, body)
    record = state.load()
    if (
        record is not None
        and record.body_hash == wanted_hash
        and not drift_check_due(record, now, settings.drift_check_minutes)
    ):
        log.info(
            "dashboard %s: unchanged since %s, next drift check after %s; no AWS call",
            name,
            _iso(record.synced_at),
            _iso(record.drift_checked_at + timedelta(minutes=settings.drift_check_minutes)),
        )
        return SyncResult(action="skipped_no_change", dashboard=name, body_hash=wanted_hash)

    if client is None:
        client = cloudwatch_client(settings)
    result = SyncResult(action="unchanged", dashboard=name, aws_called=True, drift_checked=True, body_hash=wanted_hash)
    subject = f"dashboard {name!r}"

    deployed: Any = None
    result.aws_calls.append("GetDashboard")
    response = _call(client, "GetDashboard", subject, missing_ok=True, DashboardName=name)
    deployed_text = None if response is None else response.get("DashboardBody")
    if deployed_text is not None:
        try:
            deployed = json.loads(deployed_text)
        except ValueError:
            deployed = deployed_text  # not JSON: certainly different; the diff shows it as a string

    if deployed_text is not None and canonical_json(deployed) == canonical_json(body):
        log.info("dashboard %s: deployed copy matches the repository", name)
        synced_at = record.synced_at if record is not None and record.body_hash == wanted_hash else now
    else:
        if deployed_text is None:
            result.action = "created"
        elif record is not None and record.body_hash == wanted_hash:
            result.action = "drift_repaired"
        else:
            result.action = "updated"
        result.diff = dashboard_diff(deployed, body, name)
        log.info(
            "dashboard %s: %s; differences (deployed -> repository):\n%s",
            name,
            {
                "created": "not deployed yet, creating it",
                "updated": "the definition changed, updating it",
                "drift_repaired": "the deployed copy was edited by hand, putting the definition back",
            }[result.action],
            result.diff,
        )
        result.aws_calls.append("PutDashboard")
        result.validation_messages = put_dashboard_body(client, name, body)
        result.put = True
        synced_at = now

    state.save(
        SyncRecord(
            dashboard=name, region=settings.region, body_hash=wanted_hash, synced_at=synced_at, drift_checked_at=now
        )
    )
    return result


# --------------------------------------------------------------------------- lag as custom metrics


@dataclass
class PublishReport:
    published: int = 0  # data points accepted by PutMetricData
    requests: int = 0
    skipped_no_value: int = 0  # total_lag/max_lag unknown (no partition had an offset)
    rejected: list[str] = field(default_factory=list)  # summaries that cannot become metrics, and why


def _dimension_value(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > 1024 or not value.isascii():
        return None
    return value


def _lag_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        ts = value
    else:
        ts = _parse_time(str(value))
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
    if not namespace or len(namespace) > 255 or namespace.startswith(("AWS/", ":")) or not namespace.isascii():
        raise ConfigError(
            f"cloudwatch.lag_metric_namespace: {namespace!r} is not a usable custom namespace "
            "(1-255 ASCII characters, not starting with 'AWS/' or ':')"
        )
    data, report = lag_metric_data(summaries, now)
    client = _client_of(hook_or_client) if data else None
    for start in range(0, len(data), MAX_DATA_PER_PUT):
        chunk = data[start : start + MAX_DATA_PER_PUT]
        _call(client, "PutMetricData", f"namespace {namespace!r}", Namespace=namespace, MetricData=chunk)
        report.requests += 1
        report.published += len(chunk)
    if report.rejected:
        raise CloudWatchError(
            f"published {report.published} lag data points to {namespace!r}, but {len(report.rejected)} "
            "summaries could not become metrics:\n" + "\n".join(f"  {r}" for r in report.rejected),
            kind="invalid",
            report=report,
        )
    return report


# --------------------------------------------------------------------------- command line


def cli_render_dashboard(config_path: str | None, out, err) -> int:
    """``python -m kafka_monitor render-dashboard``: the checked body as JSON, or exit 2."""
    try:
        config = load_config(config_path)
        body = render_dashboard(config)
        validate_dashboard(body)
    except (ConfigError, DashboardValidationError) as exc:
        print(exc, file=err)
        return 2
    print(json.dumps(body, indent=2, ensure_ascii=False), file=out)
    return 0
