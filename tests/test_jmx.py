"""JMX snapshots (kafka_monitor.jmx.snapshot) against the test bed's real JVMs, and their documents in the
real search store: values read back as the JVM holds them, one JVM run per target, credentials
never on a command line, every fault bounded and reported with a status document."""

from __future__ import annotations

import math
import os
import socket
import stat
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fixtures.jvm import JMX_PASSWORD, JMX_USER

from kafka_monitor.config.schema import JmxSettings, JmxTarget, StoreSettings
from kafka_monitor.jmx import snapshot as jmx
from kafka_monitor.jmx.presets import parse_preset
from kafka_monitor.jmx.snapshot import JmxError, collect_and_index, jmx_documents, take_snapshot
from kafka_monitor.store.sink import SearchSink
from kafka_monitor.vocabulary import FLOW_STAGES
from sandbox.jvm import HEAP_BYTES, JmxJvm, jdk_object_name_answers
from sandbox.process import LOOPBACK, free_port

MINUTE = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
SETTINGS = JmxSettings(timeout_s=20)
MESSAGES_IN = "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec"
FETCH = "kafka.consumer:type=consumer-fetch-manager-metrics"
ARGFILE_MARK = "kafka-monitor-jmx-"
PRESETS_DIR = Path(__file__).resolve().parent.parent / "include" / "jmx_presets"


def target(address: str, component: str = "kafka_broker", name: str | None = None, **kw) -> JmxTarget:
    return JmxTarget(name=name or f"{component}-1", component=component, address=address, **kw)


def store_settings() -> StoreSettings:
    return StoreSettings(
        kind="opensearch",
        conn_id="kafka_monitor_store",
        initial_backoff_s=0.01,
        max_backoff_s=0.04,
        request_timeout_s=5,
        max_retries=2,
    )


def all_docs(store, index: str) -> list[dict]:
    store.request("POST", "/_refresh")
    reply = store.request("POST", f"/{index}/_search", {"size": 10000, "query": {"match_all": {}}})
    return [hit["_source"] | {"_id": hit["_id"]} for hit in reply["hits"]["hits"]]


