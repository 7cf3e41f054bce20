"""A local check of a dashboard body against CloudWatch's schema (Dashboard Body Structure
and Syntax): CloudWatch and moto accept many wrong bodies, so the sync checks before any AWS
call, and every problem names the widget (index and title) and the field.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from kafka_monitor.cloudwatch.errors import DashboardValidationError
from kafka_monitor.config.validators import REGION_PATTERN

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
METRIC_ID_PATTERN = re.compile(r"[a-z][a-zA-Z0-9_]{0,254}")
COLOR_PATTERN = re.compile(r"#[0-9a-fA-F]{6}")
# Lower-case identifiers in a metric math expression are metric ids (functions are upper case).
_EXPR_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_EXPR_IDS = re.compile(r"(?<![A-Za-z0-9_.])[a-z][a-zA-Z0-9_]*(?![A-Za-z0-9_(])")


def _is_int(value: Any) -> TypeGuard[int]:
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
        only = entry[0]
        if len(entry) != 1:
            problems.append(f"{path}: an expression entry is a single object, found {len(entry)} elements")
        expr = only.get("expression")
        if not isinstance(expr, str) or not expr.strip():
            problems.append(f"{path}[0].expression: an options-only entry needs a non-empty expression")
            expr = None
        _check_options(only, f"{path}[0]", problems, expression=True)
        return (only.get("id") if isinstance(only.get("id"), str) else None), expr

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
