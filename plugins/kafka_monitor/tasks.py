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
    """One kwargs dict per mapped lag task: the (host, topic) and the store settings."""
    config = load_checked(config_path)
    store = config.store.model_dump(mode="json")
    targets = config.lag_targets()
    # Lag as CloudWatch custom metrics only when asked for (it costs money per metric).
    cloudwatch = (
        config.cloudwatch.model_dump(mode="json")
        if (config.cloudwatch and config.cloudwatch.enabled and config.cloudwatch.publish_lag_metrics)
        else None
    )
    log.info(
        "configuration %s: %d topics on %d MirrorMaker hosts",
        resolve_config_path(config_path),
        len(targets),
        len(config.mirrormakers),
    )
    return [{"target": target, "store": store, "cloudwatch": cloudwatch} for target in targets]


def plan_jmx(config_path: str | None = None) -> list[dict[str, Any]]:
    """One kwargs dict per mapped JMX task."""
    config = load_checked(config_path)
    store = config.store.model_dump(mode="json")
    jmx = config.jmx.model_dump(mode="json", exclude={"targets"})
    return [{"target": t.model_dump(mode="json"), "jmx": jmx, "store": store} for t in config.jmx.targets]


def lag_label(target: dict[str, Any]) -> str:
    return f"{target['mirrormaker']['name']}/{target['topic']}"


# --------------------------------------------------------------------------- lag


def collect_lag(
    target: dict[str, Any],
    store: dict[str, Any],
    cloudwatch: dict[str, Any] | None = None,
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
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
    if cloudwatch:
        publish_lag(outcome.summary, cloudwatch)
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


# --------------------------------------------------------------------------- lag over the Admin API


def plan_admin_lag(config_path: str | None = None) -> list[dict[str, Any]]:
    """One kwargs dict per mapped Admin-API lag task: a ``consumer_groups`` entry and its topics."""
    config = load_checked(config_path)
    store = config.store.model_dump(mode="json")
    targets = config.admin_lag_targets()
    log.info("%d Admin-API lag collections for %d consumer groups", len(targets), len(config.consumer_groups))
    return [{"target": target, "store": store} for target in targets]


def admin_lag_label(target: dict[str, Any]) -> str:
    watch, topics = target["watch"], target["topics"]
    what = topics[0] if len(topics) == 1 else f"{len(topics)} topics"
    return f"{watch['name']}/{watch['group']}/{what}"


def collect_admin_lag(
    target: dict[str, Any],
    store: dict[str, Any],
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
    """One Admin-API collection for the target's topics, then each topic through the lag pipeline.

    Every topic gets its documents or its error status document before the task fails for
    any topic that could not be collected (the first failure's kind decides a retry).
    """
    from kafka_monitor.config.schema import ConsumerGroupWatch
    from kafka_monitor.lag.admin import collect_group
    from kafka_monitor.lag.pipeline import LagCollectionFailed
    from kafka_monitor.store.sink import SearchSink

    settings = StoreSettings.model_validate(store)
    watch = ConsumerGroupWatch.model_validate(target["watch"])
    SearchSink.from_settings(settings).ensure_templates()  # a store problem shows before any Kafka request
    collection = collect_group(watch, target["topics"])
    run = {"minute": minute, "run_id": run_id, "try_number": try_number}
    log.info(
        "%s: group %r, %d topics collected in %.3f s with %d Admin API requests (%s); %d members described",
        watch.name,
        watch.group,
        len(target["topics"]),
        collection.duration_s,
        collection.requests,
        ", ".join(collection.steps) or "none answered",
        collection.members_reported,
    )
    outcomes: list[dict[str, Any]] = []
    failures: list[LagCollectionFailed] = []
    for result in _index_admin_topics(watch, target["topics"], collection, settings, **run).values():
        if isinstance(result, LagCollectionFailed):
            log.error("%s", result)
            failures.append(result)
        else:
            outcomes.append(result)
    if failures:
        kinds = sorted({f.kind for f in failures})
        message = (
            f"{watch.name}: lag of {len(failures)} of {len(target['topics'])} topics of group {watch.group!r} "
            f"not collected ({', '.join(kinds)}); first: {failures[0]}"
        )
        raise _fail(message, retryable=all(f.retryable for f in failures)) from failures[0]
    return {"name": watch.name, "group": watch.group, "source": "admin", "topics": outcomes}


# Topics of one batched collection indexed at once: each topic still goes through the lag
# pipeline on its own (its documents, then its status document), but one topic after another
# a 2,000-topic group spent 81 s of its minute waiting on 4,000 bulk round trips (bench_admin.py).
ADMIN_INDEX_WORKERS = 8


def _index_admin_topics(watch, topics: list[str], collection, settings: StoreSettings, **run: Any) -> dict[str, Any]:
    """Each topic through ``lag.pipeline`` (documents, status), ``ADMIN_INDEX_WORKERS`` at a time,
    each worker with its own store client. Returns, in topic order, the outcome dict or the
    ``LagCollectionFailed``; any other error (the store itself failing) is raised after all ran."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
    from kafka_monitor.store.sink import SearchSink

    local = threading.local()

    def one(topic: str) -> dict[str, Any] | LagCollectionFailed:
        if not hasattr(local, "sink"):
            local.sink = SearchSink.from_settings(settings)
        try:
            outcome = collect_and_index_topic(
                watch, topic, local.sink, settings, collect=collection.getter(topic), source="admin", **run
            )
        except LagCollectionFailed as exc:
            return exc
        return outcome.as_dict()

    with ThreadPoolExecutor(max_workers=max(1, min(ADMIN_INDEX_WORKERS, len(topics)))) as pool:
        futures = {topic: pool.submit(one, topic) for topic in topics}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
    return {topic: f.result() for topic, f in futures.items()}
