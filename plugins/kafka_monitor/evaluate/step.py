"""What the lag pipeline calls: read the window back, judge the minute, put the verdict into
this minute's documents before they are indexed.

A failed history query (or any fault in judging) never costs the minute's lag: the documents
are indexed without a verdict and the failure is handed back for the task to report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka_monitor.config.evaluation import EvaluationSettings, Thresholds
from kafka_monitor.errors import KafkaMonitorError
from kafka_monitor.evaluate.history import read_history
from kafka_monitor.evaluate.topic import TopicVerdict, evaluate_topic, unknown_summary_fields
from kafka_monitor.evaluate.verdict import R_COLLECTION_FAILED, RANK, SEVERITY_UNKNOWN, UNKNOWN
from kafka_monitor.store.documents import LAG_DOC_PARTITION, LAG_DOC_SUMMARY, Doc, lag_documents
from kafka_monitor.store.sink import StoreError

log = logging.getLogger(__name__)


class EvaluationFailed(KafkaMonitorError):
    """The minute's lag was collected but could not be judged; says why."""


def apply_verdict(docs: Iterable[Doc], verdict: TopicVerdict) -> None:
    for doc in docs:
        if doc.source.get("doc_type") == LAG_DOC_PARTITION:
            judged = verdict.partitions.get(int(doc.source["partition"]))
            if judged is not None:
                doc.source.update(judged.fields())
        elif doc.source.get("doc_type") == LAG_DOC_SUMMARY:
            doc.source.update(verdict.summary)


def evaluate_lag_documents(
    docs: list[Doc],
    rows: Iterable[Mapping[str, Any]],
    *,
    sink: Any,
    index_prefix: str,
    settings: EvaluationSettings | Thresholds | None,
    mirrormaker: str,
    group: str,
    topic: str,
    minute: datetime,
) -> EvaluationFailed | None:
    """Add the verdict fields to ``docs`` (this minute's partition documents and summary).

    Returns the failure instead of raising it, so the caller indexes the documents first."""
    thresholds = settings if isinstance(settings, Thresholds) else (settings or EvaluationSettings()).for_topic(topic)
    partitions = sum(1 for d in docs if d.source.get("doc_type") == LAG_DOC_PARTITION)
    subject = f"{mirrormaker}: topic {topic!r} (group {group!r})"
    try:
        history = read_history(
            sink,
            index_prefix,
            mirrormaker=mirrormaker,
            group=group,
            topic=topic,
            minute=minute,
            window_minutes=thresholds.window_minutes,
            partitions=partitions,
        )
    except StoreError as exc:
        return EvaluationFailed(
            f"{subject}: lag indexed without a verdict: the {thresholds.window_minutes}-minute history "
            f"could not be read: {exc}"
        )
    try:
        verdict = evaluate_topic(rows, history, thresholds, minute)
    except Exception as exc:  # noqa: BLE001 - a fault in judging must not cost the collected lag
        log.exception("%s: evaluation failed", subject)
        return EvaluationFailed(f"{subject}: lag indexed without a verdict: evaluation failed: {exc!r}")
    apply_verdict(docs, verdict)
    return None


def unknown_summary(
    index_prefix: str, mm: Any, topic: str, kind: str, minute: datetime, run_id: str | None
) -> list[Doc]:
    """The topic summary of a minute whose collection failed (``kind``): status unknown.
    ``mm`` is the ``MirrorMaker`` (its ``name`` and ``group``)."""
    docs = lag_documents(
        index_prefix=index_prefix,
        minute=minute,
        mirrormaker=mm.name,
        group=mm.group,
        topic=topic,
        rows=[],
        group_state=None,
        collected_at=datetime.now(UTC),
        run_id=run_id,
    )
    return mark_unknown(docs, kind)


def mark_unknown(docs: list[Doc], kind: str) -> list[Doc]:
    """This minute's collection failed (``kind``): whatever documents exist for it say unknown."""
    for doc in docs:
        if doc.source.get("doc_type") == LAG_DOC_SUMMARY:
            doc.source.update(unknown_summary_fields(kind))
        else:
            doc.source.update(
                {
                    "status": UNKNOWN,
                    "status_rank": RANK[UNKNOWN],
                    "status_reason": f"{R_COLLECTION_FAILED}:{kind}",
                    "severity": SEVERITY_UNKNOWN,
                }
            )
    return docs
