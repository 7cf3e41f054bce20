"""JMX presets (include/jmx_presets/, kafka_monitor.jmx.presets): the shipped ones load, every
ObjectName rule agrees with the JDK's own javax.management.ObjectName, and a bad preset is a
configuration error naming the file and the field, raised when the config is loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafka_monitor.config.schema import parse_config
from kafka_monitor.errors import ConfigError
from kafka_monitor.jmx import presets as jmx_presets
from kafka_monitor.jmx.object_name import check_bean_pattern, parse_object_name
from kafka_monitor.jmx.presets import load_component_defaults, load_presets, resolve_target_presets
from kafka_monitor.vocabulary import COMPONENTS
from sandbox.jvm import jdk_object_name_answers

INCLUDE = Path(__file__).resolve().parent.parent / "include"


def python_answer(text: str) -> str:
    try:
        return f"ok {str(parse_object_name(text).is_pattern).lower()}"
    except ValueError as exc:
        return f"error {exc}"


def agree(python: str, jdk: str) -> bool:
    # Same verdict; for valid names the same isPattern too. (Messages are ours, not the JDK's.)
    return python == jdk if python.startswith("ok") else jdk.startswith("error")


# --------------------------------------------------------------------------- shipped presets


def test_every_component_gets_default_presets_that_apply_to_it():
    presets = load_presets()
    defaults = load_component_defaults()
    assert set(defaults) == set(COMPONENTS)
    for component in COMPONENTS:
        resolved = resolve_target_presets(component, None)
        assert [p.name for p in resolved] == list(defaults[component])
        assert resolved[0].name == "jvm_basics"  # every part of the flow is a JVM
        assert all(component in p.components for p in resolved)
    # No shipped preset is orphaned.
    assert {name for names in defaults.values() for name in names} == set(presets)


def test_shipped_presets_cover_the_issue_beans():
    queries = {s for p in load_presets().values() for q in p.queries for s in q.query_strings()}
    for expected in (
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec/OneMinuteRate",
        "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=*/Count",
        "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions/Value",
        "kafka.controller:type=KafkaController,name=OfflinePartitionsCount/Value",
        "kafka.controller:type=KafkaController,name=ActiveControllerCount/Value",
        "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent/OneMinuteRate",
        "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent/Value",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce/99thPercentile",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*/records-lag-max",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*,topic=*,partition=*/records-lag",
        "kafka.connect.mirror:type=MirrorSourceConnector,*/record-age-ms",
        "kafka.connect.mirror:type=MirrorSourceConnector,*/replication-latency-ms",
        "org.apache.ZooKeeperService:name0=StandaloneServer_port*/AvgRequestLatency",
        "org.apache.ZooKeeperService:name0=ReplicatedServer_id*,name1=replica.*,name2=*/OutstandingRequests",
        "metrics:type=gauges,*/Value",
        "java.lang:type=Memory/HeapMemoryUsage/used",
        "java.lang:type=GarbageCollector,*/CollectionTime",
        "java.lang:type=Threading/ThreadCount",
    ):
        assert expected in queries


def test_every_shipped_bean_pattern_is_valid_for_the_jdk():
    patterns = sorted({q.bean for p in load_presets().values() for q in p.queries})
    answers = jdk_object_name_answers([("parse", b) for b in patterns])
    for bean, jdk in zip(patterns, answers):
        assert jdk.startswith("ok"), (bean, jdk)
        assert jdk == python_answer(bean), bean


# --------------------------------------------------------------------------- ObjectName vs the JDK


NAME_CASES = [
    "d:k=v",
    "d:k=v,*",
    "*:*",
    "d:*",
    "d:*,k=v",
    "d:k=v,*,j=w",
    "d:",
    "d",
    "d:k",
    "d:k=",
    "d:=v",
    "d:k=v,",
    "d:k=v,,j=w",
    "d:k=v,k=w",
    'd:k="v"',
    'd:k=""',
    'd:k="a,b"',
    'd:k="a\\"b"',
    'd:k="a\\\\b"',
    'd:k="a\\*b"',
    'd:k="a*b"',
    'd:k="unterminated',
    'd:k="a"b',
    'd:k="a\\qb"',
    "d:k=a*",
    "d:k=a?c",
    "d:k*=v",
    "d:k?=v",
    "d:k=a:b",
    "d:k=a=b",
    'd:k=a"b',
    "d:k=a b",
    "d :k=v",
    "d*:k=v",
    "d?x:k=v",
    ":k=v",
    "d:k=v,*,*",
    "d:*,*",
    "d:k=v,*,",
    "d:k=a/b",
    "d:,k=v",
    "d:k=v\n",
    "d\n:k=v",
    'd:k="a\nb"',
    'd:k=v,j="x,y",*',
    "java.lang:type=GarbageCollector,name=G1 Young Generation",
    'kafka.consumer:type=consumer-fetch-manager-metrics,client-id="src->dst|MirrorSourceConnector-0|replication-consumer"',
    "metrics:name=*",
    'd:k=*"',
    'd:k="*"',
    'd:k="\\n"',
    "d:a=1,b=2,c=3",
    "d:k= v",
    "d: k=v",
    # The JDK skips the one character after a closing quote (found by the random-text test).
    ':.k="q"a.=,*',
    'd:k="q"xa=1,*',
    'd:k="q"x*',
    'd:k="q"a=1,*',
    'd:k="q",',
    'd:k="q"*,a=1',
    'd:k="q"xk=1',
]


def test_object_name_parser_agrees_with_the_jdk():
    answers = jdk_object_name_answers([("parse", c) for c in NAME_CASES])
    disagreements = [
        (c, python_answer(c), jdk) for c, jdk in zip(NAME_CASES, answers) if not agree(python_answer(c), jdk)
    ]
    assert disagreements == []


NAME_ALPHABET = st.sampled_from(list('ab:=,"\\*? -./\n') + ["k", "v", "x=1", ",*", '"q"'])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(NAME_ALPHABET, min_size=1, max_size=12).map("".join), min_size=150, max_size=150))
def test_object_name_parser_agrees_with_the_jdk_on_random_text(texts):
    texts = [t for t in texts if "\t" not in t]
    answers = jdk_object_name_answers([("parse", t) for t in texts])
    disagreements = [(t, python_answer(t), jdk) for t, jdk in zip(texts, answers) if not agree(python_answer(t), jdk)]
    assert disagreements == []


KEYS = st.sampled_from(["type", "name", "topic", "partition", "client-id"])
PLAIN_VALUES = st.sampled_from(["orders", "o", "MessagesInPerSec", "0", "1", "a b"])
QUOTED_VALUES = st.sampled_from(['"a->b|C-0"', '"x,y"', '"q\\"x"'])


@st.composite
def name_and_pattern(draw):
    keys = draw(st.lists(KEYS, min_size=1, max_size=4, unique=True))
    values = {k: draw(st.one_of(PLAIN_VALUES, QUOTED_VALUES)) for k in keys}
    domain = draw(st.sampled_from(["kafka.server", "kafka.consumer", "metrics"]))
    name = f"{domain}:" + ",".join(f"{k}={v}" for k, v in values.items())
    # A pattern: some values wildcarded, maybe some keys dropped (with ",*"), maybe another domain.
    pattern_props = []
    for k, v in values.items():
        choice = draw(st.sampled_from(["same", "star", "prefix", "drop", "other"]))
        if choice == "same":
            pattern_props.append(f"{k}={v}")
        elif choice == "star":
            pattern_props.append(f"{k}=*")
        elif choice == "prefix" and not v.startswith('"'):
            pattern_props.append(f"{k}={v[:1]}*")
        elif choice == "other":
            pattern_props.append(f"{k}=zz")
    if draw(st.booleans()) or not pattern_props:
        pattern_props.append("*")
    pattern_props = draw(st.permutations(pattern_props))
    pattern_domain = draw(st.sampled_from([domain, "kafka.*", "*", "other"]))
    return f"{pattern_domain}:" + ",".join(pattern_props), name


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(name_and_pattern(), min_size=120, max_size=120))
def test_pattern_matching_agrees_with_the_jdk(pairs):
    answers = jdk_object_name_answers([("apply", p, n) for p, n in pairs])
    ours = [str(parse_object_name(p).matches(parse_object_name(n))).lower() for p, n in pairs]
    assert [(p, n, a) for (p, n), a, o in zip(pairs, answers, ours) if a != o] == []


MATCH_CASES = [
    (
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
    ),
    (
        "kafka.server:name=MessagesInPerSec,type=BrokerTopicMetrics",
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
    ),
    (
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=orders",
    ),
    (
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=*",
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=orders",
    ),
    (
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=*",
        "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
    ),
    ("kafka.server:type=BrokerTopicMetrics,*", "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=orders"),
    (
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*",
        'kafka.consumer:type=consumer-fetch-manager-metrics,client-id="src->dst|MirrorSourceConnector-0|replication-consumer"',
    ),
    (
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*,topic=*,partition=*",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=oasis-group-0,topic=orders",
    ),
    (
        "org.apache.ZooKeeperService:name0=StandaloneServer_port*",
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181",
    ),
    (
        "org.apache.ZooKeeperService:name0=StandaloneServer_port*",
        "org.apache.ZooKeeperService:name0=ReplicatedServer_id1",
    ),
    (
        "org.apache.ZooKeeperService:name0=ReplicatedServer_id*,name1=replica.*,name2=*",
        "org.apache.ZooKeeperService:name0=ReplicatedServer_id2,name1=replica.2,name2=Follower",
    ),
    ("metrics:type=gauges,*", "metrics:name=app-1.driver.BlockManager.memory.memUsed_MB,type=gauges"),
    ("metrics:name=*", "metrics:name=app-1.driver.BlockManager.memory.memUsed_MB,type=gauges"),
    ("metrics:name=*", "metrics:name=app-1.driver.BlockManager.memory.memUsed_MB"),
    ("kafka.*:type=Log,*", "kafka.log:type=Log,name=LogEndOffset,topic=orders,partition=0"),
    ("k?fka.log:*", "kafka.log:type=Log"),
    ('d:k="a*"', 'd:k="abc"'),
    ('d:k="a*"', "d:k=abc"),
]


def test_pattern_matching_agrees_with_the_jdk_on_the_preset_shapes():
    answers = jdk_object_name_answers([("apply", p, n) for p, n in MATCH_CASES])
    ours = [str(parse_object_name(p).matches(parse_object_name(n))).lower() for p, n in MATCH_CASES]
    assert ours == answers
    assert "true" in answers and "false" in answers


def test_unquoted_values_are_what_a_person_reads():
    name = parse_object_name('d:client-id="a\\"b\\\\c\\*|\\n",topic=orders')
    assert name.unquoted() == {"client-id": 'a"b\\c*|\n', "topic": "orders"}


@pytest.mark.parametrize(
    "bean, reason",
    [
        ('d:k="a;b"', "';'"),
        ("d:k=a/b", "quote it"),
        ("d:k=a==b", "=="),
        (":k=v", "domain"),
        ('d:k="a"xj=1', "follows a closing quote"),
    ],
)
def test_bean_patterns_jmxquery_would_cut_apart_are_refused(bean, reason):
    # Valid ObjectNames, but JMXQuery splits its argument at ';', '/' and '==' (and the JDK
    # silently skips a character after a closing quote: surely a typo in a preset).
    with pytest.raises(ValueError, match=reason):
        check_bean_pattern(bean)


def test_a_quoted_slash_is_fine():
    assert check_bean_pattern('d:k="a/b"').unquoted() == {"k": "a/b"}


# --------------------------------------------------------------------------- preset files


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    """A private copy of include/ (for KAFKA_MONITOR_INCLUDE) whose presets a test may break."""
    include = tmp_path / "include"
    shutil.copytree(INCLUDE / "jmx_presets", include / "jmx_presets")
    monkeypatch.setenv("KAFKA_MONITOR_INCLUDE", str(include))
    jmx_presets.clear_cache()
    yield include / "jmx_presets"
    jmx_presets.clear_cache()


def write_preset(directory: Path, name: str, body: dict) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    jmx_presets.clear_cache()
    return path


def config_with_target(**target) -> dict:
    return {
        "store": {"kind": "opensearch", "conn_id": "store"},
        "mirrormakers": [
            {
                "name": "mm",
                "ssh_conn_id": "ssh",
                "kafka_home": "/opt/kafka",
                "bootstrap_servers": "k:9092",
                "group": "g",
                "topics": ["t"],
            }
        ],
        "jmx": {"targets": [{"name": "b1", "component": "kafka_broker", "address": "k:9999", **target}]},
    }


GOOD_QUERY = {"bean": "kafka.server:type=X", "attributes": ["Value"]}


@pytest.mark.parametrize(
    "body, message",
    [
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [{"bean": "kafka.server:type", "attributes": ["Value"]}],
            },
            r"custom\.yaml: queries\[0\]\.bean: 'kafka.server:type' is not a valid ObjectName pattern: key property 'type' has no '='",
        ),
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [GOOD_QUERY, {"bean": 'kafka.server:k="open', "attributes": ["V"]}],
            },
            r"queries\[1\]\.bean: .* has no closing quote",
        ),
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [{"bean": "kafka.server:type=X,type=Y", "attributes": ["V"]}],
            },
            r"key 'type' appears twice",
        ),
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [{"bean": "kafka.server:type=X", "attributes": ["a/b"]}],
            },
            r"queries\[0\]\.attributes\[0\]: 'a/b' is not a usable attribute name",
        ),
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [{"bean": "kafka.server:type=X", "attributes": []}],
            },
            r"queries\[0\]\.attributes: must be a non-empty list",
        ),
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [{"bean": "kafka.server:type=X", "attributes": ["*"]}],
            },
            r"'\*' is not a usable attribute name",
        ),
        (
            {"name": "custom", "components": ["kafka_broker"], "queries": [{**GOOD_QUERY, "optinal": True}]},
            r"queries\[0\]: unknown field\(s\) optinal",
        ),
        (
            {"name": "custom", "components": ["broker"], "queries": [GOOD_QUERY]},
            r"components\[0\]: 'broker' is not one of",
        ),
        (
            {"name": "other_name", "components": ["kafka_broker"], "queries": [GOOD_QUERY]},
            r"name: 'other_name' differs from the file name \('custom'\)",
        ),
        (
            {
                "name": "custom",
                "components": ["kafka_broker"],
                "queries": [
                    {
                        "bean": "java.lang:type=Memory",
                        "attributes": [{"name": "HeapMemoryUsage", "keys": ["used", "used"]}],
                    }
                ],
            },
            r"attributes\[0\]\.keys: a key is listed twice",
        ),
    ],
)
def test_a_bad_preset_is_a_config_error_naming_file_and_field(preset_dir, body, message):
    write_preset(preset_dir, "custom", body)
    with pytest.raises(ConfigError, match=message):
        parse_config(config_with_target(presets=["jvm_basics"]), "test.yaml")


def test_a_malformed_pattern_fails_the_config_load_not_the_snapshot(preset_dir):
    write_preset(
        preset_dir,
        "broker_extra",
        {
            "name": "broker_extra",
            "components": ["kafka_broker"],
            "queries": [
                {"bean": "kafka.server:type=BrokerTopicMetrics,name=Messages:InPerSec", "attributes": ["Count"]}
            ],
        },
    )
    with pytest.raises(ConfigError) as err:
        parse_config(config_with_target(presets=["broker_extra"]), "monitor.yaml")
    text = str(err.value)
    assert "monitor.yaml" in text and "jmx.targets[0].presets" in text
    assert "broker_extra.yaml: queries[0].bean" in text and "contains ':': quote it" in text


@pytest.mark.parametrize(
    "presets, message",
    [
        (
            ["no_such_preset"],
            r"jmx\.targets\[0\]\.presets: presets\[0\]: unknown JMX preset 'no_such_preset' \(known: jvm_basics, ",
        ),
        (
            ["jvm_basics", "spark_metrics"],
            r"presets\[1\]: preset 'spark_metrics' is for spark_driver, spark_executor, not kafka_broker",
        ),
        (["jvm_basics", "jvm_basics"], r"preset 'jvm_basics' is listed twice"),
        ([], r"the list is empty"),
    ],
)
def test_target_presets_are_checked_at_load(presets, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(config_with_target(presets=presets), "monitor.yaml")


def test_named_presets_replace_the_defaults():
    config = parse_config(config_with_target(presets=["kafka_broker_health"]), "monitor.yaml")
    target = config.jmx.targets[0]
    assert [p.name for p in resolve_target_presets(target.component, target.presets)] == ["kafka_broker_health"]


def test_defaults_file_naming_an_unknown_preset_is_an_error(preset_dir):
    defaults = yaml.safe_load((preset_dir / "_component_defaults.yaml").read_text())
    defaults["zookeeper"] = ["jvm_basics", "zookeeper_srv"]
    (preset_dir / "_component_defaults.yaml").write_text(yaml.safe_dump(defaults))
    jmx_presets.clear_cache()
    with pytest.raises(
        ConfigError, match=r"_component_defaults\.yaml: zookeeper\[1\]: unknown JMX preset 'zookeeper_srv'"
    ):
        resolve_target_presets("zookeeper", None)


def test_a_user_preset_in_include_is_picked_up(preset_dir):
    write_preset(
        preset_dir,
        "broker_log_end",
        {
            "name": "broker_log_end",
            "description": "log end offsets",
            "components": ["kafka_broker"],
            "queries": [
                {
                    "bean": "kafka.log:type=Log,name=LogEndOffset,topic=*,partition=*",
                    "attributes": ["Value"],
                    "optional": True,
                }
            ],
        },
    )
    (preset,) = resolve_target_presets("kafka_broker", ["broker_log_end"])
    assert preset.all_optional
    assert preset.queries[0].query_strings() == ["kafka.log:type=Log,name=LogEndOffset,topic=*,partition=*/Value"]


def test_composite_keys_become_one_query_each():
    memory = next(q for q in load_presets()["jvm_basics"].queries if q.bean == "java.lang:type=Memory")
    assert memory.query_strings() == [
        "java.lang:type=Memory/HeapMemoryUsage/used",
        "java.lang:type=Memory/HeapMemoryUsage/committed",
        "java.lang:type=Memory/HeapMemoryUsage/max",
        "java.lang:type=Memory/NonHeapMemoryUsage/used",
        "java.lang:type=Memory/NonHeapMemoryUsage/committed",
    ]


def test_a_preset_file_that_is_not_yaml_names_the_file_line_and_column(preset_dir):
    (preset_dir / "broken.yaml").write_text("name: broken\nqueries: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_presets()
    # PyYAML's own mark for this text: the flow sequence is still open at the end (line 3, column 1).
    assert str(err.value).startswith(
        f"JMX preset file {preset_dir / 'broken.yaml'} is not valid YAML at line 3, column 1: "
    )


def test_an_unreadable_preset_file_is_named(preset_dir):
    (preset_dir / "gone.yaml").symlink_to(preset_dir / "no-such-target.yaml")
    with pytest.raises(ConfigError, match=r"cannot read JMX preset file .*gone\.yaml: No such file or directory"):
        load_presets()
