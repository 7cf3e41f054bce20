"""SearchSink against the real search store (osmem), both clients, faults through a real proxy."""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from kafka_monitor.config.schema import StoreSettings, parse_config
from kafka_monitor.errors import ConfigError
from kafka_monitor.store.clients import ProviderChanged, elasticsearch_client, opensearch_client
from kafka_monitor.store.documents import Doc, lag_documents, status_document
from kafka_monitor.store.sink import (
    BulkIndexError,
    SearchSink,
    StoreError,
    StoreNotOwnedError,
    backoff_delay,
    load_template,
    template_name,
)
from sandbox.faultproxy import FaultProxy
from sandbox.process import free_port
from sandbox.search import SearchStore

MINUTE = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
KINDS = ["elasticsearch", "opensearch"]
SECRET = "s3cret-Passw0rd"


def store_settings(kind: str, **overrides) -> StoreSettings:
    # Tiny backoffs and timeouts keep the fault tests fast; the logic is the same.
    values = dict(
        kind=kind,
        conn_id="kafka_monitor_store",
        initial_backoff_s=0.01,
        max_backoff_s=0.04,
        request_timeout_s=3,
        max_retries=3,
    )
    values.update(overrides)
    return StoreSettings(**values)


def client_for(store: SearchStore, kind: str, url: str | None = None, **kwargs):
    if kind == "elasticsearch":
        return store.elasticsearch_client(url, **kwargs)
    return store.opensearch_client(url, **kwargs)


def sink_for(store: SearchStore, kind: str, url: str | None = None, **overrides) -> SearchSink:
    return SearchSink(client_for(store, kind, url), store_settings(kind, **overrides))


def lag_docs(topic="orders", partitions=3, minute=MINUTE, collected_at=None, lag=lambda p: p * 10, **kw):
    rows = [
        {
            "partition": p,
            "current_offset": 100,
            "log_end_offset": 100 + lag(p),
            "lag": lag(p),
            "consumer_id": f"c-{p % 2}",
            "host": "/10.0.0.5",
            "client_id": "mm",
        }
        for p in range(partitions)
    ]
    return lag_documents(
        index_prefix="kafka-lag",
        minute=minute,
        mirrormaker="mm-1",
        group="oasis-group",
        topic=topic,
        rows=rows,
        group_state="Stable",
        collected_at=collected_at or minute + timedelta(seconds=5),
        **kw,
    )


def count(store: SearchStore, index: str = "kafka-lag-*") -> int:
    store.request("POST", "/_refresh")
    return store.request("GET", f"/{index}/_count")["count"]


def ids_in_bulk_body(body: bytes) -> list[str]:
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    return [line["index"]["_id"] for line in lines[::2]]


def reject_items(positions, status=429, kind="es_rejected_execution_exception"):
    """A reply rewrite: the bulk items at ``positions`` become rejections with ``status``."""

    def rewrite(body: bytes) -> bytes:
        reply = json.loads(body)
        chosen = range(len(reply["items"])) if positions == "all" else positions
        for i in chosen:
            item = reply["items"][i]["index"]
            reply["items"][i] = {
                "index": {
                    "_index": item["_index"],
                    "_id": item["_id"],
                    "status": status,
                    "error": {"type": kind, "reason": f"injected {status}"},
                }
            }
        reply["errors"] = True
        return json.dumps(reply).encode()

    return rewrite


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def proxy(store):
    with FaultProxy(store.url) as part:
        yield part


# --------------------------------------------------------------------------- indexing


