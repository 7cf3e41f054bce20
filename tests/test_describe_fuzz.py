"""Hypothesis against the describe parser.

1. Any text at all gives a result or ``DescribeParseError``, never another exception, and a
   result always keeps its promises (types, 64-bit numbers, sorted rows, known kinds).
2. Random rows printed with the tool's own format strings (``test_describe_formats``
   printers) read back exactly: ids with spaces and any characters, numbers over the whole
   64-bit range, every layout.
3. Damaged output (cut, spliced, junk inserted) still gives a result or the parser's error.
"""

from __future__ import annotations

import dataclasses
import json

import test_describe_formats as fmt
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kafka_monitor.lag.describe import ERROR_KINDS, INTERNAL_ERROR, DescribeParseError, DescribeResult, parse_describe

# Bounded so the module stays well under 20 s on a busy 2-core machine.
QUICK = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FUZZ = settings(max_examples=300, **QUICK)
ROUND_TRIP = settings(max_examples=60, **QUICK)
STATES = {"Stable", "Empty", "PreparingRebalance"}
INT64 = st.integers(-(2**63), 2**63 - 1)
ROW_KEYS = {
    "group",
    "topic",
    "partition",
    "current_offset",
    "log_end_offset",
    "lag",
    "consumer_id",
    "host",
    "client_id",
}


def parse_or_parser_error(stdout, stderr="", group=None) -> DescribeResult | None:
    try:
        result = parse_describe(stdout, stderr, group)
    except DescribeParseError as exc:
        assert str(exc) and not str(exc).startswith(INTERNAL_ERROR), exc  # bad input, not a bug
        return None
    check_promises(result)
    return result


def check_promises(result: DescribeResult) -> None:
    for row in result.rows:
        assert ROW_KEYS <= set(row) <= ROW_KEYS | {"owner", "leader_epoch"}
        assert isinstance(row["topic"], str) and row["topic"] and row["topic"] != "-"
        assert isinstance(row["partition"], int)
        for key in ("current_offset", "log_end_offset", "lag", "leader_epoch"):
            value = row.get(key)
            assert value is None or (type(value) is int and -(2**63) <= value < 2**63)
        for key in ("group", "consumer_id", "host", "client_id", "owner"):
            assert row.get(key) is None or isinstance(row[key], str)
    assert all(e.kind in ERROR_KINDS and isinstance(e.message, str) for e in result.errors)
    assert result.error is (result.errors[0] if result.errors else None)
    assert set(result.group_states.values()) <= STATES
    keys = [(r["group"] or "", r["topic"], r["partition"]) for r in result.rows]
    assert keys == sorted(keys)
    json.dumps(result.to_json_dict())


# --------------------------------------------------------------------------- 1. any text


@FUZZ
@given(st.text(), st.text(), st.none() | st.text())
def test_any_text(stdout, stderr, group):
    parse_or_parser_error(stdout, stderr, group)


