"""The Admin-API lag collector (kafka_monitor.lag.admin), in process, against the real parts:
the sandbox's tansu broker (the seed's five topics, 18 partitions each, oasis-group lagging,
one partition per even topic never committed), the real sshd + stand-in MirrorMaker host for
the SSH side, the real store, and TCP-level faults (sandbox.tcpfault) for a broker that is
down or hangs. The oracle is the broker's own truth read independently (sandbox.mirrormaker
``truth``: the admin client of the sandbox, not the collector).

tansu's known gaps (reference: Admin API against tansu): ``describe_consumer_groups`` answers
``members=[]`` even with a live member, and the group state is never Stable. The Admin-API
rows therefore carry no consumer_id/host/client_id here and the group state differs from the
SSH stand-in's (which reads its members from a file): those columns are compared only where
the broker can answer, and ``test_members_and_state_of_a_live_group`` skips saying so.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest

from kafka_monitor import tasks
from kafka_monitor.config.schema import ConsumerGroupWatch, MirrorMaker, StoreSettings, parse_config
from kafka_monitor.errors import ConfigError
from kafka_monitor.lag.admin import collect_group
from kafka_monitor.lag.pipeline import collect_and_index_topic
from kafka_monitor.store.sink import SearchSink
from sandbox.mirrormaker import SEED_GROUP, SEED_TOPICS
from sandbox.search import find_documents
from sandbox.tcpfault import SilentServer, refused_address

MINUTE = datetime(2026, 11, 22, 11, 31, tzinfo=UTC)
STORE_CONN = "admin_test_store"
KAFKA_CONN = "admin_test_kafka"
UNCOMMITTED_TOPIC = SEED_TOPICS[0]  # partition 17 never committed (sandbox.mirrormaker.planned_backlog)
COMPARED = ("current_offset", "log_end_offset", "lag")
SECRET = "pw-S3cr3t-never-logged-7731"


def store_settings() -> dict:
    return StoreSettings(
        kind="opensearch",
        conn_id=STORE_CONN,
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
        max_retries=1,
        request_timeout_s=5,
    ).model_dump(mode="json")


@pytest.fixture
def connections(store, broker, monkeypatch):
    """The store's and the broker's Airflow connections; returns a setter for a Kafka connection."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{STORE_CONN.upper()}", json.dumps(store.airflow_connection("opensearch")))

    def kafka(conn_id: str = KAFKA_CONN, **extra) -> str:
        config = {"bootstrap.servers": broker.bootstrap, **extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kafka", "extra": config}))
        return conn_id

    kafka()
    return kafka


def watch(topics=SEED_TOPICS, group: str = SEED_GROUP, conn_id: str = KAFKA_CONN, **timeouts) -> dict:
    entry = {
        "name": "oasis-admin",
        "kind": "admin",
        "kafka_conn_id": conn_id,
        "group": group,
        "topics": list(topics),
        "timeouts": {"connect_s": 2, "request_s": 3, "total_s": 10, **timeouts},
    }
    return ConsumerGroupWatch.model_validate(entry).model_dump(mode="json")


def run_admin(topics=SEED_TOPICS, **kwargs):
    target = {"watch": watch(topics, **kwargs), "topics": list(topics)}
    return tasks.collect_admin_lag(target, store_settings(), minute=MINUTE, run_id="r-admin", try_number=1)


def lag_docs(client, **terms) -> list[dict]:
    return find_documents(client, "kafka-lag-*", terms)


def status_docs(client, **terms) -> list[dict]:
    return find_documents(client, "kafka-monitor-status-*", terms)


# --------------------------------------------------------------------------- equal to SSH and to the truth


def test_admin_documents_equal_the_ssh_documents_and_the_brokers_truth(
    mm_host, sshd, connections, opensearch_client, monkeypatch
):
    topic = UNCOMMITTED_TOPIC
    monkeypatch.setenv("AIRFLOW_CONN_ADMIN_TEST_SSH", json.dumps(sshd.airflow_connection("admin_test_ssh")))
    mm = MirrorMaker.model_validate(
        mm_host.mirrormaker_config(
            "mm-1", "admin_test_ssh", connect_s=5, command_s=15, kill_grace_s=2, tool_timeout_ms=5000
        )
    )
    settings = StoreSettings.model_validate(store_settings())
    # The same group, the same minute, both ways.
    collect_and_index_topic(mm, topic, SearchSink.from_settings(settings), settings, minute=MINUTE, run_id="r-ssh")
    returned = run_admin([topic])
    truth = mm_host.truth(topic)

    ssh = {d["partition"]: d for d in lag_docs(opensearch_client, doc_type="partition", topic=topic, source="ssh")}
    admin = {d["partition"]: d for d in lag_docs(opensearch_client, doc_type="partition", topic=topic, source="admin")}
    assert sorted(admin) == sorted(ssh) == sorted(truth) == list(range(18))
    for p in truth:
        assert {k: admin[p][k] for k in COMPARED} == {k: ssh[p][k] for k in COMPARED}, f"partition {p}"
        assert admin[p]["lag"] == truth[p]
    # The never-committed partition is "no offset", not -1001 or the whole log.
    assert truth[17] is None
    assert (admin[17]["current_offset"], admin[17]["lag"]) == (None, None) and admin[17]["log_end_offset"] > 0
    assert all(d["lag"] >= 0 for d in admin.values() if d["lag"] is not None)
    assert {(d["mirrormaker"], d["group"]) for d in admin.values()} == {("oasis-admin", SEED_GROUP)}

    (ssh_summary,) = lag_docs(opensearch_client, doc_type="topic_summary", topic=topic, source="ssh")
    (admin_summary,) = lag_docs(opensearch_client, doc_type="topic_summary", topic=topic, source="admin")
    same = ("partition_count", "partitions_without_offset", "partitions_lagging", "total_lag", "max_lag")
    assert {k: admin_summary[k] for k in same} == {k: ssh_summary[k] for k in same}
    assert admin_summary["total_lag"] == sum(v for v in truth.values() if v is not None)
    # tansu gap: no members described, so nothing is "assigned" on the Admin side.
    assert admin_summary["assigned_consumers"] == 0 and ssh_summary["assigned_consumers"] > 0
    # The stand-in host invents its owners; on the broker the group is Empty (no live member),
    # so the Admin side's verdict is the broker's own truth: nobody owns these partitions.
    assert admin_summary["status_counts"]["unassigned"] == 18
    assert {admin[p]["status"] for p in truth} == {"unassigned"}

    (status,) = status_docs(opensearch_client, mirrormaker="oasis-admin", topic=topic)
    assert (status["status"], status["row_count"], status["collector"]) == ("ok", 18, "admin")
    (outcome,) = returned["topics"]
    assert (outcome["partitions"], outcome["total_lag"]) == (18, admin_summary["total_lag"])


def test_one_batched_collection_serves_every_topic_of_the_group(mm_host, connections):
    collection = collect_group(watch(), SEED_TOPICS)
    # describe_topics, describe_consumer_groups, list_consumer_group_offsets, list_offsets:
    # committed offsets strictly before log-end offsets.
    assert collection.steps == [
        "describe_topics",
        "describe_consumer_groups",
        "list_consumer_group_offsets",
        "list_offsets",
    ]
    assert collection.requests == 4
    for topic in SEED_TOPICS:
        rows = collection.topic_rows(topic).rows
        assert {r["partition"]: r["lag"] for r in rows} == mm_host.truth(topic), topic


def test_a_partly_committed_group_reports_each_uncommitted_partition_as_without_offset(
    mm_host, broker, connections, opensearch_client
):
    topic = SEED_TOPICS[1]
    broker.commit("half-committed", {(topic, 0): 3, (topic, 5): 1})
    run_admin([topic], group="half-committed")
    (summary,) = lag_docs(opensearch_client, doc_type="topic_summary", group="half-committed")
    assert (summary["partition_count"], summary["partitions_without_offset"]) == (18, 16)
    partitions = {d["partition"]: d for d in lag_docs(opensearch_client, doc_type="partition", group="half-committed")}
    ends = broker.end_offsets(topic, range(18))
    assert partitions[0]["lag"] == ends[0] - 3 and partitions[5]["lag"] == ends[5] - 1
    assert all(
        partitions[p]["lag"] is None and partitions[p]["current_offset"] is None for p in range(18) if p not in (0, 5)
    )


# --------------------------------------------------------------------------- each failure: its kind and a status document


def failed_kind(excinfo) -> str:
    return excinfo.value.__cause__.kind


def test_an_unknown_group_is_group_not_found(mm_host, connections, opensearch_client):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="does not exist on the cluster") as caught:
        run_admin([SEED_TOPICS[0]], group="nobody-ever-used-this-group")
    assert failed_kind(caught) == "group_not_found"
    (status,) = status_docs(opensearch_client, group="nobody-ever-used-this-group")
    assert (status["status"], status["error_kind"], status["collector"]) == ("error", "group_not_found", "admin")
    # No partition document; the minute's topic summary says its verdict is unknown, and why.
    (summary,) = lag_docs(opensearch_client, group="nobody-ever-used-this-group")
    assert (summary["doc_type"], summary["status"]) == ("topic_summary", "unknown")
    assert summary["status_reason"] == "collection_failed:group_not_found"


