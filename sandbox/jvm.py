"""A real JVM exposing MBeans named like Kafka's (and ZooKeeper's, MirrorMaker's, Spark's) over
remote JMX on 127.0.0.1, with values a test sets and then reads back through JMX.

The Java side (``sandbox/java/KafkaLikeMBeans.java``) is compiled with ``javac`` into a temp
folder the first time a JVM is started in this process. Values are set through a small line
protocol on a loopback control port (see the Java file), so the test knows exactly what the
JVM holds when the snapshot reads it.

Also here: ``SilentServer``, a real socket server that accepts connections and never answers
(the "target that accepts and never answers" fault).
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka_monitor.vocabulary import COMPONENTS
from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, port_open, wait_until

JAVA_DIR = Path(__file__).resolve().parent / "java"
MAIN_CLASS = "KafkaLikeMBeans"
HEAP_BYTES = 128 * 1024 * 1024  # -Xms = -Xmx, so HeapMemoryUsage init = committed = max = this
CONTROL_TIMEOUT_S = 10.0
# The parts of the flow the sandbox JVM stands in for: every component the monitor knows.
FLOW_COMPONENTS = COMPONENTS

_compiled: dict[str, Path] = {}
_compile_lock = threading.Lock()


def compile_java() -> Path:
    """Compile ``sandbox/java/*.java`` once per process (and per source version); the class dir."""
    sources = sorted(JAVA_DIR.glob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    with _compile_lock:
        if digest in _compiled and (_compiled[digest] / f"{MAIN_CLASS}.class").exists():
            return _compiled[digest]
        javac = shutil.which("javac")
        if javac is None:
            raise SandboxError("jvm: javac is not installed (a JDK 17 is needed for the JMX test JVM)")
        out = Path(tempfile.mkdtemp(prefix="kafka-monitor-jvm-classes-"))
        atexit.register(shutil.rmtree, out, True)
        result = subprocess.run(
            [javac, "-encoding", "UTF-8", "-d", str(out), *map(str, sources)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise SandboxError(f"jvm: javac failed:\n{result.stdout}{result.stderr}")
        _compiled[digest] = out
        return out


def format_value(value: Any) -> str:
    """A value in the control protocol: long, double, true/false, or s:text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        if "\t" in value or "\n" in value:
            raise ValueError(f"a text value cannot hold tabs or newlines: {value!r}")
        return f"s:{value}"
    raise TypeError(f"unsupported attribute value {value!r}")


class JmxJvm:
    """``with JmxJvm(workdir) as jvm: jvm.address`` -> ``127.0.0.1:<port>`` (an RMI registry).

    On start it registers ``kafka_flow_beans()`` (``populate=False``: none). ``auth=(user,
    password)`` turns on JMX password authentication (read-only role); JMX's password file
    splits at whitespace, so the password cannot hold spaces.
    """

    name = "jmx jvm"

    def __init__(
        self,
        workdir: Path,
        *,
        auth: tuple[str, str] | None = None,
        port: int | None = None,
        populate: bool = True,
        advertised_host: str = LOOPBACK,
    ):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.control_port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self.url = f"service:jmx:rmi:///jndi/rmi://{self.address}/jmxrmi"
        self.auth = auth
        self.populate_on_start = populate
        # What the RMI stub tells clients to connect to (java.rmi.server.hostname); another
        # address reproduces the classic "registry answers, then connection refused" setup.
        self.advertised_host = advertised_host
        self._control: socket.socket | None = None
        self._control_file = None
        self._lock = threading.Lock()
        self.process: ManagedProcess | None = None
        # What the test bed last registered: {(object_name, attribute): value}.
        self.held: dict[tuple[str, str], Any] = {}

    # -- lifetime
    def _argv(self, classes: Path) -> list[str]:
        props = {
            "com.sun.management.jmxremote.port": self.port,
            "com.sun.management.jmxremote.rmi.port": self.port,  # one port: registry and server
            "com.sun.management.jmxremote.host": LOOPBACK,
            "com.sun.management.jmxremote.local.only": "true",
            "java.rmi.server.hostname": self.advertised_host,
            "com.sun.management.jmxremote.ssl": "false",
            "com.sun.management.jmxremote.authenticate": "true" if self.auth else "false",
        }
        if self.auth:
            user, password = self.auth
            if any(c.isspace() for c in user + password):
                raise SandboxError(f"{self.name}: JMX user and password cannot hold whitespace")
            pw_file = self.workdir / f"jmxremote-{self.port}.password"
            access_file = self.workdir / f"jmxremote-{self.port}.access"
            for path, text in ((pw_file, f"{user} {password}\n"), (access_file, f"{user} readonly\n")):
                path.write_text(text, encoding="utf-8")
                path.chmod(0o600)  # the JMX agent refuses a password file others can read
            props["com.sun.management.jmxremote.password.file"] = pw_file
            props["com.sun.management.jmxremote.access.file"] = access_file
        return [
            "java",
            f"-Xms{HEAP_BYTES}",
            f"-Xmx{HEAP_BYTES}",
            "-XX:+UseG1GC",
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            *(f"-D{k}={v}" for k, v in props.items()),
            "-cp",
            str(classes),
            MAIN_CLASS,
            str(self.control_port),
        ]

    def start(self) -> JmxJvm:
        self.workdir.mkdir(parents=True, exist_ok=True)
        classes = compile_java()
        self.process = ManagedProcess(self.name, self._argv(classes), log=self.workdir / f"jvm-{self.port}.log")
        self.process.start()
        try:
            wait_until(
                lambda: port_open(self.port) and port_open(self.control_port) and self._ping(),
                f"{self.name} on {self.address}",
                timeout=30,
                proc=self.process.proc,
                log=self.process.log,
            )
            if self.populate_on_start:
                self.populate(kafka_flow_beans())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._disconnect()
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> JmxJvm:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def ensure_alive(self) -> None:
        where = f"{self.name} (pid {self.pid}, {self.address})"
        if self.process is None or not self.process.alive():
            raise SandboxError(f"{where} is not running")
        if not port_open(self.port):
            raise SandboxError(f"{where} does not accept JMX connections")
        try:
            self.command("ping")
        except SandboxError as exc:
            raise SandboxError(f"{where} does not answer its control port: {exc}") from None

    def jmx_targets(self, components: Iterable[str] = FLOW_COMPONENTS, conn_id: str | None = None) -> list[dict]:
        """``jmx.targets`` entries of the monitor's configuration, one per component, all on this JVM
        (it holds the beans of every part of the flow)."""
        targets = []
        for component in components:
            target: dict[str, Any] = {
                "name": f"sandbox-{component.replace('_', '-')}",
                "component": component,
                "address": self.address,
            }
            if conn_id:
                target["conn_id"] = conn_id
            targets.append(target)
        return targets

    # -- control protocol
    def _ping(self) -> bool:
        return self.command("ping") == "ok"

    def _disconnect(self) -> None:
        if self._control is not None:
            try:
                self._control.close()
            except OSError:
                pass
        self._control = None
        self._control_file = None

    def command(self, *fields: str) -> str:
        """Send one command; return the "ok ..." reply; raise SandboxError on "error ..."."""
        line = "\t".join(fields)
        if "\n" in line:
            raise ValueError("a command cannot hold a newline")
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._control is None:
                        self._control = socket.create_connection(
                            (LOOPBACK, self.control_port), timeout=CONTROL_TIMEOUT_S
                        )
                        self._control_file = self._control.makefile("rw", encoding="utf-8", newline="\n")
                    self._control_file.write(line + "\n")
                    self._control_file.flush()
                    reply = self._control_file.readline().rstrip("\n")
                    if not reply:
                        raise OSError("connection closed")
                    break
                except OSError as exc:
                    self._disconnect()
                    if attempt == 2:
                        raise SandboxError(f"{self.name}: control command {fields[0]!r} failed: {exc}") from exc
        if reply.startswith("error"):
            raise SandboxError(f"{self.name}: {fields[0]} {' '.join(fields[1:2])}: {reply}")
        return reply

    def register(self, object_name: str, attributes: Mapping[str, Any]) -> None:
        self.command("register", object_name, *(f"{k}={format_value(v)}" for k, v in attributes.items()))

    def set(self, object_name: str, attributes: Mapping[str, Any]) -> None:
        self.command("set", object_name, *(f"{k}={format_value(v)}" for k, v in attributes.items()))

    def composite(self, object_name: str, attribute: str, items: Mapping[str, Any]) -> None:
        self.command("composite", object_name, attribute, *(f"{k}={format_value(v)}" for k, v in items.items()))

    def unregister(self, object_name: str) -> None:
        self.command("unregister", object_name)

    def delay_reads(self, millis: int) -> None:
        """Every attribute read of our beans sleeps this long (0: none)."""
        self.command("delay", str(int(millis)))

    def retain(self, size: int) -> None:
        self.command("retain", str(int(size)))

    def release(self) -> None:
        self.command("release")

    def heap(self) -> dict[str, int]:
        reply = self.command("heap")
        return {k: int(v) for k, v in (part.split("=") for part in reply.split()[1:])}

    def populate(self, beans: Iterable[Bean]) -> dict[tuple[str, str], Any]:
        """Register every bean; return (and keep in ``held``) {(object_name, attribute): value}."""
        held: dict[tuple[str, str], Any] = {}
        for bean in beans:
            self.register(bean.name, bean.attributes)
            for attr, value in bean.attributes.items():
                held[(bean.name, attr)] = value
        self.held = held
        return held


def jdk_object_name_answers(requests: Iterable[tuple[str, ...]]) -> list[str]:
    """Ask the JDK's own ``javax.management.ObjectName`` (one short JVM run, see ObjectNameCheck).

    Each request is ``("parse", name)`` -> "ok <isPattern>" | "error <why>", or
    ``("apply", pattern, name)`` -> "true" | "false" | "error <why>".
    """
    lines = []
    for req in requests:
        if any("\t" in part or "\x01" in part for part in req):
            raise ValueError(f"cannot send {req!r} to the checker (tab or \\x01)")
        lines.append("\t".join(part.replace("\n", "\x01n") for part in req))
    result = subprocess.run(
        ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", str(compile_java()), "ObjectNameCheck"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = result.stdout.splitlines()
    if result.returncode != 0 or len(answers) != len(lines):
        raise SandboxError(f"jvm: ObjectNameCheck failed ({result.returncode}): {result.stderr[-2000:]}")
    return answers


# --------------------------------------------------------------------------- the Kafka-like beans


@dataclass(frozen=True)
class Bean:
    name: str
    attributes: dict[str, Any] = field(hash=False)


METER = ("Count", "MeanRate", "OneMinuteRate", "FiveMinuteRate", "FifteenMinuteRate")
HISTOGRAM = (
    "Count",
    "Min",
    "Max",
    "Mean",
    "StdDev",
    "50thPercentile",
    "75thPercentile",
    "95thPercentile",
    "98thPercentile",
    "99thPercentile",
    "999thPercentile",
)


class _Values:
    """Distinct, exactly representable values, so a value read back identifies its attribute."""

    def __init__(self) -> None:
        self.n = 0

    def long(self) -> int:
        self.n += 1
        return 1000 * self.n + 7

    def double(self) -> float:
        self.n += 1
        return self.n + 0.125

    def meter(self, event: str = "messages") -> dict[str, Any]:
        values: dict[str, Any] = {"Count": self.long()}
        values.update({a: self.double() for a in METER[1:]})
        values.update({"RateUnit": "SECONDS", "EventType": event})
        return values

    def gauge(self) -> dict[str, Any]:
        return {"Value": self.long()}

    def histogram(self) -> dict[str, Any]:
        values: dict[str, Any] = {"Count": self.long()}
        values.update({a: self.double() for a in HISTOGRAM[1:]})
        return values


def kafka_flow_beans(
    topics: Iterable[str] = ("orders", "payments"),
    partitions: int = 2,
    group: str = "oasis-group",
    app_id: str = "app-20261122101500-0001",
) -> list[Bean]:
    """Beans named exactly like the real ones of each part of the flow, with distinct values.

    Broker (with per-topic meters), ZooKeeper (standalone), MirrorMaker 1's consumer (client and
    per-partition lag; one partition's records-lag-max is NaN, as Kafka reports before data),
    MirrorMaker 2 (quoted client id), Logstash's consumer and Spark 3's JmxSink, plus a few
    real beans no preset asks for (they must not be indexed).
    """
    v = _Values()
    topics = list(topics)
    beans: list[Bean] = []
    add = lambda name, attrs: beans.append(Bean(name, attrs))  # noqa: E731

    # Broker
    for metric, event in (("MessagesInPerSec", "messages"), ("BytesInPerSec", "bytes"), ("BytesOutPerSec", "bytes")):
        add(f"kafka.server:type=BrokerTopicMetrics,name={metric}", v.meter(event))
        for topic in topics:
            add(f"kafka.server:type=BrokerTopicMetrics,name={metric},topic={topic}", v.meter(event))
    for gauge in ("UnderReplicatedPartitions", "UnderMinIsrPartitionCount", "PartitionCount", "LeaderCount"):
        add(f"kafka.server:type=ReplicaManager,name={gauge}", v.gauge())
    for meter in ("IsrShrinksPerSec", "IsrExpandsPerSec"):
        add(f"kafka.server:type=ReplicaManager,name={meter}", v.meter("shrinks" if "Shrink" in meter else "expands"))
    add("kafka.controller:type=KafkaController,name=ActiveControllerCount", {"Value": 1})
    add("kafka.controller:type=KafkaController,name=OfflinePartitionsCount", v.gauge())
    idle = v.meter("percent")
    idle["OneMinuteRate"] = 0.875  # an idle ratio, 0-1
    add("kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent", idle)
    add("kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent", {"Value": 0.9375})
    for request in ("Produce", "FetchConsumer", "FetchFollower"):
        add(f"kafka.network:type=RequestMetrics,name=TotalTimeMs,request={request}", v.histogram())
    add("kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica", v.gauge())
    # Real names no preset selects.
    add("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Metadata", v.histogram())
    add("kafka.server:type=BrokerTopicMetrics,name=TotalProduceRequestsPerSec", v.meter("requests"))
    for topic in topics:
        for p in range(partitions):
            add(f"kafka.log:type=Log,name=LogEndOffset,topic={topic},partition={p}", v.gauge())

    # ZooKeeper, standalone on 2181
    add(
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181",
        {
            "AvgRequestLatency": v.long(),
            "MaxRequestLatency": v.long(),
            "MinRequestLatency": v.long(),
            "OutstandingRequests": v.long(),
            "NumAliveConnections": v.long(),
            "PacketsReceived": v.long(),
            "PacketsSent": v.long(),
            "Version": "3.8.4",
            "ClientPort": "0.0.0.0:2181",
        },
    )
    add(
        "org.apache.ZooKeeperService:name0=StandaloneServer_port2181,name1=InMemoryDataTree",
        {"NodeCount": v.long(), "WatchCount": v.long()},
    )

    # MirrorMaker 1: client ids <group>-<n>
    client = f"{group}-0"
    fetch = "kafka.consumer:type=consumer-fetch-manager-metrics"
    add(
        f"{fetch},client-id={client}",
        {
            "records-lag-max": v.double(),
            "records-lead-min": v.double(),
            "records-consumed-rate": v.double(),
            "bytes-consumed-rate": v.double(),
            "fetch-rate": v.double(),
        },
    )
    for topic in topics:
        add(
            f"{fetch},client-id={client},topic={topic}",
            {"records-consumed-rate": v.double(), "bytes-consumed-rate": v.double()},
        )
        for p in range(partitions):
            add(
                f"{fetch},client-id={client},topic={topic},partition={p}",
                {
                    "records-lag": v.double(),
                    "records-lag-avg": v.double(),
                    "records-lag-max": v.double(),
                    "records-lead": v.double(),
                },
            )
    if topics and partitions > 1:
        beans[-1].attributes["records-lag-max"] = float("nan")
    add("kafka.tools:type=MirrorMaker,name=MirrorMaker-numDroppedMessages", v.gauge())

    # MirrorMaker 2
    for topic in topics:
        for p in range(partitions):
            add(
                f"kafka.connect.mirror:type=MirrorSourceConnector,source=src,target=dst,topic=src.{topic},partition={p}",
                {
                    a: v.double()
                    for a in (
                        "record-count",
                        "record-rate",
                        "record-age-ms",
                        "record-age-ms-min",
                        "record-age-ms-max",
                        "record-age-ms-avg",
                        "replication-latency-ms",
                        "replication-latency-ms-min",
                        "replication-latency-ms-max",
                        "replication-latency-ms-avg",
                        "byte-count",
                        "byte-rate",
                    )
                },
            )
    add(
        f"kafka.connect.mirror:type=MirrorCheckpointConnector,source=src,target=dst,group={group},topic=src.{topics[0]},partition=0",
        {
            "checkpoint-latency-ms": v.double(),
            "checkpoint-latency-ms-max": v.double(),
            "checkpoint-latency-ms-min": v.double(),
            "checkpoint-latency-ms-avg": v.double(),
        },
    )
    add(
        "kafka.connect:type=source-task-metrics,connector=MirrorSourceConnector,task=0",
        {
            "source-record-poll-rate": v.double(),
            "source-record-write-rate": v.double(),
            "source-record-active-count": v.double(),
            "poll-batch-avg-time-ms": v.double(),
        },
    )
    add(
        f'{fetch},client-id="src->dst|MirrorSourceConnector-0|replication-consumer"',
        {"records-lag-max": v.double(), "records-consumed-rate": v.double()},
    )

    # Logstash's Kafka input consumer
    add(
        f"{fetch},client-id=logstash-0",
        {
            "records-lag-max": v.double(),
            "records-consumed-rate": v.double(),
            "bytes-consumed-rate": v.double(),
            "fetch-rate": v.double(),
        },
    )
    add(
        "kafka.consumer:type=consumer-coordinator-metrics,client-id=logstash-0",
        {"commit-latency-avg": v.double(), "assigned-partitions": v.double()},
    )

    # Spark 3 JmxSink
    spark = f"metrics:name={app_id}.driver"
    add(f"{spark}.BlockManager.memory.memUsed_MB,type=gauges", v.gauge())
    add(f"{spark}.spark.streaming.events.inputRate-total,type=gauges", {"Value": v.double()})
    add(f"{spark}.LiveListenerBus.numEventsPosted,type=counters", {"Count": v.long()})
    timer = v.histogram()
    timer.update({a: v.double() for a in METER[1:]})
    add(f"{spark}.DAGScheduler.messageProcessingTime,type=timers", timer)
    return beans


# --------------------------------------------------------------------------- the silent port


class SilentServer:
    """A real TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    name = "silent server"

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.accepted = 0

    def start(self) -> SilentServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self.port))
        sock.listen(16)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name=f"silent-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)  # held open, never read from or written to
            self.accepted += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in self._conns:
            conn.close()
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
