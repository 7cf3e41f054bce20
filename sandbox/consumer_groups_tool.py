"""Stand-in for Kafka 2.6's ``kafka-consumer-groups.sh --describe`` on the sandbox MirrorMaker host.

It answers from a live tansu broker: committed offsets (OffsetFetch) and log-end offsets
(ListOffsets) are read at the moment it runs, and printed in the exact layout of
ConsumerGroupCommand.scala@2.6.0 (printOffsets, lines 280-293): a leading empty line, columns
``%-Ns`` with GROUP/TOPIC/CONSUMER-ID/HOST widths of max(15, longest value), ``-`` for a
missing value, errors on stdout with exit status 0, notices on stderr.

tansu's own group *describe* reports no members, so the consumer columns come from the
``members.json`` the sandbox's MirrorMaker stand-in writes beside the install (what a real
broker would report for MirrorMaker 1's consumers: ``<group>-<n>-<uuid>``, ``/host``,
``<group>-<n>``).

Like the real tool it refuses ``--topic`` with ``--describe``, and like the real JVM it dies
with "Port already in use" when ``JMX_PORT`` is exported (kafka-run-class.sh would pass it
to the tool's JVM while MirrorMaker holds the port).

A ``sandbox-mode`` file in the install directory injects faults for the tests:
``hang`` (never answers), ``crash`` (a tool exception, as Kafka 2.8's NPE), ``truncate``
(the last row of the table is cut short, as in a damaged capture).

Every run appends a line (Unix time, groups) to ``invocations.log`` in the install directory,
so the tests can count describes per group per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

MISSING = "-"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kafka-consumer-groups.sh", add_help=False)
    parser.add_argument("--kafka-home", required=True)  # set by the wrapper script, not by users
    parser.add_argument("--bootstrap-server")
    parser.add_argument("--describe", action="store_true")
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--all-groups", action="store_true")
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--command-config")
    parser.add_argument("--timeout", type=int, default=5000)
    parser.add_argument("--members", action="store_true")
    parser.add_argument("--state", action="store_true")
    parser.add_argument("--offsets", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def usage_error(message: str) -> int:
    # CommandLineUtils.printUsageAndDie: message and usage on stderr, exit 1.
    print(message, file=sys.stderr)
    print("Option                                  Description", file=sys.stderr)
    return 1


def read_properties(path: str | None) -> dict[str, str]:
    props: dict[str, str] = {}
    if not path:
        return props
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def describe_group(admin, group: str, members: dict, timeout_s: float) -> tuple[list[tuple], list[str]]:
    """Rows ``(group, topic, partition, current, leo, lag, consumer_id, host, client_id)`` and stderr notes."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=timeout_s)
    committed = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}
    group_members = members.get(group, [])
    if not committed and not group_members:
        raise GroupNotFound(group)

    assigned: dict[tuple[str, int], dict] = {}
    for member in group_members:
        for topic, partitions in member["assignment"].items():
            for p in partitions:
                assigned[(topic, p)] = member

    wanted = sorted(set(committed) | set(assigned))
    request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in wanted}
    leo: dict[tuple[str, int], int] = {}
    if request:
        for tp, future in admin.list_offsets(request, request_timeout=timeout_s).items():
            leo[(tp.topic, tp.partition)] = future.result(timeout=timeout_s).offset

    def row(tp: tuple[str, int], member: dict | None) -> tuple:
        current = committed.get(tp)
        end = leo.get(tp)
        lag = end - current if current is not None and end is not None else None
        return (
            group,
            tp[0],
            tp[1],
            current,
            end,
            lag,
            member["consumer_id"] if member else None,
            member["host"] if member else None,
            member["client_id"] if member else None,
        )

    rows: list[tuple] = []
    # Members by number of assigned partitions, largest first; above four partitions the
    # Scala tool's Map iterates in hash order, so the printed order is not partition order.
    by_member: dict[str, list[tuple[str, int]]] = {}
    for tp, member in assigned.items():
        by_member.setdefault(member["consumer_id"], []).append(tp)
    for consumer_id, tps in sorted(by_member.items(), key=lambda kv: -len(kv[1])):
        member = next(m for m in group_members if m["consumer_id"] == consumer_id)
        ordered = sorted(tps) if len(tps) <= 4 else sorted(tps, key=lambda tp: hash((tp[0], tp[1] * 7919)) & 0xFFFF)
        rows.extend(row(tp, member) for tp in ordered)
    rows.extend(row(tp, None) for tp in wanted if tp not in assigned)

    notes = []
    if not group_members:
        notes.append(f"\nConsumer group '{group}' has no active members.")
    return rows, notes