def test_index_confirms_every_document_with_the_contract_mapping(store, kind):
    sink = sink_for(store, kind)
    docs = lag_docs(partitions=3, lag=lambda p: 2**40 + p)  # beyond 32 bits
    docs.append(
        status_document(
            index_prefix="kafka-monitor-status",
            minute=MINUTE,
            source="lag",
            subject={"mirrormaker": "mm-1", "group": "oasis-group", "topic": "orders"},
            status="error",
            duration_ms=5.0,
            row_count=0,
            error_kind="ssh_timeout",
            error_message="ssh: timed out after 25 s",
            collected_at=MINUTE,
        )
    )
    report = sink.index(docs, refresh=True)
    assert (report.indexed, report.failed, report.retried, report.first_errors) == (5, 0, 0, [])
    assert count(store, "kafka-lag-2026.11.22") == 4 and count(store, "kafka-monitor-status-2026.11.22") == 1

    lag_props = store.request("GET", "/kafka-lag-2026.11.22/_mapping")["kafka-lag-2026.11.22"]["mappings"]["properties"]
    assert {
        f: lag_props[f]["type"] for f in ("topic", "group", "mirrormaker", "consumer_id", "doc_type")
    } == dict.fromkeys(("topic", "group", "mirrormaker", "consumer_id", "doc_type"), "keyword")
    assert {f: lag_props[f]["type"] for f in ("lag", "total_lag", "max_lag", "p0", "p2", "partition")} == {
        "lag": "long",
        "total_lag": "long",
        "max_lag": "long",
        "p0": "long",
        "p2": "long",
        "partition": "integer",
    }
    status_props = store.request("GET", "/kafka-monitor-status-2026.11.22/_mapping")["kafka-monitor-status-2026.11.22"][
        "mappings"
    ]["properties"]
    assert status_props["error_message"]["type"] == "text" and status_props["status"]["type"] == "keyword"

    # 64-bit lag round-trips exactly and is searchable as a number.
    hits = store.request("POST", "/kafka-lag-*/_search", {"query": {"range": {"p2": {"gte": 2**40 + 2}}}})
    [hit] = hits["hits"]["hits"]
    assert hit["_source"]["doc_type"] == "topic_summary" and hit["_source"]["p2"] == 2**40 + 2


def test_the_same_minute_twice_leaves_the_same_number_of_documents(store, kind):
    sink = sink_for(store, kind)
    first = lag_docs(partitions=4, collected_at=MINUTE + timedelta(seconds=5), run_id="run-1")
    sink.index(first, refresh=True)
    retry = lag_docs(
        partitions=4, collected_at=MINUTE + timedelta(seconds=50), run_id="run-1", lag=lambda p: p * 10 + 1
    )
    report = sink.index(retry, refresh=True)
    assert report.indexed == 5
    assert count(store) == 5  # overwritten, not duplicated
    summary = store.request("GET", f"/kafka-lag-2026.11.22/_doc/{retry[-1].id}")["_source"]
    assert summary["collected_at"] == "2026-11-22T10:15:50Z" and summary["p3"] == 31
    # A later minute adds documents.
    sink.index(lag_docs(partitions=4, minute=MINUTE + timedelta(minutes=1)), refresh=True)
    assert count(store) == 10


def test_documents_go_in_chunks_of_chunk_size(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, chunk_size=7)
    sink.ensure_templates()
    docs = [d for topic in ("a", "b", "c", "d", "e") for d in lag_docs(topic=topic, partitions=5)]  # 30 docs
    report = sink.index(docs)
    bulks = [s for s in proxy.seen if "_bulk" in s.path]
    assert report.indexed == 30 and report.requests == 5 == len(bulks)
    assert [len(ids_in_bulk_body(s.body)) for s in bulks] == [7, 7, 7, 7, 2]
    assert count(store) == 30


def test_an_empty_batch_sends_nothing(store, proxy, kind):
    report = sink_for(store, kind, proxy.url).index([])
    assert (report.indexed, report.requests) == (0, 0) and proxy.requests == []


# --------------------------------------------------------------------------- rejected documents


def test_rejected_documents_are_counted_and_the_others_indexed(store, kind):
    sink = sink_for(store, kind)
    docs = lag_docs(partitions=3)
    bad = docs[1]
    docs[1] = Doc(bad.index, bad.id, {**bad.source, "lag": "a lot"})  # not a long: a real mapping rejection
    with pytest.raises(BulkIndexError) as caught:
        sink.index(docs, refresh=True)
    report = caught.value.report
    assert (report.indexed, report.failed, report.retried) == (3, 1, 0)  # a 400 is never retried
    assert report.first_errors[0].startswith(f"{bad.index}/{bad.id}: mapper_parsing_exception: ")
    assert "1 of 4 documents rejected (3 indexed)" in str(caught.value)
    assert count(store) == 3
    assert store.request("GET", f"/kafka-lag-2026.11.22/_doc/{docs[2].id}")["found"] is True


