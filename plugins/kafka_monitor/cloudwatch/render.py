"""The MSK dashboard's body, rendered from ``include/cloudwatch/dashboard.json.j2`` and the
configuration's ``cloudwatch`` section (the first source document's hand-made
``kafka-monitor-all-in-one`` dashboard, as code); and ``python -m kafka_monitor
render-dashboard``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from kafka_monitor.cloudwatch.errors import DashboardValidationError
from kafka_monitor.cloudwatch.metrics import LAG_DIMENSIONS, LAG_METRIC_TOTAL
from kafka_monitor.cloudwatch.validate import validate_dashboard
from kafka_monitor.config.schema import CloudWatchSettings, MonitorConfig, load_config
from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path

TEMPLATE_DIR = "cloudwatch"
TEMPLATE_NAME = "dashboard.json.j2"


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
    # The URL passed config.validators.check_http_url (no spaces, quotes, angle brackets).
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