SAMPLE_LINES = [
    "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID",
    "GROUP           TOPIC           PARTITION  LEADER-EPOCH    CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID",
    "TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID",
    "%-30s %-10s %-15s %-15s %-10s %-50s%-30s %s"
    % ("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"),
    "%-30s %-30s %-10s %-15s %-15s %-15s %s"
    % ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "OWNER"),
    "g               orders          0          5               9               4               c-1-uuid        /10.0.0.1       c-1",
    "g               orders          1          -               9               -               -               -               -",
    "g               -               -          -               -               -               c-1-uuid        /10.0.0.1       c-1",
    "orders          0          5               9               4               c-1-uuid        /10.0.0.1       c-1",
    "%-30s %-10s %-15s %-15s %-10s %-50s%-30s %s"
    % ("orders", 0, 5, 9, 4, "mm-dc1-to-dc2-0-3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6b", "/10.0.0.1", "mm-dc1-to-dc2-0"),
    "%-30s %-30s %-10s %-15s %-15s %-15s %s" % ("g", "orders", 0, "unknown", 9, "unknown", "c_/10.0.0.1"),
    "",
    " ",
    "Error: Consumer group 'g' does not exist.",
    "Error: Executing consumer group command failed due to null",
    "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.TimeoutException: timed out",
    "Error: Exception thrown by the agent : java.rmi.server.ExportException: Port already in use",
    "Error occurred during initialization of VM",
    'Exception in thread "main" java.lang.NoClassDefFoundError: kafka/admin/ConsumerGroupCommand',
    "java.lang.NullPointerException",
    "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.TimeoutException: timed out",
    "\tat kafka.admin.ConsumerGroupCommand$.main(ConsumerGroupCommand.scala:63)",
    "\t... 5 more",
    "Caused by: java.lang.IllegalStateException: x",
    "Consumer group 'g' has no active members.",
    "Warning: Consumer group 'g' is rebalancing.",
    "Consumer group `g` does not exist or is rebalancing.",
    "Consumer group `g` is rebalancing.",
    "[2024-01-04 07:41:32,504] WARN Connection to node -1 could not be established. (org.apache.kafka.clients.NetworkClient)",
    "Note: This will not show information about old Zookeeper-based consumers.",
    "SLF4J: Class path contains multiple SLF4J bindings.",
    "SLF4J(W): No SLF4J providers were found.",
    '[9.871s][warning][os,thread] Failed to start thread "C2 CompilerThread1" - pthread_create failed (EAGAIN)',
    "2026-11-30 01:02:03,456 WARN [AdminClient clientId=adminclient-1] Node 2 disconnected. (org.apache.kafka.clients.NetworkClient)",
    "WARN [AdminClient clientId=adminclient-1] Node 2 disconnected. (org.apache.kafka.clients.NetworkClient)",
    "2026-11-30T01:43:27.160471333Z main ERROR Reconfiguration failed: No configuration found",
    "NOTE: Picked up JDK_JAVA_OPTIONS: -Xmx256m",
    "OpenJDK 64-Bit Server VM warning: CodeCache is full. Compiler has been disabled.",
    "  Note: This will only show information about consumers that use the Java consumer API (non-ZooKeeper-based consumers).",
    "bash: kafka-consumer-groups.sh: command not found",
    "something else entirely",
]


@FUZZ
@given(
    st.lists(st.sampled_from(SAMPLE_LINES) | st.text(max_size=60), max_size=30),
    st.sampled_from(["\n", "\r\n", "\n\n"]),
    st.lists(st.sampled_from(SAMPLE_LINES), max_size=5),
    st.none() | st.sampled_from(["g", "other"]),
)
def test_describe_like_text(lines, newline, stderr_lines, group):
    stdout = newline.join(lines)
    stderr = "\n".join(stderr_lines)
    parse_or_parser_error(stdout, stderr, group)
    parse_or_parser_error(stdout + "\n" + stderr, "", group)


# --------------------------------------------------------------------------- 2. exact read-back


def identifier(max_size: int = 40, spaces: bool = True) -> st.SearchStrategy[str]:
    """Ids as the tool prints them: any characters, no line break, no padding of their own."""
    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r" + ("" if spaces else " /"))
    anything = st.text(alphabet, min_size=1, max_size=max_size)
    words = st.lists(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True), min_size=1, max_size=5).map(
        lambda ws: (" " if spaces else "-").join(ws)[:max_size]
    )  # "kafka go client" (kafka-go#1147)
    return (anything | words).filter(lambda s: s == s.strip() and s != "-" and not s[0].isspace())


TOPICS = st.from_regex(r"[a-zA-Z0-9._-]{1,60}", fullmatch=True).filter(lambda t: t != "-")
HOSTS = st.from_regex(r"/(?:[0-9]{1,3}\.){3}[0-9]{1,3}|/[0-9a-f:]{2,39}", fullmatch=True)
OFFSET = st.none() | INT64 | st.integers(-10, 10**6)


@st.composite
def assignments(draw, group: str, *, spaces: bool = True, epoch: bool = False, owner: bool = False):
    keys = draw(st.lists(st.tuples(TOPICS, st.integers(0, 2**31 - 1)), min_size=1, max_size=8, unique=True))
    rows = []
    for topic, partition in keys:
        member = draw(st.booleans())
        row = fmt.Assignment(
            group,
            topic,
            partition,
            draw(OFFSET),
            draw(OFFSET),
            consumer_id=None if owner or not member else draw(identifier(90, spaces)),
            host=draw(HOSTS) if member else None,
            client_id=draw(identifier(40, spaces)) if member else None,
            leader_epoch=draw(st.none() | st.integers(0, 2**31 - 1)) if epoch else None,
            lag_override=draw(st.none() | INT64),  # the tool never clamps; MM2 prints any sign
        )
        if row.lag is not None and not -(2**63) <= row.lag < 2**63:
            row = dataclasses.replace(row, lag_override=0)
        rows.append(row)
    if not owner and draw(st.booleans()):  # a member without partitions: a row of "-"
        rows.append(fmt.Assignment(group, None, None, None, None, draw(identifier(30, spaces)), draw(HOSTS), "c"))
    return rows


