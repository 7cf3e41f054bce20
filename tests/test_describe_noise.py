"""Harmless JVM and logging lines anywhere in or around a table: skipped, counted, never an error.

The table is printed here the way the tool prints it (2.3-3.7 Scala: ``println`` per row; 3.8/3.9
Java: ``printf("\\n" + format)`` per row, so the last line printed has no newline yet), and a
line of each kind is written at every position between its lines. The oracle is the list of
rows the table was printed from, and the one line that was added.
"""

from __future__ import annotations

import pytest

from kafka_monitor.lag.describe import SKIPPED_KINDS, SKIPPED_SAMPLE_MAX, parse_describe

GROUP = "mm-dc1-to-dc2"
ROWS = [
    # (topic, partition, current, log end, lag, consumer id, host, client id)
    (
        "orders",
        0,
        1187734,
        1187790,
        56,
        "mm-dc1-to-dc2-0-3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6b",
        "/10.20.4.11",
        "mm-dc1-to-dc2-0",
    ),
    (
        "orders",
        1,
        1190021,
        1190021,
        0,
        "mm-dc1-to-dc2-0-3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6b",
        "/10.20.4.11",
        "mm-dc1-to-dc2-0",
    ),
    (
        "payments",
        0,
        88213,
        None,
        None,
        "mm-dc1-to-dc2-1-9c8b7a65-4321-4fed-8cba-0987654321fe",
        "/10.20.4.12",
        "mm-dc1-to-dc2-1",
    ),
]
# The tool's format for these values (printOffsetFormat: widths max(15, longest)).
FORMAT = "%-15s %-15s %-10s %-15s %-15s %-15s %-52s %-15s %s"
HEADER = FORMAT % (
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


def cell(value) -> str:
    return "-" if value is None else str(value)


LINES = [
    FORMAT % (GROUP, t, p, cell(c), cell(e), cell(lag), cid, h, client) for t, p, c, e, lag, cid, h, client in ROWS
]
EXPECTED = [
    {
        "group": GROUP,
        "topic": t,
        "partition": p,
        "current_offset": c,
        "log_end_offset": e,
        "lag": lag,
        "consumer_id": cid,
        "host": h,
        "client_id": client,
    }
    for t, p, c, e, lag, cid, h, client in ROWS
]

# (kind, line, stream the program writes it to, can it be printed while the table is?)
NOISE = [
    # JVM unified logging: default -Xlog:all=warning:stdout:uptime,level,tags (HotSpot os_linux.cpp text)
    (
        "jvm_log",
        '[9.871s][warning][os,thread] Failed to start thread "C2 CompilerThread1" - pthread_create failed (EAGAIN) for attributes: stacksize: 1024k, guardsize: 0k, detached.',
        "stdout",
        True,
    ),
    (
        "jvm_log",
        "[0.001s][warning][pagesize] UseLargePages disabled, no large pages configured and available on the system.",
        "stdout",
        False,
    ),
    (
        "jvm_log",
        "[2026-11-30T01:02:03.456+0000][warning][os,thread] Failed to start thread - pthread_create failed (EAGAIN) for attributes: stacksize: 1024k, guardsize: 0k, detached.",
        "stdout",
        False,
    ),
    # log4j 1 / Kafka's tools-log4j pattern "[%d] %p %m (%c)%n" (also 4.x tools-log4j2.yaml)
    (
        "log",
        "[2026-11-30 01:02:03,456] WARN [AdminClient clientId=adminclient-1] Connection to node 2 (kafka-src-02/10.20.0.6:9093) could not be established. Broker may not be available. (org.apache.kafka.clients.NetworkClient)",
        "stderr",
        True,
    ),
    # a site pattern "%d %p %m (%c)%n" (log4j2's default %d format)
    (
        "log",
        "2026-11-30 01:02:03,456 WARN [AdminClient clientId=adminclient-1] Connection to node -1 (kafka-src-01/10.20.0.5:9093) could not be established. Broker may not be available. (org.apache.kafka.clients.NetworkClient)",
        "stderr",
        True,
    ),
    # a site pattern "%p %m (%c)%n"
    (
        "log",
        "WARN [AdminClient clientId=adminclient-1] Connection to node -1 (kafka-src-01/10.20.0.5:9093) could not be established. Broker may not be available. (org.apache.kafka.clients.NetworkClient)",
        "stderr",
        True,
    ),
    (
        "log",
        "WARN The configuration 'group.id' was supplied but isn't a known config. (org.apache.kafka.clients.admin.AdminClientConfig)",
        "stderr",
        False,
    ),
    # log4j2's status logger, new and old forms; log4j 1's own set-up messages
    (
        "log",
        "2026-11-30T01:43:27.160471333Z main ERROR Reconfiguration failed: No configuration found for '31f924f5' at 'null' in 'null'",
        "stderr",
        False,
    ),
    (
        "log",
        "ERROR StatusLogger No log4j2 configuration file found. Using default configuration: logging only errors to the console.",
        "stderr",
        False,
    ),
    (
        "log",
        "log4j:WARN No appenders could be found for logger (org.apache.kafka.clients.admin.AdminClientConfig).",
        "stderr",
        False,
    ),
    # SLF4J 2.x (org.slf4j.helpers.Reporter) and 1.x
    ("slf4j", "SLF4J(W): No SLF4J providers were found.", "stderr", False),
    (
        "slf4j",
        "SLF4J(I): Connected with provider of type [org.apache.logging.slf4j.SLF4JServiceProvider]",
        "stderr",
        False,
    ),
    ("slf4j", "SLF4J: Class path contains multiple SLF4J bindings.", "stderr", False),
    # HotSpot warnings and the launcher's / VM's notices
    (
        "jvm_warning",
        "OpenJDK 64-Bit Server VM warning: CodeCache is full. Compiler has been disabled.",
        "stderr",
        False,
    ),
    (
        "jvm_warning",
        "Java HotSpot(TM) 64-Bit Server VM warning: Option UseBiasedLocking was deprecated in version 15.0 and will likely be removed in a future release.",
        "stderr",
        False,
    ),
    ("jvm_warning", "Picked up JAVA_TOOL_OPTIONS: -Dfile.encoding=UTF-8", "stderr", False),
    ("jvm_warning", "NOTE: Picked up JDK_JAVA_OPTIONS: -Xmx256m", "stderr", False),
    ("jvm_warning", "WARNING: An illegal reflective access operation has occurred", "stderr", False),
]
IDS = [f"{kind}:{line[:40]}" for kind, line, _, _ in NOISE]


def scala_capture(extra: str, at: int, stream: str) -> tuple[str, str, str]:
    """2.3-3.7: println("\\n" + header), println(row); ``extra`` written after line ``at`` of the table."""
    table = ["", HEADER, *LINES]
    combined = [*table[: at + 2], extra, *table[at + 2 :]]
    out = combined if stream == "stdout" else table
    err = [extra] if stream == "stderr" else []
    return "\n".join(combined) + "\n", "\n".join(out) + "\n", "\n".join(err) + ("\n" if err else "")


def java_capture(extra: str, at: int, stream: str) -> tuple[str, str, str]:
    """3.8/3.9: printf("\\n" + format) for the header and each row, no final newline."""
    pieces = ["\n" + HEADER] + ["\n" + line for line in LINES]
    combined = "".join(pieces[: at + 1]) + extra + "\n" + "".join(pieces[at + 1 :])
    plain = "".join(pieces)
    if stream == "stdout":
        return combined, combined, ""
    return combined, plain, extra + "\n"


def check(result, kind: str) -> None:
    assert result.rows == EXPECTED
    assert result.errors == [] and result.unparsed == []
    assert result.group_states == {GROUP: "Stable"}
    assert result.skipped == {kind: 1}
    assert result.skipped_lines == 1
    assert len(result.skipped_sample) == 1


@pytest.mark.parametrize(("kind", "line", "stream", "mid_output"), NOISE, ids=IDS)
@pytest.mark.parametrize("at", range(len(LINES) + 1))
def test_any_harmless_line_between_any_two_lines_of_a_table(kind, line, stream, mid_output, at):
    combined, stdout, stderr = scala_capture(line, at, stream)
    check(parse_describe(combined, "", GROUP), kind)
    check(parse_describe(stdout, stderr, GROUP), kind)


GLUEABLE = [n for n in NOISE if n[3]]


@pytest.mark.parametrize(
    ("kind", "line", "stream", "mid_output"), GLUEABLE, ids=[f"{k}:{t[:40]}" for k, t, _, _ in GLUEABLE]
)
@pytest.mark.parametrize("at", range(len(LINES) + 1))
def test_3_8_a_line_printed_mid_table_is_glued_to_the_row_before_it(kind, line, stream, mid_output, at):
    # Only what can be printed while the table is (network-thread log events, JVM warnings from
    # other threads) can land there; start-up lines come before the first printf.
    combined, stdout, stderr = java_capture(line, at, stream)
    check(parse_describe(combined, "", GROUP), kind)
    check(parse_describe(stdout, stderr, GROUP), kind)


def test_each_kind_is_one_of_the_documented_kinds():
    assert {kind for kind, _, _, _ in NOISE} <= set(SKIPPED_KINDS)


def test_many_skipped_lines_are_counted_but_the_sample_stays_bounded():
    ul = '[9.871s][warning][os,thread] Failed to start thread "C2 CompilerThread1" - pthread_create failed (EAGAIN)'
    huge = "SLF4J(W): " + "x" * 1_000_000
    stdout = "\n".join(["", HEADER, LINES[0], *([ul] * 5000), LINES[1], LINES[2]]) + "\n"
    stderr = "\n".join([huge] * 3 + ["Picked up JAVA_TOOL_OPTIONS: -Dx=y"] * 40) + "\n"
    result = parse_describe(stdout, stderr, GROUP)
    assert result.rows == EXPECTED and result.errors == [] and result.unparsed == []
    assert result.skipped == {"jvm_log": 5000, "slf4j": 3, "jvm_warning": 40}
    assert result.skipped_lines == 5043
    assert len(result.skipped_sample) <= SKIPPED_SAMPLE_MAX
    assert max(len(s) for s in result.skipped_sample) < 400  # each cut, the 1 MB line too
    kinds = [s.split(": ", 1)[1][:6] for s in result.skipped_sample]
    assert kinds.count("[9.871") == 5  # a few of each kind, not 20 of the first
    assert result.skipped_sample[0] == "stdout:4: " + ul  # where it was: stream and line number
    doc = result.to_json_dict()
    assert doc["skipped_lines"] == 5043 and doc["skipped"] == result.skipped


def test_an_indented_paste_keeps_its_messages():
    text = "\n".join(
        [
            "  Note: This will not show information about old Zookeeper-based consumers.",
            "",
            "  Consumer group 'g' has no active members.",
            "",
            "  Error: Consumer group 'h' does not exist.",
        ]
    )
    result = parse_describe(text, "")
    assert result.group_states == {"g": "Empty"}
    assert [(e.kind, e.group) for e in result.errors] == [("group_not_found", "h")]
    assert result.skipped == {"note": 1} and result.unparsed == []


def test_an_unknown_line_inside_a_table_is_still_a_malformed_row():
    # Skipping is by recognised kind only: anything else inside a table stays loud.
    combined, _, _ = scala_capture("the JVM said something nobody knows", 1, "stdout")
    result = parse_describe(combined, "", GROUP)
    assert result.rows == EXPECTED
    assert [e.kind for e in result.errors] == ["malformed_row"]
    assert result.skipped == {}
