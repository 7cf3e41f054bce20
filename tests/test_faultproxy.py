"""The fault-injecting HTTP proxy, in front of the real search store."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from sandbox.faultproxy import FaultProxy
from sandbox.process import free_port, port_open


def call(
    url: str, method: str, path: str, body: bytes | None = None, timeout: float = 5.0, chunked: bool = False
) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if chunked:
            conn.request(method, path, body=iter([body[:7], body[7:]]), headers=headers, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def proxy(store):
    with FaultProxy(store.url) as part:
        yield part


def test_forwards_requests_unchanged_and_records_them(store, proxy):
    status, body = call(proxy.url, "PUT", "/fp-1/_doc/a?refresh=true", b'{"n": 1}')
    assert status == 201
    direct = call(store.url, "GET", "/fp-1/_doc/a")
    assert call(proxy.url, "GET", "/fp-1/_doc/a") == direct
    assert proxy.requests == [("PUT", "/fp-1/_doc/a?refresh=true"), ("GET", "/fp-1/_doc/a")]
    assert proxy.seen[0].body == b'{"n": 1}'


def test_fail_next_answers_matching_requests_locally_then_forwards(store, proxy):
    proxy.fail_next(2, 429, body=b'{"error": "slow down"}', headers={"Retry-After": "1"}, path_contains="_bulk")
    bulk = b'{"index":{"_index":"fp-2","_id":"x"}}\n{"n":1}\n'
    assert call(proxy.url, "GET", "/")[0] == 200  # not matching: forwarded, rule untouched
    assert call(proxy.url, "POST", "/_bulk", bulk) == (429, b'{"error": "slow down"}')
    assert call(proxy.url, "POST", "/_bulk", bulk)[0] == 429
    assert proxy.pending() == 0
    status, body = call(proxy.url, "POST", "/_bulk?refresh=true", bulk)
    assert status == 200 and json.loads(body)["errors"] is False
    assert [s.outcome for s in proxy.seen] == ["forwarded", "failed 429", "failed 429", "forwarded"]
    assert store.index_names() == ["fp-2"]  # only the forwarded bulk reached the store


def test_hang_next_accepts_and_never_answers(proxy):
    proxy.hang_next(1)
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        call(proxy.url, "GET", "/", timeout=0.5)
    assert time.monotonic() - started >= 0.5
    assert call(proxy.url, "GET", "/")[0] == 200  # only the next one hung
    assert [s.outcome for s in proxy.seen] == ["hung", "forwarded"]


def test_rewrite_next_edits_the_upstream_reply(proxy):
    proxy.rewrite_next(lambda body: body.replace(b"osmem", b"edited"), path_contains="/")
    first = json.loads(call(proxy.url, "GET", "/")[1])
    second = json.loads(call(proxy.url, "GET", "/")[1])
    assert first["cluster_name"] == "edited" and second["cluster_name"] == "osmem"


def test_chunked_request_bodies_are_forwarded_whole(store, proxy):
    status, _ = call(proxy.url, "PUT", "/fp-3/_doc/c?refresh=true", b'{"name": "chunked body"}', chunked=True)
    assert status == 201
    assert json.loads(call(store.url, "GET", "/fp-3/_doc/c")[1])["_source"] == {"name": "chunked body"}


def test_unreachable_upstream_is_a_502_naming_it():
    with FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy:
        status, body = call(proxy.url, "GET", "/")
    assert status == 502 and b"upstream http://127.0.0.1:" in body


def test_stop_closes_the_port_and_releases_hung_requests(store):
    proxy = FaultProxy(store.url).start()
    port = proxy.port
    proxy.hang_next(1)
    outcome: list = []

    def hung_client():
        try:
            outcome.append(call(proxy.url, "GET", "/", timeout=30))
        except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
            outcome.append(exc)

    thread = threading.Thread(target=hung_client)
    thread.start()
    while not proxy.seen:
        time.sleep(0.01)
    proxy.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], (ConnectionError, http.client.HTTPException, OSError))
    assert not port_open(port)
    assert not [t for t in threading.enumerate() if t.name == f"fault-proxy-{port}"]
