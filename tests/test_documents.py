"""The documents kafka-monitor indexes (kafka_monitor.store.documents): ids, p-fields, summary maths."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafka_monitor.store.documents import (
    LAG_DOC_PARTITION,
    LAG_DOC_SUMMARY,
    StatusRecorder,
    daily_index,
    doc_id,
    lag_documents,
    minute_of,
    status_document,
)

MINUTE = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
KST = timezone(timedelta(hours=9))


def row(partition, lag, current=100, consumer="consumer-1", host="/10.0.0.5", client="mm-client"):
    end = None if current is None or lag is None else current + lag
    return {
        "partition": partition,
        "current_offset": current,
        "log_end_offset": end,
        "lag": lag,
        "consumer_id": consumer,
        "host": host,
        "client_id": client,
    }


def docs_for(rows, minute=MINUTE, collected_at=None, run_id="run-1", **subject):
    args = {"mirrormaker": "mm-1", "group": "oasis-group", "topic": "orders", **subject}
    return lag_documents(
        index_prefix="kafka-lag",
        minute=minute,
        rows=rows,
        group_state="Stable",
        collected_at=collected_at or minute + timedelta(seconds=7),
        run_id=run_id,
        **args,
    )


def summary_of(docs):
    [summary] = [d for d in docs if d.source["doc_type"] == LAG_DOC_SUMMARY]
    return summary.source


# --------------------------------------------------------------------------- ids


def test_a_retry_of_the_same_minute_gets_the_same_ids():
    rows = [row(0, 5), row(1, 7)]
    first = docs_for(
        rows, minute=MINUTE + timedelta(seconds=3), collected_at=MINUTE + timedelta(seconds=5), run_id="scheduled__1"
    )
    retry = docs_for(
        rows,
        minute=MINUTE + timedelta(seconds=59),
        collected_at=MINUTE + timedelta(minutes=3),
        run_id="scheduled__1-retry",
    )
    assert [d.id for d in first] == [d.id for d in retry]
    assert len({d.id for d in first}) == 3  # two partitions + the summary, all distinct
    assert all(re.fullmatch(r"[0-9a-f]{40}", d.id) for d in first)


@pytest.mark.parametrize(
    "change",
    [
        {"minute": MINUTE + timedelta(minutes=1)},
        {"mirrormaker": "mm-2"},
        {"group": "other-group"},
        {"topic": "orders2"},
    ],
)
def test_ids_differ_for_another_minute_host_group_or_topic(change):
    base = docs_for([row(0, 5)])
    other = docs_for([row(0, 5)], **change)
    assert not {d.id for d in base} & {d.id for d in other}


def test_ids_do_not_collide_when_parts_contain_the_separator_characters():
    # Group ids may hold anything: joining must not make ("a-b", "c") equal ("a", "b-c").
    assert doc_id("a-b", "c") != doc_id("a", "b-c")
    assert doc_id("a b", "c") != doc_id("a", "b c")
    assert doc_id(None, "x") == doc_id("", "x")


def test_the_scheduled_minute_is_truncated_in_utc():
    local = datetime(2026, 11, 23, 8, 59, 42, 123, tzinfo=KST)  # 2026-11-22 23:59:42 UTC
    assert minute_of(local) == datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
    [doc, _] = docs_for([row(0, 1)], minute=local)
    assert doc.index == "kafka-lag-2026.11.22"
    assert doc.source["@timestamp"] == "2026-11-22T23:59:00Z"
    assert daily_index("kafka-lag", datetime(2026, 11, 23, 0, 0, tzinfo=UTC)) == "kafka-lag-2026.11.23"
    with pytest.raises(ValueError, match="timezone-aware"):
        minute_of(datetime(2026, 11, 22, 10, 15))


# --------------------------------------------------------------------------- partitions and p-fields


def test_partition_documents_are_keyed_by_partition_number_not_printed_order():
    printed = [row(10, 1000), row(2, 20), row(0, 0), row(1, 11)]  # the tool prints in hash order
    docs = docs_for(printed)
    partitions = [d.source for d in docs if d.source["doc_type"] == LAG_DOC_PARTITION]
    assert [p["partition"] for p in partitions] == [0, 1, 2, 10]
    assert [p["lag"] for p in partitions] == [0, 11, 20, 1000]
    summary = summary_of(docs)
    assert (summary["p0"], summary["p1"], summary["p2"], summary["p10"]) == (0, 11, 20, 1000)
    assert not {"p3", "p4", "p9"} & summary.keys()  # no invented fields for absent partitions


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(range(24))))
def test_p_fields_follow_partition_numbers_in_any_printed_order(order):
    summary = summary_of(docs_for([row(p, p * 3 + 1) for p in order]))
    assert {f"p{p}": summary[f"p{p}"] for p in range(24)} == {f"p{p}": p * 3 + 1 for p in range(24)}


def test_lag_beyond_32_bits_is_kept_exactly():
    big = 2**40 + 17  # the old tool mapped lag as a 32-bit integer
    docs = docs_for([row(0, big, current=2**50), row(1, 2**62)])
    parsed = [json.loads(json.dumps(d.source)) for d in docs]  # what travels to the store
    assert parsed[0]["lag"] == big and parsed[0]["log_end_offset"] == 2**50 + big
    summary = parsed[-1]
    assert summary["total_lag"] == big + 2**62 and summary["max_lag"] == 2**62
    assert summary["p0"] == big and summary["p1"] == 2**62


def test_partition_document_fields_match_the_index_contract():
    [doc, _] = docs_for([row(3, 9, current=41, consumer="c-7", host="/10.1.2.3", client="mm-c")])
    assert doc.source == {
        "@timestamp": "2026-11-22T10:15:00Z",
        "doc_type": "partition",
        "mirrormaker": "mm-1",
        "group": "oasis-group",
        "topic": "orders",
        "group_state": "Stable",
        "collected_at": "2026-11-22T10:15:07Z",
        "run_id": "run-1",
        "source": "ssh",  # the collector: describe over SSH (the default) or the Admin API
        "partition": 3,
        "current_offset": 41,
        "log_end_offset": 50,
        "lag": 9,
        "consumer_id": "c-7",
        "host": "/10.1.2.3",
        "client_id": "mm-c",
    }


# --------------------------------------------------------------------------- summary maths


def test_summary_totals_max_and_counts():
    rows = [
        row(0, 0, consumer="c-1"),
        row(1, 5, consumer="c-1"),
        row(2, 12, consumer="c-2"),
        row(3, None, current=None, consumer=None, host=None, client=None),
    ]
    summary = summary_of(docs_for(rows))
    assert summary["partition_count"] == 4
    assert summary["total_lag"] == 17
    assert summary["max_lag"] == 12
    assert summary["partitions_lagging"] == 2  # lag > 0
    assert summary["partitions_without_offset"] == 1
    assert summary["assigned_consumers"] == 2  # distinct ids, unassigned partitions not counted
    assert summary["p3"] is None


def test_a_topic_with_no_committed_offsets_has_null_totals_not_zero():
    rows = [row(p, None, current=None, consumer=None) for p in range(3)]
    docs = docs_for(rows)
    summary = summary_of(docs)
    assert summary["total_lag"] is None and summary["max_lag"] is None
    assert summary["partitions_without_offset"] == 3 and summary["partitions_lagging"] == 0
    assert summary["assigned_consumers"] == 0
    assert [d.source["lag"] for d in docs[:-1]] == [None, None, None]
    assert (summary["p0"], summary["p1"], summary["p2"]) == (None, None, None)


def test_all_partitions_in_sync_is_zero_lag():
    summary = summary_of(docs_for([row(0, 0), row(1, 0)]))
    assert summary["total_lag"] == 0 and summary["max_lag"] == 0 and summary["partitions_lagging"] == 0


def test_no_rows_still_gives_a_summary():
    docs = docs_for([])
    assert len(docs) == 1
    assert summary_of(docs)["partition_count"] == 0 and summary_of(docs)["total_lag"] is None


# --------------------------------------------------------------------------- status


def status(**overrides):
    args = dict(
        index_prefix="kafka-monitor-status",
        minute=MINUTE,
        source="lag",
        subject={"mirrormaker": "mm-1", "group": "oasis-group", "topic": "orders"},
        status="ok",
        duration_ms=12.345,
        row_count=3,
        collected_at=MINUTE + timedelta(seconds=9),
        run_id="r",
        try_number=1,
    )
    args.update(overrides)
    return status_document(**args)


def test_status_id_is_per_subject_and_minute_so_a_retry_overwrites_its_status():
    ok = status()
    failed_retry = status(
        status="error",
        error_kind="ssh_timeout",
        error_message="timed out",
        try_number=2,
        collected_at=MINUTE + timedelta(seconds=50),
        duration_ms=25000.0,
    )
    reordered = status(subject={"topic": "orders", "group": "oasis-group", "mirrormaker": "mm-1"})
    assert ok.id == failed_retry.id == reordered.id
    assert ok.id != status(minute=MINUTE + timedelta(minutes=1)).id
    assert ok.id != status(subject={"mirrormaker": "mm-1", "group": "oasis-group", "topic": "other"}).id
    assert ok.id != status(source="jmx").id
    assert ok.index == "kafka-monitor-status-2026.11.22"
    assert ok.source["duration_ms"] == 12.3 and ok.source["topic"] == "orders"


def test_status_must_be_ok_or_error():
    with pytest.raises(ValueError, match="status must be"):
        status(status="warning")


def test_the_status_recorder_writes_the_same_document_for_every_room():
    minute = datetime(2026, 11, 22, 10, 15, 42, tzinfo=UTC)
    collected = datetime(2026, 11, 22, 10, 15, 50, tzinfo=UTC)
    recorder = StatusRecorder(
        index_prefix="kafka-monitor-status",
        minute=minute,
        source="jmx",
        subject={"target": "broker-1", "component": "kafka_broker"},
        run_id="run-1",
        try_number=2,
        collected_at=collected,
    )
    ok = recorder.document("ok", rows=7)
    failed = recorder.document("error", kind="timeout", message="no answer", extra={"extra_field": 1})
    # Same subject and minute: the same id (a later outcome of one collection overwrites the earlier).
    assert ok.id == failed.id and ok.index == "kafka-monitor-status-2026.11.22"
    assert ok.source["@timestamp"] == "2026-11-22T10:15:00Z" and ok.source["collected_at"] == "2026-11-22T10:15:50Z"
    assert (ok.source["target"], ok.source["component"], ok.source["status"], ok.source["row_count"]) == (
        "broker-1",
        "kafka_broker",
        "ok",
        7,
    )
    assert (ok.source["run_id"], ok.source["try_number"], ok.source["error_kind"]) == ("run-1", 2, None)
    assert (failed.source["error_kind"], failed.source["error_message"], failed.source["extra_field"]) == (
        "timeout",
        "no answer",
        1,
    )
    assert 0 <= ok.source["duration_ms"] <= failed.source["duration_ms"]
    with pytest.raises(ValueError, match="status must be one of 'ok', 'error', 'partial', not 'fine'"):
        recorder.document("fine")
