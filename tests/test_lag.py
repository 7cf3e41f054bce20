"""One lag collection, in process: real sshd, the stand-in MirrorMaker host on the live broker,
the real store (behind the real fault proxy where a store fault is needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kafka_monitor.config.schema import LagSettings, MirrorMaker, StoreSettings
from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
from kafka_monitor.store.sink import SearchSink
from sandbox.faultproxy import FaultProxy
from sandbox.search import find_documents

MINUTE = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)
TOPIC = "topic-lgs5.0-json"


@pytest.fixture
def mm(mm_host, sshd, monkeypatch) -> MirrorMaker:
    monkeypatch.setenv("AIRFLOW_CONN_LAG_SSH", json.dumps(sshd.airflow_connection("lag_ssh")))
    return MirrorMaker.model_validate(
        mm_host.mirrormaker_config("mm-1", "lag_ssh", connect_s=5, command_s=15, kill_grace_s=2, tool_timeout_ms=5000)
    )


def settings() -> StoreSettings:
    return StoreSettings(
        kind="opensearch",
        conn_id="unused",
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
        max_retries=1,
        request_timeout_s=5,
    )


def docs(client, index: str, **terms) -> list[dict]:
    return find_documents(client, index, terms)


def test_a_healthy_collection_indexes_the_brokers_truth(mm, mm_host, store, opensearch_client):
    outcome = collect_and_index_topic(
        mm, TOPIC, SearchSink(opensearch_client, settings()), settings(), minute=MINUTE, run_id="r1", try_number=1
    )
    truth = mm_host.truth(TOPIC)
    partitions = docs(opensearch_client, "kafka-lag-*", doc_type="partition", topic=TOPIC)
    assert {d["partition"]: d["lag"] for d in partitions} == truth
    assert outcome.partitions == 18 and outcome.indexed == 19
    assert outcome.total_lag == sum(v for v in truth.values() if v is not None)
    (status,) = docs(opensearch_client, "kafka-monitor-status-*", topic=TOPIC)
    assert (status["status"], status["row_count"], status["group_state"], status["try_number"]) == (
        "ok",
        18,
        "Stable",
        1,
    )


def test_readable_rows_of_a_damaged_output_are_kept_and_the_damage_reported(mm, mm_host, store, opensearch_client):
    mm_host.set_mode("truncate")  # the last printed row is cut short
    with pytest.raises(LagCollectionFailed) as caught:
        collect_and_index_topic(mm, TOPIC, SearchSink(opensearch_client, settings()), settings(), minute=MINUTE)
    # A damaged capture may be a passing fault: the task may retry within its minute.
    assert caught.value.kind == "malformed_row" and caught.value.retryable

    truth = mm_host.truth(TOPIC)
    indexed = {
        d["partition"]: d["lag"] for d in docs(opensearch_client, "kafka-lag-*", doc_type="partition", topic=TOPIC)
    }
    assert indexed and all(indexed[p] == truth[p] for p in indexed)  # what was read is right
    (status,) = docs(opensearch_client, "kafka-monitor-status-*", topic=TOPIC)
    assert status["status"] == "error" and status["error_kind"] == "malformed_row"
    assert status["row_count"] == len(indexed)
    assert f"{len(indexed)} readable rows were indexed" in str(caught.value)


def test_a_tool_exception_fails_with_its_kind_and_indexes_no_lag(mm, mm_host, store, opensearch_client):
    mm_host.set_mode("crash")  # Kafka 2.8's NullPointerException, printed with exit status 0
    with pytest.raises(LagCollectionFailed, match=r"reported: null \[java\.lang\.NullPointerException\]") as caught:
        collect_and_index_topic(mm, TOPIC, SearchSink(opensearch_client, settings()), settings(), minute=MINUTE)
    assert caught.value.kind == "tool_exception"
    assert docs(opensearch_client, "kafka-lag-*", doc_type="partition") == []
    # The minute's verdict is unknown (only the topic summary says so; the status index says why).
    (summary,) = docs(opensearch_client, "kafka-lag-*", doc_type="topic_summary", topic=TOPIC)
    assert (summary["status"], summary["status_reason"]) == ("unknown", "collection_failed:tool_exception")
    (status,) = docs(opensearch_client, "kafka-monitor-status-*", topic=TOPIC)
    assert (status["status"], status["error_kind"], status["row_count"]) == ("error", "tool_exception", 0)


def test_documents_the_store_rejects_are_counted_and_fail_the_task(mm, store):
    def reject_three(body: bytes) -> bytes:
        reply = json.loads(body)
        for item in reply["items"][:3]:
            action = item["index"]
            action.update(status=400, error={"type": "mapper_parsing_exception", "reason": "failed to parse [lag]"})
            action.pop("result", None)
        reply["errors"] = True
        return json.dumps(reply).encode()

    with FaultProxy(store.url) as proxy:
        client = store.opensearch_client(proxy.url)
        sink = SearchSink(client, settings())
        sink.ensure_templates()
        proxy.rewrite_next(reject_three, path_contains="_bulk")
        with pytest.raises(LagCollectionFailed, match="the store confirmed 16 of 19 documents") as caught:
            collect_and_index_topic(mm, TOPIC, sink, settings(), minute=MINUTE)
    assert caught.value.kind == "index_rejected" and not caught.value.retryable
    assert "mapper_parsing_exception" in str(caught.value)

    # The proxy rewrote only the reply; what the task reports is what the store confirmed.
    (status,) = docs(store.opensearch_client(), "kafka-monitor-status-*", topic=TOPIC)
    assert (status["status"], status["error_kind"], status["row_count"]) == ("partial", "index_rejected", 18)
    assert (status["documents_confirmed"], status["documents_expected"]) == (16, 19)


def test_documents_summary_and_status_go_in_one_bulk(mm, store):
    with FaultProxy(store.url) as proxy:
        sink = SearchSink(store.opensearch_client(proxy.url), settings())
        sink.ensure_templates()
        proxy.seen.clear()
        collect_and_index_topic(mm, TOPIC, sink, settings(), minute=MINUTE)
        bulks = [s for s in proxy.seen if "_bulk" in s.path]
    assert len(bulks) == 1
    lines = [json.loads(line) for line in bulks[0].body.splitlines()]
    assert [line.get("doc_type") or line.get("source") for line in lines[1::2]] == ["partition"] * 18 + [
        "topic_summary",
        "lag",
    ]
    (status,) = docs(store.opensearch_client(), "kafka-monitor-status-*", topic=TOPIC)
    assert (status["status"], status["documents_confirmed"], status["documents_expected"]) == ("ok", 19, 19)


def test_a_store_failing_midway_leaves_a_partial_status_saying_what_was_confirmed(mm, store):
    chunked = settings().model_copy(update={"chunk_size": 5})  # 20 documents: 4 bulk requests
    with FaultProxy(store.url) as proxy:
        sink = SearchSink(store.opensearch_client(proxy.url), chunked)
        sink.ensure_templates()
        # The third chunk (partitions 10-14) is refused with 503, its retry too: the store is gone.
        proxy.fail_next(2, 503, body=b"upstream busy", path_contains="_bulk", body_contains=b'"partition":10,')
        with pytest.raises(LagCollectionFailed, match="the store confirmed 10 of 19 documents") as caught:
            collect_and_index_topic(mm, TOPIC, sink, chunked, minute=MINUTE)
    assert caught.value.kind == "store_unavailable" and caught.value.retryable
    client = store.opensearch_client()
    partitions = docs(client, "kafka-lag-*", doc_type="partition", topic=TOPIC)
    assert sorted(d["partition"] for d in partitions) == list(range(10))
    (status,) = docs(client, "kafka-monitor-status-*", topic=TOPIC)
    assert (status["status"], status["error_kind"], status["row_count"]) == ("partial", "store_unavailable", 18)
    assert (status["documents_confirmed"], status["documents_expected"]) == (10, 19)
    assert "HTTP 503" in status["error_message"]


@pytest.mark.parametrize(
    ("status", "error_type", "retried_by_airflow"),
    [(429, "es_rejected_execution_exception", True), (400, "mapper_parsing_exception", False)],
)
def test_item_level_rejections_are_retried_like_request_level_ones(
    mm, store, monkeypatch, status, error_type, retried_by_airflow
):
    """Items still 429 after the sink's own retries fail the task retryably (as a whole-request
    429 does); a mapping conflict fails it at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from kafka_monitor import tasks

    def reject_first(body: bytes) -> bytes:
        reply = json.loads(body)
        action = reply["items"][0]["index"]
        action.update(status=status, error={"type": error_type, "reason": "injected"})
        action.pop("result", None)
        reply["errors"] = True
        return json.dumps(reply).encode()

    store_settings = settings().model_copy(update={"conn_id": "robust_store"})
    with FaultProxy(store.url) as proxy:
        for name, value in store.connection_env("robust_store", "opensearch", proxy.url).items():
            monkeypatch.setenv(name, value)
        SearchSink(store.opensearch_client(), store_settings).ensure_templates()
        # The first try, and (for 429) every item retry of the sink's; the status write is not touched.
        for _ in range(1 + store_settings.max_retries if retried_by_airflow else 1):
            proxy.rewrite_next(reject_first, path_contains="_bulk")
        # As the DAG collects it: the group's one describe hands the topic its rows, then the
        # topic's task indexes them (its bulk is the one the proxy rejects).
        group = {
            "mirrormaker": {**mm.model_dump(mode="json"), "topics": [TOPIC]},
            "lag": LagSettings().model_dump(mode="json"),
            "store": store_settings.model_dump(mode="json"),
            "cloudwatch": None,
            "evaluation": None,
        }
        handed: dict[str, dict] = {}
        tasks.collect_group(**group, minute=MINUTE, hand_over=handed.__setitem__)
        (item,), shared = tasks.plan_topics([group])
        with pytest.raises(Exception) as caught:
            tasks.collect_lag(item, shared, handed[TOPIC], minute=MINUTE)
    assert isinstance(caught.value, AirflowFailException) is not retried_by_airflow
    kind = "store_throttled" if retried_by_airflow else "index_rejected"
    assert str(caught.value).startswith(f"[{kind}] ")
    assert "status document: partial" in str(caught.value)
