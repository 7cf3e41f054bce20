"""One topic's lag: its rows in → documents → index → status document.

The rows come from its group's one describe of the minute (``kafka_monitor.lag.shared``:
handed over through XCom in the per_topic fan-out, in process in the per_group one), or,
when none are given, from a describe run here (tests, one-off use).

Order matters for "nothing collected is lost or silently dropped":
1. collect (bounded SSH run + parse) — a failure becomes an error status document;
2. index the partition documents and the topic summary;
3. index the status document (ok, or the error kind), then re-raise any failure so the
   Airflow task state agrees with the status document.
If the store itself is down, no status document can be written: the task fails with the
store error and reports nothing as indexed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kafka_monitor.config.schema import MirrorMaker, StoreSettings
from kafka_monitor.errors import KafkaMonitorError
from kafka_monitor.lag.ssh import CollectionError, collect_topic

if TYPE_CHECKING:
    from kafka_monitor.lag.shared import GroupRef, TopicRows
from kafka_monitor.store.documents import STATUS_ERROR, STATUS_OK, lag_documents, status_document
from kafka_monitor.store.sink import BulkIndexError, SearchSink

log = logging.getLogger(__name__)

# Failures a retry inside the same minute cannot fix: fail at once (the next minute tries again).
NOT_RETRYABLE = frozenset(
    {
        "host_key_mismatch",
        "host_key_unknown",
        "insecure_connection",
        "ssh_auth_failed",
        "ssh_connection_invalid",
        "invalid_command_value",
        "unparseable_output",
        "group_not_found",
        "group_without_offsets",
        "not_consumer_group",
        "topic_not_in_group",
        "jvm_startup",
        "index_rejected",
    }
)


class LagCollectionFailed(KafkaMonitorError):
    """The topic's lag could not be collected or indexed; ``kind`` says why."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return self.kind not in NOT_RETRYABLE


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
    mm: MirrorMaker | GroupRef,
    topic: str,
    sink: SearchSink,
    store: StoreSettings,
    *,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
    collected: TopicRows | None = None,
) -> LagOutcome:
    """``collected``: the topic's share of its group's describe; None runs a describe here
    (``mm`` must then be the whole MirrorMaker entry)."""
    started = time.monotonic()
    subject = {"mirrormaker": mm.name, "group": mm.group, "topic": topic}
    sink.ensure_templates()

    def status(state: str, rows: int, group_state: str | None, kind: str | None = None, message: str | None = None):
        return status_document(
            index_prefix=store.status_index,
            minute=minute,
            source="lag",
            subject=subject,
            status=state,
            duration_ms=(time.monotonic() - started) * 1000,
            row_count=rows,
            error_kind=kind,
            error_message=message,
            collected_at=datetime.now(UTC),
            run_id=run_id,
            try_number=try_number,
            extra={"group_state": group_state},
        )

    if collected is None:
        from kafka_monitor.lag.shared import TopicRows

        assert isinstance(mm, MirrorMaker), "a describe needs the whole MirrorMaker entry"
        try:
            found = collect_topic(mm, topic)
        except CollectionError as exc:
            output = getattr(exc, "output", None)
            if output is not None:
                log.error("remote stderr tail:\n%s", output.stderr[-2000:])
            collected = TopicRows.from_error(exc, mm.group, topic)
        else:
            collected = TopicRows(rows=found.rows, group_state=found.group_state)

    if collected.failed:
        error = collected.as_error()
        message = (
            f"{mm.name}/{topic}: lag of topic {topic!r} (group {mm.group!r}) not collected: [{error.kind}] {error}"
        )
        salvaged = _index_readable_rows(collected, mm, topic, sink, store, minute=minute, run_id=run_id)
        if salvaged:
            message += f" ({salvaged} readable rows were indexed)"
        sink.index([status(STATUS_ERROR, salvaged, None, error.kind, str(error))])
        raise LagCollectionFailed(message, error.kind) from error

    collection = collected
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
    )
    summary = docs[-1].source
    try:
        report = sink.index(docs)
    except BulkIndexError as exc:
        rep = exc.report
        message = (
            f"{mm.name}: {rep.failed} of {len(docs)} lag documents for topic {topic!r} were rejected "
            f"by the store; first reasons: {'; '.join(rep.first_errors)}"
        )
        sink.index([status(STATUS_ERROR, rep.indexed, collection.group_state, "index_rejected", message)])
        raise LagCollectionFailed(message, "index_rejected") from exc

    sink.index([status(STATUS_OK, len(collection.rows), collection.group_state)])
    outcome = LagOutcome(
        mirrormaker=mm.name,
        group=mm.group,
        topic=topic,
        group_state=collection.group_state,
        partitions=summary["partition_count"],
        total_lag=summary["total_lag"],
        max_lag=summary["max_lag"],
        indexed=report.indexed,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        summary=summary,
    )
    log.info(
        "%s/%s: %d partitions, total lag %s, max lag %s, group %s; %d documents indexed",
        mm.name,
        topic,
        outcome.partitions,
        outcome.total_lag,
        outcome.max_lag,
        outcome.group_state,
        outcome.indexed,
    )
    return outcome


def _index_readable_rows(
    collected: TopicRows,
    mm: MirrorMaker | GroupRef,
    topic: str,
    sink: SearchSink,
    store: StoreSettings,
    *,
    minute: datetime,
    run_id: str | None,
) -> int:
    """When the only fault is unreadable rows (a truncated line), keep the rows that were read."""
    rows = collected.rows
    if not rows:
        return 0
    sink.index(
        lag_documents(
            index_prefix=store.lag_index,
            minute=minute,
            mirrormaker=mm.name,
            group=mm.group,
            topic=topic,
            rows=rows,
            group_state=collected.group_state,
            collected_at=datetime.now(UTC),
            run_id=run_id,
        )
    )
    return len(rows)
