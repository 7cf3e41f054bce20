"""What each task of the ``kafka_monitor`` DAGs does, kept out of the DAG files.

The DAG files only wire these together. Each function takes plain JSON-able values (what
XCom carries) and the run's scheduled minute, so it can be called directly in tests.

A failure that a retry within the same minute cannot fix (a host key mismatch, a missing
group, a rejected document, a bad configuration) raises ``AirflowFailException`` so the task
fails at once without retrying; the next minute's run tries again anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka_monitor.config.schema import (
    JmxSettings,
    JmxTarget,
    MirrorMaker,
    MonitorConfig,
    StoreSettings,
    load_config,
    resolve_config_path,
)
from kafka_monitor.errors import ConfigError

log = logging.getLogger(__name__)


def _fail(message: str, retryable: bool) -> Exception:
    if retryable:
        return RuntimeError(message)
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def scheduled_minute(context: dict[str, Any]) -> datetime:
    """The minute a run stands for: its logical date, or (manual runs have none) its run_after."""
    from kafka_monitor.store.documents import minute_of

    stamp = context.get("logical_date") or context["dag_run"].run_after
    return minute_of(stamp)


# --------------------------------------------------------------------------- plan


def load_checked(config_path: str | None = None) -> MonitorConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise _fail(str(exc), retryable=False) from None


def plan_lag(config_path: str | None = None) -> list[dict[str, Any]]:
    """One item per (MirrorMaker host, group): what its ``collect_group`` task needs.

    The configuration is refused here, with the cause, when the chosen fan-out cannot map it or
    its timeouts cannot fit the minute (``kafka_monitor.config.budget``), as ``check-config`` does.
    """
    from kafka_monitor.config.budget import check_minute

    config = load_checked(config_path)
    problems = check_minute(config)
    if problems:
        raise _fail(
            f"kafka-monitor configuration {resolve_config_path(config_path)} cannot run every minute: "
            + "; ".join(problems),
            retryable=False,
        )
    store = config.store.model_dump(mode="json")
    # Lag as CloudWatch custom metrics only when asked for (it costs money per metric).
    cloudwatch = (
        config.cloudwatch.model_dump(mode="json")
        if (config.cloudwatch and config.cloudwatch.enabled and config.cloudwatch.publish_lag_metrics)
        else None
    )
    log.info(
        "configuration %s: %d topics in %d groups, fan-out %s",
        resolve_config_path(config_path),
        sum(len(mm.topics) for mm in config.mirrormakers),
        len(config.mirrormakers),
        config.lag.fan_out,
    )
    lag = config.lag.model_dump(mode="json")
    return [
        {"mirrormaker": mm.model_dump(mode="json"), "lag": lag, "store": store, "cloudwatch": cloudwatch}
        for mm in config.mirrormakers
    ]


def plan_topics(groups: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per_topic fan-out's items, a few bytes each (each mapped task pulls the whole list),
    and the settings every topic task shares (one small value, whatever the number of topics).
    No items in the per_group fan-out."""
    items: list[dict[str, Any]] = []
    for g, item in enumerate(groups):
        if item["lag"]["fan_out"] == "per_topic":
            items.extend({"g": g, "t": topic} for topic in item["mirrormaker"]["topics"])
    shared = {
        "store": groups[0]["store"] if groups else None,
        "cloudwatch": groups[0]["cloudwatch"] if groups else None,
        "groups": [[item["mirrormaker"]["name"], item["mirrormaker"]["group"]] for item in groups],
    }
    return items, shared


def plan_jmx(config_path: str | None = None) -> list[dict[str, Any]]:
    """One kwargs dict per mapped JMX task."""
    config = load_checked(config_path)
    store = config.store.model_dump(mode="json")
    jmx = config.jmx.model_dump(mode="json", exclude={"targets"})
    return [{"target": t.model_dump(mode="json"), "jmx": jmx, "store": store} for t in config.jmx.targets]


def group_label(item: dict[str, Any]) -> str:
    return f"{item['mirrormaker']['name']}/{item['mirrormaker']['group']}"


def topic_label(item: dict[str, Any], shared: dict[str, Any]) -> str:
    return f"{shared['groups'][item['g']][0]}/{item['t']}"


# --------------------------------------------------------------------------- lag


