"""The documents kafka-monitor indexes, and their ids.

Three daily indices (``<prefix>-YYYY.MM.DD``, prefixes from the store settings):

- lag: one ``partition`` document per partition per run, and one ``topic_summary`` per topic
  per run (total and max lag, partition count, and the old tool's ``p0``…``pN`` fields so
  dashboards built on its ``consumer_lag`` index keep working);
- status: one document per collection (a topic on a MirrorMaker host, a JMX target, the
  CloudWatch sync) per run: ok or the error kind, duration, row count;
- jmx: one document per (bean, attribute[, composite key]) per target per run.

Every id is derived from what the document is about plus the *scheduled* minute, never from
the wall clock, so a retried task overwrites its own documents instead of adding more.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka_monitor.text import bounded
from kafka_monitor.timestamps import iso
from kafka_monitor.vocabulary import STATUS_ERROR as STATUS_ERROR  # re-exported for the rooms
from kafka_monitor.vocabulary import STATUS_OK as STATUS_OK
from kafka_monitor.vocabulary import STATUS_PARTIAL as STATUS_PARTIAL
from kafka_monitor.vocabulary import STATUS_VALUES

LAG_DOC_PARTITION = "partition"
LAG_DOC_SUMMARY = "topic_summary"


@dataclass(frozen=True)
class Doc:
    """One document bound for one index, with its deterministic id."""

    index: str
    id: str
    source: dict[str, Any] = field(hash=False)


def minute_of(ts: datetime) -> datetime:
    """The scheduled minute a run stands for, in UTC, truncated to the minute."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(UTC).replace(second=0, microsecond=0)


def daily_index(prefix: str, ts: datetime) -> str:
    return f"{prefix}-{ts.astimezone(UTC):%Y.%m.%d}"


def doc_id(*parts: Any) -> str:
    """A stable id from the parts (any strings: group ids may hold anything)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:40]


# --------------------------------------------------------------------------- lag


def lag_documents(
    *,
    index_prefix: str,
    minute: datetime,
    mirrormaker: str,
    group: str,
    topic: str,
    rows: Iterable[Mapping[str, Any]],
    group_state: str | None,
    collected_at: datetime,
    run_id: str | None = None,
    collector: str = "ssh",
) -> list[Doc]:
    """Partition documents for ``topic`` plus its summary.

    ``rows`` are parser rows (see ``describe``); rows of other topics or groups are ignored
    here because the caller filters them (the tool cannot filter by topic itself).
    ``collector`` (the documents' ``source`` field) says which collector read them: ``ssh`` (describe on a MirrorMaker host) or
    ``admin`` (the Kafka Admin API); ``mirrormaker`` is then the watch entry's name.
    """
    minute = minute_of(minute)
    index = daily_index(index_prefix, minute)
    stamp = iso(minute)
    common = {
        "@timestamp": stamp,
        "mirrormaker": mirrormaker,
        "group": group,
        "topic": topic,
        "group_state": group_state,
        "collected_at": iso(collected_at),
        "run_id": run_id,
        "source": collector,
    }
    # Partition number, not printed order, is the key (the tool prints rows in hash order).
    by_partition: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        by_partition[int(row["partition"])] = row

    docs: list[Doc] = []
    for partition in sorted(by_partition):
        row = by_partition[partition]
        source = {
            **common,
            "doc_type": LAG_DOC_PARTITION,
            "partition": partition,
            "current_offset": row.get("current_offset"),
            "log_end_offset": row.get("log_end_offset"),
            "lag": row.get("lag"),
            "consumer_id": row.get("consumer_id"),
            "host": row.get("host"),
            "client_id": row.get("client_id"),
        }
        docs.append(Doc(index, doc_id(LAG_DOC_PARTITION, mirrormaker, group, topic, partition, stamp), source))

    lags = [row.get("lag") for row in by_partition.values()]
    known = [lag for lag in lags if lag is not None]
    summary = {
        **common,
        "doc_type": LAG_DOC_SUMMARY,
        "partition_count": len(by_partition),
        "partitions_without_offset": sum(1 for lag in lags if lag is None),
        "partitions_lagging": sum(1 for lag in known if lag > 0),
        "total_lag": sum(known) if known else None,
        "max_lag": max(known) if known else None,
        "assigned_consumers": len({r.get("consumer_id") for r in by_partition.values() if r.get("consumer_id")}),
    }
    # The old index's p0..pN fields (by partition number; the old tool used printed order).
    for partition, row in by_partition.items():
        summary[f"p{partition}"] = row.get("lag")
    docs.append(Doc(index, doc_id(LAG_DOC_SUMMARY, mirrormaker, group, topic, stamp), summary))
    return docs


# --------------------------------------------------------------------------- status


def status_document(
    *,
    index_prefix: str,
    minute: datetime,
    source: str,
    subject: Mapping[str, Any],
    status: str,
    duration_ms: float,
    row_count: int,
    error_kind: str | None = None,
    error_message: str | None = None,
    collected_at: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Doc:
    """One collection's outcome.

    ``source`` is ``lag``, ``jmx`` or ``cloudwatch``; ``subject`` names what was collected and
    is part of the id, e.g. ``{"mirrormaker": "mm-1", "group": "oasis-group", "topic": "t"}``
    or ``{"target": "broker-1", "component": "kafka_broker"}``.
    """
    if status not in STATUS_VALUES:
        raise ValueError(f"status must be one of {', '.join(map(repr, STATUS_VALUES))}, not {status!r}")
    minute = minute_of(minute)
    stamp = iso(minute)
    body: dict[str, Any] = {
        "@timestamp": stamp,
        "source": source,
        **dict(subject),
        "status": status,
        "error_kind": error_kind,
        # Quotes remote output: escaped and capped (kafka_monitor.text).
        "error_message": None if error_message is None else bounded(error_message),
        "duration_ms": round(duration_ms, 1),
        "row_count": row_count,
        "collected_at": iso(collected_at),
        "run_id": run_id,
        "try_number": try_number,
    }
    if extra:
        body.update(extra)
    key = [f"{k}={subject[k]}" for k in sorted(subject)]
    return Doc(daily_index(index_prefix, minute), doc_id("status", source, *key, stamp), body)


class StatusRecorder:
    """One collection's status documents: what lag, JMX and the CloudWatch sync each record.

    Made when the collection starts (the duration counts from then); ``document`` builds the
    status document for the outcome, for the caller to index with whatever else it has.
    ``collected_at`` fixes the collection time (default: the wall clock when the document is made).
    """

    def __init__(
        self,
        *,
        index_prefix: str,
        minute: datetime,
        source: str,
        subject: Mapping[str, Any],
        run_id: str | None = None,
        try_number: int | None = None,
        collected_at: datetime | None = None,
    ):
        self.index_prefix = index_prefix
        self.minute = minute
        self.source = source
        self.subject = dict(subject)
        self.run_id = run_id
        self.try_number = try_number
        self.collected_at = collected_at
        self.started = time.monotonic()

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def document(
        self,
        status: str,
        rows: int = 0,
        kind: str | None = None,
        message: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Doc:
        return status_document(
            index_prefix=self.index_prefix,
            minute=self.minute,
            source=self.source,
            subject=self.subject,
            status=status,
            duration_ms=self.elapsed_ms(),
            row_count=rows,
            error_kind=kind,
            error_message=message,
            collected_at=self.collected_at or datetime.now(UTC),
            run_id=self.run_id,
            try_number=self.try_number,
            extra=extra,
        )
