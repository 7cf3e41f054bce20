"""One describe per (host, group) per minute, shared with the topic tasks — in process.

The group's task (``tasks.collect_group``) and the topic tasks (``tasks.collect_lag``) run here
against the real sshd, the stand-in tool on the live broker and the real store; what the DAG
carries between them through XCom is passed through a JSON round trip, as XCom stores it. The
stand-in tool counts its own runs (``invocations.log``): that count is the oracle for "one
describe per group", and the broker's own offsets the oracle for the lag.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kafka_monitor import tasks
from sandbox.mirrormaker import SEED_GROUP, SEED_TOPICS
from sandbox.search import find_documents

MINUTE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SSH_CONN = "shared_ssh"
STORE_CONN = "shared_store"


@pytest.fixture
def plan(mm_host, sshd, store, monkeypatch, tmp_path):
    monkeypatch.setenv(f"AIRFLOW_CONN_{SSH_CONN.upper()}", json.dumps(sshd.airflow_connection(SSH_CONN)))
    monkeypatch.setenv(f"AIRFLOW_CONN_{STORE_CONN.upper()}", json.dumps(store.airflow_connection("opensearch")))
    (mm_host.kafka_home / "invocations.log").unlink(missing_ok=True)

    def make(fan_out: str = "per_topic") -> list[dict]:
        import yaml

        config = {
            "store": {"kind": "opensearch", "conn_id": STORE_CONN, "initial_backoff_s": 0.05, "max_backoff_s": 0.1},
            "lag": {"fan_out": fan_out},
            "mirrormakers": [mm_host.mirrormaker_config("mm-1", SSH_CONN)],
        }
        path = tmp_path / f"{fan_out}.yaml"
        path.write_text(yaml.safe_dump(config))
        return json.loads(json.dumps(tasks.plan_lag(str(path))))

    return make


def run_group(item: dict) -> tuple[dict, dict[str, dict], Exception | None]:
    handed: dict[str, dict] = {}

    def hand_over(topic: str, payload: dict) -> None:
        handed[topic] = json.loads(json.dumps(payload))  # what XCom stores and gives back

    try:
        result = tasks.collect_group(**item, minute=MINUTE, run_id="r1", try_number=1, hand_over=hand_over)
        return result, handed, None
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return {}, handed, exc


def run_topics(groups: list[dict], handed: dict[str, dict]) -> dict[str, object]:
    items, shared = tasks.plan_topics(groups)
    shared = json.loads(json.dumps(shared))
    outcomes: dict[str, object] = {}
    for item in json.loads(json.dumps(items)):
        try:
            outcomes[item["t"]] = tasks.collect_lag(item, shared, handed.get(item["t"]), minute=MINUTE, run_id="r1")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcomes[item["t"]] = exc
    return outcomes


def statuses(store) -> dict[str, dict]:
    return {d["topic"]: d for d in find_documents(store.opensearch_client(), "kafka-monitor-status-*", {})}


def test_one_describe_serves_every_topic_and_each_task_gets_only_its_rows(plan, mm_host, store):
    groups = plan()
    assert len(groups) == 1
    result, handed, error = run_group(groups[0])
    assert error is None
    assert mm_host.describes_per_minute(SEED_GROUP) and sum(mm_host.describes_per_minute(SEED_GROUP).values()) == 1
    assert result["topics_with_rows"] == len(SEED_TOPICS) and result["partitions"] == 18 * len(SEED_TOPICS)
    # The group's own return is small, whatever the number of topics.
    assert len(json.dumps(result)) < 400
    for topic, payload in handed.items():
        assert {row["topic"] for row in payload["rows"]} == {topic}

    outcomes = run_topics(groups, handed)
    assert sum(mm_host.describes_per_minute(SEED_GROUP).values()) == 1  # the topic tasks ran none
    client = store.opensearch_client()
    for topic in SEED_TOPICS:
        assert isinstance(outcomes[topic], dict), outcomes[topic]
        docs = find_documents(client, "kafka-lag-*", {"doc_type": "partition", "topic": topic})
        assert {d["partition"]: d["lag"] for d in docs} == mm_host.truth(topic)
    assert {t: s["status"] for t, s in statuses(store).items()} == dict.fromkeys(SEED_TOPICS, "ok")


def test_a_failed_describe_gives_every_topic_its_error_status_and_a_failed_task(plan, mm_host, store):
    groups = plan()
    mm_host.set_mode("crash")  # the tool reports an exception (exit status 0)
    _, handed, error = run_group(groups[0])
    assert error is not None and "mm-1/oasis-group" in str(error) and "tool_exception" in str(error)
    assert set(handed) == set(SEED_TOPICS) and all(p["error"]["kind"] == "tool_exception" for p in handed.values())

    outcomes = run_topics(groups, handed)
    for topic in SEED_TOPICS:
        failure = outcomes[topic]
        assert isinstance(failure, Exception), topic
        assert f"mm-1/{topic}" in str(failure) and "tool_exception" in str(failure)
    assert {t: (s["status"], s["error_kind"]) for t, s in statuses(store).items()} == dict.fromkeys(
        SEED_TOPICS, ("error", "tool_exception")
    )
    # The group's task may try again at once (lag.describe_attempts, 2); the topic tasks ran none.
    assert sum(mm_host.describes_per_minute(SEED_GROUP).values()) <= 2


def test_a_group_task_that_handed_over_nothing_still_gives_each_topic_an_error_status(plan, store):
    groups = plan()
    outcomes = run_topics(groups, {})  # collect_group was killed before handing anything over
    for topic in SEED_TOPICS:
        assert "describe_missing" in str(outcomes[topic]) and f"mm-1/{topic}" in str(outcomes[topic])
    assert {s["error_kind"] for s in statuses(store).values()} == {"describe_missing"}


def test_per_group_fan_out_indexes_every_topic_from_one_describe(plan, mm_host, store):
    groups = plan("per_group")
    items, _ = tasks.plan_topics(groups)
    assert items == []  # no topic tasks
    result, handed, error = run_group(groups[0])
    assert error is None and handed == {}
    assert result["indexed"] == 19 * len(SEED_TOPICS)
    assert sum(mm_host.describes_per_minute(SEED_GROUP).values()) == 1
    assert {t: s["status"] for t, s in statuses(store).items()} == dict.fromkeys(SEED_TOPICS, "ok")


def test_the_ssh_hook_does_not_log_the_remote_table(plan, mm_host, capfd, monkeypatch):
    import logging

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    seen = Records()
    root = logging.getLogger()
    root.addHandler(seen)
    monkeypatch.setattr(root, "level", logging.DEBUG)
    try:
        groups = plan()
        run_group(groups[0])
        out, err = capfd.readouterr()
        logged = out + err + "\n".join(seen.lines)
        assert "LOG-END-OFFSET" not in logged
        assert "one describe" in logged  # the parsed summary is logged instead

        # The switch for debugging a host brings the lines back (the check above can fail).
        monkeypatch.setenv("KAFKA_MONITOR_LOG_REMOTE_LINES", "1")
        run_group(groups[0])
        out, err = capfd.readouterr()
        assert "LOG-END-OFFSET" in out + err + "\n".join(seen.lines)
    finally:
        root.removeHandler(seen)
