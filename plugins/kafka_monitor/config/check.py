"""``python -m kafka_monitor check-config``: the configuration validated, then held against
the minute's budget and the fan-out's map limit (``budget``), with warnings about index
prefixes other tools write to (``index_prefixes``); a summary of what it monitors."""

from __future__ import annotations

from kafka_monitor.config.budget import check_minute
from kafka_monitor.config.index_prefixes import collision_warnings
from kafka_monitor.config.loader import resolve_config_path
from kafka_monitor.config.schema import load_config
from kafka_monitor.errors import ConfigError


def cli_check_config(path: str | None, out, err) -> int:
    """``python -m kafka_monitor check-config``: 0 and a summary, or 2 and the errors."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=err)
        return 2
    for warning in collision_warnings(config.store):
        print(f"warning: {warning}", file=err)
    problems = check_minute(config)
    if problems:
        print(f"kafka-monitor configuration {resolve_config_path(path)} cannot run every minute:", file=err)
        for problem in problems:
            print(f"  {problem}", file=err)
        return 2
    print(f"configuration {resolve_config_path(path)} is valid:", file=out)
    for mm in config.mirrormakers:
        print(f"  mirrormaker {mm.name}: group {mm.group!r}, {len(mm.topics)} topics via {mm.ssh_conn_id}", file=out)
    for watch in config.consumer_groups:
        print(
            f"  consumer group {watch.group!r} ({watch.name}): {len(watch.topics)} topics via Admin API "
            f"{watch.kafka_conn_id}",
            file=out,
        )
    print(f"  lag fan-out: {config.lag.fan_out}", file=out)
    print(f"  jmx targets: {len(config.jmx.targets)}", file=out)
    print(f"  store: {config.store.kind} via {config.store.conn_id}", file=out)
    ev = config.evaluation
    print(
        f"  evaluation: {ev.window_minutes}-minute window, allowed lag {ev.allowed_lag}, "
        f"max/critical lag seconds {ev.max_lag_seconds}/{ev.critical_lag_seconds}, {len(ev.topics)} topic overrides",
        file=out,
    )
    print(f"  cloudwatch dashboard: {'on' if config.cloudwatch and config.cloudwatch.enabled else 'off'}", file=out)
    if config.alerts and config.alerts.enabled:
        channels = ", ".join(f"{c.channel_id} ({c.kind} via {c.conn_id})" for c in config.alerts.channels)
        print(f"  alerts: threshold {config.alerts.threshold}, channels {channels}", file=out)
    else:
        print("  alerts: off", file=out)
    return 0
