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

from kafka_monitor.config.evaluation import EvaluationSettings
from kafka_monitor.config.loader import ConfigSourceError
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
from kafka_monitor.retry_policy import (
    CONFIG_INVALID,
    DESCRIBE_MISSING,
    INTERNAL_ERROR,
    SECRETS_BACKEND_FAILED,
    TASK_DEADLINE,
    is_retryable,
)
from kafka_monitor.text import bounded

log = logging.getLogger(__name__)


def _fail(message: str, kind: str) -> Exception:
    """The exception that ends a task for an error of ``kind``: the one retry policy decides
    (``kafka_monitor.retry_policy``) whether Airflow retries it. The message is bounded."""
    text = f"[{kind}] {bounded(message)}"
    if is_retryable(kind):
        return RuntimeError(text)
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(text)


def _store_kind(exc: Exception) -> str:
    from kafka_monitor.store.sink import store_error_kind

    return store_error_kind(exc)


def scheduled_minute(context: dict[str, Any]) -> datetime:
    """The minute a run stands for: its logical date, or (manual runs have none) its run_after."""
    from kafka_monitor.store.documents import minute_of

    stamp = context.get("logical_date") or context["dag_run"].run_after
    return minute_of(stamp)


# --------------------------------------------------------------------------- plan


def load_checked(config_path: str | None = None) -> MonitorConfig:
    try:
        return load_config(config_path)
    except ConfigSourceError as exc:  # not the file's fault: a secrets backend failed
        raise _fail(str(exc), SECRETS_BACKEND_FAILED) from None
    except ConfigError as exc:
        raise _fail(str(exc), CONFIG_INVALID) from None


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
            CONFIG_INVALID,
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
    # The verdict's thresholds (defaults and per-topic overrides), once per group.
    evaluation = config.evaluation.model_dump(mode="json")
    return [
        {
            "mirrormaker": mm.model_dump(mode="json"),
            "lag": lag,
            "store": store,
            "cloudwatch": cloudwatch,
            "evaluation": evaluation,
        }
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
        "evaluation": groups[0]["evaluation"] if groups else None,
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
    evaluation: dict[str, Any] | None = None,
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
                f"{mm.name}/{mm.group}: describe failed: {first.error_message} "
                f"({len(shares)} topic tasks record this error)",
                outcome.error_kind,
            )
        return outcome.as_dict()

    # per_group: index every topic here, inside the task's own deadline.
    from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
    from kafka_monitor.lag.shared import GroupRef
    from kafka_monitor.store.sink import BulkIndexError, SearchSink, StoreError

    # A topic is started only when its writes still fit before the task's timeout.
    deadline = started + COLLECT_GROUP_TIMEOUT_S - SAFETY_S - STORE_WRITES_PER_TOPIC * store_request_s(store_settings)
    sink = SearchSink.from_settings(store_settings)
    ref = GroupRef(mm.name, mm.group)
    thresholds = EvaluationSettings.model_validate(evaluation) if evaluation else None
    failed: list[str] = []
    kinds: list[str] = []
    not_reached: list[str] = []
    indexed = 0
    for topic, share in shares.items():
        if time.monotonic() > deadline:
            not_reached.append(topic)
            continue
        try:
            result = collect_and_index_topic(
                ref,
                topic,
                sink,
                store_settings,
                minute=minute,
                run_id=run_id,
                try_number=try_number,
                evaluation=thresholds,
                collected=share,
            )
        except LagCollectionFailed as exc:
            failed.append(f"{mm.name}/{topic} [{exc.kind}]")
            kinds.append(exc.kind)
            continue
        except (StoreError, BulkIndexError) as exc:  # the store failed: the next topic may still get through
            failed.append(f"{mm.name}/{topic} [{_store_kind(exc)}: {bounded(str(exc), 200)}]")
            kinds.append(_store_kind(exc))
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
        raise _fail(f"{mm.name}/{mm.group}: " + "; ".join(parts), kinds[0] if kinds else TASK_DEADLINE)
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
    from kafka_monitor.store.sink import BulkIndexError, SearchSink, StoreError

    name, group = shared["groups"][item["g"]]
    topic = item["t"]
    if payload is None:
        collected = TopicRows(
            error_kind=DESCRIBE_MISSING,
            error_message=(
                f"the describe task of {name}/{group} (collect_group) handed over no rows for this topic: "
                "it was killed or crashed before the end; see its log"
            ),
        )
    else:
        try:
            collected = TopicRows.from_xcom(payload)
        except ValueError as exc:
            collected = TopicRows(error_kind=INTERNAL_ERROR, error_message=f"rows handed over are unreadable: {exc}")
    settings = StoreSettings.model_validate(shared["store"])
    evaluation = shared.get("evaluation")
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
            evaluation=EvaluationSettings.model_validate(evaluation) if evaluation else None,
            collected=collected,
        )
    except LagCollectionFailed as exc:
        raise _fail(str(exc), exc.kind) from exc
    except (StoreError, BulkIndexError) as exc:  # the store failed before anything was collected
        raise _fail(f"{name}/{topic}: {exc}", _store_kind(exc)) from exc
    if shared.get("cloudwatch"):
        publish_lag(outcome.summary, shared["cloudwatch"])
    return outcome.as_dict()