def collect_group(
    mirrormaker: dict[str, Any],
    lag: dict[str, Any],
    store: dict[str, Any],
    cloudwatch: dict[str, Any] | None = None,
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
    hand_over: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One describe of a (host, group) for the minute.

    per_topic fan-out: ``hand_over(topic, payload)`` receives each configured topic's rows (or
    its error) for that topic's task; the group's task fails when the describe failed, naming
    the host, the group and the kind (each topic's task then records the same error in its own
    status document). per_group fan-out: every topic is indexed here, with its own status
    document; the task fails naming every topic that was not indexed.
    """
    from kafka_monitor.config.budget import (
        COLLECT_GROUP_TIMEOUT_S,
        SAFETY_S,
        STORE_WRITES_PER_TOPIC,
        store_request_s,
    )
    from kafka_monitor.config.schema import LagSettings
    from kafka_monitor.lag.shared import describe_for_topics

    started = time.monotonic()
    mm = MirrorMaker.model_validate(mirrormaker)
    settings = LagSettings.model_validate(lag)
    store_settings = StoreSettings.model_validate(store)
    budget_s = COLLECT_GROUP_TIMEOUT_S - SAFETY_S
    if settings.fan_out == "per_group":  # keep time to index at least one topic
        budget_s -= STORE_WRITES_PER_TOPIC * store_request_s(store_settings)
    shares, outcome = describe_for_topics(
        mm, attempts=settings.describe_attempts, pause_s=settings.retry_pause_s, budget_s=budget_s
    )
    if settings.fan_out == "per_topic":
        if hand_over is not None:
            for topic, share in shares.items():
                hand_over(topic, share.to_xcom())
        if outcome.error_kind:
            first = next(iter(shares.values()))
            raise _fail(
                f"{mm.name}/{mm.group}: describe failed [{outcome.error_kind}]: {first.error_message} "
                f"({len(shares)} topic tasks record this error)",
                retryable=False,
            )
        return outcome.as_dict()

    # per_group: index every topic here, inside the task's own deadline.
    from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
    from kafka_monitor.lag.shared import GroupRef
    from kafka_monitor.store.sink import SearchSink

    # A topic is started only when its writes still fit before the task's timeout.
    deadline = started + COLLECT_GROUP_TIMEOUT_S - SAFETY_S - STORE_WRITES_PER_TOPIC * store_request_s(store_settings)
    sink = SearchSink.from_settings(store_settings)
    ref = GroupRef(mm.name, mm.group)
    failed: list[str] = []
    not_reached: list[str] = []
    indexed = 0
    for topic, share in shares.items():
        if time.monotonic() > deadline:
            not_reached.append(topic)
            continue
        try:
            result = collect_and_index_topic(
                ref, topic, sink, store_settings, minute=minute, run_id=run_id, try_number=try_number, collected=share
            )
        except LagCollectionFailed as exc:
            failed.append(f"{mm.name}/{topic} [{exc.kind}]")
            continue
        except Exception as exc:  # noqa: BLE001 - the store failed: the next topic may still get through
            failed.append(f"{mm.name}/{topic} [store: {type(exc).__name__}: {str(exc)[:200]}]")
            continue
        indexed += result.indexed
        if cloudwatch:
            publish_lag(result.summary, cloudwatch)
    summary = {**outcome.as_dict(), "indexed": indexed, "topics_failed": len(failed) + len(not_reached)}
    if failed or not_reached:
        parts = []
        if failed:
            parts.append(f"{len(failed)} topic(s) failed: {', '.join(failed[:20])}{' …' if len(failed) > 20 else ''}")
        if not_reached:
            parts.append(
                f"{len(not_reached)} topic(s) not indexed before the task's deadline (no status document): "
                f"{', '.join(not_reached[:20])}{' …' if len(not_reached) > 20 else ''}"
            )
        raise _fail(f"{mm.name}/{mm.group}: " + "; ".join(parts), retryable=False)
    return summary


def collect_lag(
    item: dict[str, Any],
    shared: dict[str, Any],
    payload: Any,
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
    """One topic of the per_topic fan-out: its rows from the group's describe → documents,
    index, status. ``payload`` is what ``collect_group`` handed over for the topic (None when
    that task delivered nothing: it was killed or crashed)."""
    from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
    from kafka_monitor.lag.shared import GroupRef, TopicRows
    from kafka_monitor.store.sink import SearchSink

    name, group = shared["groups"][item["g"]]
    topic = item["t"]
    if payload is None:
        collected = TopicRows(
            error_kind="describe_missing",
            error_message=(
                f"the describe task of {name}/{group} (collect_group) handed over no rows for this topic: "
                "it was killed or crashed before the end; see its log"
            ),
        )
    else:
        try:
            collected = TopicRows.from_xcom(payload)
        except ValueError as exc:
            collected = TopicRows(error_kind="internal_error", error_message=f"rows handed over are unreadable: {exc}")
    settings = StoreSettings.model_validate(shared["store"])
    sink = SearchSink.from_settings(settings)
    try:
        outcome = collect_and_index_topic(
            GroupRef(name, group),
            topic,
            sink,
            settings,
            minute=minute,
            run_id=run_id,
            try_number=try_number,
            collected=collected,
        )
    except LagCollectionFailed as exc:
        raise _fail(str(exc), retryable=False) from exc
    if shared.get("cloudwatch"):
        publish_lag(outcome.summary, shared["cloudwatch"])
    return outcome.as_dict()


def collect_topic_now(
    target: dict[str, Any],
    store: dict[str, Any],
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
    """One topic with its own describe (``{"mirrormaker": {...}, "topic": t}``): for tests and
    one-off use; the DAG shares one describe per group instead."""
    from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
    from kafka_monitor.store.sink import SearchSink

    settings = StoreSettings.model_validate(store)
    mm = MirrorMaker.model_validate(target["mirrormaker"])
    sink = SearchSink.from_settings(settings)
    try:
        outcome = collect_and_index_topic(
            mm, target["topic"], sink, settings, minute=minute, run_id=run_id, try_number=try_number
        )
    except LagCollectionFailed as exc:
        raise _fail(str(exc), exc.retryable) from exc
    return outcome.as_dict()


def publish_lag(summary: dict[str, Any], cloudwatch: dict[str, Any]) -> None:
    """The topic's summary as CloudWatch custom metrics; the lag is already indexed."""
    from kafka_monitor.cloudwatch import dashboard as cw
    from kafka_monitor.config.schema import CloudWatchSettings

    settings = CloudWatchSettings.model_validate(cloudwatch)
    try:
        report = cw.publish_lag_metrics(cw.cloudwatch_client(settings), settings.lag_metric_namespace, [summary])
    except cw.CloudWatchError as exc:
        raise _fail(
            f"lag of topic {summary['topic']!r} was indexed, but publishing it to CloudWatch failed: {exc}",
            retryable=True,
        ) from exc
    log.info("published %d lag data points to CloudWatch namespace %s", report.published, settings.lag_metric_namespace)


