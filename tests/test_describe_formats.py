"""The describe parser on every version's layout, beyond the corpus samples.

Outputs are generated here by Python %-formatting that mirrors the tool's own Scala/Java format
strings (quoted in each printer), from a list of ``Assignment`` values; the expected rows are
derived from the same values. ``test_describe_fuzz`` uses these printers too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kafka_monitor.lag.describe import (
    ERROR_KINDS,
    DescribeParseError,
    DescribeResult,
    parse_describe,
)

MISSING = "-"  # MISSING_COLUMN_VALUE


@dataclass(frozen=True)
class Assignment:
    """One PartitionAssignmentState as the tool holds it (None = not known)."""

    group: str
    topic: str | None
    partition: int | None
    offset: int | None
    log_end_offset: int | None
    consumer_id: str | None = None
    host: str | None = None
    client_id: str | None = None
    leader_epoch: int | None = None
    lag_override: int | None = None  # to print a lag the two offsets do not give

    @property
    def lag(self) -> int | None:  # getLag: offset.filter(_ != -1).flatMap(o => leo.map(_ - o))
        if self.lag_override is not None:
            return self.lag_override
        if self.offset is None or self.offset == -1 or self.log_end_offset is None:
            return None
        return self.log_end_offset - self.offset


def cell(value) -> str:
    return MISSING if value is None else str(value)


class Console:
    """stdout, stderr and the combined capture (``2>&1``) in program order."""

    def __init__(self):
        self.out: list[str] = []
        self.err: list[str] = []
        self.both: list[str] = []

    def print(self, text: str) -> None:
        self.out.append(text)
        self.both.append(text)

    def println(self, text: str = "") -> None:
        self.print(text + "\n")

    def eprintln(self, text: str = "") -> None:
        self.err.append(text + "\n")
        self.both.append(text + "\n")

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    @property
    def combined(self) -> str:
        return "".join(self.both)


# --------------------------------------------------------------------------- printers


def print_0_10_0(con: Console, rows: list[Assignment], missing: str = "unknown") -> None:
    """CGC@0.10.0.1 l.110/120: "%-30s %-30s %-10s %-15s %-15s %-15s %s", OWNER = clientId_clientHost."""
    fmt = "%-30s %-30s %-10s %-15s %-15s %-15s %s"
    con.println(fmt % ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "OWNER"))
    for a in rows:
        owner = f"{a.client_id}_{a.host}" if a.client_id is not None else "none"

        def val(v):
            return missing if v is None else str(v)

        con.println(fmt % (a.group, a.topic, a.partition, val(a.offset), val(a.log_end_offset), val(a.lag), owner))


def print_0_10_2(con: Console, rows: list[Assignment], use_new_consumer: bool = True) -> None:
    """CGC@0.11.0.2 printAssignment: "%-30s %-10s %-15s %-15s %-10s %-50s" then "%-30s %s" (no separator)."""
    con.print(
        "\n%-30s %-10s %-15s %-15s %-10s %-50s"
        % ("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID")
    )
    if use_new_consumer:
        con.print("%-30s %s" % ("HOST", "CLIENT-ID"))
    con.println()
    for a in rows:
        con.print(
            "%-30s %-10s %-15s %-15s %-10s %-50s"
            % (
                cell(a.topic),
                cell(a.partition),
                cell(a.offset),
                cell(a.log_end_offset),
                cell(a.lag),
                cell(a.consumer_id),
            )
        )
        if use_new_consumer:
            con.print("%-30s %s" % (cell(a.host), cell(a.client_id)))
        con.println()


def print_1_1(con: Console, rows: list[Assignment]) -> None:
    """CGC@2.0.0 l.171-178: s"\\n%${-maxTopicLen}s %-10s %-15s %-15s %-15s %${-maxConsumerIdLen}s %${-maxHostLen}s %s"."""
    max_topic = max([15] + [len(cell(a.topic)) for a in rows])
    max_cid = max([15] + [len(cell(a.consumer_id)) for a in rows])
    max_host = max([15] + [len(cell(a.host)) for a in rows])
    fmt = "\n%" + str(-max_topic) + "s %-10s %-15s %-15s %-15s %" + str(-max_cid) + "s %" + str(-max_host) + "s %s"
    con.print(
        fmt % ("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
    )
    for a in rows:
        con.print(
            fmt
            % (
                cell(a.topic),
                cell(a.partition),
                cell(a.offset),
                cell(a.log_end_offset),
                cell(a.lag),
                cell(a.consumer_id),
                cell(a.host),
                cell(a.client_id),
            )
        )
    con.println()


def _offsets_format(rows: list[Assignment], verbose: bool) -> str:
    """printOffsetFormat (CGC@2.6.0 l.280-293; ConsumerGroupCommand.java 3.8+; 4.x --verbose)."""
    max_group = max([15] + [len(a.group) for a in rows])
    max_topic = max([15] + [len(cell(a.topic)) for a in rows])
    max_cid = max([15] + [len(cell(a.consumer_id)) for a in rows])
    max_host = max([15] + [len(cell(a.host)) for a in rows])
    middle = "%-10s %-15s %-15s %-15s %-15s" if verbose else "%-10s %-15s %-15s %-15s"
    return (
        "\n%"
        + str(-max_group)
        + "s %"
        + str(-max_topic)
        + "s "
        + middle
        + " %"
        + str(-max_cid)
        + "s %"
        + str(-max_host)
        + "s %s"
    )


def print_groups(
    con: Console, groups: dict[str, tuple[str, list[Assignment]]], *, version: str = "2.6", verbose: bool = False
) -> None:
    """printOffsets for 2.3+: groups in TreeMap order, state messages, one table per group.

    version "2.6": Scala println (final newline); "3.8": Java printf with no final newline;
    "4.x": Java printf plus the final println (apache/kafka#17058).
    """
    for group in sorted(groups):
        state, rows = groups[group]
        # shouldPrintMemberState
        if state == "Dead":
            con.println("\nError: Consumer group '" + group + "' does not exist.")
            continue
        if state == "Empty":
            con.eprintln("\nConsumer group '" + group + "' has no active members.")
        elif state in ("PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling"):
            con.eprintln("\nWarning: Consumer group '" + group + "' is rebalancing.")
        if not rows:
            continue
        fmt = _offsets_format(rows, verbose)
        header = (
            ("GROUP", "TOPIC", "PARTITION")
            + (("LEADER-EPOCH",) if verbose else ())
            + ("CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
        )
        con.print(fmt % header)
        for a in rows:
            values = (
                (a.group, cell(a.topic), cell(a.partition))
                + ((cell(a.leader_epoch),) if verbose else ())
                + (
                    cell(a.offset),
                    cell(a.log_end_offset),
                    cell(a.lag),
                    cell(a.consumer_id),
                    cell(a.host),
                    cell(a.client_id),
                )
            )
            con.print(fmt % values)
        if version != "3.8":
            con.println()


def print_error(con: Console, message: str, trace: list[str] | None = None, leading_newline: bool = True) -> None:
    """printError: println(s"\\nError: $msg") (2.3+; no \\n before), then printStackTrace on stderr."""
    con.println(("\n" if leading_newline else "") + "Error: " + message)
    for line in trace or []:
        con.eprintln(line)


# --------------------------------------------------------------------------- expectations


def expected_rows(assignments: list[Assignment], *, group: str | None = "keep", epoch: bool = False) -> list[dict]:
    rows = []
    for a in assignments:
        if a.topic is None:  # members without partitions print a row of "-"
            continue
        row = {"group": a.group if group == "keep" else group, "topic": a.topic, "partition": a.partition}
        if epoch:
            row["leader_epoch"] = a.leader_epoch
        row.update(
            current_offset=a.offset,
            log_end_offset=a.log_end_offset,
            lag=a.lag,
            consumer_id=a.consumer_id,
            host=a.host,
            client_id=a.client_id,
        )
        rows.append(row)
    return sorted(rows, key=lambda r: (r["group"] or "", r["topic"], r["partition"]))


def both_ways(con: Console, group: str | None = None) -> list[DescribeResult]:
    """Parse the combined capture and the separate streams; both must agree."""
    combined = parse_describe(con.combined, "", group)
    separate = parse_describe(con.stdout, con.stderr, group)
    assert combined.rows == separate.rows
    assert combined.group_states == separate.group_states
    assert [(e.kind, e.message) for e in combined.errors] == [(e.kind, e.message) for e in separate.errors]
    return [combined, separate]


def mm_member(group: str, i: int, host: str = "/10.20.4.11") -> dict:
    """MirrorMaker 1: client.id = group.id-i, member id = client.id-uuid."""
    client = f"{group}-{i}"
    return {"consumer_id": f"{client}-3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6{i % 10}", "host": host, "client_id": client}


# The order Java 3.8/3.9 print 12 partitions of one member in (HashMap over TopicPartition).
JAVA_HASH_ORDER_12 = [4, 3, 6, 5, 8, 7, 10, 9, 11, 0, 2, 1]


# --------------------------------------------------------------------------- 0.10.0 - 0.10.1


def test_0_10_0_owner_layout_with_overflowing_group_and_topic():
    long_group = "mirrormaker-production-eu-west-1-to-us-east-1"  # 45 > 30 columns
    long_topic = "eu-west-1.customer-profile-updates-v2"  # 37 > 30 columns
    rows = [
        Assignment(long_group, long_topic, 0, 1187734, 1187790, client_id="consumer-2", host="/10.0.0.5"),
        Assignment(long_group, long_topic, 1, None, 1188403, client_id="my_client", host="/10.0.0.6"),
        Assignment(long_group, "orders", 2, 5, None, client_id=None, host=None),
    ]
    con = Console()
    print_0_10_0(con, rows)
    result = parse_describe(con.stdout, "", long_group)
    assert result.errors == [] and result.unparsed == []
    by_partition = {r["partition"]: r for r in result.rows}
    assert by_partition[0] == {
        "group": long_group,
        "topic": long_topic,
        "partition": 0,
        "current_offset": 1187734,
        "log_end_offset": 1187790,
        "lag": 56,
        "consumer_id": None,
        "host": "/10.0.0.5",
        "client_id": "consumer-2",
        "owner": "consumer-2_/10.0.0.5",
    }
    # split on the LAST "_": client ids may hold underscores
    assert (by_partition[1]["client_id"], by_partition[1]["host"]) == ("my_client", "/10.0.0.6")
    assert by_partition[1]["current_offset"] is None and by_partition[1]["lag"] is None
    # "none" owner and "unknown" log-end offset are null
    assert by_partition[2]["owner"] is None and by_partition[2]["client_id"] is None
    assert by_partition[2]["log_end_offset"] is None and by_partition[2]["current_offset"] == 5
    assert result.group_states == {}


@pytest.mark.parametrize(
    ("line", "kind", "state"),
    [
        ("Consumer group `mm-dc1` does not exist or is rebalancing.", "group_missing_or_rebalancing", None),  # 0.10.0
        ("Consumer group `mm-dc1` does not exist.", "group_not_found", None),  # 0.10.1
        ("Consumer group `mm-dc1` is rebalancing.", None, "PreparingRebalance"),  # 0.10.1
    ],
)
def test_0_10_messages_on_stdout(line, kind, state):
    result = parse_describe(line + "\n", "", "mm-dc1")
    assert result.rows == []
    if kind:
        assert result.error is not None and result.error.kind == kind
        assert result.error.message == line and result.error.group == "mm-dc1"
        assert result.group_states == {}
    else:
        assert result.errors == [] and result.group_states == {"mm-dc1": state}


# --------------------------------------------------------------------------- 0.10.2 - 1.0


@pytest.mark.parametrize(
    "group",
    [
        "mm",  # ids of 41 characters: padded to 50
        "mm-dc1-to",
        "mm-dc1-to-",  # ids of 48 and 49 characters: padded
        "mm-dc1-to-d",
        "mm-dc1-to-dc",
        "mm-dc1-to-dc2",  # 50, 51, 52: the id fills its columns or runs into HOST
        "mirrormaker-production-eu-west-1-to-us-east-1",  # id of 83 characters
    ],
)
def test_0_10_2_consumer_id_glued_to_host(group):
    members = [mm_member(group, 0), mm_member(group, 1, host="/10.20.4.12")]
    rows = [
        Assignment(group, "orders", 0, 1187734, 1187790, **members[0]),
        Assignment(group, "orders", 1, 1190021, 1190021, **members[0]),
        Assignment(group, "payments", 0, None, 88240, **members[1]),
        Assignment(group, None, None, None, None, **members[1]),  # a member without partitions
    ]
    con = Console()
    con.eprintln(
        "Note: This will only show information about consumers that use the Java consumer API "
        "(non-ZooKeeper-based consumers).\n"
    )
    print_0_10_2(con, rows)
    if len(members[0]["consumer_id"]) >= 50:
        assert members[0]["consumer_id"] + "/10.20.4.11" in con.stdout  # really glued
    for result in both_ways(con, group):
        assert result.rows == expected_rows(rows)
        assert result.errors == [] and result.unparsed == []
        assert result.group_states == {}  # no GROUP column, no message: the state is not said


def test_0_10_2_fixed_columns_overflow():
    topic = "datacenter-1.very-long-topic-name-that-overflows"  # > 30
    rows = [
        Assignment("g", topic, 7, 123456789012345, 123456789012399, "-c-1-uuid", "/10.0.0.1", "c-1"),
        Assignment("g", topic, 8, 1, 99999999999999, "-c-1-uuid", "/10.0.0.1", "c-1"),  # lag 14 digits > 10
    ]
    con = Console()
    print_0_10_2(con, rows)
    assert parse_describe(con.stdout, "", "g").rows == expected_rows(rows)


def test_0_10_2_zookeeper_consumers_have_no_host_columns():
    rows = [Assignment("zk", "orders", p, 10 * p, 10 * p + 3, f"zk_host1-1490000000000-abcd{p}") for p in range(3)]
    con = Console()
    print_0_10_2(con, rows, use_new_consumer=False)
    result = parse_describe(con.stdout, "", "zk")
    assert result.rows == expected_rows(rows)
    assert all(r["host"] is None and r["client_id"] is None for r in result.rows)


def test_0_10_2_to_2_2_messages_without_leading_newline():
    con = Console()
    con.eprintln("Consumer group 'mm-dc1' has no active members.")
    rows = [Assignment("mm-dc1", "orders", 0, 5, 9)]
    print_0_10_2(con, rows)
    print_error(con, "The consumer group 'other' does not exist.", leading_newline=False)  # 0.11
    for result in both_ways(con, "mm-dc1"):
        assert result.group_states == {"mm-dc1": "Empty"}
        assert result.rows == expected_rows(rows)
        assert [(e.kind, e.group) for e in result.errors] == [("group_not_found", "other")]


# --------------------------------------------------------------------------- 1.1 - 2.2


def test_1_1_to_2_2_dynamic_widths_without_group_column():
    group = "mirrormaker-production-eu-west-1-to-us-east-1"
    m0, m1 = mm_member(group, 0), mm_member(group, 1, host="/10.20.4.120")
    rows = [
        Assignment(group, "eu-west-1.customer-profile-updates", p, 1000 + p, 1000 + 2 * p, **(m0 if p % 2 else m1))
        for p in range(6)
    ]
    rows.append(Assignment(group, "orders", 0, None, 77, None, None, None))  # no consumer, no offset
    con = Console()
    con.eprintln("Note: This will not show information about old Zookeeper-based consumers.")  # 1.1
    print_1_1(con, rows)
    for result in both_ways(con, group):
        assert result.rows == expected_rows(rows)
        assert result.group_states == {} and result.errors == [] and result.unparsed == []
    # Without --group the rows' group is unknown, not guessed.
    assert {r["group"] for r in parse_describe(con.combined).rows} == {None}


# --------------------------------------------------------------------------- 2.3 - 4.x


def several_groups() -> dict[str, tuple[str, list[Assignment]]]:
    mm = "mm-dc1-to-dc2"
    app = "payments app"  # group ids may hold spaces
    kgo = {"consumer_id": "kafka go client-1c2d3e4f", "host": "/10.30.1.9", "client_id": "kafka go client"}
    return {
        mm: (
            "Stable",
            [Assignment(mm, "orders", p, 1190000 + p, 1190050 + p, **mm_member(mm, p % 2)) for p in JAVA_HASH_ORDER_12],
        ),
        app: ("Stable", [Assignment(app, "payments", 0, 5, 9, **kgo), Assignment(app, "payments", 1, 7, 7, **kgo)]),
        "console-consumer-51234": ("Empty", []),  # an Empty group with no offsets: only the message
        "logstash": ("Empty", [Assignment("logstash", "dc2.orders", 0, 3321, 3390)]),
        "mm-rebalancing": ("PreparingRebalance", [Assignment("mm-rebalancing", "orders", 0, 10, 12)]),
        "spark-streaming": (
            "Stable",
            [
                Assignment("spark-streaming", "dc2.orders", 0, None, 3390, **kgo),
                Assignment("spark-streaming", None, None, None, None, **kgo),
            ],
        ),
    }


@pytest.mark.parametrize("version", ["2.6", "3.8", "4.x"])
def test_2_3_plus_several_groups(version):
    groups = several_groups()
    con = Console()
    print_groups(con, groups, version=version)
    if version == "3.8":
        assert not con.stdout.endswith("\n") and "\n\n" not in con.stdout  # no final newline, no blank line
    assert "kafka go client-1c2d3e4f /10.30.1.9      kafka go client" in con.stdout
    for result in both_ways(con):
        assert result.rows == expected_rows([a for _, rows in groups.values() for a in rows])
        assert result.group_states == {
            "mm-dc1-to-dc2": "Stable",
            "payments app": "Stable",
            "spark-streaming": "Stable",
            "console-consumer-51234": "Empty",
            "logstash": "Empty",
            "mm-rebalancing": "PreparingRebalance",
        }
        assert result.errors == [] and result.unparsed == []
        # rows by partition number, whatever order the tool printed them in
        assert [r["partition"] for r in result.rows_for("mm-dc1-to-dc2", "orders")] == list(range(12))


def test_errors_between_tables_are_all_kept():
    groups = several_groups()
    groups["aaa-gone"] = ("Dead", [])
    groups["nnn-gone"] = ("Dead", [])
    con = Console()
    print_groups(con, groups)
    for result in both_ways(con):
        assert [(e.kind, e.group) for e in result.errors] == [
            ("group_not_found", "aaa-gone"),
            ("group_not_found", "nnn-gone"),
        ]
        assert result.error == result.errors[0]
        assert len(result.rows) == len(expected_rows([a for _, rows in groups.values() for a in rows]))
        assert "aaa-gone" not in result.group_states
        assert result.to_json_dict()["errors"][1]["message"] == "Consumer group 'nnn-gone' does not exist."


@pytest.mark.parametrize("version", ["2.6", "3.8"])
def test_wide_numbers_overflow_their_columns(version):
    big = 2**63 - 1
    rows = [
        Assignment("g", "orders", 0, 1234567890123456, 1234567890123999),  # 16 digits > 15
        Assignment("g", "orders", 1, big - 5, big),
        Assignment("g", "orders", 2, big, 0),  # lag -(2^63-1): 20 characters
        Assignment("g", "orders", 3, 1187734, 1187611, "c-1-uuid with spaces", "/10.0.0.1", "c 1"),
        Assignment("g", "orders", 2147483647, 1, 2),  # the widest partition number
    ]
    con = Console()
    print_groups(con, {"g": ("Stable", rows)}, version=version)
    for result in both_ways(con):
        assert result.rows == expected_rows(rows)
        assert result.rows[2]["lag"] == -(2**63 - 1)
        assert result.rows[3]["lag"] == -123  # negative lag kept
        assert result.errors == []


def test_value_outside_64_bits_is_a_malformed_row_not_a_wrong_number():
    rows = [Assignment("g", "orders", 0, 5, 2**63), Assignment("g", "orders", 1, 5, 6)]
    con = Console()
    print_groups(con, {"g": ("Stable", rows)})
    result = parse_describe(con.stdout)
    assert [r["partition"] for r in result.rows] == [1]
    assert [e.kind for e in result.errors] == ["malformed_row"]
    assert str(2**63) in result.errors[0].message


def test_4x_verbose_leader_epoch_and_leaderless_partitions():
    rows = [
        Assignment("mm2", "orders", p, 100 + p, 110 + p, "c-1-uuid", "/10.0.0.1", "c-1", leader_epoch=3)
        for p in range(3)
    ]
    rows.append(Assignment("mm2", "orders", 3, 42, None, "c-1-uuid", "/10.0.0.1", "c-1", leader_epoch=None))
    con = Console()
    print_groups(con, {"mm2": ("Stable", rows)}, version="4.x", verbose=True)
    assert "LEADER-EPOCH" in con.stdout
    for result in both_ways(con):
        assert result.rows == expected_rows(rows, epoch=True)
        leaderless = result.rows_for("mm2", "orders")[3]
        assert leaderless["log_end_offset"] is None and leaderless["lag"] is None
        assert leaderless["current_offset"] == 42


def test_3_8_log4j_line_glued_to_a_row_without_newline():
    rows = [Assignment("g", "orders", p, 10, 20, "c-1-uuid", "/10.0.0.1", "c-1") for p in range(3)]
    fmt = _offsets_format(rows, False)
    log = "[2024-01-04 07:41:32,504] WARN [AdminClient clientId=adminclient-1] Connection to node 2 was disconnected. (org.apache.kafka.clients.NetworkClient)\n"
    text = fmt % (
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    )
    for i, a in enumerate(rows):
        text += fmt % (
            a.group,
            a.topic,
            a.partition,
            a.offset,
            a.log_end_offset,
            a.lag,
            a.consumer_id,
            a.host,
            a.client_id,
        )
        if i == 0:
            text += log  # stderr written between two printf calls of stdout
    result = parse_describe(text)
    assert result.rows == expected_rows(rows)
    assert result.errors == []


def test_log4j_note_and_jvm_noise_around_a_table():
    rows = [Assignment("g", "orders", 0, 10, 20)]
    con = Console()
    con.eprintln("SLF4J: Class path contains multiple SLF4J bindings.")
    con.eprintln(
        "OpenJDK 64-Bit Server VM warning: If the number of processors is expected to increase from one, then you should configure the number of parallel GC threads appropriately using -XX:ParallelGCThreads=N"
    )
    con.eprintln("Picked up JAVA_TOOL_OPTIONS: -Dfile.encoding=UTF-8")
    con.eprintln(
        "[2021-03-02 10:15:01,442] WARN The configuration 'group.id' was supplied but isn't a known config. (org.apache.kafka.clients.admin.AdminClientConfig)"
    )
    print_groups(con, {"g": ("Stable", rows)})
    con.eprintln(
        "[2021-03-02 10:15:02,001] ERROR [AdminClient clientId=adminclient-1] Uncaught error (org.apache.kafka.clients.admin.KafkaAdminClient)"
    )
    for result in both_ways(con, "g"):
        assert result.rows == expected_rows(rows)
        assert result.errors == [] and result.unparsed == []
        assert result.group_states == {"g": "Stable"}


# --------------------------------------------------------------------------- errors


TIMEOUT_DETAIL = (
    "org.apache.kafka.common.errors.TimeoutException: Call(callName=describeConsumerGroups, "
    "deadlineMs=1704350498106, tries=1, nextAllowedTryMs=1704350498207) timed out at 1704350498107 after 1 attempt(s)"
)


@pytest.mark.parametrize(
    ("message", "trace", "kind", "detail", "exception", "group"),
    [
        (
            f"Executing consumer group command failed due to {TIMEOUT_DETAIL}",
            [
                f"java.util.concurrent.ExecutionException: {TIMEOUT_DETAIL}",
                "\tat org.apache.kafka.common.internals.KafkaFutureImpl.wrapAndThrow(KafkaFutureImpl.java:45)",
                "Caused by: " + TIMEOUT_DETAIL,
            ],
            "timeout",
            TIMEOUT_DETAIL,
            "java.util.concurrent.ExecutionException",
            None,
        ),
        (
            "Executing consumer group command failed due to null",
            [
                "java.lang.NullPointerException",
                "\tat kafka.admin.ConsumerGroupCommand$ConsumerGroupService.$anonfun$collectGroupsOffsets$6(ConsumerGroupCommand.scala:579)",
            ],
            "tool_exception",
            "null",
            "java.lang.NullPointerException",
            None,
        ),
        (
            "Executing consumer group command failed due to java.lang.IllegalArgumentException: Invalid negative offset",
            [
                "java.util.concurrent.ExecutionException: java.lang.IllegalArgumentException: Invalid negative offset",
                "\tat kafka.admin.ConsumerGroupCommand$.main(ConsumerGroupCommand.scala:63)",
            ],
            "tool_exception",
            "java.lang.IllegalArgumentException: Invalid negative offset",
            "java.util.concurrent.ExecutionException",
            None,
        ),
        (
            "Executing consumer group command failed due to java.lang.IllegalArgumentException: GroupId dc1-mm2 is not a consumer group (connect).",
            [
                "java.util.concurrent.ExecutionException: java.lang.IllegalArgumentException: GroupId dc1-mm2 is not a consumer group (connect).",
                "\t... 5 more",
            ],
            "not_consumer_group",
            "java.lang.IllegalArgumentException: GroupId dc1-mm2 is not a consumer group (connect).",
            "java.util.concurrent.ExecutionException",
            "dc1-mm2",
        ),
        (
            "Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group mm-gone not found.",
            [
                "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.GroupIdNotFoundException: Group mm-gone not found."
            ],
            "group_not_found",
            "org.apache.kafka.common.errors.GroupIdNotFoundException: Group mm-gone not found.",
            "java.util.concurrent.ExecutionException",
            "mm-gone",
        ),
        (
            "Consumer group 'mm-gone' does not exist.",
            [],
            "group_not_found",
            "Consumer group 'mm-gone' does not exist.",
            None,
            "mm-gone",
        ),
    ],
)
def test_tool_errors_are_classified(message, trace, kind, detail, exception, group):
    con = Console()
    con.eprintln(
        "[2024-01-04 07:41:32,504] WARN [AdminClient clientId=adminclient-1] Connection to node -1 "
        "(kafka-src-01/10.20.0.5:9093) could not be established. Broker may not be available. "
        "(org.apache.kafka.clients.NetworkClient)"
    )
    print_error(con, message, trace)
    for result in both_ways(con, "asked"):
        assert result.rows == [] and result.group_states == {}
        assert len(result.errors) == 1
        error = result.error
        assert (error.kind, error.message, error.exception) == (kind, detail, exception)
        assert error.group == (group or "asked")
        assert error.kind in ERROR_KINDS


def test_a_logged_exception_before_the_trace_does_not_take_its_place():
    con = Console()
    print_error(con, "Executing consumer group command failed due to null")
    con.eprintln("[2024-01-04 07:41:32,504] WARN Failed to close (org.apache.kafka.clients.admin.KafkaAdminClient)")
    con.eprintln("java.io.IOException: Broken pipe")
    con.eprintln("\tat sun.nio.ch.FileDispatcherImpl.write0(Native Method)")
    con.eprintln("java.lang.NullPointerException")
    # separately captured, stderr comes after stdout: the message pairs the trace with the error
    result = parse_describe(con.stdout, con.stderr)
    assert result.error.exception == "java.lang.NullPointerException"


@pytest.mark.parametrize(
    ("stdout", "stderr", "message"),
    [
        (
            "",
            "Error: Exception thrown by the agent : java.rmi.server.ExportException: Port already in use: 9999; nested exception is: \n"
            "\tjava.net.BindException: Address already in use\n",
            "Exception thrown by the agent : java.rmi.server.ExportException: Port already in use: 9999; nested exception is:",
        ),
        (
            "",
            "Error: Could not find or load main class kafka.admin.ConsumerGroupCommand\n"
            "Caused by: java.lang.ClassNotFoundException: kafka.admin.ConsumerGroupCommand\n",
            "Could not find or load main class kafka.admin.ConsumerGroupCommand",
        ),
        (
            "",
            "Error occurred during initialization of VM\nCould not reserve enough space for 4194304KB object heap\n",
            "Error occurred during initialization of VM\nCould not reserve enough space for 4194304KB object heap",
        ),
        ("", "Error: JAVA_HOME is not set and could not be found.\n", "JAVA_HOME is not set and could not be found."),
        (
            "",
            "bash: line 1: kafka-consumer-groups.sh: command not found\n",
            "bash: line 1: kafka-consumer-groups.sh: command not found",
        ),
        (
            "",
            "/opt/kafka/bin/kafka-run-class.sh: line 342: /usr/lib/jvm/java-17/bin/java: No such file or directory\n",
            "/opt/kafka/bin/kafka-run-class.sh: line 342: /usr/lib/jvm/java-17/bin/java: No such file or directory",
        ),
        (
            "",
            'Exception in thread "main" java.lang.UnsupportedClassVersionError: kafka/admin/ConsumerGroupCommand has been compiled by a more recent version of the Java Runtime\n',
            "kafka/admin/ConsumerGroupCommand has been compiled by a more recent version of the Java Runtime",
        ),
        (
            "",
            "Unrecognized VM option 'UseConcMarkSweepGC'\nError: Could not create the Java Virtual Machine.\n"
            "Error: A fatal exception has occurred. Program will exit.\n",
            "Unrecognized VM option 'UseConcMarkSweepGC'",
        ),
    ],
)
def test_jvm_startup_failures(stdout, stderr, message):
    for result in (parse_describe(stdout, stderr, "g"), parse_describe(stdout + stderr, "", "g")):
        assert result.error is not None
        assert (result.error.kind, result.error.message) == ("jvm_startup", message)
        assert {e.kind for e in result.errors} == {"jvm_startup"}
        assert result.group_states == {} and result.rows == []


def test_unknown_error_text_is_a_tool_exception():
    result = parse_describe(
        "\nError: Executing consumer group command failed due to Failed to construct kafka consumer\n"
    )
    assert (result.error.kind, result.error.message) == ("tool_exception", "Failed to construct kafka consumer")


# --------------------------------------------------------------------------- damaged and foreign output


def test_truncated_row_is_an_error_and_the_other_rows_are_kept():
    rows = [Assignment("g", "orders", p, 10, 20, "c-1-uuid", "/10.0.0.1", "c-1") for p in range(4)]
    con = Console()
    print_groups(con, {"g": ("Stable", rows)}, version="3.8")
    cut = con.stdout[: con.stdout.rindex("\n") + 30]  # the last row cut after 29 characters
    result = parse_describe(cut)
    assert [r["partition"] for r in result.rows] == [0, 1, 2]
    assert [e.kind for e in result.errors] == ["malformed_row"]
    assert "stdout:6" in result.errors[0].message  # line 1 is the blank before the header
    assert result.unparsed == [f"stdout:6: {cut.splitlines()[-1]}"]


def test_paste_with_collapsed_spaces_is_still_read():
    group = "mm-dc1-to-dc2"
    rows = [Assignment(group, "orders", p, 10 + p, 20, **mm_member(group, 0)) for p in range(3)]
    rows.append(Assignment(group, "orders", 3, 5, 6, "my app-uuid", "/10.0.0.2", "my app"))
    con = Console()
    print_groups(con, {group: ("Stable", rows)})
    collapsed = "\n".join(" ".join(line.split(" ")).replace("  ", " ") for line in con.stdout.split("\n"))
    while "  " in collapsed:
        collapsed = collapsed.replace("  ", " ")
    result = parse_describe(collapsed)
    assert result.rows == expected_rows(rows)
    assert result.errors == []


def test_glued_id_in_a_collapsed_0_10_2_paste():
    group = "mm-dc1-to-dc2"
    rows = [Assignment(group, "orders", 0, 10, 20, **mm_member(group, 0))]
    con = Console()
    print_0_10_2(con, rows)
    collapsed = " ".join(con.stdout.split(" ")).replace("  ", " ")
    while "  " in collapsed:
        collapsed = collapsed.replace("  ", " ")
    assert parse_describe(collapsed, "", group).rows == expected_rows(rows)


def test_crlf_line_ends():
    rows = [Assignment("g", "orders", p, 10, 20, "c-1-uuid", "/10.0.0.1", "c-1") for p in range(2)]
    con = Console()
    print_groups(con, {"g": ("Stable", rows)})
    assert parse_describe(con.stdout.replace("\n", "\r\n")).rows == expected_rows(rows)


@pytest.mark.parametrize(
    "text",
    [
        "mm-dc1-to-dc2\nlogstash\nconsole-consumer-51234\n",  # --list
        "\nGROUP           CONSUMER-ID                                HOST            CLIENT-ID       #PARTITIONS\n"
        "mm-dc1-to-dc2   mm-dc1-to-dc2-0-3f2a1c9e-8b7d-4e6f-9a0b   /10.20.4.11     mm-dc1-to-dc2-0 2\n",  # --members
        "\nGROUP           TOPIC           PARTITION  START-OFFSET\nshare-g         orders          0          15\n",  # share groups
        "<html><body>502 Bad Gateway</body></html>\n",
        "\x00\x01\x02 binary \xff",
    ],
)
def test_foreign_output_raises_the_parser_error(text):
    with pytest.raises(DescribeParseError, match="not kafka-consumer-groups.sh --describe output"):
        parse_describe(text, "", "g")


def test_bad_argument_types_raise_the_parser_error():
    with pytest.raises(DescribeParseError):
        parse_describe(12)  # type: ignore[arg-type]
    with pytest.raises(DescribeParseError):
        parse_describe("", "", group=["g"])  # type: ignore[arg-type]
    assert parse_describe(b"\nError: Consumer group 'g' does not exist.\n").error.kind == "group_not_found"


def test_empty_output_is_stable_only_for_an_asked_group():
    assert parse_describe("", "", "mm").group_states == {"mm": "Stable"}
    assert parse_describe("\n", "SLF4J: See http://www.slf4j.org/codes.html\n", "mm").group_states == {"mm": "Stable"}
    assert parse_describe("", "").group_states == {}
    # A message about the group says more than the empty table.
    assert parse_describe("", "\nConsumer group 'mm' has no active members.\n", "mm").group_states == {"mm": "Empty"}


def test_unparsed_lines_outside_tables_are_kept_but_not_errors():
    rows = [Assignment("g", "orders", 0, 10, 20)]
    con = Console()
    print_groups(con, {"g": ("Stable", rows)})
    result = parse_describe(con.stdout, "something the JVM said\n")
    assert result.rows == expected_rows(rows) and result.errors == []
    assert result.unparsed == ["stderr:1: something the JVM said"]
    assert result.to_json_dict()["unparsed"] == ["stderr:1: something the JVM said"]


def test_rows_for_and_json_shape():
    groups = several_groups()
    con = Console()
    print_groups(con, groups)
    result = parse_describe(con.stdout, con.stderr)
    assert [r["partition"] for r in result.rows_for(None, "dc2.orders")] == [0, 0]
    assert {r["group"] for r in result.rows_for(None, "dc2.orders")} == {"logstash", "spark-streaming"}
    assert result.rows_for("logstash", "orders") == []
    doc = result.to_json_dict()
    assert set(doc) == {
        "rows",
        "error",
        "errors",
        "group_states",
        "unparsed",
        "skipped_lines",
        "skipped",
        "skipped_sample",
    }
    assert doc["error"] is None and doc["errors"] == []
    assert doc["rows"] == result.rows
