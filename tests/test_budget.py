"""The minute's time budget and the fan-out's map limit, as check-config and plan_lag apply them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from kafka_monitor.config import budget
from kafka_monitor.config.check import cli_check_config
from kafka_monitor.config.schema import parse_config

REPO = Path(__file__).resolve().parent.parent


def config(topics: int = 5, fan_out: str = "per_topic", timeouts: dict | None = None, **sections) -> dict:
    mm = {
        "name": "mm-1",
        "ssh_conn_id": "mm_ssh",
        "kafka_home": "/opt/kafka",
        "bootstrap_servers": ["kafka-1:9092"],
        "group": "oasis-group",
        "topics": [f"topic-{i}" for i in range(topics)],
    }
    if timeouts:
        mm["timeouts"] = timeouts
    return {
        "store": {"kind": "opensearch", "conn_id": "s"},
        "lag": {"fan_out": fan_out},
        "mirrormakers": [mm],
        **sections,
    }


def check(tmp_path, data: dict) -> tuple[int, str, str]:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    out, err = io.StringIO(), io.StringIO()
    code = cli_check_config(str(path), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("path", ["include/kafka_monitor.yaml", "docker/config/kafka_monitor.yaml"])
def test_the_shipped_configurations_fit_the_minute(path):
    assert budget.check_minute(parse_config(yaml.safe_load((REPO / path).read_text()))) == []


def test_the_defaults_fit_the_minute_in_both_fan_outs():
    for fan_out in ("per_topic", "per_group"):
        assert budget.check_minute(parse_config(config(fan_out=fan_out))) == []


def test_timeouts_that_cannot_fit_two_attempts_are_refused_naming_the_fields(tmp_path):
    # The seed's old numbers: 2 x (10 + 25 + 3 + 2) + 1 = 81 s of describe in a 55 s run.
    code, _, err = check(tmp_path, config(timeouts={"connect_s": 10, "command_s": 25, "kill_grace_s": 3}))
    assert code == 2
    assert "cannot run every minute" in err
    assert "mirrormakers[0] (mm-1)" in err and "81 s" in err
    assert "timeouts.command_s" in err and "lag.describe_attempts" in err


def test_a_store_too_slow_for_a_topic_task_is_refused_naming_its_fields(tmp_path):
    code, _, err = check(
        tmp_path,
        {**config(), "store": {"kind": "opensearch", "conn_id": "s", "max_retries": 3, "request_timeout_s": 5}},
    )
    assert code == 2 and "store.request_timeout_s" in err and "collect_lag" in err


def test_a_jmx_timeout_leaving_no_time_to_index_is_refused(tmp_path):
    jmx = {"timeout_s": 50, "targets": [{"name": "b1", "component": "kafka_broker", "address": "h:9999"}]}
    code, _, err = check(tmp_path, config(jmx=jmx))
    assert code == 2 and "jmx.timeout_s" in err


def test_an_admin_collection_leaving_no_time_to_index_is_refused(tmp_path):
    watch = {
        "name": "logstash-ingest",
        "kind": "admin",
        "kafka_conn_id": "k",
        "group": "logstash",
        "topics": ["topic-0"],
        "timeouts": {"request_s": 10, "total_s": 40},
    }
    code, _, err = check(tmp_path, config(consumer_groups=[watch]))
    assert code == 2 and "consumer_groups[0] (logstash-ingest): timeouts.total_s (40 s)" in err
    watch["timeouts"]["total_s"] = 30
    assert check(tmp_path, config(consumer_groups=[watch]))[0] == 0


def test_more_topics_than_airflow_can_map_are_refused_with_the_way_out(tmp_path):
    code, _, err = check(tmp_path, config(topics=budget.DEFAULT_MAX_MAP_LENGTH + 1))
    assert code == 2
    assert "max_map_length of 1024" in err and "lag.fan_out: per_group" in err
    # The way out works: the same topics in the batched fan-out pass.
    code, out, _ = check(tmp_path, config(topics=2000, fan_out="per_group"))
    assert code == 0 and "lag fan-out: per_group" in out


def test_plan_lag_refuses_what_check_config_refuses(tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from kafka_monitor import tasks

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config(topics=1100)))
    with pytest.raises(AirflowFailException, match="max_map_length"):
        tasks.plan_lag(str(path))


def test_plan_items_grow_linearly_with_the_topics(tmp_path):
    """The old plan carried the whole MirrorMaker entry (all topics) in every topic's item."""
    from kafka_monitor import tasks

    sizes = {}
    for n in (100, 400):
        path = tmp_path / f"c{n}.yaml"
        path.write_text(yaml.safe_dump(config(topics=n)))
        groups = tasks.plan_lag(str(path))
        items, shared = tasks.plan_topics(groups)
        sizes[n] = (len(yaml.safe_dump(groups)), len(yaml.safe_dump(items)), len(yaml.safe_dump(shared)))
        assert len(items) == n and all(set(i) == {"g", "t"} for i in items)
    for before, after in zip(sizes[100], sizes[400], strict=True):
        assert after < 4.5 * before  # linear (quadratic would be 16x)