@ROUND_TRIP
@given(st.data(), st.sampled_from(["2.6", "3.8", "4.x"]), st.booleans())
def test_2_3_plus_rows_read_back_exactly(data, version, verbose):
    names = data.draw(st.lists(identifier(30), min_size=1, max_size=3, unique=True))
    groups = {}
    for name in names:
        state = data.draw(st.sampled_from(["Stable", "Empty", "PreparingRebalance"]))
        groups[name] = (state, data.draw(assignments(name, epoch=verbose)))
    con = fmt.Console()
    fmt.print_groups(con, groups, version=version, verbose=verbose)
    expected = fmt.expected_rows([a for _, rows in groups.values() for a in rows], epoch=verbose)
    for result in (parse_describe(con.combined), parse_describe(con.stdout, con.stderr)):
        check_promises(result)
        assert result.rows == expected
        assert result.errors == []
        assert result.group_states == {name: state for name, (state, _) in groups.items()}


@ROUND_TRIP
@given(st.data(), identifier(30))
def test_1_1_rows_read_back_exactly(data, group):
    rows = data.draw(assignments(group))
    con = fmt.Console()
    fmt.print_1_1(con, rows)
    result = parse_describe(con.stdout, "", group)
    check_promises(result)
    assert result.rows == fmt.expected_rows(rows)
    assert result.errors == []


@ROUND_TRIP
@given(st.data(), identifier(60, spaces=False))
def test_0_10_2_glued_rows_read_back_exactly(data, group):
    rows = data.draw(assignments(group, spaces=False))
    rows = [r for r in rows if r.topic is not None]
    # In this layout LAG is 10 wide; ids run into HOST past 50 characters.
    con = fmt.Console()
    fmt.print_0_10_2(con, rows)
    result = parse_describe(con.stdout, "", group)
    check_promises(result)
    assert result.rows == fmt.expected_rows(rows)
    assert result.errors == []


@ROUND_TRIP
@given(st.data(), identifier(30).filter(lambda g: not g.endswith(" ")))
def test_0_10_0_owner_rows_read_back_exactly(data, group):
    rows = data.draw(assignments(group, owner=True))
    rows = [r for r in rows if r.topic is not None]
    con = fmt.Console()
    fmt.print_0_10_0(con, rows)
    result = parse_describe(con.stdout, "", group)
    check_promises(result)
    expected = fmt.expected_rows(rows)
    for row, a in zip(expected, sorted(rows, key=lambda a: (a.topic, a.partition))):
        row["owner"] = f"{a.client_id}_{a.host}" if a.client_id is not None else None
    assert result.rows == expected
    assert result.errors == []


# --------------------------------------------------------------------------- 3. damaged output


@ROUND_TRIP
@given(st.data(), st.sampled_from(["2.6", "3.8", "1.1", "0.10.2", "0.10.0"]))
def test_damaged_output(data, version):
    group = data.draw(identifier(20))
    rows = data.draw(assignments(group, owner=version == "0.10.0"))
    con = fmt.Console()
    if version in ("2.6", "3.8"):
        fmt.print_groups(con, {group: ("Stable", rows)}, version=version)
    elif version == "1.1":
        fmt.print_1_1(con, rows)
    elif version == "0.10.2":
        fmt.print_0_10_2(con, rows)
    else:
        fmt.print_0_10_0(con, [r for r in rows if r.topic is not None])
    text = con.combined
    assume(text)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        edit = data.draw(st.sampled_from(["cut", "delete", "insert", "line"]))
        if edit == "cut":
            text = text[:at]
        elif edit == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)) :]
        elif edit == "insert":
            text = text[:at] + data.draw(st.text(max_size=20)) + text[at:]
        else:
            text = text[:at] + "\n" + data.draw(st.sampled_from(SAMPLE_LINES)) + "\n" + text[at:]
    parse_or_parser_error(text, "", data.draw(st.none() | st.just(group)))
