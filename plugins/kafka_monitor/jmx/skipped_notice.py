"""The warning about JMX values that are not numbers: once per change, not every minute.

A JVM that exposes a text attribute a preset asks for does so every minute; warning each time
buries the one warning that matters (the set changed). Tasks may run on any worker, so the
memory of "already warned" cannot live in the worker: it lives in the store, in the JMX status
document each collection writes anyway. That document carries ``skipped_count`` and
``skipped_digest`` (a hash of WHICH attributes were skipped — bean, attribute, key — not of
their values, so a text value that changes every minute is still the same set).

Before logging, the collection reads the target's latest earlier status document that has a
digest: the same digest means the operator was already warned, so the line is logged at INFO;
a different one (or none: the first minute, or the previous minutes had nothing to skip) is a
WARNING. When the store cannot be read, it is a WARNING too: losing the dedup is better than
losing the warning. A restart that renames the beans (Spark's application id) is a change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka_monitor.store.documents import iso, minute_of

log = logging.getLogger("kafka_monitor.jmx.snapshot")

# How many earlier status documents to look through for one with a digest (collections that
# failed before reading anything carry none); bounded, newest first.
LOOKBACK_DOCUMENTS = 10
SHOWN = 10  # skipped values named in the log line


@dataclass(frozen=True)
class PreviousNotice:
    found: bool  # an earlier status document with a digest exists
    digest: str | None  # its digest (None: nothing was skipped then)
    minute: str | None  # its @timestamp
    error: str | None = None  # why the store could not tell


def skipped_digest(keys: Sequence[str]) -> str | None:
    """A short, order-free hash of the skipped attributes; None when nothing was skipped."""
    if not keys:
        return None
    joined = "\n".join(sorted(set(keys)))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def status_fields(keys: Sequence[str]) -> dict[str, Any]:
    """What the status document records so the next minute can compare."""
    return {"skipped_count": len(set(keys)), "skipped_digest": skipped_digest(keys)}


def previous_notice(sink: Any, status_index_prefix: str, target_name: str, minute: datetime) -> PreviousNotice:
    """The latest status document of ``target_name`` before ``minute`` that records a digest."""
    search = getattr(sink, "search", None)
    if search is None:
        return PreviousNotice(False, None, None, "the sink cannot read documents back")
    query = {
        "bool": {
            "filter": [
                {"term": {"source": "jmx"}},
                {"term": {"target": target_name}},
                {"range": {"@timestamp": {"lt": iso(minute_of(minute))}}},
            ]
        }
    }
    try:
        docs = search(
            f"{status_index_prefix}-*",
            query,
            size=LOOKBACK_DOCUMENTS,
            sort=[{"@timestamp": {"order": "desc"}}],
        )
    except Exception as exc:  # noqa: BLE001 - StoreError and client errors alike: warn instead
        return PreviousNotice(False, None, None, f"cannot read the previous status document: {exc}")
    for doc in docs:
        if "skipped_count" in doc:
            return PreviousNotice(True, doc.get("skipped_digest"), doc.get("@timestamp"))
    return PreviousNotice(False, None, None)


def log_skipped(target_name: str, skipped: Sequence[str], keys: Sequence[str], previous: PreviousNotice) -> int:
    """Log the skipped values: WARNING when the set changed, INFO when it is the one already
    warned about. Returns the level used (0 when there was nothing to log)."""
    if not skipped:
        return 0
    digest = skipped_digest(keys)
    names = "; ".join(skipped[:SHOWN])
    if previous.found and previous.digest == digest:
        log.info(
            "JMX target %s: the same %d value(s) as at %s are not numbers and were not indexed "
            "(warned when they first appeared): %s",
            target_name,
            len(skipped),
            previous.minute,
            names,
        )
        return logging.INFO
    why = f" ({previous.error})" if previous.error else ""
    log.warning(
        "JMX target %s: %d value(s) are not numbers and were not indexed%s: %s",
        target_name,
        len(skipped),
        why,
        names,
    )
    return logging.WARNING