def test_a_document_that_is_not_json_fails_alone(store, kind):
    sink = sink_for(store, kind)
    nan = Doc(
        "kafka-jmx-2026.11.22", "x1", {"@timestamp": "2026-11-22T10:15:00Z", "metric": "m", "value": float("nan")}
    )
    with pytest.raises(BulkIndexError) as caught:
        sink.index([nan, *lag_docs(partitions=1)])
    report = caught.value.report
    assert (report.indexed, report.failed) == (2, 1)
    assert report.first_errors == [
        "kafka-jmx-2026.11.22/x1: serialization_error: Out of range float values are not JSON compliant"
    ]


# --------------------------------------------------------------------------- retries through the fault proxy


@pytest.mark.parametrize("status", [429, 503])
def test_request_level_429_and_5xx_are_retried(store, proxy, kind, status):
    sink = sink_for(store, kind, proxy.url)
    sink.ensure_templates()
    proxy.fail_next(
        2, status, body=b'{"error":{"type":"injected","reason":"busy"},"status":%d}' % status, path_contains="_bulk"
    )
    report = sink.index(lag_docs(partitions=3))
    assert (report.indexed, report.failed, report.retried, report.requests) == (4, 0, 2, 3)
    assert [s.outcome for s in proxy.seen if "_bulk" in s.path] == [f"failed {status}"] * 2 + ["forwarded"]
    assert count(store) == 4


def test_request_level_retries_give_up_with_a_store_error(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, max_retries=2)
    sink.ensure_templates()
    proxy.fail_next(5, 503, body=b"upstream busy", path_contains="_bulk")
    with pytest.raises(StoreError) as caught:
        sink.index(lag_docs(partitions=2))
    message = str(caught.value)
    assert message.startswith(f"{kind} store (")
    assert "bulk request (3 documents) failed after 3 attempts: HTTP 503" in message
    assert "0 documents confirmed before the failure" in message
    assert caught.value.report.indexed == 0 and caught.value.report.retried == 2
    assert len([s for s in proxy.seen if "_bulk" in s.path]) == 3
    assert count(store) == 0


def test_a_failure_after_some_chunks_reports_only_what_the_store_confirmed(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, chunk_size=2, max_retries=1)
    sink.ensure_templates()
    docs = lag_docs(partitions=5)  # 6 documents: chunks of 2
    proxy.fail_next(2, 500, path_contains="_bulk", body_contains=docs[2].id.encode())  # the 2nd chunk, twice
    with pytest.raises(StoreError, match=r"failed after 2 attempts: HTTP 500.*; 2 documents confirmed") as caught:
        sink.index(docs)
    assert caught.value.report.indexed == 2 == count(store)
    assert [s.outcome for s in proxy.seen if "_bulk" in s.path] == ["forwarded", "failed 500", "failed 500"]


def test_retries_back_off_exponentially_up_to_the_cap(store, proxy, kind):
    sleeps: list[float] = []
    sink = SearchSink(
        client_for(store, kind, proxy.url),
        store_settings(kind, initial_backoff_s=0.01, max_backoff_s=0.03, max_retries=4),
        sleep=sleeps.append,
    )
    sink.ensure_templates()
    proxy.fail_next(4, 502, path_contains="_bulk")
    assert sink.index(lag_docs(partitions=1)).retried == 4
    ceilings = [0.01, 0.02, 0.03, 0.03]
    assert len(sleeps) == 4 and all(c / 2 <= s <= c for s, c in zip(sleeps, ceilings)), sleeps


def test_a_retry_after_hint_is_honoured_within_the_cap(store, proxy):
    sleeps: list[float] = []
    sink = SearchSink(
        client_for(store, "elasticsearch", proxy.url),
        store_settings("elasticsearch", initial_backoff_s=0.01, max_backoff_s=0.5),
        sleep=sleeps.append,
    )
    sink.ensure_templates()
    proxy.fail_next(1, 429, headers={"Retry-After": "0.3"}, path_contains="_bulk")
    proxy.fail_next(1, 429, headers={"Retry-After": "30"}, path_contains="_bulk")
    assert sink.index(lag_docs(partitions=1)).indexed == 2
    assert sleeps == [0.3, 0.5]


