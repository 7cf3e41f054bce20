"""One mapped lag task: collect a topic's lag on its MirrorMaker host and index it.

Order matters for "nothing collected is lost or silently dropped":
1. collect (bounded SSH run + parse) — a failure becomes an error status document;
2. index the partition documents, the topic summary and the status document (ok, or the
   error kind) in ONE bulk, the status last;
3. if the store confirmed only part of it, write the status again (same id, so it replaces
   the first): ``partial`` with ``documents_confirmed`` of ``documents_expected`` when some
   documents made it, ``error`` when none did; then raise so the Airflow task state agrees
   with the status document.
If the store is down even for that one status document, the task fails with a message saying
what the store had confirmed. Whether Airflow retries is ``kafka_monitor.retry_policy``'s call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka_monitor.config.evaluation import EvaluationSettings, Thresholds
from kafka_monitor.config.schema import ConsumerGroupWatch, MirrorMaker, StoreSettings
from kafka_monitor.errors import KafkaMonitorError
from kafka_monitor.evaluate.step import evaluate_lag_documents, mark_unknown, unknown_summary
from kafka_monitor.lag.ssh import CollectionError, collect_topic
from kafka_monitor.retry_policy import is_retryable
from kafka_monitor.store.documents import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_PARTIAL,
    Doc,
    StatusRecorder,
    lag_documents,
)
from kafka_monitor.store.sink import BulkIndexError, BulkReport, SearchSink, StoreError, store_error_kind
from kafka_monitor.text import bounded

log = logging.getLogger(__name__)


class Collected(Protocol):
    """What a collector hands over: describe-shaped rows of one topic, and the group state."""

    rows: list[dict[str, Any]]
    group_state: str | None


class LagCollectionFailed(KafkaMonitorError):
    """The topic's lag could not be collected or indexed; ``kind`` says why."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return is_retryable(self.kind)


@dataclass
class LagOutcome:
    """What the task returns (XCom) — the summary document itself stays out of ``as_dict``."""

    mirrormaker: str
    group: str
    topic: str
    group_state: str | None
    partitions: int
    total_lag: int | None
    max_lag: int | None
    indexed: int
    duration_ms: float
    summary: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "summary"}