def test_an_unknown_topic_fails_alone_and_the_known_topics_are_indexed(mm_host, connections, opensearch_client):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="1 of 3 topics") as caught:
        run_admin([SEED_TOPICS[2], "no-such-topic", SEED_TOPICS[3]])
    assert failed_kind(caught) == "topic_not_found"
    (status,) = status_docs(opensearch_client, topic="no-such-topic")
    assert (status["status"], status["error_kind"]) == ("error", "topic_not_found")
    for topic in (SEED_TOPICS[2], SEED_TOPICS[3]):
        (ok,) = status_docs(opensearch_client, topic=topic)
        assert ok["status"] == "ok"
        indexed = {d["partition"]: d["lag"] for d in lag_docs(opensearch_client, doc_type="partition", topic=topic)}
        assert indexed == mm_host.truth(topic)
    # The metadata request did not create the topic (list_topics would have, on tansu).
    assert "no-such-topic" not in mm_host.broker.admin().list_topics(timeout=5).topics


def test_a_topic_the_group_does_not_consume_is_topic_not_in_group(mm_host, broker, connections, opensearch_client):
    from airflow.sdk.exceptions import AirflowFailException

    broker.create_topics(["admin-unconsumed"], 2)
    with pytest.raises(AirflowFailException) as caught:
        run_admin(["admin-unconsumed"])
    assert failed_kind(caught) == "topic_not_in_group"
    assert "the group has: HEC_H_RECV_01" in str(caught.value)
    (status,) = status_docs(opensearch_client, topic="admin-unconsumed")
    assert status["error_kind"] == "topic_not_in_group"


