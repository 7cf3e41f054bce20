"""One topic's minute judged: this minute's rows plus the window's documents -> verdict fields.

Pure: the caller reads the history (``history``) and indexes the result. Rows may come from any
collector (the describe parser, the Admin API): a row needs ``partition``, ``current_offset``,
``log_end_offset`` and ``consumer_id`` (``None`` or ``-`` when no consumer owns the partition);
a row with ``owner_known: False`` says its source cannot tell owners, and the owner rule is then
skipped for it. History documents are the lag index's ``partition`` documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka_monitor.config.evaluation import Thresholds
from kafka_monitor.evaluate import rates as rates_mod
from kafka_monitor.evaluate.verdict import (
    R_COLLECTION_FAILED,
    RANK,
    SEVERITY_UNKNOWN,
    STATUSES,
    UNKNOWN,
    PartitionVerdict,
    Rules,
    Sample,
    evaluate_partition,
    worst,
    worst_severity,
)


@dataclass
class TopicVerdict:
    partitions: dict[int, PartitionVerdict]
    summary: dict[str, Any] = field(default_factory=dict)


def rules_for(thresholds: Thresholds) -> Rules:
    return Rules(
        window_s=thresholds.window_minutes * 60.0,
        interval_s=60.0,
        allowed_lag=thresholds.allowed_lag,
        max_lag_seconds=thresholds.max_lag_seconds,
        critical_lag_seconds=thresholds.critical_lag_seconds,
    )


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # junk in a stored document is no sample
        return None


def _owned(row: Mapping[str, Any]) -> bool | None:
    if row.get("owner_known") is False:
        return None
    # Kafka 0.10.0-0.10.1 print an OWNER column instead of CONSUMER-ID.
    owner = row.get("owner") if "owner" in row else row.get("consumer_id")
    return owner not in (None, "", "-")


def _seconds(ts: datetime) -> float:
    return ts.astimezone(UTC).timestamp()


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return _seconds(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def sample_from(row: Mapping[str, Any], t: float) -> Sample:
    return Sample(
        t=t, committed=_int(row.get("current_offset")), log_end=_int(row.get("log_end_offset")), owned=_owned(row)
    )


def history_samples(docs: Iterable[Mapping[str, Any]]) -> dict[int, list[Sample]]:
    """Partition -> samples from stored partition documents (unreadable ones are skipped)."""
    out: dict[int, list[Sample]] = {}
    for doc in docs:
        partition = _int(doc.get("partition"))
        t = _parse_time(doc.get("@timestamp"))
        if partition is None or t is None:
            continue
        out.setdefault(partition, []).append(sample_from(doc, t))
    return out


def evaluate_topic(
    rows: Iterable[Mapping[str, Any]],
    history: Iterable[Mapping[str, Any]],
    thresholds: Thresholds,
    minute: datetime,
) -> TopicVerdict:
    """Every partition of this minute's rows judged against its history, plus the topic's roll-up."""
    now = _seconds(minute)
    rules = rules_for(thresholds)
    past = history_samples(history)
    current: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        partition = _int(row.get("partition"))
        if partition is not None:
            current[partition] = row
    verdicts = {
        p: evaluate_partition(sample_from(row, now), past.get(p, ()), rules) for p, row in sorted(current.items())
    }
    return TopicVerdict(verdicts, summarise(verdicts))


def summarise(verdicts: Mapping[int, PartitionVerdict]) -> dict[str, Any]:
    """The topic summary's fields: worst status (and its partition and reason), counts, the
    largest lag in seconds, summed rates and the topic's catch-up time."""
    counts = {status: 0 for status in STATUSES}
    for v in verdicts.values():
        counts[v.status] += 1
    status = worst(v.status for v in verdicts.values())
    worst_partition = None
    reason = None
    if status is not None:
        worst_partition = min(p for p, v in verdicts.items() if v.status == status)
        reason = verdicts[worst_partition].reason
    seconds = [v.lag_seconds for v in verdicts.values() if v.lag_seconds is not None]
    produce = [v.produce_rate for v in verdicts.values() if v.produce_rate is not None]
    consume = [v.consume_rate for v in verdicts.values() if v.consume_rate is not None]
    eta = rates_mod.topic_eta(rates_mod.Eta(v.eta_seconds, v.eta_reason) for v in verdicts.values())
    return {
        "status": status,
        "status_rank": None if status is None else RANK[status],
        "status_reason": reason,
        "severity": worst_severity(v.severity for v in verdicts.values()),
        "worst_partition": worst_partition,
        "status_counts": counts,
        "max_lag_seconds": round(max(seconds), 1) if seconds else None,
        "max_lag_seconds_lower_bound": any(
            v.lag_seconds_lower_bound for v in verdicts.values() if seconds and v.lag_seconds == max(seconds)
        ),
        "produce_rate": round(sum(produce), 4) if produce else None,
        "consume_rate": round(sum(consume), 4) if consume else None,
        "eta_seconds": None if eta.seconds is None else round(eta.seconds, 1),
        "eta_reason": eta.reason,
    }


def unknown_summary_fields(kind: str) -> dict[str, Any]:
    """A minute whose collection failed: no partition is judged; the status index says why."""
    return {
        "status": UNKNOWN,
        "status_rank": RANK[UNKNOWN],
        "status_reason": f"{R_COLLECTION_FAILED}:{kind}",
        "severity": SEVERITY_UNKNOWN,
        "worst_partition": None,
        "status_counts": {status: 0 for status in STATUSES},
        "max_lag_seconds": None,
        "produce_rate": None,
        "consume_rate": None,
        "eta_seconds": None,
        "eta_reason": R_COLLECTION_FAILED,
    }


def group_status(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A group's status from its topics' summaries of one minute: the worst topic status, and
    partitions per status summed over the topics."""
    items = list(summaries)
    counts = {status: 0 for status in STATUSES}
    for summary in items:
        for status, n in (summary.get("status_counts") or {}).items():
            if status in counts and isinstance(n, int):
                counts[status] += n
    return {"status": worst(str(s.get("status")) for s in items if s.get("status")), "status_counts": counts}