def test_a_client_error_is_not_retried(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url)
    sink.ensure_templates()
    proxy.fail_next(
        1,
        403,
        body=b'{"error":{"type":"security_exception","reason":"no write privilege"},"status":403}',
        path_contains="_bulk",
    )
    with pytest.raises(StoreError, match=r"failed: HTTP 403: security_exception: no write privilege"):
        sink.index(lag_docs(partitions=1))
    assert len([s for s in proxy.seen if "_bulk" in s.path]) == 1


def test_item_level_429_and_5xx_retry_only_those_items(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url)
    sink.ensure_templates()
    docs = lag_docs(partitions=5)  # 6 documents
    proxy.rewrite_next(reject_items([1, 4], status=429), path_contains="_bulk")
    proxy.rewrite_next(reject_items([0], status=503, kind="unavailable_shards_exception"), path_contains="_bulk")
    report = sink.index(docs)
    assert (report.indexed, report.failed, report.retried, report.requests) == (6, 0, 3, 3)
    bulks = [s for s in proxy.seen if "_bulk" in s.path]
    assert ids_in_bulk_body(bulks[0].body) == [d.id for d in docs]
    assert ids_in_bulk_body(bulks[1].body) == [docs[1].id, docs[4].id]
    assert ids_in_bulk_body(bulks[2].body) == [docs[1].id]
    assert count(store) == 6


def test_item_level_retries_give_up_and_report_the_items(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, max_retries=1)
    sink.ensure_templates()
    docs = lag_docs(partitions=3)
    proxy.rewrite_next(reject_items([0, 2], status=429), path_contains="_bulk")
    proxy.rewrite_next(reject_items("all", status=429), path_contains="_bulk")
    with pytest.raises(BulkIndexError) as caught:
        sink.index(docs)
    report = caught.value.report
    assert (report.indexed, report.failed, report.retried) == (2, 2, 2)
    assert report.first_errors == [
        f"{docs[0].index}/{docs[0].id}: es_rejected_execution_exception: injected 429 (after 1 retries)",
        f"{docs[2].index}/{docs[2].id}: es_rejected_execution_exception: injected 429 (after 1 retries)",
    ]


def test_a_bulk_reply_with_missing_items_is_a_store_error(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url)
    sink.ensure_templates()

    def drop_last_item(body: bytes) -> bytes:
        reply = json.loads(body)
        reply["items"] = reply["items"][:-1]
        return json.dumps(reply).encode()

    proxy.rewrite_next(drop_last_item, path_contains="_bulk")
    with pytest.raises(StoreError, match=r"bulk reply has 2 items for 3 documents"):
        sink.index(lag_docs(partitions=2))


def test_a_hung_store_times_out_is_retried_then_fails(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, request_timeout_s=0.3, max_retries=1)
    sink.ensure_templates()
    proxy.hang_next(2, path_contains="_bulk")
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"failed after 2 attempts: request timed out"):
        sink.index(lag_docs(partitions=1))
    assert time.monotonic() - started < 5
    assert store.index_names() == []  # nothing reached the store


def test_a_hung_request_is_retried_and_then_succeeds(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, request_timeout_s=0.3)
    sink.ensure_templates()
    proxy.hang_next(1, path_contains="_bulk")
    report = sink.index(lag_docs(partitions=2))
    assert (report.indexed, report.retried) == (3, 1)


def test_store_down_fails_the_task_and_reports_nothing_indexed(tmp_path, kind, caplog):
    caplog.set_level(logging.DEBUG)
    part = SearchStore(tmp_path).start()
    try:
        client = (
            client_for(part, kind, http_auth=("monitor", SECRET))
            if kind == "opensearch"
            else client_for(part, kind, basic_auth=("monitor", SECRET))
        )
        sink = SearchSink(client, store_settings(kind, max_retries=2))
        assert sink.index(lag_docs(partitions=1), refresh=True).indexed == 2
    finally:
        part.stop()  # the store goes down: a real stopped process
    with pytest.raises(StoreError) as caught:
        sink.index(lag_docs(partitions=2, minute=MINUTE + timedelta(minutes=1)))
    assert "failed after 3 attempts: cannot connect" in str(caught.value)
    assert caught.value.report.indexed == 0 and caught.value.report.retried == 2
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text


