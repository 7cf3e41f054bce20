"""One topic's lag: its rows in → documents → index → status document.

The rows come from its group's one describe of the minute (``kafka_monitor.lag.shared``:
handed over through XCom in the per_topic fan-out, in process in the per_group one), or,
when none are given, from a describe run here (tests, one-off use).

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
from typing import Any

from kafka_monitor.config.evaluation import EvaluationSettings, Thresholds
from kafka_monitor.config.schema import ConsumerGroupWatch, MirrorMaker, StoreSettings
from kafka_monitor.errors import KafkaMonitorError
from kafka_monitor.evaluate.step import evaluate_lag_documents, mark_unknown, unknown_summary
from kafka_monitor.lag.shared import GroupRef, TopicRows
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
    mm: MirrorMaker | ConsumerGroupWatch | GroupRef,
    topic: str,
    sink: SearchSink,
    store: StoreSettings,
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
    evaluation: EvaluationSettings | Thresholds | None = None,
    collected: TopicRows | None = None,
    source: str = "ssh",
) -> LagOutcome:
    """``collected``: the topic's rows (or the error that kept them), from its group's one
    describe of the minute or from the Admin API; None runs a describe here (``mm`` must then be
    the whole MirrorMaker entry). ``source`` names the collector in the documents."""
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

    if collected is None:
        if not isinstance(mm, MirrorMaker):
            raise TypeError("a describe needs the whole MirrorMaker entry")
        try:
            found = collect_topic(mm, topic)
        except CollectionError as exc:
            if exc.output is not None:
                # The end of stderr, escaped and capped: remote text never reaches the log raw.
                log.error("remote stderr (end):\n%s", bounded(exc.output.stderr, keep_newlines=True, tail=True))
            collected = TopicRows.from_error(exc, mm.group, topic)
        else:
            collected = TopicRows(rows=found.rows, group_state=found.group_state)

    if collected.failed:
        error = collected.as_error()
        message = (
            f"{mm.name}/{topic}: lag of topic {topic!r} (group {mm.group!r}) not collected: [{error.kind}] {error}"
        )
        # Rows read before a damaged line are kept (nothing collected is lost), their verdict
        # unknown; without rows, the topic summary alone says the minute's verdict is unknown.
        salvaged = (
            _documents(collected, mm, topic, store, minute=minute, run_id=run_id, source=source)
            if collected.rows
            else []
        )
        rows = len(collected.rows)
        if salvaged:
            message += f" ({rows} readable rows were indexed)"
            mark_unknown(salvaged, error.kind)
        unknown = [] if salvaged else unknown_summary(store.lag_index, mm, topic, error.kind, minute, run_id)
        kind, cause = error.kind, str(error)
        _index_accounted(
            sink,
            [*salvaged, *unknown],
            lambda state, extra: status(STATUS_ERROR, rows, collected.group_state, kind, cause, extra),
            message,
        )
        raise LagCollectionFailed(message, error.kind) from error

    collection = collected
    docs = _documents(collection, mm, topic, store, minute=minute, run_id=run_id, source=source)
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


def _documents(
    collected: TopicRows,
    mm: MirrorMaker | ConsumerGroupWatch | GroupRef,
    topic: str,
    store: StoreSettings,
    *,
    minute: datetime,
    run_id: str | None,
    source: str,
) -> list[Doc]:
    """The documents of ``collected``'s rows: one per partition and the topic summary."""
    return lag_documents(
        index_prefix=store.lag_index,
        minute=minute,
        mirrormaker=mm.name,
        group=mm.group,
        topic=topic,
        rows=collected.rows,
        group_state=collected.group_state,
        collected_at=datetime.now(UTC),
        run_id=run_id,
        collector=source,
    )
