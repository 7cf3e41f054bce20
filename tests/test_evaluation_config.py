"""The ``evaluation:`` section: defaults, per-topic overrides, errors that name the field, and
the thresholds each mapped lag task receives."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kafka_monitor import tasks
from kafka_monitor.config.schema import parse_config
from kafka_monitor.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = yaml.safe_load((REPO / "include" / "kafka_monitor.yaml").read_text())


def with_evaluation(section) -> dict:
    data = copy.deepcopy(EXAMPLE)
    data["evaluation"] = section
    return data


def test_the_example_configuration_sets_defaults_and_an_override():
    config = parse_config(EXAMPLE)
    default = config.evaluation.for_topic("topic-lgs5.0-json")
    override = config.evaluation.for_topic("HEC_H_RECV_01")
    assert (default.window_minutes, default.allowed_lag, default.max_lag_seconds) == (10, 0, 300)
    assert (override.allowed_lag, override.max_lag_seconds, override.critical_lag_seconds) == (1, 300, 900)


def test_a_configuration_without_the_section_gets_the_documented_defaults():
    data = copy.deepcopy(EXAMPLE)
    del data["evaluation"]
    thresholds = parse_config(data).evaluation.for_topic("HEC_H_RECV_01")
    assert thresholds.model_dump() == {
        "window_minutes": 10,
        "allowed_lag": 0,
        "max_lag_seconds": None,
        "critical_lag_seconds": None,
    }


@pytest.mark.parametrize(
    "section,message",
    [
        ({"window_minutes": 1}, "evaluation.window_minutes: Input should be greater than or equal to 2"),
        ({"window_minutes": 61}, "evaluation.window_minutes: Input should be less than or equal to 60"),
        ({"allowed_lag": -1}, "evaluation.allowed_lag: Input should be greater than or equal to 0"),
        ({"max_lag_seconds": 0}, "evaluation.max_lag_seconds: Input should be greater than 0"),
        ({"alowed_lag": 1}, "evaluation.alowed_lag: unknown field (check the spelling)"),
        (
            {"max_lag_seconds": 600, "critical_lag_seconds": 60},
            "evaluation: critical_lag_seconds (60.0) must not be below max_lag_seconds (600.0)",
        ),
        (
            {"critical_lag_seconds": 60, "topics": {"HEC_H_RECV_01": {"max_lag_seconds": 600}}},
            "evaluation: topics.HEC_H_RECV_01: critical_lag_seconds (60.0) must not be below max_lag_seconds (600.0)",
        ),
        (
            {"topics": {"HEC_H_RECV_01": {"allowed_lag": "one"}}},
            "evaluation.topics.HEC_H_RECV_01.allowed_lag: Input should be a valid integer",
        ),
        ({"topics": {"not-mirrored": {"allowed_lag": 1}}}, "evaluation.topics: not a mirrored topic: not-mirrored"),
    ],
)
def test_bad_values_are_refused_naming_the_field(section, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(with_evaluation(section), "cfg.yaml")
    assert message in str(caught.value).replace("(top level): ", ""), str(caught.value)


def test_each_topic_task_receives_its_topics_thresholds(tmp_path):
    """The thresholds travel once in the settings every topic task shares (not per item), and
    each topic task takes its own from them."""
    from kafka_monitor.config.evaluation import EvaluationSettings

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(EXAMPLE))
    items, shared = tasks.plan_topics(tasks.plan_lag(str(path)))
    assert all(set(item) == {"g", "t"} for item in items)
    settings = EvaluationSettings.model_validate(shared["evaluation"])
    thresholds = {item["t"]: settings.for_topic(item["t"]).model_dump(mode="json") for item in items}
    assert thresholds["HEC_H_RECV_01"]["allowed_lag"] == 1
    assert thresholds["topic-lgs5.0-json"] == {
        "window_minutes": 10,
        "allowed_lag": 0,
        "max_lag_seconds": 300.0,
        "critical_lag_seconds": 900.0,
    }