class GroupNotFound(Exception):
    pass


def print_offsets(rows: list[tuple], truncate_last: bool = False) -> None:
    def text(v) -> str:
        return MISSING if v is None else str(v)

    max_group = max([15] + [len(r[0]) for r in rows])
    max_topic = max([15] + [len(r[1]) for r in rows])
    max_consumer = max([15] + [len(text(r[6])) for r in rows])
    max_host = max([15] + [len(text(r[7])) for r in rows])
    fmt = f"\n%-{max_group}s %-{max_topic}s %-10s %-15s %-15s %-15s %-{max_consumer}s %-{max_host}s %s"
    out = [
        fmt
        % ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
    ]
    for r in rows:
        out.append(fmt % tuple(text(v) for v in r))
    if truncate_last:
        # Cut inside the CURRENT-OFFSET column: the row is no longer readable.
        out[-1] = out[-1][: max_group + max_topic + 16]
    sys.stdout.write("".join(out) + "\n")


INVOCATIONS_FILE = "invocations.log"


def count_invocation(home: Path, groups: list[str]) -> None:
    """One line per run (Unix time, groups asked for): the tests count describes per minute.

    O_APPEND writes of one short line are atomic, so concurrent runs do not interleave.
    """
    line = f"{time.time():.3f}\t{','.join(groups) or '*'}\n"
    fd = os.open(home / INVOCATIONS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    home = Path(args.kafka_home)

    if os.environ.get("JMX_PORT"):
        # What kafka-run-class.sh + the JVM do when MirrorMaker already holds JMX_PORT.
        print(
            f"Error: Exception thrown by the agent : java.rmi.server.ExportException: Port already in use: "
            f"{os.environ['JMX_PORT']}; nested exception is: \n\tjava.net.BindException: Address already in use",
            file=sys.stderr,
        )
        return 1
    if args.describe and args.topic:
        return usage_error("Option [topic] is not valid with [describe]")
    if not args.bootstrap_server:
        return usage_error('Missing required argument "[bootstrap-server]"')
    if not args.describe or not (args.group or args.all_groups):
        return usage_error("Option [describe] takes one of these options: [all-groups], [group]")

    mode_file = home / "sandbox-mode"
    mode = mode_file.read_text().strip() if mode_file.exists() else ""
    (home / "last-pid").write_text(str(os.getpid()))
    count_invocation(home, args.group)
    if mode == "hang":
        while True:  # a tool stuck on an unreachable broker: only a kill ends it
            time.sleep(1)

    props = read_properties(args.command_config)
    if "group.id" in props:
        # The real tool's AdminClientConfig warns about consumer properties (log4j on stderr).
        print(
            f"[{time.strftime('%Y-%m-%d %H:%M:%S')},000] WARN The configuration 'group.id' was supplied but "
            "isn't a known config. (org.apache.kafka.clients.admin.AdminClientConfig)",
            file=sys.stderr,
        )
    if mode == "crash":
        print("\nError: Executing consumer group command failed due to null")
        print(
            "java.lang.NullPointerException\n\tat kafka.admin.ConsumerGroupCommand$ConsumerGroupService"
            ".$anonfun$collectGroupsOffsets$6(ConsumerGroupCommand.scala:579)",
            file=sys.stderr,
        )
        return 0

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": args.bootstrap_server})
    members_file = home / "members.json"
    members = json.loads(members_file.read_text()) if members_file.exists() else {}
    timeout_s = args.timeout / 1000
    groups = sorted(set(args.group)) if args.group else sorted(members)
    for group in groups:
        try:
            rows, notes = describe_group(admin, group, members, timeout_s)
        except GroupNotFound:
            print(f"\nError: Consumer group '{group}' does not exist.")
            continue
        except Exception as exc:  # noqa: BLE001 - the real tool prints any failure this way, exit 0
            name = type(exc).__name__
            print(
                f"\nError: Executing consumer group command failed due to "
                f"org.apache.kafka.common.errors.TimeoutException: {name}: {exc}"
            )
            continue
        for note in notes:
            print(note, file=sys.stderr)
        if rows:
            print_offsets(rows, truncate_last=mode == "truncate")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