# --------------------------------------------------------------------------- templates


def test_templates_are_created_with_the_configured_prefixes(store, kind):
    sink = sink_for(
        store, kind, lag_index="mon-lag", status_index="mon-status", jmx_index="mon-jmx", incident_index="mon-inc"
    )
    sink.ensure_templates()
    assert store.template_names() == ["mon-inc-template", "mon-jmx-template", "mon-lag-template", "mon-status-template"]
    lag = store.request("GET", "/_index_template/mon-lag-template")["index_templates"][0]["index_template"]
    assert lag["index_patterns"] == ["mon-lag-*"]
    assert lag["version"] == load_template("mapping.json", "mon-lag")["version"]
    # The template shapes a new index of that prefix (not the defaults' kafka-lag-*).
    sink.index([Doc("mon-lag-2026.11.22", d.id, d.source) for d in lag_docs(partitions=1)], refresh=True)
    props = store.request("GET", "/mon-lag-2026.11.22/_mapping")["mon-lag-2026.11.22"]["mappings"]["properties"]
    assert props["lag"]["type"] == "long" and props["topic"]["type"] == "keyword"


def test_ensure_templates_is_one_read_when_current(store, proxy, kind):
    sink_for(store, kind, proxy.url).ensure_templates()
    created = list(proxy.requests)
    # One read of all templates; before creating each of the four, one listing of its prefix's indices.
    assert sorted(m for m, _ in created) == ["GET"] * 5 + ["PUT"] * 4
    assert sum(1 for m, p in created if m == "GET" and "_index_template" in p) == 1
    proxy.requests.clear()
    again = sink_for(store, kind, proxy.url)
    again.ensure_templates()
    again.ensure_templates()  # once per sink instance
    again.index(lag_docs(partitions=1))  # index() does not check again either
    assert [m for m, p in proxy.requests if "_index_template" in p] == ["GET"]
    assert [m for m, p in proxy.requests if "_bulk" not in p] == ["GET"]


def test_an_older_template_version_is_upgraded(store, kind):
    name = template_name("kafka-lag")
    store.request(
        "PUT",
        f"/_index_template/{name}",
        {
            "index_patterns": ["kafka-lag-*"],
            "version": 0,
            "priority": 209,
            "_meta": {"managed_by": "kafka-monitor"},
            "template": {"mappings": {"properties": {"topic": {"type": "text"}}}},
        },
    )
    sink_for(store, kind).ensure_templates()
    current = store.request("GET", f"/_index_template/{name}")["index_templates"][0]["index_template"]
    assert current["version"] == load_template("mapping.json", "kafka-lag")["version"] >= 1
    assert current["template"]["mappings"]["properties"]["topic"]["type"] == "keyword"


def test_template_files_are_valid_and_bound_to_the_prefix():
    for filename in ("mapping.json", "status_mapping.json", "jmx_mapping.json"):
        body = load_template(filename, "x-prefix")
        assert body["index_patterns"] == ["x-prefix-*"]
        assert body["template"]["mappings"]["properties"]["@timestamp"]["type"] == "date"
    # Nested prefixes: the longer (more specific) one wins.
    assert (
        load_template("jmx_mapping.json", "kafka-jmx")["priority"] > load_template("mapping.json", "kafka")["priority"]
    )


def test_a_broken_template_file_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_MONITOR_INCLUDE", str(tmp_path))
    (tmp_path / "mapping.json").write_text('{"index_patterns": ["a-*"],\n "template": {"mappings": {}},,}')
    with pytest.raises(ConfigError, match=r"mapping\.json is not valid JSON \(line 2\)"):
        load_template("mapping.json", "kafka-lag")
    (tmp_path / "mapping.json").write_text('{"index_patterns": ["a-*"], "template": {"settings": {}}}')
    with pytest.raises(ConfigError, match=r"mapping\.json: template\.mappings must be an object"):
        load_template("mapping.json", "kafka-lag")
    with pytest.raises(ConfigError, match=r"cannot read index template .*status_mapping\.json"):
        load_template("status_mapping.json", "kafka-lag")


