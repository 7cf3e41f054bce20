"""The verdict against the sandbox, scripted over consecutive minutes.

Real parts: the tansu broker holds the topic and the group's commits, the stand-in MirrorMaker
host's ``kafka-consumer-groups.sh`` is run over the real sshd (its CONSUMER-ID column comes
from the host's ``members.json``), and the osmem store holds the documents the evaluation
reads back as its history. The scheduled ``minute`` is driven (no real waiting): each scripted
minute writes records and commits offsets on the broker, then runs the lag pipeline in process.

One topic, one partition per story (so one timeline of 13 minutes serves them all):
- p0: the consumer stops after minute 3 while records keep coming -> stall, then stop;
- p1: produced faster than consumed -> warn, lag seconds rising, ETA null;
- p2: a backlog of 60 consumed 12 a minute while 2 a minute arrive -> ETA shrinking, then ok
  (a separate partition: the ETA uses the window's rates, so a partition that has just been
  falling behind needs the whole window to show net progress);
- p3: offsets reset backwards at minute 6 -> rewind;
- p4: idle, no traffic at all -> ok (idle) every minute;
- p5: its owner leaves the group's assignment at minute 8 -> unassigned, with a lag of 2;
- minute 10: the collection fails (the tool crashes) -> the topic's verdict is unknown, and
  the minutes after judge a window with that gap.
Every verdict asserted here is read back from the store.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kafka_monitor.config.schema import MirrorMaker, StoreSettings
from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
from kafka_monitor.store.sink import SearchSink
from sandbox.faultproxy import FaultProxy
from sandbox.mirrormaker import MirrorMakerHost
from sandbox.search import find_documents

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TOPIC = "eval-flow"
GROUP = "eval-group"
PARTITIONS = 6
MINUTES = 13
FAILED_MINUTE = 10
CONN = "eval_ssh"


def settings(**overrides) -> StoreSettings:
    values = dict(
        kind="opensearch",
        conn_id="unused",
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
        max_retries=1,
        request_timeout_s=5,
    )
    return StoreSettings(**(values | overrides))


def stamp(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:00Z")


class Script:
    """What the mirror does each minute, on the real broker and in members.json."""

    def __init__(self, host: MirrorMakerHost):
        self.host = host
        self.broker = host.broker
        self.committed: dict[int, int] = {}
        self.owned = set(range(PARTITIONS))

    def write_members(self) -> None:
        member = {
            "consumer_id": f"{GROUP}-0-{uuid.uuid4()}",
            "host": "/127.0.0.1",
            "client_id": f"{GROUP}-0",
            "assignment": {TOPIC: sorted(self.owned)},
        }
        self.host.members_file.write_text(json.dumps({GROUP: [member]}))

    def commit(self, offsets: dict[int, int]) -> None:
        self.committed.update(offsets)
        self.broker.commit(GROUP, {(TOPIC, p): o for p, o in offsets.items()})

    def setup(self) -> None:
        self.broker.create_topics([TOPIC], PARTITIONS)
        self.broker.produce(TOPIC, {2: 60, 4: 3})
        self.commit({2: 0, 4: 3, 0: 0, 1: 0, 3: 0, 5: 0})
        self.write_members()

    def minute(self, m: int) -> None:
        self.broker.produce(TOPIC, {0: 5, 1: 10, 2: 2, 3: 3, 5: 2})
        ends = self.broker.end_offsets(TOPIC, range(PARTITIONS))
        commits = {1: self.committed[1] + 4, 2: min(ends[2], self.committed[2] + 12)}
        if m <= 3:
            commits[0] = ends[0]
        if m <= 5:
            commits[3] = ends[3]
        elif m == 6:
            commits[3] = 5  # reset backwards (kafka-consumer-groups --reset-offsets --to-offset 5)
        if m >= 8:
            self.owned.discard(5)
            self.write_members()
        else:
            commits[5] = ends[5]
        self.commit(commits)


@pytest.fixture(scope="module")
def timeline(tansu_broker, ssh_server, search_store, tmp_path_factory):
    """Runs the 13 minutes once; returns what the store holds afterwards."""
    tansu_broker.ensure_alive()
    ssh_server.ensure_alive()
    search_store.ensure_alive()
    search_store.reset()
    host = MirrorMakerHost(tmp_path_factory.mktemp("eval-mm"), tansu_broker, group=GROUP).install()
    host.topics = [TOPIC]
    script = Script(host)
    script.setup()
    client = search_store.opensearch_client()
    sink = SearchSink(client, settings())
    failures: dict[int, LagCollectionFailed] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(ssh_server.airflow_connection(CONN)))
        mm = MirrorMaker.model_validate(
            host.mirrormaker_config("mm-eval", CONN, connect_s=5, command_s=15, kill_grace_s=2, tool_timeout_ms=5000)
        )
        for m in range(MINUTES):
            script.minute(m)
            host.set_mode("crash" if m == FAILED_MINUTE else None)
            try:
                collect_and_index_topic(mm, TOPIC, sink, settings(), minute=T0 + timedelta(minutes=m), run_id=f"m{m}")
            except LagCollectionFailed as exc:
                failures[m] = exc
            host.set_mode(None)
    partitions = find_documents(client, "kafka-lag-*", {"doc_type": "partition", "topic": TOPIC}, size=1000)
    summaries = find_documents(client, "kafka-lag-*", {"doc_type": "topic_summary", "topic": TOPIC}, size=100)
    statuses = find_documents(client, "kafka-monitor-status-*", {"topic": TOPIC}, size=100)
    client.close()
    return {
        "failures": failures,
        "partition": {(d["@timestamp"], d["partition"]): d for d in partitions},
        "summary": {d["@timestamp"]: d for d in summaries},
        "status": {d["@timestamp"]: d for d in statuses},
    }


def column(timeline, partition: int, key: str = "status", minutes=range(MINUTES)) -> list:
    return [timeline["partition"].get((stamp(m), partition), {}).get(key) for m in minutes]


def test_only_the_scripted_failure_failed(timeline):
    assert list(timeline["failures"]) == [FAILED_MINUTE]
    assert timeline["failures"][FAILED_MINUTE].kind == "tool_exception"


def test_a_consumer_that_stops_is_stall_then_stop(timeline):
    statuses = column(timeline, 0)
    assert statuses[:4] == ["ok"] * 4
    first_stall, first_stop = statuses.index("stall"), statuses.index("stop")
    assert 4 < first_stall < first_stop  # two frozen minutes make a stall; longer than healthy, a stop
    assert set(statuses[first_stall:first_stop]) == {"stall"}
    assert set(statuses[first_stop:]) - {None} == {"stop"}
    assert statuses[FAILED_MINUTE] is None  # the failed minute has no partition documents
    seconds = [s for s in column(timeline, 0, "lag_seconds")[first_stall:] if s is not None]
    assert seconds == sorted(seconds) and seconds[-1] >= 5 * 60  # keeps growing, never frozen


def test_produced_faster_than_consumed_is_warn_with_rising_seconds_and_no_eta(timeline):
    warned = [m for m in range(2, MINUTES) if m != FAILED_MINUTE]
    assert column(timeline, 1, minutes=warned) == ["warn"] * len(warned)
    seconds = column(timeline, 1, "lag_seconds", warned)
    assert all(b > a for a, b in zip(seconds, seconds[1:]))
    assert set(column(timeline, 1, "eta_seconds", warned)) == {None}
    assert set(column(timeline, 1, "eta_reason", warned)) == {"not_catching_up"}
    produce, consume = column(timeline, 1, "produce_rate", warned), column(timeline, 1, "consume_rate", warned)
    assert all(
        p == pytest.approx(10 / 60, abs=1e-4) and c == pytest.approx(4 / 60, abs=1e-4) for p, c in zip(produce, consume)
    )


def test_catching_up_shows_a_shrinking_eta_then_ok(timeline):
    etas = column(timeline, 2, "eta_seconds", range(1, 6))
    lags = column(timeline, 2, "lag", range(0, 6))
    assert lags == [50, 40, 30, 20, 10, 0]  # independent oracle: 60 + 2m - 12(m+1)
    assert etas[:-1] == [pytest.approx(lag / (10 / 60)) for lag in lags[1:-1]]
    assert all(b < a for a, b in zip(etas[:-1], etas[1:-1]))
    assert column(timeline, 2, "status", range(1, 5)) == ["ok"] * 4
    assert column(timeline, 2, "status_reason", range(1, 5)) == ["catching_up"] * 4
    assert (column(timeline, 2, "status", [5]), etas[-1]) == (["ok"], 0)


def test_offsets_reset_backwards_are_rewind(timeline):
    assert column(timeline, 3, minutes=range(0, 6)) == ["ok"] * 6
    after = [m for m in range(6, MINUTES) if m != FAILED_MINUTE]
    assert column(timeline, 3, minutes=after) == ["rewind"] * len(after)
    assert column(timeline, 3, "current_offset", [6]) == [5]


def test_an_idle_partition_stays_ok(timeline):
    judged = [m for m in range(MINUTES) if m != FAILED_MINUTE]
    assert column(timeline, 4, minutes=judged) == ["ok"] * len(judged)
    assert set(column(timeline, 4, "status_reason", judged[1:])) == {"idle"}
    assert set(column(timeline, 4, "lag_seconds", judged)) == {0}


def test_a_partition_without_an_owner_is_unassigned_even_with_a_small_lag(timeline):
    assert column(timeline, 5, minutes=range(0, 8)) == ["ok"] * 8
    doc = timeline["partition"][(stamp(8), 5)]
    assert (doc["status"], doc["status_reason"], doc["consumer_id"], doc["lag"]) == ("unassigned", "no_owner", None, 2)
    summary = timeline["summary"][stamp(8)]
    assert summary["status"] == "unassigned" and summary["status_counts"]["unassigned"] == 1


def test_a_failed_minute_is_unknown_and_the_next_window_spans_the_gap(timeline):
    failed = timeline["summary"][stamp(FAILED_MINUTE)]
    assert (failed["status"], failed["status_reason"]) == ("unknown", "collection_failed:tool_exception")
    assert timeline["status"][stamp(FAILED_MINUTE)]["error_kind"] == "tool_exception"
    after = timeline["partition"][(stamp(FAILED_MINUTE + 1), 0)]
    # The window of minute 11 holds minutes 2-11 minus the gap: 9 samples, not a zero among them.
    assert after["window_samples"] == 9 and after["status"] == "stop"
    assert column(timeline, 4, minutes=[FAILED_MINUTE + 1]) == ["ok"]


def test_the_topic_summary_is_the_worst_partition_every_minute(timeline):
    order = ["ok", "no_offset", "warn", "unknown", "rewind", "stall", "stop", "unassigned"]
    for m in range(MINUTES):
        if m == FAILED_MINUTE:
            continue
        summary = timeline["summary"][stamp(m)]
        statuses = [timeline["partition"][(stamp(m), p)]["status"] for p in range(PARTITIONS)]
        assert summary["status"] == max(statuses, key=order.index)
        assert sum(summary["status_counts"].values()) == PARTITIONS
        seconds = [timeline["partition"][(stamp(m), p)]["lag_seconds"] for p in range(PARTITIONS)]
        assert summary["max_lag_seconds"] == max(seconds)


# --------------------------------------------------------------------------- the store failing


@pytest.fixture
def mm(mm_host, sshd, monkeypatch) -> MirrorMaker:
    monkeypatch.setenv("AIRFLOW_CONN_LAG_SSH", json.dumps(sshd.airflow_connection("lag_ssh")))
    return MirrorMaker.model_validate(
        mm_host.mirrormaker_config("mm-1", "lag_ssh", connect_s=5, command_s=15, kill_grace_s=2, tool_timeout_ms=5000)
    )


def test_a_failed_history_query_keeps_the_lag_and_fails_with_an_evaluation_error(mm, mm_host, store):
    topic = "topic-lgs5.0-json"
    with FaultProxy(store.url) as proxy:
        sink = SearchSink(store.opensearch_client(proxy.url), settings())
        sink.ensure_templates()
        proxy.fail_next(2, 503, body=b"search unavailable", path_contains="_search")
        with pytest.raises(
            LagCollectionFailed, match=r"lag indexed without a verdict: the 10-minute history"
        ) as caught:
            collect_and_index_topic(mm, topic, sink, settings(), minute=T0)
    assert caught.value.kind == "evaluation_failed" and not caught.value.retryable
    assert "HTTP 503" in str(caught.value)
    client = store.opensearch_client()
    partitions = find_documents(client, "kafka-lag-*", {"doc_type": "partition", "topic": topic})
    assert {d["partition"]: d["lag"] for d in partitions} == mm_host.truth(topic)
    assert all("status" not in d for d in partitions)  # indexed without a verdict
    (status,) = find_documents(client, "kafka-monitor-status-*", {"topic": topic})
    assert status["status"] == "ok"  # the collection itself succeeded


def test_the_history_is_one_bounded_query(mm, store):
    with FaultProxy(store.url) as proxy:
        sink = SearchSink(store.opensearch_client(proxy.url), settings())
        collect_and_index_topic(mm, "topic-lgs5.0-json", sink, settings(), minute=T0)
    (search,) = [s for s in proxy.seen if "_search" in s.path]
    # Only the day the window falls in, and at most (window - 1) x partitions documents.
    assert search.path.split("?")[0] == "/kafka-lag-2026.11.23/_search"
    body = json.loads(search.body)
    assert body["size"] == 9 * 18 and body["sort"] == [{"@timestamp": "desc"}]
    assert {"range": {"@timestamp": {"gte": "2026-11-23T08:51:00Z", "lt": "2026-11-23T09:00:00Z"}}} in body["query"][
        "bool"
    ]["filter"]