def java_jmx_clients() -> dict[int, bytes]:
    """JMX client JVMs this test process started (kafka_monitor.jmx.snapshot): pid -> raw /proc/<pid>/cmdline."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if (
            parent == os.getpid()
            and os.path.basename(cmdline.split(b"\0")[0]) == b"java"
            and ARGFILE_MARK.encode() in cmdline
        ):
            found[int(entry.name)] = cmdline
    return found


def expected_values(held: dict, components) -> dict[str, dict[tuple[str, str], float]]:
    """Per component, what its default presets must read from the JVM's Kafka-like beans.

    The oracle is independent of the product: the queries are read straight from the preset
    files, and which beans a query's pattern selects is asked of the JDK's own
    ``javax.management.ObjectName.apply`` (one JVM run for all components).
    """
    defaults = yaml.safe_load((PRESETS_DIR / "_component_defaults.yaml").read_text())
    numeric = [(bean, attr, value) for (bean, attr), value in held.items() if not isinstance(value, str)]
    asked: list[tuple[str, tuple[str, str], float]] = []  # (component, (bean, attribute), value)
    requests: list[tuple[str, str, str]] = []
    for component in components:
        for preset in defaults[component]:
            for query in yaml.safe_load((PRESETS_DIR / f"{preset}.yaml").read_text())["queries"]:
                attributes = {a if isinstance(a, str) else a["name"] for a in query["attributes"]}
                for bean, attr, value in numeric:
                    if attr in attributes:
                        asked.append((component, (bean, attr), float(value)))
                        requests.append(("apply", query["bean"], bean))
    out: dict[str, dict[tuple[str, str], float]] = {component: {} for component in components}
    for (component, key, value), answer in zip(asked, jdk_object_name_answers(requests), strict=True):
        assert answer in ("true", "false"), answer
        if answer == "true":
            out[component][key] = value
    return out


class RunCounter:
    """Counts runs of the jar (each is a JVM start) while still running it for real."""

    def __init__(self, monkeypatch):
        self.runs = 0
        real = jmx.run_jar

        def counting(*args, **kwargs):
            self.runs += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(jmx, "run_jar", counting)


# --------------------------------------------------------------------------- the values


def test_every_preset_bean_is_indexed_with_the_value_the_jvm_holds(jvm, store, monkeypatch):
    # Known values set through the JVM just before the snapshot.
    jvm.set(f"{MESSAGES_IN},topic=orders", {"Count": 98765, "OneMinuteRate": 321.5})
    jvm.set(f"{FETCH},client-id=oasis-group-0,topic=payments,partition=0", {"records-lag": 4242.0})
    jvm.set("kafka.controller:type=KafkaController,name=OfflinePartitionsCount", {"Value": 3})
    jvm.retain(32 * 1024 * 1024)
    held = dict(jvm.held)
    held[(f"{MESSAGES_IN},topic=orders", "Count")] = 98765
    held[(f"{MESSAGES_IN},topic=orders", "OneMinuteRate")] = 321.5
    held[(f"{FETCH},client-id=oasis-group-0,topic=payments,partition=0", "records-lag")] = 4242.0
    held[("kafka.controller:type=KafkaController,name=OfflinePartitionsCount", "Value")] = 3

    sink = SearchSink(store.opensearch_client(), store_settings())
    runs = RunCounter(monkeypatch)
    targets = [target(jvm.address, comp, name=f"{comp}-t") for comp in FLOW_STAGES]
    expected_by_component = expected_values(held, FLOW_STAGES)
    summaries = [
        collect_and_index(
            t,
            SETTINGS,
            sink,
            status_index_prefix="kafka-monitor-status",
            jmx_index_prefix="kafka-jmx",
            minute=MINUTE,
            run_id="run-1",
        )
        for t in targets
    ]
    assert runs.runs == len(targets)  # all of a target's queries in ONE JVM run

    docs = all_docs(store, "kafka-jmx-2026.11.22")
    for t, summary in zip(targets, summaries):
        mine = [d for d in docs if d["target"] == t.name]
        assert summary["status"] == "ok" and summary["samples"] == len(mine) == summary["indexed"] - 1
        stage, order = FLOW_STAGES[t.component]
        assert {(d["component"], d["flow_stage"], d["flow_order"]) for d in mine} == {(t.component, stage, order)}
        assert {d["@timestamp"] for d in mine} == {"2026-11-22T10:15:00Z"} and {d["run_id"] for d in mine} == {"run-1"}

        # Every Kafka-like bean the presets select, with exactly the value the JVM holds.
        indexed = {
            (d["object_name"], d["attribute"]): (d["value"], d["value_text"])
            for d in mine
            if d["domain"] != "java.lang"
        }
        expected = expected_by_component[t.component]
        assert set(indexed) == set(expected), t.name
        for key, want in expected.items():
            got, text = indexed[key]
            if math.isnan(want):
                assert (got, text) == (None, "NaN"), key
            else:
                assert (got, text) == (want, None), key

        # The JVM's composite heap attribute: -Xms = -Xmx fixes committed and max; 32 MiB are held.
        heap = {d["composite_key"]: d["value"] for d in mine if d["attribute"] == "HeapMemoryUsage"}
        assert heap["max"] == heap["committed"] == HEAP_BYTES
        assert 32 * 1024 * 1024 <= heap["used"] <= HEAP_BYTES
        assert {d["metric"] for d in mine if d["attribute"] == "HeapMemoryUsage"} == {
            "HeapMemoryUsage.used",
            "HeapMemoryUsage.committed",
            "HeapMemoryUsage.max",
        }
        assert any(d["attribute"] == "CollectionCount" and d["mbean"]["type"] == "GarbageCollector" for d in mine)

    broker = [d for d in docs if d["target"] == "kafka_broker-t"]
    # Per-topic meters carry their topic as a key property.
    (orders,) = [d for d in broker if d["object_name"] == f"{MESSAGES_IN},topic=orders" and d["attribute"] == "Count"]
    assert orders["mbean"] == {"type": "BrokerTopicMetrics", "name": "MessagesInPerSec", "topic": "orders"}
    assert orders["value"] == 98765 and orders["preset"] == "kafka_broker_throughput" and orders["metric"] == "Count"
    # Real beans no preset selects stay out.
    assert not any("request=Metadata" in d["object_name"] or d["domain"] == "kafka.log" for d in docs)
    # MirrorMaker's per-partition lag; MirrorMaker 2's quoted client id, unquoted for people.
    mm = [d for d in docs if d["target"] == "mirrormaker-t" and d["attribute"] == "records-lag"]
    assert {(d["mbean"]["client-id"], d["mbean"]["topic"], d["mbean"]["partition"]) for d in mm} == {
        ("oasis-group-0", t, p) for t in ("orders", "payments") for p in ("0", "1")
    }
    assert (
        next(d["value"] for d in mm if d["mbean"]["topic"] == "payments" and d["mbean"]["partition"] == "0") == 4242.0
    )
    mm2 = [d for d in docs if d["target"] == "mirrormaker2-t" and d["domain"] == "kafka.consumer"]
    assert {d["mbean"]["client-id"] for d in mm2} == {
        "src->dst|MirrorSourceConnector-0|replication-consumer",
        "oasis-group-0",
        "logstash-0",
    }

    statuses = all_docs(store, "kafka-monitor-status-2026.11.22")
    assert sorted((s["target"], s["status"], s["row_count"]) for s in statuses) == sorted(
        (t.name, "ok", len([d for d in docs if d["target"] == t.name])) for t in targets
    )
    assert all(s["source"] == "jmx" and s["error_kind"] is None for s in statuses)

    mapping = store.request("GET", "/kafka-jmx-2026.11.22/_mapping")["kafka-jmx-2026.11.22"]["mappings"]["properties"]
    assert mapping["value"]["type"] == "double" and mapping["flow_order"]["type"] == "integer"
    assert mapping["mbean"]["properties"]["topic"]["type"] == "keyword"


def test_a_retry_in_the_same_minute_overwrites_its_documents(jvm, store):
    sink = SearchSink(store.opensearch_client(), store_settings())
    t = target(jvm.address, "jvm")
    kwargs = dict(status_index_prefix="kafka-monitor-status", jmx_index_prefix="kafka-jmx")
    first = collect_and_index(t, SETTINGS, sink, minute=MINUTE, **kwargs)
    collect_and_index(t, SETTINGS, sink, minute=MINUTE + timedelta(seconds=40), **kwargs)  # same minute
    assert len(all_docs(store, "kafka-jmx-*")) == first["samples"]
    assert len(all_docs(store, "kafka-monitor-status-*")) == 1
    collect_and_index(t, SETTINGS, sink, minute=MINUTE + timedelta(minutes=1), **kwargs)
    assert len(all_docs(store, "kafka-jmx-*")) == 2 * first["samples"]


def test_odd_names_and_values_survive_the_jar_output(jvm):
    # The jar prints bean names with only '"' escaped, text values unescaped, NaN bare.
    odd = 'kafka.test:type=Odd,client-id="a\\"b\\\\c|x->y",topic=t'
    jvm.register(
        odd,
        {
            "Nan": float("nan"),
            "Inf": float("inf"),
            "NegInf": float("-inf"),
            "Flag": True,
            "Tiny": 1e-7,
            "Big": 2**53,
            "Text": 'he said "hi" \\ }, {"mBeanName" : "x"}',
        },
    )
    jvm.composite(odd, "Usage", {"used": 5, "max": 10.5})
    preset = parse_preset(
        {
            "name": "odd",
            "components": ["jvm"],
            "queries": [
                {
                    "bean": "kafka.test:type=Odd,*",
                    "attributes": ["Nan", "Inf", "NegInf", "Flag", "Tiny", "Big", "Text", "Usage"],
                }
            ],
        },
        "odd.yaml",
    )
    try:
        snap = take_snapshot(target(jvm.address, "jvm"), SETTINGS, presets=[preset])
    finally:
        jvm.unregister(odd)

    values = {s.metric: s.value for s in snap.samples}
    assert {s.object_name for s in snap.samples} == {odd}
    assert snap.samples[0].properties == {"type": "Odd", "client-id": 'a"b\\c|x->y', "topic": "t"}
    assert math.isnan(values["Nan"]) and values["Inf"] == math.inf and values["NegInf"] == -math.inf
    assert (values["Flag"], values["Tiny"], values["Big"]) == (1.0, 1e-7, float(2**53))
    assert (values["Usage.used"], values["Usage.max"]) == (5.0, 10.5)
    assert "Text" not in values and len(snap.skipped) == 1 and "Text (String" in snap.skipped[0]

    docs = {
        d.source["metric"]: d.source
        for d in jmx_documents(
            snap.samples,
            target=target(jvm.address, "jvm"),
            index_prefix="kafka-jmx",
            minute=MINUTE,
            collected_at=MINUTE,
        )
    }
    assert (docs["Nan"]["value"], docs["Nan"]["value_text"]) == (None, "NaN")
    assert (docs["NegInf"]["value"], docs["NegInf"]["value_text"]) == (None, "-Infinity")
    assert docs["Usage.used"]["composite_key"] == "used" and docs["Usage.used"]["attribute"] == "Usage"


def test_documents_have_deterministic_ids_per_scheduled_minute(jvm):
    samples = take_snapshot(target(jvm.address, "jvm"), SETTINGS).samples
    args = dict(target=target(jvm.address, "jvm"), index_prefix="kafka-jmx", collected_at=MINUTE)
    a = jmx_documents(samples, minute=MINUTE + timedelta(seconds=5), **args)
    b = jmx_documents(samples, minute=MINUTE + timedelta(seconds=59), **args)
    c = jmx_documents(samples, minute=MINUTE + timedelta(minutes=1), **args)
    assert [d.id for d in a] == [d.id for d in b]
    assert len({d.id for d in a}) == len(a) and not {d.id for d in a} & {d.id for d in c}
    assert {d.index for d in a} == {"kafka-jmx-2026.11.22"}


# --------------------------------------------------------------------------- credentials


def test_credentials_travel_intact_through_the_argfile(auth_jvm):
    # The password holds '"', '#', "'", '\\' and '$': all must reach the JMX server unchanged.
    samples = take_snapshot(target(auth_jvm.address), SETTINGS, username=JMX_USER, password=JMX_PASSWORD).samples
    got = {(s.object_name, s.attribute): s.value for s in samples}
    assert got[(MESSAGES_IN, "Count")] == auth_jvm.held[(MESSAGES_IN, "Count")]


def test_argfile_quoting_round_trips_through_the_java_launcher(tmp_path):
    # The launcher expands the @argfile itself: a system property set in one shows what it read.
    tricky = "a\"b#c'd\\e$f g\th\u00e9\u4e2d!%^&*(){}[];:,.<>?/|~`"
    argfile = tmp_path / "args"
    argfile.write_text(
        "\n".join(jmx.quote_argfile_arg(a) for a in (f"-Dkm.check={tricky}", "-XshowSettings:properties", "-version"))
        + "\n",
        encoding="utf-8",
    )
    shown = subprocess.run([jmx.java_binary(), f"@{argfile}"], capture_output=True, text=True, timeout=60).stderr
    (line,) = [ln for ln in shown.splitlines() if ln.strip().startswith("km.check = ")]
    assert line.strip()[len("km.check = ") :] == tricky


def test_credentials_are_never_on_the_command_line(silent_server):
    secret = "Pa55-" + os.urandom(6).hex()
    result: dict = {}

    def run():
        try:
            take_snapshot(
                target(silent_server.address), JmxSettings(timeout_s=4), username="monitorRole", password=secret
            )
        except JmxError as exc:
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    seen: dict = {}
    deadline = time.monotonic() + 3
    while not seen and time.monotonic() < deadline:  # the JVM waits on the silent server meanwhile
        seen = java_jmx_clients()
        time.sleep(0.02)
    assert len(seen) == 1, "the JMX client JVM was not seen running"
    ((pid, cmdline),) = seen.items()
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    argfile = Path(next(a for a in cmdline.decode().split("\0") if a.startswith("@"))[1:])
    argfile_mode, dir_mode = stat.S_IMODE(argfile.stat().st_mode), stat.S_IMODE(argfile.parent.stat().st_mode)
    argfile_text = argfile.read_text()
    thread.join(timeout=10)

    assert secret.encode() not in cmdline and secret not in ps
    assert f"{pid} " in ps and f"@{argfile}" in ps  # what others see: java ... @<argfile>
    assert secret in argfile_text and "-p" in argfile_text  # the password went through the file,
    assert (argfile_mode, dir_mode) == (0o600, 0o700)  # readable by us alone,
    assert not argfile.parent.exists()  # and removed once the JVM exited
    assert result["error"].kind == "timeout"
    assert secret not in str(result["error"])


def test_credentials_come_from_the_airflow_connection(auth_jvm, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_JMX_LOGSTASH",
        '{"conn_type": "generic", "login": "%s", "password": %s}' % (JMX_USER, __import__("json").dumps(JMX_PASSWORD)),
    )
    t = target(auth_jvm.address, "logstash", conn_id="jmx_logstash")
    assert jmx.credentials_for(t) == (JMX_USER, JMX_PASSWORD)
    assert jmx.credentials_for(target(auth_jvm.address, "logstash")) == (None, None)

    missing = target(auth_jvm.address, "logstash", conn_id="jmx_nobody")
    with pytest.raises(JmxError) as err:
        jmx.credentials_for(missing)
    assert err.value.kind == "credentials" and "'jmx_nobody'" in str(err.value) and "logstash-1" in str(err.value)


@pytest.mark.parametrize(
    "username, password, reason",
    [
        (JMX_USER, "wrong", "Invalid username or password"),
        ("nobody", JMX_PASSWORD, "Invalid username or password"),
        (None, None, "Credentials required"),
    ],
)
def test_wrong_credentials_are_an_auth_failure(auth_jvm, username, password, reason):
    with pytest.raises(JmxError) as err:
        take_snapshot(target(auth_jvm.address), SETTINGS, username=username, password=password)
    assert err.value.kind == "auth_failed"
    assert reason in str(err.value) and "kafka_broker-1" in str(err.value)
    assert JMX_PASSWORD not in str(err.value)


# --------------------------------------------------------------------------- faults


def test_target_down_fails_before_any_jvm_starts(monkeypatch):
    runs = RunCounter(monkeypatch)
    port = free_port()
    with pytest.raises(JmxError) as err:
        take_snapshot(target(f"{LOOPBACK}:{port}"), SETTINGS)
    assert err.value.kind == "target_unreachable"
    assert f"connection refused by 127.0.0.1:{port}" in str(err.value) and "'kafka_broker-1'" in str(err.value)
    with pytest.raises(JmxError) as err:
        take_snapshot(target("no-such-host.invalid:9999"), SETTINGS)
    assert err.value.kind == "target_unreachable" and "cannot resolve host 'no-such-host.invalid'" in str(err.value)
    assert runs.runs == 0


@pytest.mark.parametrize("hang", ["silent_port", "jvm_never_answers_a_read"])
def test_a_target_that_accepts_and_never_answers_is_bounded(hang, request):
    if hang == "silent_port":
        address = request.getfixturevalue("silent_server").address
    else:
        jvm = request.getfixturevalue("jvm")
        jvm.delay_reads(120_000)  # handshake and login work; every attribute read then hangs
        address = jvm.address
    started = time.monotonic()
    with pytest.raises(JmxError) as err:
        take_snapshot(target(address), JmxSettings(timeout_s=3))
    elapsed = time.monotonic() - started
    assert err.value.kind == "timeout" and "kafka_broker-1" in str(err.value)
    assert elapsed < 3 + jmx.KILL_WAIT_S  # never longer than the budget plus the kill
    assert java_jmx_clients() == {}  # no client JVM left behind


def test_the_hard_deadline_kills_the_whole_process_group(silent_server, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the argfile folder goes
    # RMI's own timeouts far beyond the deadline: only the kill can end this run.
    url = jmx.service_url(silent_server.address)
    with pytest.raises(subprocess.TimeoutExpired):
        jmx.run_jar(
            jmx.java_binary(),
            jmx.jar_arguments(url, ["java.lang:type=Threading/ThreadCount"], "u", "p"),
            timeout_s=1.5,
            rmi_timeout_ms=600_000,
        )
    assert java_jmx_clients() == {}
    assert list(tmp_path.iterdir()) == []  # the argfile and its folder are gone


def test_a_port_that_is_not_jmx_is_reported_as_such():
    # A server that greets first (like sshd): RMI sees a non-JRMP answer at once.
    server = socket.create_server((LOOPBACK, 0))
    port = server.getsockname()[1]

    def greet():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    threading.Thread(target=greet, daemon=True).start()
    try:
        with pytest.raises(JmxError) as err:
            take_snapshot(target(f"{LOOPBACK}:{port}"), JmxSettings(timeout_s=8))
    finally:
        server.close()
    assert err.value.kind == "jmx_failed" and "not as a JMX RMI endpoint" in str(err.value)


def test_a_jvm_that_advertises_an_unreachable_address_is_explained(tmp_path):
    # The registry answers on 127.0.0.1, but its stub sends clients to 127.0.0.2 (a wrong
    # -Djava.rmi.server.hostname), where nothing listens.
    with JmxJvm(tmp_path, advertised_host="127.0.0.2", populate=False) as misconfigured:
        with pytest.raises(JmxError) as err:
            take_snapshot(target(misconfigured.address), SETTINGS)
    assert err.value.kind == "target_unreachable"
    assert "sends clients on to 127.0.0.2, which refuses" in str(err.value)
    assert "java.rmi.server.hostname" in str(err.value)


def test_a_required_bean_that_is_missing_is_reported_with_what_was_read(jvm):
    jvm.unregister("kafka.controller:type=KafkaController,name=ActiveControllerCount")
    with pytest.raises(JmxError) as err:
        take_snapshot(target(jvm.address), SETTINGS)
    assert err.value.kind == "no_beans"
    assert err.value.unmatched == [
        "kafka.controller:type=KafkaController,name=ActiveControllerCount Value (preset kafka_broker_health)"
    ]
    assert "ActiveControllerCount" in str(err.value) and "kafka_broker-1" in str(err.value)
    read = {(s.object_name, s.attribute) for s in err.value.samples}
    assert (MESSAGES_IN, "Count") in read and len(read) > 40  # everything else was read


def test_a_preset_that_matches_nothing_at_all_is_reported(jvm):
    # A "zookeeper" that has no ZooKeeper beans: the JVM basics are there, the preset is not.
    for bean in (
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181",
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181,name1=InMemoryDataTree",
    ):
        jvm.unregister(bean)
    with pytest.raises(JmxError) as err:
        take_snapshot(target(jvm.address, "zookeeper"), SETTINGS)
    assert err.value.kind == "no_beans" and err.value.unmatched == ["any bean of preset zookeeper_server"]
    assert {s.preset for s in err.value.samples} == {"jvm_basics"}

    nothing = parse_preset(
        {
            "name": "nothing",
            "components": ["jvm"],
            "queries": [{"bean": "kafka.none:type=Nope,*", "attributes": ["Value"]}],
        },
        "nothing.yaml",
    )
    with pytest.raises(JmxError) as err:
        take_snapshot(target(jvm.address, "jvm"), SETTINGS, presets=[nothing])
    assert err.value.kind == "no_beans" and err.value.samples == []
    assert "none of the 1 queries of presets nothing matched a bean" in str(err.value)


def test_no_java_on_the_worker_is_reported(jvm, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(JmxError) as err:
        take_snapshot(target(jvm.address), SETTINGS)
    assert err.value.kind == "java_missing"


def test_faulty_targets_fail_alone_and_each_leaves_a_status_document(jvm, auth_jvm, silent_server, store, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_JMX_WRONG", '{"conn_type": "generic", "login": "monitorRole", "password": "nope"}')
    for bean in (
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181",
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181,name1=InMemoryDataTree",
    ):
        jvm.unregister(bean)
    targets = [
        target(jvm.address, "kafka_broker", name="broker-ok"),
        target(f"{LOOPBACK}:{free_port()}", "kafka_broker", name="broker-down"),
        target(silent_server.address, "logstash", name="logstash-hung"),
        target(auth_jvm.address, "mirrormaker", name="mm-wrong-password", conn_id="jmx_wrong"),
        target(jvm.address, "zookeeper", name="zk-no-beans"),
        target(jvm.address, "spark_driver", name="spark-ok"),  # after every failure: still collected
    ]
    sink = SearchSink(store.opensearch_client(), store_settings())
    outcomes = {}
    for t in targets:  # as the mapped tasks do: one failing never stops the next
        try:
            outcomes[t.name] = collect_and_index(
                t,
                JmxSettings(timeout_s=3),
                sink,
                status_index_prefix="kafka-monitor-status",
                jmx_index_prefix="kafka-jmx",
                minute=MINUTE,
            )["status"]
        except JmxError as exc:
            assert t.name in str(exc)
            outcomes[t.name] = exc.kind
    assert outcomes == {
        "broker-ok": "ok",
        "broker-down": "target_unreachable",
        "logstash-hung": "timeout",
        "mm-wrong-password": "auth_failed",
        "zk-no-beans": "no_beans",
        "spark-ok": "ok",
    }

    docs = all_docs(store, "kafka-jmx-*")
    per_target = {t.name: len([d for d in docs if d["target"] == t.name]) for t in targets}
    assert per_target["broker-ok"] > 50 and per_target["spark-ok"] > 20
    assert per_target["zk-no-beans"] > 0  # its JVM basics were read, so they are kept
    assert per_target["broker-down"] == per_target["logstash-hung"] == per_target["mm-wrong-password"] == 0

    statuses = {s["target"]: s for s in all_docs(store, "kafka-monitor-status-*")}
    assert set(statuses) == set(outcomes)
    for name, outcome in outcomes.items():
        s = statuses[name]
        assert s["source"] == "jmx" and s["row_count"] == per_target[name]
        if outcome == "ok":
            assert (s["status"], s["error_kind"], s["error_message"]) == ("ok", None, None)
        else:
            assert (s["status"], s["error_kind"]) == ("error", outcome) and name in s["error_message"]
    assert "any bean of preset zookeeper_server" in statuses["zk-no-beans"]["error_message"]
