"""The stand-in MirrorMaker host: a Kafka install whose ``kafka-consumer-groups.sh`` answers
from the live tansu broker, reached through the sandbox sshd — and the "MirrorMaker" itself:
it writes records to the source topics and commits offsets for its group behind them, so the
group lags by a known amount.

The layout mirrors the seed's EC2 host: ``<workdir>/kafka_2.12-2.6.2/bin/kafka-consumer-groups.sh``
and ``config/consumer.properties`` (MirrorMaker's consumer settings, which the monitor passes
as ``--command-config``, like the old script did).
"""

from __future__ import annotations

import json
import shlex
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

from sandbox.broker import TansuBroker
from sandbox.process import SandboxError

# The seed's setup (realtime-monitoring-msk-mirrormaker.md).
SEED_TOPICS = (
    "topic-navilog2-post-json",
    "HEC_H_RECV_01",
    "btvplus-post-log-json",
    "topic-lgs5.0-json",
    "topic-skt-search-log-json",
)
SEED_GROUP = "oasis-group"
SEED_PARTITIONS = 18
KAFKA_DIR = "kafka_2.12-2.6.2"


def planned_backlog(topic_index: int, partition: int) -> tuple[int, int | None]:
    """(records written, lag left behind) for one partition: varied, with zeros, and one
    partition per topic never committed (lag ``-`` in the tool's output)."""
    written = 20 + (partition * 7 + topic_index * 3) % 23
    if partition == SEED_PARTITIONS - 1 and topic_index % 2 == 0:
        return written, None
    lag = (partition * 5 + topic_index) % 11
    return written, min(lag, written)


class MirrorMakerHost:
    name = "stand-in MirrorMaker host"

    def __init__(self, workdir: Path, broker: TansuBroker, group: str = SEED_GROUP, streams: int = 2):
        self.workdir = Path(workdir)
        self.broker = broker
        self.group = group
        self.streams = streams
        self.kafka_home = self.workdir / KAFKA_DIR
        self.tool = self.kafka_home / "bin" / "kafka-consumer-groups.sh"
        self.consumer_properties = self.kafka_home / "config" / "consumer.properties"
        self.members_file = self.kafka_home / "members.json"
        self.mode_file = self.kafka_home / "sandbox-mode"
        self.topics: list[str] = []

    # -- the Kafka install
    def install(self) -> MirrorMakerHost:
        (self.kafka_home / "bin").mkdir(parents=True, exist_ok=True)
        (self.kafka_home / "config").mkdir(parents=True, exist_ok=True)
        # exec keeps one process per run, so a remote `timeout` kills the tool itself.
        self.tool.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.quote(sys.executable)} -m sandbox.consumer_groups_tool "
            f'--kafka-home {shlex.quote(str(self.kafka_home))} "$@"\n'
        )
        self.tool.chmod(0o755)
        self.consumer_properties.write_text(
            "# MirrorMaker's consumer (source cluster)\n"
            f"bootstrap.servers={self.broker.bootstrap}\n"
            f"group.id={self.group}\n"
            "auto.offset.reset=earliest\n"
        )
        self.set_mode(None)
        return self

    def set_mode(self, mode: str | None) -> None:
        """Fault injection for tests: ``hang``, ``crash`` or ``None`` (normal)."""
        if mode is None:
            self.mode_file.unlink(missing_ok=True)
        else:
            self.mode_file.write_text(mode)

    def tool_invocations(self, group: str | None = None) -> list[float]:
        """Unix times of every run of the tool so far for ``group`` (default: this host's)."""
        path = self.kafka_home / "invocations.log"
        if not path.exists():
            return []
        group = group or self.group
        out = []
        for line in path.read_text().splitlines():
            stamp, _, groups = line.partition("\t")
            if group in groups.split(","):
                out.append(float(stamp))
        return out

    def describes_per_minute(self, group: str | None = None) -> dict[str, int]:
        """{``YYYY-MM-DDTHH:MM`` (UTC): runs of the tool for ``group`` in that minute}."""
        import time

        counts: dict[str, int] = {}
        for stamp in self.tool_invocations(group):
            minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(stamp))
            counts[minute] = counts.get(minute, 0) + 1
        return counts

    def last_tool_pid(self) -> int | None:
        path = self.kafka_home / "last-pid"
        return int(path.read_text()) if path.exists() else None

    # -- the mirror's consumption
    def mirror(self, topics: Iterable[str] = SEED_TOPICS, partitions: int = SEED_PARTITIONS) -> dict:
        """Create the topics, write records, commit the group behind them; return the plan."""
        self.topics = list(topics)
        self.broker.create_topics(self.topics, partitions)
        commits: dict[tuple[str, int], int] = {}
        plan: dict[str, dict[int, tuple[int, int | None]]] = {}
        for ti, topic in enumerate(self.topics):
            plan[topic] = {p: planned_backlog(ti, p) for p in range(partitions)}
            self.broker.produce(topic, {p: written for p, (written, _) in plan[topic].items()})
            for p, (written, lag) in plan[topic].items():
                if lag is not None:
                    commits[(topic, p)] = written - lag
        self.broker.commit(self.group, commits)
        self._write_members(partitions)
        return plan

    def _write_members(self, partitions: int) -> None:
        # What the broker reports for MirrorMaker 1 consumers: client.id = group-i,
        # member id = client.id-uuid; partitions spread over the streams.
        members = []
        for i in range(self.streams):
            client_id = f"{self.group}-{i}"
            members.append(
                {
                    "consumer_id": f"{client_id}-{uuid.uuid4()}",
                    "host": "/127.0.0.1",
                    "client_id": client_id,
                    "assignment": {},
                }
            )
        n = 0
        for topic in self.topics:
            for p in range(partitions):
                members[n % self.streams]["assignment"].setdefault(topic, []).append(p)
                n += 1
        self.members_file.write_text(json.dumps({self.group: members}, indent=1))

    def stop_mirroring(self) -> None:
        """MirrorMaker down: no members (the describe shows '-' consumers, state Empty)."""
        self.members_file.write_text(json.dumps({}))

    # -- the broker's truth, read independently of the tool
    def truth(self, topic: str) -> dict[int, int | None]:
        """Per partition: log-end offset minus committed offset (None: never committed)."""
        committed = self.broker.committed_offsets(self.group)
        partitions = self.broker.partitions(topic)
        ends = self.broker.end_offsets(topic, partitions)
        out: dict[int, int | None] = {}
        for p in partitions:
            c = committed.get((topic, p))
            out[p] = None if c is None else ends[p] - c
        return out

    def mirrormaker_config(self, name: str, ssh_conn_id: str, **timeouts) -> dict:
        """This host as a ``mirrormakers[]`` entry of the kafka-monitor configuration."""
        if not self.topics:
            raise SandboxError(f"{self.name}: mirror() has not run yet")
        entry = {
            "name": name,
            "ssh_conn_id": ssh_conn_id,
            "kafka_home": str(self.kafka_home),
            "bootstrap_servers": [self.broker.bootstrap],
            "command_config": str(self.consumer_properties),
            "group": self.group,
            "topics": list(self.topics),
        }
        if timeouts:
            entry["timeouts"] = timeouts
        return entry