@pytest.mark.parametrize("fault", ["down", "hanging"])
def test_a_broker_down_or_hanging_gives_its_kind_a_status_document_and_a_retry(fault, connections, opensearch_client):
    expected = {"down": "broker_unreachable", "hanging": "timeout"}[fault]
    with SilentServer() as silent:
        address = refused_address() if fault == "down" else silent.address
        conn = connections("admin_test_faulty", **{"bootstrap.servers": address})
        with pytest.raises(RuntimeError) as caught:  # retryable: a plain failure, not AirflowFailException
            run_admin(SEED_TOPICS[:2], conn_id=conn)
        if fault == "hanging":
            assert silent.accepted >= 1 and silent.bytes_received > 0  # it was asked and never answered
    assert failed_kind(caught) == expected
    assert address in str(caught.value)
    statuses = status_docs(opensearch_client, status="error")
    assert sorted(s["topic"] for s in statuses) == sorted(SEED_TOPICS[:2])
    assert {s["error_kind"] for s in statuses} == {expected}


def test_a_missing_kafka_connection_is_kafka_connection_invalid_and_not_retried(connections, opensearch_client):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="Kafka connection 'admin_test_nowhere' is not usable") as caught:
        run_admin(SEED_TOPICS[:1], conn_id="admin_test_nowhere")
    assert failed_kind(caught) == "kafka_connection_invalid"
    (status,) = status_docs(opensearch_client, topic=SEED_TOPICS[0])
    assert status["error_kind"] == "kafka_connection_invalid"


# --------------------------------------------------------------------------- secrets


def test_no_sasl_secret_reaches_logs_messages_status_or_xcom(mm_host, connections, opensearch_client, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    # Authentication fails (tansu refuses the mechanism): the failure path.
    conn = connections(
        "admin_test_sasl",
        **{
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "u",
            "sasl.password": SECRET,
        },
    )
    with pytest.raises(Exception) as caught:
        run_admin([SEED_TOPICS[0]], conn_id=conn)
    assert failed_kind(caught) == "auth_failed"
    # The success path with a secret in the extra (ignored under PLAINTEXT): its XCom value.
    conn = connections("admin_test_plain_with_secret", **{"sasl.password": SECRET, "sasl.username": "u"})
    returned = run_admin([SEED_TOPICS[1]], conn_id=conn)
    assert returned["topics"][0]["partitions"] == 18

    captured = capfd.readouterr()
    assert SECRET not in json.dumps(returned)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.__cause__)
    assert SECRET not in caplog.text
    assert SECRET not in captured.out + captured.err
    opensearch_client.indices.refresh(index="kafka-*")
    everything = opensearch_client.search(index="kafka-*", body={"size": 500, "query": {"match_all": {}}})
    assert everything["hits"]["hits"] and SECRET not in json.dumps(everything)