def collect_and_index_topic(
    mm: MirrorMaker | ConsumerGroupWatch,
    topic: str,
    sink: SearchSink,
    store: StoreSettings,
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
    evaluation: EvaluationSettings | Thresholds | None = None,
    collect: Callable[[], Collected] | None = None,
    source: str = "ssh",
) -> LagOutcome:
    """``collect`` returns the topic's rows or raises CollectionError; the default is the SSH
    describe on ``mm`` (``source`` names the collector in the documents)."""
    recorder = StatusRecorder(
        index_prefix=store.status_index,
        minute=minute,
        source="lag",
        subject={"mirrormaker": mm.name, "group": mm.group, "topic": topic},
        run_id=run_id,
        try_number=try_number,
    )
    sink.ensure_templates()

    def status(
        state: str,
        rows: int,
        group_state: str | None,
        kind: str | None = None,
        message: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Doc:
        fields = {"group_state": group_state, "collector": source, **(extra or {})}
        return recorder.document(state, rows, kind, message, extra=fields)

    try:
        collection = collect() if collect is not None else collect_topic(mm, topic)  # type: ignore[arg-type]
    except CollectionError as exc:
        message = f"{mm.name}: lag of topic {topic!r} (group {mm.group!r}) not collected: {exc}"
        if exc.output is not None:
            # The ends of both streams, escaped and capped: remote text never reaches the log raw.
            log.error(
                "remote stdout (end):\n%s\nremote stderr (end):\n%s",
                bounded(exc.output.stdout, keep_newlines=True, tail=True),
                bounded(exc.output.stderr, keep_newlines=True, tail=True),
            )
        salvaged = (
            _readable_rows_documents(exc, mm, topic, store, minute=minute, run_id=run_id)
            if isinstance(mm, MirrorMaker)
            else []
        )
        rows = max(len(salvaged) - 1, 0)  # partition documents (the last is the summary)
        if salvaged:
            message += f" ({rows} readable rows were indexed)"
        # The minute's verdict is unknown (salvaged rows already say so).
        unknown = [] if salvaged else unknown_summary(store.lag_index, mm, topic, exc.kind, minute, run_id)
        kind, cause = exc.kind, str(exc)
        _index_accounted(
            sink,
            [*salvaged, *unknown],
            lambda state, extra: status(STATUS_ERROR, rows, None, kind, cause, extra),
            message,
        )
        raise LagCollectionFailed(message, exc.kind) from exc

    docs = lag_documents(
        index_prefix=store.lag_index,
        minute=minute,
        mirrormaker=mm.name,
        group=mm.group,
        topic=topic,
        rows=collection.rows,
        group_state=collection.group_state,
        collected_at=datetime.now(UTC),
        run_id=run_id,
        collector=source,
    )
    # The verdict goes into these documents before they are indexed (docs/evaluation.md).
    not_judged = evaluate_lag_documents(
        docs,
        collection.rows,
        sink=sink,
        index_prefix=store.lag_index,
        settings=evaluation,
        mirrormaker=mm.name,
        group=mm.group,
        topic=topic,
        minute=minute,
    )
    summary = docs[-1].source
    report = _index_accounted(
        sink,
        docs,
        lambda state, extra: status(state or STATUS_OK, len(collection.rows), collection.group_state, extra=extra),
        f"{mm.name}: lag of topic {topic!r} (group {mm.group!r}) collected",
    )
    if not_judged is not None:
        raise LagCollectionFailed(bounded(str(not_judged)), "evaluation_failed") from not_judged
    outcome = LagOutcome(
        mirrormaker=mm.name,
        group=mm.group,
        topic=topic,
        group_state=collection.group_state,
        partitions=summary["partition_count"],
        total_lag=summary["total_lag"],
        max_lag=summary["max_lag"],
        indexed=report.indexed - 1,  # the status document is not one of the topic's
        duration_ms=round(recorder.elapsed_ms(), 1),
        summary=summary,
    )
    log.info(
        "%s/%s: %d partitions, total lag %s, max lag %s, group %s, verdict %s; %d documents indexed",
        mm.name,
        topic,
        outcome.partitions,
        outcome.total_lag,
        outcome.max_lag,
        outcome.group_state,
        summary.get("status"),
        outcome.indexed,
    )
    return outcome


def _index_accounted(
    sink: SearchSink,
    docs: list[Doc],
    status: Callable[[str | None, dict[str, Any]], Doc],
    what: str,
) -> BulkReport:
    """Index ``docs`` and their status document in one bulk (status last).

    ``status(state, extra)`` builds the status document; ``state`` None means "as intended"
    (ok, or the collection's error). When the store confirms only part of the bulk, the status
    is written again: ``partial`` (some documents confirmed) or ``error`` (none), naming the
    store's failure, and ``LagCollectionFailed`` is raised with the store's error kind.
    """
    expected = len(docs)
    intended = status(None, {"documents_confirmed": expected, "documents_expected": expected})
    try:
        return sink.index([*docs, intended])
    except (BulkIndexError, StoreError) as exc:
        report = exc.report or BulkReport()
        confirmed = len(report.confirmed_ids & {d.id for d in docs})
        failure_kind = store_error_kind(exc)
        detail = f"the store confirmed {confirmed} of {expected} documents: {exc}"
        collected_ok = intended.source["status"] == STATUS_OK
        state = STATUS_PARTIAL if collected_ok and confirmed else STATUS_ERROR
        counts = {"documents_confirmed": confirmed, "documents_expected": expected}
        again = status(state, counts)
        if collected_ok:  # the store is the cause; otherwise the collection's kind stays
            again.source.update(error_kind=failure_kind, error_message=bounded(detail))
        else:
            again.source.update(error_message=bounded(f"{again.source['error_message']}; {detail}"))
        try:
            sink.index([again])  # same id: replaces the intended status if that one landed
            recorded = f"status document: {state}"
        except (BulkIndexError, StoreError) as second:
            recorded = f"the status document could not be written either: {second}"
        log.error("%s; %s; %s", what, detail, recorded)
        kind = failure_kind if collected_ok else str(intended.source["error_kind"])
        raise LagCollectionFailed(f"{what}, but {detail}; {recorded}", kind) from exc


def _readable_rows_documents(
    exc: CollectionError,
    mm: MirrorMaker,
    topic: str,
    store: StoreSettings,
    *,
    minute: datetime,
    run_id: str | None,
) -> list[Doc]:
    """When the only fault is unreadable rows (a truncated line), the documents of the rows
    that were read (indexed with the error status, so nothing collected is lost)."""
    result = exc.result
    if result is None or not result.errors or any(e.kind != "malformed_row" for e in result.errors):
        return []
    rows = result.rows_for(mm.group, topic)
    if not rows:
        return []
    return mark_unknown(
        lag_documents(
            index_prefix=store.lag_index,
            minute=minute,
            mirrormaker=mm.name,
            group=mm.group,
            topic=topic,
            rows=rows,
            group_state=result.group_states.get(mm.group),
            collected_at=datetime.now(UTC),
            run_id=run_id,
        ),
        "malformed_row",
    )