def test_the_index_prefixes_must_differ(store):
    # Refused when the configuration is loaded, naming the field…
    with pytest.raises(
        ConfigError, match=r"store: .*lag_index, status_index, jmx_index and incident_index must differ"
    ):
        parse_config(
            {"store": {"kind": "opensearch", "conn_id": "s", "jmx_index": "kafka-lag"}, "mirrormakers": []}, "test"
        )
    # …and by the sink too, for settings built without validation.
    settings = StoreSettings.model_construct(**{**store_settings("opensearch").model_dump(), "jmx_index": "kafka-lag"})
    with pytest.raises(ConfigError, match="must differ"):
        SearchSink(store.opensearch_client(), settings)


# --------------------------------------------------------------------------- retention


def test_retention_deletes_only_expired_daily_indices_of_our_prefixes(store, kind):
    names = [
        "kafka-lag-2026.11.07",  # ended 2026-11-08 00:00, more than 14 days before now: deleted
        "kafka-lag-2026.11.08",  # partly within the 14 days: kept
        "kafka-lag-2026.11.22",
        "kafka-monitor-status-2025.12.31",
        "kafka-jmx-2026.11.01",
        "kafka-jmx-2026.11.21",
        "kafka-lag-archive-2026.01.01",  # matches kafka-lag-* but is not ours
        "kafka-lag-2026.13.01",  # not a date
        "kafka-lag-2026.01.01-copy",
        "kafka-lag-20260101",
        "other-2020.01.01",
    ]
    sink = sink_for(store, kind, retention_days=14)
    sink.ensure_templates()  # our templates mark every index they create
    for name in names:
        store.request("PUT", f"/{name}")
    deleted = sink.delete_expired(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    assert deleted == ["kafka-jmx-2026.11.01", "kafka-lag-2026.11.07", "kafka-monitor-status-2025.12.31"]
    assert store.index_names() == sorted(set(names) - set(deleted))
    assert sink.delete_expired(datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) == []  # idempotent


def foreign_logstash(store: SearchStore) -> list[str]:
    """What a Logstash deployment leaves in a store: its own template and daily indices."""
    store.request(
        "PUT",
        "/_index_template/logstash",
        {
            "index_patterns": ["logstash-*"],
            "priority": 100,
            "template": {"mappings": {"properties": {"message": {"type": "text"}, "host": {"type": "object"}}}},
        },
    )
    names = ["logstash-2026.10.01", "logstash-2026.11.21"]
    for name in names:
        store.request("PUT", f"/{name}/_doc/1?refresh=true", {"message": "a log line", "host": {"name": "web-1"}})
    return names


def test_retention_deletes_only_indices_that_carry_our_marker(store, kind):
    # Same names, same age: only the one our template created is ours.
    sink = sink_for(store, kind, retention_days=14)
    sink.ensure_templates()
    store.request("PUT", "/kafka-lag-2026.10.01")  # created under our template: marked
    for name in store.template_names():
        store.request("DELETE", f"/_index_template/{name}")
    store.request("PUT", "/kafka-lag-2026.10.02")  # a same-named index someone else made, no marker
    store.request("PUT", "/kafka-jmx-2026.10.01", {"mappings": {"_meta": {"managed_by": "someone-else"}}})
    deleted = sink.delete_expired(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    assert deleted == ["kafka-lag-2026.10.01"]
    assert store.index_names() == ["kafka-jmx-2026.10.01", "kafka-lag-2026.10.02"]


def test_lag_index_logstash_neither_deletes_nor_breaks_a_logstash_deployment(store, kind):
    logstash = foreign_logstash(store)
    before = store.request("GET", "/_index_template/logstash")
    sink = sink_for(store, kind, lag_index="logstash", retention_days=14)
    with pytest.raises(
        StoreNotOwnedError, match=r"index template 'logstash' \(patterns logstash-\*\) is not kafka-monitor's"
    ):
        sink.ensure_templates()
    with pytest.raises(StoreNotOwnedError):  # and so nothing is indexed either
        sink.index(lag_docs(partitions=1))
    assert sink.delete_expired(datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) == []
    assert store.index_names() == logstash
    assert store.template_names() == ["logstash"]
    assert store.request("GET", "/_index_template/logstash") == before
    # Without their template, their indices still stop ours being installed over them.
    store.request("DELETE", "/_index_template/logstash")
    with pytest.raises(StoreNotOwnedError, match=r"indices logstash-2026\.10\.01, logstash-2026\.11\.21 .* no _meta"):
        sink_for(store, kind, lag_index="logstash").ensure_templates()
    assert store.template_names() == []
    assert store.index_names() == logstash


def test_a_template_of_our_name_without_our_marker_is_not_overwritten(store, kind):
    foreign = {"index_patterns": ["kafka-lag-*"], "priority": 5, "template": {"mappings": {}}}
    store.request("PUT", "/_index_template/kafka-lag-template", foreign)
    with pytest.raises(StoreNotOwnedError, match=r"'kafka-lag-template' exists but was not installed by kafka-monitor"):
        sink_for(store, kind).ensure_templates()
    current = store.request("GET", "/_index_template/kafka-lag-template")["index_templates"][0]["index_template"]
    assert current["priority"] == 5 and "_meta" not in current


def test_a_catch_all_foreign_template_does_not_block_ours(store, kind):
    store.request("PUT", "/_index_template/everything", {"index_patterns": ["*"], "priority": 1})
    sink_for(store, kind).ensure_templates()
    assert "kafka-lag-template" in store.template_names()


def test_retention_needs_an_aware_time(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        sink_for(store, "opensearch").delete_expired(datetime(2026, 11, 22))


def test_backoff_grows_exponentially_capped_with_jitter():
    rng = random.Random(7)
    delays = [backoff_delay(a, 0.5, 8.0, rng) for a in range(1, 8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    assert len({round(d, 6) for d in delays[4:]}) == 3  # jittered, not in lock-step


# --------------------------------------------------------------------------- from Airflow connections


def test_from_settings_uses_the_airflow_connection(store, kind, monkeypatch):
    for key, value in store.connection_env("kafka_monitor_store", kind).items():
        monkeypatch.setenv(key, value)
    sink = SearchSink.from_settings(store_settings(kind))
    assert sink.store_name.startswith(f"{kind} store (connection 'kafka_monitor_store', http://127.0.0.1:")
    assert sink.index(lag_docs(partitions=2), refresh=True).indexed == 3
    assert count(store) == 3


def test_the_providers_still_hand_out_the_clients_the_sink_expects(store, kind, monkeypatch):
    # Pins what kafka_monitor.store.clients relies on: this fails if a provider upgrade changes
    # how its hook gives the client (ElasticsearchSQLHook().get_conn().es, OpenSearchHook().client).
    for key, value in store.connection_env("pinned_store", kind).items():
        monkeypatch.setenv(key, value)
    if kind == "elasticsearch":
        from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchSQLHook
        from elasticsearch import Elasticsearch

        assert type(ElasticsearchSQLHook(elasticsearch_conn_id="pinned_store").get_conn().es) is Elasticsearch
        client = elasticsearch_client("pinned_store")
    else:
        from airflow.providers.opensearch.hooks.opensearch import OpenSearchHook
        from opensearchpy import OpenSearch

        assert type(OpenSearchHook(open_search_conn_id="pinned_store", log_query=False).client) is OpenSearch
        client = opensearch_client("pinned_store")
    assert not client.indices.exists(index="no-such-index-here")  # a real round trip to the store


def test_a_provider_that_stops_carrying_the_client_is_named(monkeypatch):
    from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchSQLHook

    monkeypatch.setenv("AIRFLOW_CONN_PINNED_STORE", json.dumps({"conn_type": "elasticsearch", "host": "127.0.0.1"}))
    monkeypatch.setattr(ElasticsearchSQLHook, "get_conn", lambda self: object())  # what a changed provider returns
    with pytest.raises(ProviderChanged, match=r"no longer carries an elasticsearch\.Elasticsearch client as \.es"):
        SearchSink.from_settings(store_settings("elasticsearch", conn_id="pinned_store"))


def test_from_settings_names_a_missing_connection():
    with pytest.raises(ConfigError, match=r"store\.conn_id: Airflow connection 'no_such_store' is not defined"):
        SearchSink.from_settings(store_settings("opensearch", conn_id="no_such_store"))


def test_connection_credentials_never_reach_errors_or_logs(kind, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()  # nothing listens there
    conn = {"conn_type": kind, "host": "127.0.0.1", "port": port, "login": "monitor", "password": SECRET}
    if kind == "elasticsearch":
        conn["schema"] = "http"
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_STORE", json.dumps(conn))
    sink = SearchSink.from_settings(store_settings(kind, conn_id="secret_store", max_retries=1))
    with pytest.raises(StoreError) as caught:
        sink.index(lag_docs(partitions=1))
    assert f"127.0.0.1:{port}" in str(caught.value) and "cannot connect" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.__cause__)
    assert SECRET not in caplog.text


def test_es_compat_with_pins_the_media_type_for_an_8x_server(store, proxy, monkeypatch):
    # What [elasticsearch] es_compat_with = 8 does for a 9.x client talking to an 8.x server.
    monkeypatch.setenv("AIRFLOW__ELASTICSEARCH__ES_COMPAT_WITH", "8")
    for key, value in store.connection_env("kafka_monitor_store", "elasticsearch", url=proxy.url).items():
        monkeypatch.setenv(key, value)
    sink = SearchSink.from_settings(store_settings("elasticsearch"))
    assert sink.index(lag_docs(partitions=1)).indexed == 2  # PlainJsonNode still rewrites for osmem
    without_node = {**store.airflow_connection("elasticsearch", url=proxy.url), "extra": {}}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_MONITOR_STORE", json.dumps(without_node))
    proxy.seen.clear()
    plain = SearchSink.from_settings(store_settings("elasticsearch", max_retries=0))
    with pytest.raises(StoreError, match="HTTP 406"):  # osmem refuses vendor media types
        plain.index(lag_docs(partitions=1))
    sent = [s.headers["content-type"] for s in proxy.seen if "_bulk" in s.path]
    assert sent == ["application/vnd.elasticsearch+x-ndjson; compatible-with=8"]


# --------------------------------------------------------------------------- reading back


def test_search_reads_back_filtered_and_sorted_sources_across_daily_indices(store, kind):
    sink = sink_for(store, kind)
    earlier = MINUTE - timedelta(days=1)
    sink.index(lag_docs(partitions=3, minute=earlier) + lag_docs(partitions=3), refresh=True)
    query = {"bool": {"filter": [{"term": {"doc_type": "partition"}}, {"term": {"partition": 1}}]}}
    found = sink.search("kafka-lag-*", query, size=10, sort=[{"@timestamp": "asc"}])
    assert [(d["partition"], d["@timestamp"]) for d in found] == [
        (1, earlier.isoformat().replace("+00:00", "Z")),
        (1, MINUTE.isoformat().replace("+00:00", "Z")),
    ]
    # A pattern matching no index yet is an empty answer, not an error.
    assert sink.search("kafka-lag-none-*", {"match_all": {}}, size=1) == []
    with pytest.raises(ValueError, match="search size"):
        sink.search("kafka-lag-*", {"match_all": {}}, size=0)


def test_search_failing_with_503_is_retried_then_a_store_error(store, proxy, kind):
    sink = sink_for(store, kind, proxy.url, max_retries=1)
    proxy.fail_next(2, 503, body=b"upstream busy", path_contains="_search")
    with pytest.raises(StoreError, match=r"search in 'kafka-lag-\*' failed after 2 attempts: HTTP 503"):
        sink.search("kafka-lag-*", {"match_all": {}}, size=1)
    assert [s.outcome for s in proxy.seen if "_search" in s.path] == ["failed 503"] * 2