def publish_lag(summary: dict[str, Any], cloudwatch: dict[str, Any]) -> None:
    """The topic's summary as CloudWatch custom metrics; the lag is already indexed."""
    from kafka_monitor.cloudwatch.aws import cloudwatch_client
    from kafka_monitor.cloudwatch.errors import CloudWatchError
    from kafka_monitor.cloudwatch.metrics import publish_lag_metrics
    from kafka_monitor.config.schema import CloudWatchSettings

    settings = CloudWatchSettings.model_validate(cloudwatch)
    try:
        report = publish_lag_metrics(cloudwatch_client(settings), settings.lag_metric_namespace, [summary])
    except CloudWatchError as exc:
        raise _fail(
            f"lag of topic {summary['topic']!r} was indexed, but publishing it to CloudWatch failed: {exc}",
            f"aws_{exc.kind}",
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
    from kafka_monitor.store.sink import BulkIndexError, SearchSink, StoreError

    settings = StoreSettings.model_validate(store)
    sink = SearchSink.from_settings(settings)
    try:
        sink.ensure_templates()
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
        raise _fail(f"JMX target {target['name']!r}: {exc}", exc.kind) from exc
    except (StoreError, BulkIndexError) as exc:
        raise _fail(f"JMX target {target['name']!r}: {exc}", _store_kind(exc)) from exc


# --------------------------------------------------------------------------- cloudwatch


def sync_dashboard(
    config_path: str | None = None, *, now: datetime, minute: datetime | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Make CloudWatch match the repository's dashboard; record the outcome as a status document."""
    from kafka_monitor.cloudwatch.errors import CloudWatchError, DashboardValidationError
    from kafka_monitor.cloudwatch.sync import VariableSyncState
    from kafka_monitor.cloudwatch.sync import sync_dashboard as sync
    from kafka_monitor.store.documents import STATUS_ERROR, STATUS_OK, StatusRecorder
    from kafka_monitor.store.sink import SearchSink

    monitor = load_checked(config_path)
    settings = monitor.cloudwatch
    if settings is None or not settings.enabled:
        return {"action": "disabled"}
    recorder = StatusRecorder(
        index_prefix=monitor.store.status_index,
        minute=minute or now,
        source="cloudwatch",
        subject={"dashboard": settings.dashboard_name},
        run_id=run_id,
        collected_at=now,
    )
    sink = SearchSink.from_settings(monitor.store)
    try:
        result = sync(monitor, state=VariableSyncState(), now=now)
    except CloudWatchError as exc:
        sink.index([recorder.document(STATUS_ERROR, kind=f"aws_{exc.kind}", message=str(exc))])
        raise _fail(str(exc), f"aws_{exc.kind}") from exc
    except (DashboardValidationError, ConfigError) as exc:
        sink.index([recorder.document(STATUS_ERROR, kind="invalid_dashboard", message=str(exc))])
        raise _fail(str(exc), "invalid_dashboard") from exc
    sink.index([recorder.document(STATUS_OK, extra={"action": result.action, "aws_called": result.aws_called})])
    return result.as_dict()


# --------------------------------------------------------------------------- retention


def enforce_retention(config_path: str | None = None, *, now: datetime) -> list[str]:
    from kafka_monitor.store.sink import SearchSink, StoreError

    config = load_checked(config_path)
    sink = SearchSink.from_settings(config.store)
    try:
        sink.ensure_templates()
        deleted = sink.delete_expired(now)
    except StoreError as exc:
        raise _fail(f"retention: {exc}", _store_kind(exc)) from exc
    log.info("retention %d days: deleted %d indices %s", config.store.retention_days, len(deleted), deleted)
    return deleted


# --------------------------------------------------------------------------- alerts


def evaluate_alerts(config_path: str | None = None, *, minute: datetime) -> dict[str, Any]:
    """Advance every subject's incidents with this minute's verdicts and deliver what is due.

    Channel failures do not fail the task (the notification stays queued for the next minute);
    a store failure does, and the next minute's run catches up from the stored incidents.
    """
    from kafka_monitor.alerts.evaluate import evaluate_minute
    from kafka_monitor.store.sink import SearchSink, StoreError, store_error_kind

    config = load_checked(config_path)
    if config.alerts is None or not config.alerts.enabled:
        return {"action": "disabled"}
    sink = SearchSink.from_settings(config.store)
    try:
        report = evaluate_minute(config, sink, minute=minute)
    except StoreError as exc:
        raise _fail(f"alerts not evaluated: {exc}", store_error_kind(exc)) from exc
    log.info(
        "alerts for %s: %d subjects, queued %s, %d delivered, %d failed attempts, %d open, %d pending",
        report.minute,
        report.subjects,
        report.queued or "nothing",
        report.delivered,
        report.failed_attempts,
        report.open_incidents,
        report.pending,
    )
    return report.as_dict()


def notify_dag_run(context: dict[str, Any], *, failed: bool, config_path: str | None = None) -> None:
    """DAG-level on_failure/on_success callback: failing runs (a run over its minute is failed
    by ``dagrun_timeout``) open one incident, the next good run resolves it. A plain function,
    not a ``BaseNotifier`` instance: DAG-level notifiers break ``airflow dags test`` in 3.3.2
    (apache/airflow#64649). Never raises: a callback's failure must not hide the run's."""
    from kafka_monitor.alerts.evaluate import record_dag_run
    from kafka_monitor.store.sink import SearchSink

    try:
        config = load_config(config_path)
        if config.alerts is None or not config.alerts.enabled or not config.alerts.notify_dag_failures:
            return
        dag_run = context.get("dag_run")
        reason = context.get("reason")
        run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
        failed_task = getattr(context.get("ti"), "task_id", None)
        report = record_dag_run(
            config,
            SearchSink.from_settings(config.store),
            minute=_callback_minute(context, run_id),
            failed=failed,
            run_id=run_id,
            reason=str(reason) if reason else None,
            failed_tasks=[str(failed_task)] if failed and failed_task else None,
        )
        if report.queued:
            log.info("kafka_monitor run %s: %s", "failed" if failed else "succeeded", report.as_dict())
    except Exception:  # noqa: BLE001 - logged with its traceback; the run's own state stands
        log.exception("could not record the kafka_monitor run for alerting")


def _callback_minute(context: dict[str, Any], run_id: str | None) -> datetime:
    """The run's minute. The DAG processor may call with only ``dag``, ``run_id`` and ``reason``
    (no task instance to build a full context from): then the run id's date, else now."""
    from datetime import UTC

    from kafka_monitor.store.documents import minute_of

    if context.get("logical_date") or context.get("dag_run") is not None:
        return scheduled_minute(context)
    stamp = (run_id or "").rpartition("__")[2]
    try:
        parsed = datetime.fromisoformat(stamp)
        if parsed.tzinfo is not None:
            return minute_of(parsed)
    except ValueError:
        pass
    return minute_of(datetime.now(UTC))


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
        # Retried only when every failure may pass: the first final kind decides otherwise.
        kind = next((f.kind for f in failures if not f.retryable), failures[0].kind)
        raise _fail(message, kind) from failures[0]
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
                watch, topic, local.sink, settings, collected=collection.topic_rows(topic), source="admin", **run
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