# --------------------------------------------------------------------------- jmx


def snapshot_jmx(
    target: dict[str, Any],
    jmx: dict[str, Any],
    store: dict[str, Any],
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
    from kafka_monitor.jmx import snapshot as jmx_module
    from kafka_monitor.store.sink import SearchSink

    settings = StoreSettings.model_validate(store)
    sink = SearchSink.from_settings(settings)
    sink.ensure_templates()
    try:
        return jmx_module.collect_and_index(
            JmxTarget.model_validate(target),
            JmxSettings.model_validate({**jmx, "targets": []}),
            sink,
            status_index_prefix=settings.status_index,
            jmx_index_prefix=settings.jmx_index,
            minute=minute,
            run_id=run_id,
            try_number=try_number,
        )
    except jmx_module.JmxError as exc:
        raise _fail(
            f"JMX target {target['name']!r}: {exc}", retryable=exc.kind in ("timeout", "target_unreachable")
        ) from exc


# --------------------------------------------------------------------------- cloudwatch


def sync_dashboard(
    config_path: str | None = None, *, now: datetime, minute: datetime | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Make CloudWatch match the repository's dashboard; record the outcome as a status document."""
    from kafka_monitor.cloudwatch import dashboard as cloudwatch
    from kafka_monitor.store.documents import STATUS_ERROR, STATUS_OK, status_document
    from kafka_monitor.store.sink import SearchSink

    monitor = load_checked(config_path)
    if monitor.cloudwatch is None or not monitor.cloudwatch.enabled:
        return {"action": "disabled"}
    started = time.monotonic()
    sink = SearchSink.from_settings(monitor.store)

    def record(state: str, kind: str | None = None, message: str | None = None, **extra: Any) -> None:
        sink.index(
            [
                status_document(
                    index_prefix=monitor.store.status_index,
                    minute=minute or now,
                    source="cloudwatch",
                    subject={"dashboard": monitor.cloudwatch.dashboard_name},
                    status=state,
                    duration_ms=(time.monotonic() - started) * 1000,
                    row_count=0,
                    error_kind=kind,
                    error_message=message,
                    collected_at=now,
                    run_id=run_id,
                    extra=extra,
                )
            ]
        )

    try:
        result = cloudwatch.sync_dashboard(monitor, state=cloudwatch.VariableSyncState(), now=now)
    except cloudwatch.CloudWatchError as exc:
        record(STATUS_ERROR, f"aws_{exc.kind}", str(exc))
        raise _fail(str(exc), retryable=True) from exc
    except (cloudwatch.DashboardValidationError, ConfigError) as exc:
        record(STATUS_ERROR, "invalid_dashboard", str(exc))
        raise _fail(str(exc), retryable=False) from exc
    record(STATUS_OK, action=result.action, aws_called=result.aws_called)
    return result.as_dict()


# --------------------------------------------------------------------------- retention


def enforce_retention(config_path: str | None = None, *, now: datetime) -> list[str]:
    from kafka_monitor.store.sink import SearchSink

    config = load_checked(config_path)
    sink = SearchSink.from_settings(config.store)
    sink.ensure_templates()
    deleted = sink.delete_expired(now)
    log.info("retention %d days: deleted %d indices %s", config.store.retention_days, len(deleted), deleted)
    return deleted
