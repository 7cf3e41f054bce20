"""The search-store sandbox part: osmem answering both clients the product uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from elasticsearch import ApiError, Elasticsearch

from sandbox.process import SandboxError, port_open, process_group_alive, wait_until
from sandbox.search import SearchStore

OPS = [
    {"index": {"_index": "selftest-1", "_id": "a"}},
    {"n": 1},
    {"index": {"_index": "selftest-1", "_id": "b"}},
    {"n": 2},
    {"index": {"_index": "selftest-1", "_id": "a"}},
    {"n": 3},  # same id: overwrites
]


def test_bulk_and_count_through_the_opensearch_client(opensearch_client):
    reply = opensearch_client.bulk(body=OPS, refresh=True)
    assert reply["errors"] is False
    assert [item["index"]["status"] for item in reply["items"]] == [201, 201, 200]
    assert opensearch_client.count(index="selftest-1")["count"] == 2
    assert opensearch_client.get(index="selftest-1", id="a")["_source"] == {"n": 3}


def test_bulk_and_count_through_the_es9_client(es_client):
    reply = es_client.bulk(operations=OPS, refresh=True)
    assert reply["errors"] is False
    assert es_client.count(index="selftest-1")["count"] == 2
    assert es_client.get(index="selftest-1", id="b")["_source"] == {"n": 2}


def test_es9_client_without_the_plain_json_node_is_refused(store):
    # Why PlainJsonNode exists: osmem refuses the ES 9 client's compatible-with media types.
    client = Elasticsearch(store.url, request_timeout=5)
    with pytest.raises(ApiError) as caught:
        client.index(index="selftest-1", id="x", document={"n": 1})
    assert caught.value.meta.status == 406
    assert "compatible-with=9" in str(caught.value)


@pytest.mark.parametrize("kind", ["elasticsearch", "opensearch"])
def test_airflow_connection_gives_a_working_provider_client(store, monkeypatch, kind):
    conn = store.airflow_connection(kind)
    assert json.loads(json.dumps(conn)) == conn  # it is the JSON form of AIRFLOW_CONN_*
    for key, value in store.connection_env("selftest_store", kind).items():
        monkeypatch.setenv(key, value)
    if kind == "elasticsearch":
        from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchSQLHook

        client = ElasticsearchSQLHook(elasticsearch_conn_id="selftest_store").get_conn().es
        reply = client.bulk(operations=OPS, refresh=True)
    else:
        from airflow.providers.opensearch.hooks.opensearch import OpenSearchHook

        client = OpenSearchHook(open_search_conn_id="selftest_store", log_query=False).client
        reply = client.bulk(body=OPS, refresh=True)
    assert reply["errors"] is False
    assert client.count(index="selftest-1")["count"] == 2


def test_subprocess_env_lets_a_child_process_use_the_elasticsearch_connection(store):
    # Airflow runs tasks in child processes: the connection's node_class must resolve there too.
    # (the provider hook's extras-as-kwargs path is checked in-process above; this is the child)
    conn = store.airflow_connection("elasticsearch")
    child = (
        "import json\n"
        "from elasticsearch import Elasticsearch\n"
        f"es = Elasticsearch({store.url!r}, node_class={conn['extra']['node_class']!r})\n"
        "es.index(index='selftest-3', id='c', document={'n': 1}, refresh=True)\n"
        "print(json.dumps(es.count(index='selftest-3').body))\n"
    )
    env = {**os.environ, **store.subprocess_env("elasticsearch")}
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["count"] == 1
    assert store.subprocess_env("opensearch") == {}


def test_reset_deletes_indices_and_templates(store, opensearch_client):
    opensearch_client.indices.put_index_template(
        name="selftest", body={"index_patterns": ["selftest-*"], "template": {"settings": {"number_of_shards": 1}}}
    )
    opensearch_client.index(index="selftest-2", id="1", body={"n": 1})
    assert store.index_names() == ["selftest-2"] and store.template_names() == ["selftest"]
    store.reset()
    assert store.index_names() == [] and store.template_names() == []


def test_start_and_stop_leave_no_process_and_no_port(tmp_path):
    part = SearchStore(tmp_path).start()
    pgid, port = part.process.pid, part.port
    part.ensure_alive()
    assert process_group_alive(pgid) and port_open(port)
    part.stop()
    assert not process_group_alive(pgid)
    assert not port_open(port)


def test_ensure_alive_names_the_part_when_it_died(tmp_path):
    with SearchStore(tmp_path) as part:
        os.killpg(part.process.pid, signal.SIGKILL)
        wait_until(lambda: not part.process.alive(), "osmem exit", timeout=5)
        with pytest.raises(SandboxError, match=r"osmem-server \(pid \d+, 127\.0\.0\.1:\d+\) is not running"):
            part.ensure_alive()
