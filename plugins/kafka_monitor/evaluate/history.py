"""The window's history, read back from the lag index: one bounded query per topic.

The store is the only memory (tasks may run on any worker, and a restarted worker has lost
nothing). The query asks for the topic's ``partition`` documents of the window's earlier
minutes (this minute's rows are in hand), newest first, from the one or two daily indices the
window spans. Ids are deterministic (one document per partition per minute), so
``(window_minutes - 1) x partitions`` bounds the answer; if the store cuts it there anyway
(the topic had more partitions before), the oldest minutes are the ones left out.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from kafka_monitor.store.documents import LAG_DOC_PARTITION, daily_index, iso, minute_of
from kafka_monitor.store.sink import MAX_SEARCH_SIZE, SearchSink

log = logging.getLogger(__name__)


def history_indices(index_prefix: str, minute: datetime, window_minutes: int) -> str:
    """The daily indices the window's earlier minutes fall in, comma-separated (missing ones
    are no error for the search)."""
    start = minute_of(minute) - timedelta(minutes=window_minutes - 1)
    names = dict.fromkeys(daily_index(index_prefix, t) for t in (start, minute_of(minute)))
    return ",".join(names)


def history_query(mirrormaker: str, group: str, topic: str, minute: datetime, window_minutes: int) -> dict[str, Any]:
    end = minute_of(minute)
    start = end - timedelta(minutes=window_minutes - 1)
    return {
        "bool": {
            "filter": [
                {"term": {"doc_type": LAG_DOC_PARTITION}},
                {"term": {"mirrormaker": mirrormaker}},
                {"term": {"group": group}},
                {"term": {"topic": topic}},
                {"range": {"@timestamp": {"gte": iso(start), "lt": iso(end)}}},
            ]
        }
    }


def history_size(window_minutes: int, partitions: int) -> int:
    return max(1, min(MAX_SEARCH_SIZE, (window_minutes - 1) * max(1, partitions)))


def read_history(
    sink: SearchSink,
    index_prefix: str,
    *,
    mirrormaker: str,
    group: str,
    topic: str,
    minute: datetime,
    window_minutes: int,
    partitions: int,
) -> list[dict[str, Any]]:
    """The stored partition documents of the window's earlier minutes (``StoreError`` when the
    store fails)."""
    size = history_size(window_minutes, partitions)
    docs = sink.search(
        history_indices(index_prefix, minute, window_minutes),
        history_query(mirrormaker, group, topic, minute, window_minutes),
        size=size,
        sort=[{"@timestamp": "desc"}],
    )
    if len(docs) >= size and (window_minutes - 1) * partitions > size:
        log.warning(
            "%s/%s: history cut at %d documents (the store's limit); the oldest minutes are left out",
            mirrormaker,
            topic,
            size,
        )
    return docs
