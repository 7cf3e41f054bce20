"""What one minute says about each subject: the observations the incident machine takes.

A topic's lag verdict comes from its topic summary (the evaluator's ``status``, ``severity``,
reason, counts, lags); whether it was collected at all from its status document (an error, or
nothing at all, is "not collected"). With ``scope: group`` a group's minute is its worst topic.
"""

from __future__ import annotations

import logging
from typing import Any

from kafka_monitor.alerts import incidents as inc
from kafka_monitor.config.schema import MonitorConfig

log = logging.getLogger(__name__)

# The evaluator marks the summary of a minute whose collection failed with this reason prefix.
COLLECTION_FAILED = "collection_failed:"


def lag_observation(summary: dict[str, Any] | None) -> inc.Observation:
    """The evaluator's verdict, if the summary has one (``unknown`` and no status: none)."""
    status = (summary or {}).get("status")
    if status is None or status == "unknown":
        return inc.Observation(None)
    assert summary is not None
    if status not in inc.SEVERITY:
        log.warning(
            "%s/%s: verdict %r is not one alerts know (%s); no verdict this minute",
            summary.get("mirrormaker"),
            summary.get("topic"),
            status,
            ", ".join(sorted(inc.SEVERITY)),
        )
        return inc.Observation(None)
    facts = {
        "reason": summary.get("status_reason"),
        "status_counts": summary.get("status_counts"),
        "worst_partition": summary.get("worst_partition"),
        "partition_count": summary.get("partition_count"),
        "total_lag": summary.get("total_lag"),
        "max_lag": summary.get("max_lag"),
        "max_lag_seconds": summary.get("max_lag_seconds"),
        "eta_seconds": summary.get("eta_seconds"),
        "run_id_of_event": summary.get("run_id"),
    }
    level = summary.get("severity")
    return inc.Observation(status, facts, level if level in inc.SEVERITY_LEVELS else None)


def collection_observation(summary: dict[str, Any] | None, status_doc: dict[str, Any] | None) -> inc.Observation:
    """Whether the lag was collected this minute: an error status, or nothing at all, is not."""
    if status_doc is not None and status_doc.get("status") == "error":
        return inc.Observation(
            "error",
            {
                "error_kind": status_doc.get("error_kind") or "error",
                "error_message": (status_doc.get("error_message") or "")[:500] or None,
                "run_id_of_event": status_doc.get("run_id"),
            },
        )
    reason = str((summary or {}).get("status_reason") or "")
    if reason.startswith(COLLECTION_FAILED):  # the evaluator's summary of a failed minute
        return inc.Observation(
            "error",
            {
                "error_kind": reason[len(COLLECTION_FAILED) :] or "error",
                "run_id_of_event": (summary or {}).get("run_id"),
            },
        )
    if summary is not None or (status_doc is not None and status_doc.get("status") == "ok"):
        return inc.Observation("ok", {"run_id_of_event": (summary or status_doc or {}).get("run_id")})
    return inc.Observation("error", {"error_kind": "no_data", "error_message": "no summary and no status document"})


def group_observation(by_topic: dict[str, inc.Observation], track: str) -> inc.Observation:
    """A consumer group's minute (``scope: group``): its worst topic, with the sums of all."""
    judged = {t: o for t, o in by_topic.items() if o.severity is not None}
    if not judged:
        return inc.Observation(None)
    worst_topic, worst = max(judged.items(), key=lambda item: (item[1].severity or 0, item[0]))
    facts = dict(worst.facts)
    by_status: dict[str, list[str]] = {}
    for topic, observation in sorted(judged.items()):
        by_status.setdefault(str(observation.status), []).append(topic)
    facts["topics_by_status"] = by_status
    if track == inc.TRACK_COLLECTION:
        return inc.Observation(worst.status, facts)
    facts.pop("worst_partition", None)
    if worst.facts.get("reason"):
        facts["reason"] = f"{worst_topic}: {worst.facts['reason']}"
    counts: dict[str, int] = {}
    for observation in judged.values():
        for status, n in (observation.facts.get("status_counts") or {}).items():
            counts[status] = counts.get(status, 0) + int(n)
    facts["status_counts"] = counts or None

    def combine(name: str, how) -> Any:
        values = [o.facts.get(name) for o in judged.values() if o.facts.get(name) is not None]
        return how(values) if values else None

    facts["partition_count"] = combine("partition_count", sum)
    facts["total_lag"] = combine("total_lag", sum)
    facts["max_lag"] = combine("max_lag", max)
    facts["max_lag_seconds"] = combine("max_lag_seconds", max)
    facts["eta_seconds"] = combine("eta_seconds", max)
    return inc.Observation(worst.status, facts, worst.level)


def subjects_of(config: MonitorConfig) -> list[dict[str, str]]:
    """The topics of every MirrorMaker host (collected one by one, judged one by one)."""
    return [{"mirrormaker": mm.name, "group": mm.group, "topic": t} for mm in config.mirrormakers for t in mm.topics]


def observations(
    subjects: list[dict[str, str]], summaries: dict, statuses: dict, scope: str
) -> list[tuple[str, dict[str, str], inc.Observation]]:
    """(track, subject, observation) for every incident subject of the minute."""
    per_topic: list[tuple[dict[str, str], inc.Observation, inc.Observation]] = []
    for subject in subjects:
        found = (subject["mirrormaker"], subject["group"], subject["topic"])
        per_topic.append(
            (
                subject,
                lag_observation(summaries.get(found)),
                collection_observation(summaries.get(found), statuses.get(found)),
            )
        )
    if scope == "topic":
        return [(inc.TRACK_LAG, s, lag) for s, lag, _ in per_topic] + [
            (inc.TRACK_COLLECTION, s, collected) for s, _, collected in per_topic
        ]
    groups: dict[tuple[str, str], list[tuple[dict[str, str], inc.Observation, inc.Observation]]] = {}
    for entry in per_topic:
        groups.setdefault((entry[0]["mirrormaker"], entry[0]["group"]), []).append(entry)
    out: list[tuple[str, dict[str, str], inc.Observation]] = []
    for (mirrormaker, group), entries in groups.items():
        subject = {"mirrormaker": mirrormaker, "group": group}
        out.append((inc.TRACK_LAG, subject, group_observation({s["topic"]: o for s, o, _ in entries}, inc.TRACK_LAG)))
        out.append(
            (
                inc.TRACK_COLLECTION,
                subject,
                group_observation({s["topic"]: o for s, _, o in entries}, inc.TRACK_COLLECTION),
            )
        )
    return out