# --------------------------------------------------------------------------- tansu's gaps, stated


def test_members_and_state_of_a_live_group(broker, connections):
    """With a live member, Kafka's DescribeGroups names it (consumer_id/host/client_id, state
    Stable). tansu answers members=[] and never Stable (reference §6): skipped there."""
    from confluent_kafka import Consumer, TopicPartition

    topic = "admin-live-member"
    broker.create_topics([topic], 2)
    broker.produce(topic, {0: 3, 1: 2})
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "admin-live",
            "client.id": "live-client",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 5
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.5)
        assigned = len(consumer.assignment())
        # The live member commits where it stands, so the group has offsets to report.
        consumer.commit(offsets=[TopicPartition(topic, p, 1) for p in (0, 1)], asynchronous=False)
        collection = collect_group(watch([topic], group="admin-live"), [topic])
        if collection.members_reported == 0:
            # A group that is not Empty but lists no member cannot tell owners: the rows say so,
            # and the verdict's owner rule is skipped instead of reading "unassigned".
            assert collection.group_state not in ("Empty", "Dead")
            assert {r.get("owner_known") for r in collection.topic_rows(topic).rows} == {False}
        if collection.members_reported == 0:
            pytest.skip(
                "tansu gap: describe_consumer_groups returns members=[] with a live member "
                f"(state {collection.group_state!r}; the live consumer holds {assigned} assigned partitions), "
                "so consumer_id/host/client_id and 'unassigned' "
                "cannot be read from this broker; the rows still carry every offset and lag"
            )
        rows = collection.topic_rows(topic).rows
        assert {r["client_id"] for r in rows} == {"live-client"}
        assert all(r["consumer_id"] and r["host"] for r in rows)
        assert collection.group_state == "Stable"
    finally:
        consumer.close()


# --------------------------------------------------------------------------- configuration


def base_config(**extra) -> dict:
    return {
        "store": {"kind": "opensearch", "conn_id": "s"},
        "mirrormakers": [
            {
                "name": "mm-1",
                "ssh_conn_id": "ssh",
                "kafka_home": "/opt/kafka",
                "bootstrap_servers": "k:9092",
                "group": "oasis-group",
                "topics": ["a"],
            }
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "ssh"}, "consumer_groups[0].kind: Input should be 'admin'"),
        ({"kafka_conn_id": "bad conn"}, "consumer_groups[0].kafka_conn_id: 'bad conn' is not a valid"),
        ({"topics": ["a", "a"]}, "consumer_groups[0]: topics[1]: 'a' is listed twice"),
        ({"name": "mm-1"}, "'mm-1' is already used by another entry"),
        (
            {"timeouts": {"request_s": 20, "total_s": 10}},
            "consumer_groups[0].timeouts: request_s (20.0) must not exceed",
        ),
        (
            {"timeouts": {"total_s": 90}},
            "consumer_groups[0].timeouts.total_s: Input should be less than or equal to 55",
        ),
    ],
)
def test_consumer_group_entries_are_validated_with_the_field_named(entry, message):
    good = {"name": "logstash", "kind": "admin", "kafka_conn_id": "k", "group": "g", "topics": ["a"]}
    with pytest.raises(ConfigError) as caught:
        parse_config(base_config(consumer_groups=[{**good, **entry}]))
    assert message in str(caught.value)


def test_the_shipped_configuration_watches_the_flow_both_ways(repo_root):
    from kafka_monitor.config.schema import load_config

    config = load_config(repo_root / "include" / "kafka_monitor.yaml")
    assert config.mirrormakers[0].group == "oasis-group"
    admin_groups = {w.name: w for w in config.consumer_groups}
    assert {w.kind for w in admin_groups.values()} == {"admin"} and len(admin_groups) >= 2
    plan = tasks.plan_admin_lag(str(repo_root / "include" / "kafka_monitor.yaml"))
    labels = [tasks.admin_lag_label(p["target"]) for p in plan]
    assert len(labels) == len(set(labels)) and all(label.count("/") == 2 for label in labels)
