"""Loud configuration: duplicate keys, the Variable lookup, length bounds, prefix collisions."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from kafka_monitor.config.check import cli_check_config
from kafka_monitor.config.loader import resolve_config_path
from kafka_monitor.config.schema import load_config, parse_config
from kafka_monitor.datafile import parse_yaml, read_yaml
from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path

CONFIG = """\
store:
  kind: opensearch
  conn_id: kafka_monitor_store
  retention_days: 30
mirrormakers:
  - name: mm-1
    ssh_conn_id: mm_ssh
    kafka_home: /opt/kafka
    bootstrap_servers: source-kafka-1:9092
    group: oasis-group
    topics:
      - orders
      - payments
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kafka_monitor.yaml"
    path.write_text(text)
    return path


def test_the_seed_configuration_and_every_include_yaml_load_with_the_strict_loader():
    load_config(include_path("kafka_monitor.yaml"))
    for path in sorted(include_path().rglob("*.yaml")):
        read_yaml(path, "include file")


def test_a_second_topics_key_is_an_error_naming_key_and_lines(tmp_path):
    path = write(tmp_path, CONFIG + "    topics:\n      - audit\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "line 14" in message and "'topics' appears twice" in message and "first at line 11" in message
    assert str(path) in message


def test_a_second_store_key_is_an_error_instead_of_a_one_day_retention(tmp_path):
    path = write(tmp_path, CONFIG + "store:\n  kind: opensearch\n  conn_id: other\n  retention_days: 1\n")
    with pytest.raises(ConfigError, match=r"line 14: key 'store' appears twice .*first at line 1"):
        load_config(path)


def test_merge_keys_may_still_be_overridden():
    data = parse_yaml("base: &b {a: 1, b: 2}\nchild:\n  <<: *b\n  b: 3\n", "<test>")
    assert data["child"] == {"a": 1, "b": 3}


def test_duplicates_are_found_at_any_depth():
    with pytest.raises(ConfigError, match=r"line 4: key 'command_s' appears twice"):
        parse_yaml("a:\n  timeouts:\n    command_s: 10\n    command_s: 50\n", "<test>")


def test_a_200_kb_group_id_is_refused_at_load_with_a_bounded_message(tmp_path):
    path = write(tmp_path, CONFIG.replace("group: oasis-group", "group: " + "g" * 200_000))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "mirrormakers[0].group: is 200000 characters long; at most 255 are allowed" in str(caught.value)
    assert len(str(caught.value)) < 1000


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("kafka_home", "/" + "k" * 2000, 1024), ("command_config", "/" + "c" * 2000, 1024)],
)
def test_paths_are_bounded(field, value, limit):
    data = json.loads(json.dumps(parse_config_data()))
    data["mirrormakers"][0][field] = value
    with pytest.raises(
        ConfigError, match=rf"mirrormakers\[0\]\.{field}: is {len(value)} characters long; at most {limit}"
    ):
        parse_config(data, "<test>")


def parse_config_data() -> dict:
    return parse_yaml(CONFIG, "<test>")


def test_validation_messages_quoting_values_are_bounded():
    data = parse_config_data()
    data["mirrormakers"][0]["topics"] = ["\x1b[31m" + "t" * 100_000]
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "<test>")
    assert len(str(caught.value)) < 1000 and "\x1b" not in str(caught.value)


# --------------------------------------------------------------------------- the Variable


@pytest.fixture
def variable_backend(monkeypatch):
    """A real secrets backend serving the Variable kafka_monitor_config_path (it may fail)."""
    from airflow.sdk.configuration import clear_secrets_backends_cache
    from fixtures.flaky_secrets import FlakySecretsBackend

    monkeypatch.delenv("KAFKA_MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_KAFKA_MONITOR_CONFIG_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "fixtures.flaky_secrets.FlakySecretsBackend")

    def serve(variables: dict[str, str], failures: int = 0) -> None:
        monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"variables": variables}))
        clear_secrets_backends_cache()
        FlakySecretsBackend.failures_left = failures

    yield serve
    clear_secrets_backends_cache()


def test_a_set_variable_names_the_file(variable_backend, tmp_path):
    path = write(tmp_path, CONFIG)
    variable_backend({"kafka_monitor_config_path": str(path)})
    assert resolve_config_path() == path


def test_an_unset_variable_falls_back_to_the_example_file(variable_backend):
    variable_backend({})
    assert resolve_config_path() == include_path("kafka_monitor.yaml")


def test_a_failing_variable_backend_fails_plan_lag_with_the_cause(variable_backend, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from kafka_monitor import tasks

    variable_backend({"kafka_monitor_config_path": str(write(tmp_path, CONFIG))}, failures=1)
    with pytest.raises(Exception) as caught:
        tasks.plan_lag()
    message = str(caught.value)
    assert "kafka_monitor_config_path" in message and "FlakySecretsBackend" in message
    assert "secrets store did not answer" in message and "Not falling back" in message
    # A passing outage: Airflow retries the plan task (the next try finds the Variable).
    assert not isinstance(caught.value, AirflowFailException)
    (group,) = tasks.plan_lag()
    assert group["mirrormaker"]["topics"] == ["orders", "payments"]


# --------------------------------------------------------------------------- check-config


@pytest.mark.parametrize("prefix", ["logstash", "filebeat-kafka", "metrics-kafka", "logs-kafka"])
def test_check_config_warns_about_prefixes_others_write_to(tmp_path, prefix):
    path = write(tmp_path, CONFIG.replace("  retention_days: 30\n", f"  retention_days: 30\n  lag_index: {prefix}\n"))
    out, err = io.StringIO(), io.StringIO()
    assert cli_check_config(str(path), out, err) == 0
    assert f"warning: store.lag_index {prefix!r} shares the index names of" in err.getvalue()


def test_check_config_is_quiet_about_our_own_prefixes(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert cli_check_config(str(write(tmp_path, CONFIG)), out, err) == 0
    assert err.getvalue() == ""


def test_check_config_reports_a_duplicate_key(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    text = textwrap.dedent(CONFIG) + "mirrormakers: []\n"
    assert cli_check_config(str(write(tmp_path, text)), out, err) == 2
    assert "key 'mirrormakers' appears twice" in err.getvalue()


def test_a_topic_listed_twice_for_one_mirrormaker_is_refused_naming_it():
    data = parse_config_data()
    topics = data["mirrormakers"][0]["topics"]
    data["mirrormakers"][0]["topics"] = [*topics, topics[0]]
    with pytest.raises(
        ConfigError, match=rf"mirrormakers\[0\]: topics\[{len(topics)}\]: '{topics[0]}' is listed twice"
    ):
        parse_config(data, "<test>")
