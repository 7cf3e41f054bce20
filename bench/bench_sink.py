"""Documents per second: the project's bulk sink versus one request per document.

The old tool sent every lag line with its own ``es.index()`` call. This starts the sandbox
search store (osmem-server), builds realistic lag documents (topics x partitions x minutes)
and indexes the same documents both ways, in the same run, through each client the product
supports, printing the rates and their ratio. Each way starts from an empty store with the
project's index templates in place; rounds alternate the two ways and the median is printed.

    .venv/bin/python bench/bench_sink.py [--docs 1500] [--rounds 3] [--chunk-size 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from kafka_monitor.config.schema import StoreSettings  # noqa: E402
from kafka_monitor.store.documents import lag_documents  # noqa: E402
from kafka_monitor.store.sink import SearchSink  # noqa: E402
from sandbox.search import SearchStore  # noqa: E402

TOPICS = [
    "topic-navilog2-post-json",
    "HEC_H_RECV_01",
    "btvplus-post-log-json",
    "topic-lgs5.0-json",
    "topic-skt-search-log-json",
]
PARTITIONS = 18  # the seed's topics: at most 18 partitions (p0..p17)


def make_docs(count: int):
    start = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    docs = []
    minute = 0
    while len(docs) < count:
        at = start + timedelta(minutes=minute)
        for topic in TOPICS:
            rows = [
                {
                    "partition": p,
                    "current_offset": 10**9 + minute * 500,
                    "log_end_offset": 10**9 + minute * 500 + p,
                    "lag": p,
                    "consumer_id": f"mm-consumer-{p % 3}",
                    "host": "/10.0.1.17",
                    "client_id": "mm",
                }
                for p in range(PARTITIONS)
            ]
            docs += lag_documents(
                index_prefix="kafka-lag",
                minute=at,
                mirrormaker="mm-ec2-1",
                group="oasis-group",
                topic=topic,
                rows=rows,
                group_state="Stable",
                collected_at=at,
                run_id="bench",
            )
        minute += 1
    return docs[:count]


def client_for(store: SearchStore, kind: str):
    return store.elasticsearch_client() if kind == "elasticsearch" else store.opensearch_client()


def per_document(client, kind: str, docs) -> int:
    """The old tool's way: one index() request per document."""
    for doc in docs:
        if kind == "elasticsearch":
            client.index(index=doc.index, id=doc.id, document=doc.source)
        else:
            client.index(index=doc.index, id=doc.id, body=doc.source)
    return len(docs)


def count(store: SearchStore) -> int:
    store.request("POST", "/_refresh")
    return store.request("GET", "/kafka-lag-*/_count")["count"]


def timed(store: SearchStore, client, settings: StoreSettings, run) -> float:
    store.reset()
    sink = SearchSink(client, settings)
    sink.ensure_templates()  # outside the timing: both ways write into templated indices
    started = time.perf_counter()
    run(sink)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()

    docs = make_docs(args.docs)
    size = sum(len(str(d.source)) for d in docs) / len(docs)
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as workdir, SearchStore(Path(workdir)) as store:
        version = store.request("GET", "/")["version"]["number"]
        print(
            f"bench_sink: {len(docs)} lag documents (~{size:.0f} B each; {len(TOPICS)} topics x {PARTITIONS} "
            f"partitions + summaries per minute) into osmem-server (OpenSearch API {version}) on 127.0.0.1; "
            f"chunk_size {args.chunk_size}; median of {args.rounds} alternating rounds"
        )
        for kind in ("elasticsearch", "opensearch"):
            client = client_for(store, kind)
            settings = StoreSettings(kind=kind, conn_id="bench", chunk_size=args.chunk_size)
            bulk_times, single_times, bulk_requests = [], [], []
            for _ in range(args.rounds):
                bulk_times.append(
                    timed(store, client, settings, lambda sink: bulk_requests.append(sink.index(docs).requests))
                )
                assert count(store) == len(docs), "bulk run lost documents"
                single_times.append(timed(store, client, settings, lambda sink: per_document(client, kind, docs)))
                assert count(store) == len(docs), "per-document run lost documents"
            bulk, single = statistics.median(bulk_times), statistics.median(single_times)
            bulk_rate, single_rate = len(docs) / bulk, len(docs) / single
            print(
                f"  {kind:13} client  SearchSink.index (bulk): {bulk_rate:10,.0f} docs/s "
                f"({bulk:.3f} s, {bulk_requests[0]} requests)"
            )
            print(
                f"  {kind:13} client  one index() per doc:    {single_rate:10,.0f} docs/s "
                f"({single:.3f} s, {len(docs)} requests)"
            )
            print(f"  {kind:13} client  ratio bulk / per-doc:   {bulk_rate / single_rate:10.1f} x")
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
