"""Parser for ``kafka-consumer-groups.sh --describe`` output, Kafka 0.10 to 4.x.

The tool prints a table per group, messages about the group's state, and its own errors, all
with exit status 0, so the whole answer is in the text. What this module knows of each
version (format strings quoted in the project's reference notes):

==============  =========================================================================
0.10.0-0.10.1   ``GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG OWNER``, fixed
                widths (30 30 10 15 15 15); ``unknown`` for a missing number, ``none`` for a
                missing owner; OWNER is ``<client-id>_<client-host>``.
0.10.2-1.0      ``TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST
                CLIENT-ID``, fixed widths (30 10 15 15 10 50 30) and *no* separator between
                CONSUMER-ID and HOST: ids longer than 50 run into the host (``.../10.0.0.5``).
1.1-2.2         the same columns, widths ``max(15, longest value)``, LAG 15 wide.
2.3-3.7         a GROUP column first; one table per group, a blank line before each header.
3.8-3.9         the same, but no final newline and no blank line between groups.
4.x --verbose   a LEADER-EPOCH column after PARTITION; ``-`` LOG-END-OFFSET and LAG on a
                partition without leader.
==============  =========================================================================

Rows are read by the header's column positions: a column whose width the tool computed from
its values never overflows, so it is sliced exactly (ids may hold spaces); the fixed-width
number columns may overflow, which shifts the rest of the row. One regular expression per
header does that in a single C-level match per row. A row that does not fit (a paste with
collapsed spaces, a value wider than Java counted) is read again by tokens, anchored on the run
of number columns.

Everything else is classified: ``Error:`` lines (kinds in ``ERROR_KINDS``), the stack trace
that follows (its first exception class), group state messages, launcher failures. Harmless
lines -- log4j/log4j2 lines of any common pattern, JVM unified logging (``[0.005s][warning]...``,
on stdout), HotSpot warnings, ``Picked up ..._OPTIONS``, SLF4J's diagnostics, the tool's notes --
are skipped wherever they land, also between two rows or glued to a 3.8/3.9 row: counted by kind
in ``DescribeResult.skipped`` (``SKIPPED_KINDS``) with a bounded sample, never silently dropped.
Lines nobody recognises are kept in ``DescribeResult.unparsed``; inside a table they are also a
``malformed_row`` error, so a truncated or garbled row is never silently dropped. Pasted output
indented as a whole (docs, mails) is read like the original.
``parse_describe`` raises ``DescribeParseError`` only when the text holds nothing of a describe
output at all (e.g. ``--members`` or ``--list`` output, or a shell's own error text).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import IO, Any

from kafka_monitor.errors import KafkaMonitorError

GROUP_NOT_FOUND = "group_not_found"
NOT_CONSUMER_GROUP = "not_consumer_group"
TIMEOUT = "timeout"
TOOL_EXCEPTION = "tool_exception"
JVM_STARTUP = "jvm_startup"
GROUP_MISSING_OR_REBALANCING = "group_missing_or_rebalancing"
MALFORMED_ROW = "malformed_row"

ERROR_KINDS: tuple[str, ...] = (
    GROUP_NOT_FOUND,  # Error: Consumer group 'X' does not exist. / GroupIdNotFoundException (4.x)
    NOT_CONSUMER_GROUP,  # GroupId X is not a consumer group (connect).  (MirrorMaker 2 / Connect)
    TIMEOUT,  # ... TimeoutException ... (broker unreachable, slow coordinator)
    TOOL_EXCEPTION,  # any other "Error:" the tool printed (NPE of 2.4.1-2.8, negative offset, ...)
    JVM_STARTUP,  # the JVM or the launcher script failed before the tool ran (JMX port in use, ...)
    GROUP_MISSING_OR_REBALANCING,  # 0.10.0: Consumer group `X` does not exist or is rebalancing.
    MALFORMED_ROW,  # a line inside a table that is not a row (truncated or garbled output)
)

# The start of a DescribeParseError message that is a bug here, not bad input (fuzz tests look).
INTERNAL_ERROR = "internal parser error"

STABLE = "Stable"
EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"

# Header column -> row key, and the header layouts the tool has printed (column order).
_KEYS = {
    "GROUP": "group",
    "TOPIC": "topic",
    "PARTITION": "partition",
    "LEADER-EPOCH": "leader_epoch",
    "CURRENT-OFFSET": "current_offset",
    "LOG-END-OFFSET": "log_end_offset",
    "LAG": "lag",
    "CONSUMER-ID": "consumer_id",
    "HOST": "host",
    "CLIENT-ID": "client_id",
    "OWNER": "owner",
}
_NUMERIC = frozenset({"PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"})
_OFFSETS = ("CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")
_LAYOUTS = {
    ("GROUP", "TOPIC", "PARTITION", *_OFFSETS, "OWNER"): "0.10.0-0.10.1",
    ("TOPIC", "PARTITION", *_OFFSETS, "CONSUMER-ID"): "0.10.2-1.0 ZooKeeper consumers",
    ("TOPIC", "PARTITION", *_OFFSETS, "CONSUMER-ID", "HOST", "CLIENT-ID"): "0.10.2-2.2",
    ("GROUP", "TOPIC", "PARTITION", *_OFFSETS, "CONSUMER-ID", "HOST", "CLIENT-ID"): "2.3+",
    ("GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", *_OFFSETS, "CONSUMER-ID", "HOST", "CLIENT-ID"): "4.x --verbose",
}
# The narrowest each column is ever printed (%-10s, %-15s, max(15, ...)).
_MIN_WIDTHS = {
    "GROUP": 15,
    "TOPIC": 15,
    "PARTITION": 10,
    "LEADER-EPOCH": 15,
    "CURRENT-OFFSET": 15,
    "LOG-END-OFFSET": 15,
    "LAG": 10,
    "CONSUMER-ID": 15,
    "HOST": 15,
    "CLIENT-ID": 0,
    "OWNER": 0,
}
# The order of keys in a row (as in the corpus), whatever the layout.
_ROW_ORDER = (
    "group",
    "topic",
    "partition",
    "leader_epoch",
    "current_offset",
    "log_end_offset",
    "lag",
    "consumer_id",
    "host",
    "client_id",
    "owner",
)

# 0.10.2-1.0: "%-50s" CONSUMER-ID glued to "%-30s %s" HOST, CLIENT-ID.
_GLUED_ID_WIDTH = 50
_GLUED_HOST_WIDTH = 30
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)

_NUM = r"(-?[0-9]{1,19}|-|unknown|none)"
_NUM_18 = r"(-?[0-9]{1,18}|-|unknown|none)"  # the hot path: int() of these always fits 64 bits
_NUM_FULL = re.compile(_NUM).fullmatch
_NULL_NUMBERS = frozenset({"-", "unknown", "none"})
_TOKEN = re.compile(r"\S+")

_HEADER = re.compile(r"^( *)(?:GROUP +TOPIC +PARTITION|TOPIC +PARTITION)(?: |$)")
_ERROR = re.compile(r"^Error:\s?(.*)$")
_FAILED_DUE_TO = "Executing consumer group command failed due to "
_NOT_EXIST = re.compile(r"^(?:The )?[Cc]onsumer group '(.*)' does not exist\.?$")
_GROUP_ID_NOT_FOUND = re.compile(r"GroupIdNotFoundException: Group (.*) not found\.?")
_NOT_CONSUMER = re.compile(r"GroupId (.*) is not a consumer group \(([^)]*)\)")
_TIMED_OUT = re.compile(r"TimeoutException|\btimed out\b", re.IGNORECASE)
_NO_MEMBERS = re.compile(r"^Consumer group '(.*)' has no active members\.$")
_REBALANCING = re.compile(r"^Warning: (?:Consumer )?[Gg]roup '(.*)' is rebalancing\.$")
# 0.10.0 / 0.10.1 print these on stdout, with backticks and no "Error:".
_OLD_MISSING_OR_REBALANCING = re.compile(r"^Consumer group `(.*)` does not exist or is rebalancing\.$")
_OLD_NOT_EXIST = re.compile(r"^Consumer group `(.*)` does not exist\.$")
_OLD_REBALANCING = re.compile(r"^Consumer group `(.*)` is rebalancing\.$")

# The JVM or the launcher script failed; the tool never ran.
_JVM_ERROR_TEXT = re.compile(
    r"^(?:Could not find or load main class|Exception thrown by the agent|JAVA_HOME|A JNI error"
    r"|Could not create the Java Virtual Machine|A fatal exception has occurred|Unable to initialize main class"
    r"|LinkageError occurred|Invalid or corrupt jarfile|Unable to access jarfile|Main method not found"
    r"|Port already in use|Cannot load|missing `server' JVM)"
)
_LAUNCHER_FAILURE = re.compile(
    r"^(?:Error occurred during initialization of VM|Could not create the Java Virtual Machine"
    r"|Unrecognized (?:VM )?option|Invalid (?:initial|maximum) heap size"
    r"|There is insufficient memory for the Java Runtime Environment"
    r"|.*: (?:command not found|No such file or directory|Permission denied|not found)\s*$)"
)
_THREAD_EXCEPTION = re.compile(r'^Exception in thread "[^"]*" (\S+?)(?::\s?(.*))?$')
_LAUNCH_CLASSES = frozenset(
    {
        "java.lang.NoClassDefFoundError",
        "java.lang.ClassNotFoundException",
        "java.lang.UnsupportedClassVersionError",
        "java.lang.UnsatisfiedLinkError",
    }
)

# Stack traces (printStackTrace on stderr after "Error:" in 2.3+).
_EXCEPTION_LINE = re.compile(
    r"^\s*((?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error|Throwable))(?::(?:\s(.*))?)?$"
)
_TRACE_LINE = re.compile(
    r"^\s+at \S|^\s*\.\.\.(?: \d+ (?:more|common frames omitted))?\s*$|^\s*(?:Caused by|Suppressed): "
)

# Lines that carry nothing for the result, by kind. Each is skipped and counted (never an error,
# never silently dropped): the JVM, its launcher and the logging libraries print them on either
# stream, so in a combined capture they can land between two rows of a table.
SKIPPED_KINDS: tuple[str, ...] = (
    "log",  # log4j / log4j2 lines of the tool's own clients, whatever the pattern
    "jvm_log",  # JVM unified logging (JDK 9+): "[0.005s][warning][os,thread] ..." on STDOUT
    "jvm_warning",  # "OpenJDK 64-Bit Server VM warning: ...", "Picked up JAVA_TOOL_OPTIONS: ...", "WARNING: ..."
    "slf4j",  # "SLF4J: ..." (1.x) and "SLF4J(W): ..." (2.x Reporter)
    "note",  # the tool's "Note: ..." (0.10.2-1.1)
    "tool_diagnostic",  # 0.10.x ZooKeeper-path diagnostics about a partition (its row shows "unknown")
    "stack_trace",  # lines of a stack trace; its first exception class goes to the error it belongs to
)
# At most this many skipped lines are kept as a sample (each cut to _SHOWN_CHARS), and at most
# _SAMPLE_PER_KIND of one kind: a JVM that warns on every line cannot grow the result.
SKIPPED_SAMPLE_MAX = 20
_SAMPLE_PER_KIND = 5
_SHOWN_CHARS = 300

_LEVEL = r"(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)"
# log4j ("[%d] %p %m (%c)%n", Kafka's tools-log4j.properties and 4.x tools-log4j2.yaml), and
# anywhere inside a 3.8/3.9 row that lacked its newline.
_LOG4J = re.compile(r"^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\] [A-Z]+ ")
# Other logging patterns a site's own log4j/log4j2 configuration gives: "%d %p %m (%c)%n"
# ("2026-11-30 01:02:03,456 WARN ..."), the log4j2 status logger ("2026-11-30T01:02:03.160Z main
# ERROR ..."), and "%p %m (%c)%n" ("WARN [AdminClient clientId=adminclient-1] ... (logger)").
_STAMPED_LOG = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?(?: \S+)?? +" + _LEVEL + r"\b"
)
_LEVEL_FIRST_LOG = re.compile(
    r"^" + _LEVEL + r" +(?:\[|StatusLogger |.*\((?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*\)\s*$)"
)
# JVM unified logging: decorators in brackets, one of them the level (maybe padded); by default
# "-Xlog:all=warning:stdout:uptime,level,tags", so on stdout, inside the table.
_JVM_LOG = re.compile(r"^(?:\[[^\]]{1,80}\])*?\[(?:trace|debug|info|warning|error) *\](?:\[[^\]]{0,80}\])* ")
# A log line glued to the end of a 3.8/3.9 row (those rows have no newline of their own): the
# kinds that can be printed while the table is (log events of the admin client's network thread,
# JVM unified logging). Every alternative holds "[" or ":", which rows rarely do.
_GLUED_LOG = re.compile(
    r"\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\] (?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL) "
    r"|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d{3,9}(?:Z|[+-]\d\d:?\d\d)?(?: \S+)? (?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL) "
    r"|(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \[(?:AdminClient|Consumer|Producer) clientId="
    r"|(?P<jvm>\[\d+(?:\.\d+)?m?s\]\[(?:trace|debug|info|warning|error) *\])"
)
_SLF4J = re.compile(r"^SLF4J(?:\([A-Z]\))?: ")
_JVM_WARNING = re.compile(
    r"^(?:WARNING: |(?:NOTE: )?Picked up \w+: |(?:OpenJDK|Java HotSpot\(TM\)|Eclipse OpenJ9).* VM warning: |log4j:)"
)
_NOTE = re.compile(r"^Note: ")
_TOOL_DIAGNOSTIC = re.compile(
    r"^(?:Could not fetch offset from (?:zookeeper|kafka) for group |No broker for partition "
    r"|Could not parse broker info due to |No topic available for consumer group provided)"
)


def _log_kind(line: str) -> str | None:
    """The kind of a harmless line that is a log event (a stack trace may follow it)."""
    first = line[:1]
    if first == "l":
        return "log" if line.startswith("log4j:") else None  # log4j 1.x's own set-up messages
    if first == "[":
        if _LOG4J.match(line):
            return "log"
        return "jvm_log" if _JVM_LOG.match(line) else None
    if first.isdigit():
        return "log" if _STAMPED_LOG.match(line) else None
    return "log" if _LEVEL_FIRST_LOG.match(line) else None


def _noise_kind(line: str) -> str | None:
    """The kind of any other harmless line."""
    if _SLF4J.match(line):
        return "slf4j"
    if _JVM_WARNING.match(line):
        return "jvm_warning"
    if _NOTE.match(line):
        return "note"
    if _TOOL_DIAGNOSTIC.match(line):
        return "tool_diagnostic"
    return None


class DescribeParseError(KafkaMonitorError):
    """The text is not ``kafka-consumer-groups.sh --describe`` output (or not text at all)."""


@dataclass(frozen=True)
class DescribeError:
    """One error the tool (or the JVM launching it) reported, or a row that could not be read."""

    kind: str
    message: str
    exception: str | None = None  # first exception class of the stack trace that followed
    group: str | None = None  # the group it is about, when the message or the caller says

    def to_json_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "exception": self.exception, "group": self.group}


@dataclass
class DescribeResult:
    rows: list[dict] = field(default_factory=list)
    errors: list[DescribeError] = field(default_factory=list)
    group_states: dict[str, str] = field(default_factory=dict)
    # Lines recognised as nothing at all, as "<stream>:<line>: <text>" (shown, never dropped).
    unparsed: list[str] = field(default_factory=list)
    # Harmless lines skipped (JVM, launcher and logging noise, notes, stack traces): how many of
    # each kind (SKIPPED_KINDS), and the first few as "<stream>:<line>: <text>".
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_sample: list[str] = field(default_factory=list)

    @property
    def skipped_lines(self) -> int:
        return sum(self.skipped.values())

    @property
    def error(self) -> DescribeError | None:
        return self.errors[0] if self.errors else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "error": self.errors[0].to_json_dict() if self.errors else None,
            "errors": [e.to_json_dict() for e in self.errors],
            "group_states": self.group_states,
            "unparsed": self.unparsed,
            "skipped_lines": self.skipped_lines,
            "skipped": self.skipped,
            "skipped_sample": self.skipped_sample,
        }

    def rows_for(self, group: str | None, topic: str) -> list[dict]:
        """Rows of ``topic`` (of ``group``; any group when None), by partition."""
        rows = [r for r in self.rows if r["topic"] == topic and (group is None or r["group"] == group)]
        rows.sort(key=lambda r: (r["partition"], r["group"] or ""))
        return rows


# --------------------------------------------------------------------------- values


def _number(text: str) -> int | None:
    if text in _NULL_NUMBERS:
        return None
    value = int(text)  # the patterns only let ASCII digits through
    if len(text) > 18 and not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{text} does not fit a 64-bit integer")
    return value


def _text(text: str) -> str | None:
    text = text.rstrip()
    return None if text == "-" or not text else text


def _last_text(text: str) -> str | None:
    # A 3.8/3.9 row has no newline of its own, so a log line (log4j on stderr, JVM unified
    # logging on stdout) may follow it.
    if "[" in text or ":" in text:
        glued = _GLUED_LOG.search(text)
        if glued:
            text = text[: glued.start()]
    return _text(text)


def _owner(text: str) -> str | None:
    value = _last_text(text)
    return None if value == "none" else value


def _split_glued(tail: str) -> tuple[str, str, str] | None:
    """CONSUMER-ID, HOST, CLIENT-ID from ``"%-50s" % id + "%-30s %s" % (host, client)``."""
    if len(tail) <= _GLUED_ID_WIDTH:
        return None
    if tail[_GLUED_ID_WIDTH - 1] == " ":
        host_start = _GLUED_ID_WIDTH
    else:  # the id filled or overran its 50 columns: the host starts at its "/"
        end = tail.find(" ", _GLUED_ID_WIDTH)
        slash = tail.find("/", _GLUED_ID_WIDTH, len(tail) if end < 0 else end)
        host_start = slash if slash >= 0 else _GLUED_ID_WIDTH
    if tail[host_start] == " ":
        return None
    host_end = tail.find(" ", host_start)
    if host_end < 0:
        host_end = len(tail)
    client_start = max(host_start + _GLUED_HOST_WIDTH, host_end) + 1
    return tail[:host_start], tail[host_start:host_end], tail[client_start:]


# --------------------------------------------------------------------------- table layouts


class _Layout:
    """One header: how its rows are read."""

    def __init__(self, names: tuple[str, ...], starts: list[int], indent: int):
        self.names = names
        self.header = " ".join(names)
        self.has_group = names[0] == "GROUP"
        self.is_owner = names[-1] == "OWNER"
        # 2.3+ print a group's table with no message only when it is Stable. (0.10.0 prints
        # its OWNER table for a group in any state with members; pre-2.3 tables name no group.)
        self.states_stable = self.has_group and not self.is_owner
        lag_width = starts[names.index("LAG") + 1] - starts[names.index("LAG")] - 1
        # 0.10.2-1.0 print LAG 10 wide and glue CONSUMER-ID to HOST; 1.1+ print LAG 15 wide.
        self.glued = "HOST" in names and lag_width == 10
        self.n_numeric = sum(1 for n in names if n in _NUMERIC)
        self.post = names[names.index("TOPIC") + 1 + self.n_numeric :]
        self.keys = tuple(_KEYS[n] for n in names)
        self.order = tuple(
            k for k in _ROW_ORDER if k in self.keys or k in ("group", "consumer_id", "host", "client_id")
        )
        convert: list[Callable[[str], Any]] = []
        for i, name in enumerate(names):
            last = i == len(names) - 1
            if name == "GROUP":
                convert.append(str.rstrip)
            elif name == "TOPIC":
                convert.append(str)
            elif name in _NUMERIC:
                convert.append(_number)
            elif name == "OWNER":
                convert.append(_owner)
            else:
                convert.append(_last_text if last else _text)
        self.convert = tuple(convert)
        standard = self.post == ("CONSUMER-ID", "HOST", "CLIENT-ID")
        self.build = self._build_standard if standard else self._build_checked
        # A header narrower than the tool ever prints it was pasted with its spaces collapsed:
        # its positions say nothing, so its rows are read by tokens only.
        widths = [starts[i + 1] - starts[i] - 1 for i in range(len(names) - 1)]
        genuine = all(w >= _MIN_WIDTHS[n] for n, w in zip(names, widths))
        self.exact = self._exact_pattern(starts, indent, _NUM_18).match if genuine else None
        self.exact_wide = self._exact_pattern(starts, indent, _NUM).match if genuine else None

    def _build_standard(self, v: Sequence[str], asked: str | None, nulls=_NULL_NUMBERS) -> dict | None:
        """A row of the layouts ending in CONSUMER-ID HOST CLIENT-ID (0.10.2 to 4.x): the hot path.

        Only for values the exact pattern matched: numbers of at most 18 digits.
        """
        group: str | None
        client: str | None
        if len(v) == 9:
            group, topic, p, cur, leo, lag, cid, host, client = v
            group = group.rstrip()
            epoch = None
        elif len(v) == 8:
            topic, p, cur, leo, lag, cid, host, client = v
            group = asked
            epoch = None
        else:
            group, topic, p, epoch, cur, leo, lag, cid, host, client = v
            group = group.rstrip()
        if topic == "-":
            return {"group": group, "topic": topic}
        cid = cid.rstrip()
        host = host.rstrip()
        client = _last_text(client) if "[" in client or ":" in client else (client.rstrip() or None)
        try:
            row: dict[str, Any] = {"group": group, "topic": topic, "partition": int(p)}
            if epoch is not None:  # 4.x --verbose
                row["leader_epoch"] = None if epoch in nulls else int(epoch)
            row.update(
                current_offset=None if cur in nulls else int(cur),
                log_end_offset=None if leo in nulls else int(leo),
                lag=None if lag in nulls else int(lag),
                consumer_id=None if cid == "-" or not cid else cid,
                host=None if host == "-" or not host else host,
                client_id=None if client == "-" else client,
            )
            return row
        except ValueError:  # no partition number on a row with a topic
            return None

    def _build_checked(self, values: Sequence[str], asked: str | None) -> dict | None:
        """Any layout, every value checked (OWNER and ZooKeeper layouts, edge values)."""
        try:
            raw: dict[str, Any] = dict(zip(self.keys, [c(v) for c, v in zip(self.convert, values)]))
        except ValueError:  # a number outside 64 bits
            return None
        if raw["topic"] == "-":
            return {"group": raw.get("group", asked), "topic": "-"}
        if raw["partition"] is None:
            return None
        if not self.has_group:
            raw["group"] = asked
        if self.is_owner:
            owner = raw["owner"]
            client, sep, host = owner.rpartition("_") if owner else ("", "", "")
            if sep and "/" in host:  # "<client-id>_<client-host>" of the Java consumer
                raw["client_id"], raw["host"] = client or None, host
            else:
                raw["client_id"] = raw["host"] = None
            raw["consumer_id"] = None
        elif "host" not in raw:  # ZooKeeper consumers: no HOST / CLIENT-ID columns
            raw["host"] = raw["client_id"] = None
        return {k: raw[k] for k in self.order}

    def _exact_pattern(self, starts: list[int], indent: int, number: str) -> re.Pattern[str]:
        parts = ["^" + " " * indent]
        last = len(self.names) - 1
        for i, name in enumerate(self.names):
            width = starts[i + 1] - starts[i] - 1 if i < last else 0
            if name == "GROUP":
                parts.append(f"(.{{{width}}}) ")  # exactly as wide as the tool padded it
            elif name == "TOPIC":
                parts.append(r"([^ ]+) ++")  # topic names hold no spaces; may overflow (0.10)
            elif name in _NUMERIC:
                parts.append(number + (" ++" if i < last else " *$"))  # may overflow 10/15
            elif self.glued and name == "CONSUMER-ID":
                parts.append("(.*)")  # split by _split_glued
                break
            elif i == last:
                parts.append("(.*)")
            else:  # a width computed from the values: never overflows, may hold spaces
                parts.append(f"([^ ].{{{width - 1}}}) ")
        return re.compile("".join(parts))

    def unglue(self, values: tuple[str, ...]) -> list[str] | None:
        """0.10.2-1.0: split the last matched text into CONSUMER-ID, HOST, CLIENT-ID."""
        split = _split_glued(values[-1])
        return None if split is None else [*values[:-1], *split]

    def read_slow(self, line: str, asked: str | None) -> dict | None:
        """A row the hot path did not take: 19-digit numbers, or columns that do not fit."""
        values: Sequence[str] | None = None
        if self.exact_wide is not None:
            m = self.exact_wide(line)
            if m is not None:
                values = self.unglue(m.groups()) if self.glued else m.groups()
        if values is None:
            values = self.read_tokens(line)
        return None if values is None else self._build_checked(values, asked)

    def read_tokens(self, line: str) -> list[str] | None:
        """Fallback: whitespace tokens, anchored on TOPIC followed by the number columns."""
        spans = [m.span() for m in _TOKEN.finditer(line)]
        k = self.n_numeric
        first = 1 if self.has_group else 0
        for t in range(first, len(spans) - k):
            if all(_NUM_FULL(line, spans[t + 1 + j][0], spans[t + 1 + j][1]) for j in range(k)):
                break
        else:
            return None
        values = []
        if self.has_group:
            values.append(line[spans[0][0] : spans[t - 1][1]])
        values.extend(line[a:b] for a, b in spans[t : t + 1 + k])
        rest = spans[t + 1 + k :]
        if not self.post:
            return values if not rest else None
        if not rest:
            return None
        if len(self.post) == 1:  # OWNER, or a ZooKeeper consumer's CONSUMER-ID
            values.append(line[rest[0][0] :])
            return values
        tokens = [line[a:b] for a, b in rest]
        host = next((j for j in range(1, len(tokens)) if tokens[j] == "-" or "/" in tokens[j]), None)
        if host is None:
            slash = tokens[0].find("/")
            if slash <= 0:
                return None
            # CONSUMER-ID ran into HOST (0.10.2-1.0) and the paste collapsed the spaces.
            values.extend((tokens[0][:slash], tokens[0][slash:]))
            values.append(line[rest[1][0] :] if len(rest) > 1 else "")
            return values
        values.append(line[rest[0][0] : rest[host - 1][1]])
        values.append(tokens[host])
        values.append(line[rest[host + 1][0] :] if host + 1 < len(rest) else "")
        return values


_layout_cache: dict[tuple, _Layout | None] = {}


def _layout_for(line: str) -> _Layout | None:
    """The layout of a header line; None for a header of another view (members, shares...)."""
    indent = len(line) - len(line.lstrip(" "))
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(line)]
    names = tuple(t for t, _ in tokens)
    key = (indent, tuple(tokens))
    if key in _layout_cache:
        return _layout_cache[key]
    layout = None
    if names in _LAYOUTS:
        starts = [s for _, s in tokens] + [len(line.rstrip()) + 1]
        layout = _Layout(names, starts, indent)
    if len(_layout_cache) < 256:
        _layout_cache[key] = layout
    return layout


# --------------------------------------------------------------------------- the parse


class _PendingError:
    __slots__ = ("kind", "message", "detail", "exception", "group")

    def __init__(self, kind: str, message: str, group: str | None):
        self.kind, self.message, self.detail, self.group = kind, message, message, group
        self.exception: str | None = None


class _Parser:
    def __init__(self, group: str | None):
        self.asked_group = group
        self.rows: list[dict] = []
        self.errors: list[_PendingError] = []
        self.awaiting_trace: list[_PendingError] = []  # errors the tool prints a stack trace for
        self.table_groups: dict[str, None] = {}  # groups printed in a table with a GROUP column
        self.message_states: dict[str, str] = {}
        self.unparsed: list[str] = []
        self.skipped: dict[str, int] = {}
        self.skipped_sample: list[str] = []
        self.headers = 0

    # ---- errors

    def _error(self, kind: str, message: str, group: str | None = None, wants_trace: bool = False) -> _PendingError:
        error = _PendingError(kind, message, group if group is not None else self.asked_group)
        self.errors.append(error)
        if wants_trace:
            self.awaiting_trace.append(error)
        return error

    def _tool_error(self, message: str) -> _PendingError:
        """Classify the text after ``Error:``."""
        m = _NOT_EXIST.match(message)
        if m:
            return self._error(GROUP_NOT_FOUND, message, m.group(1))
        if _JVM_ERROR_TEXT.match(message):
            return self._error(JVM_STARTUP, message, wants_trace=True)
        detail = message[len(_FAILED_DUE_TO) :] if message.startswith(_FAILED_DUE_TO) else message
        m = _GROUP_ID_NOT_FOUND.search(detail)
        if m:
            return self._error(GROUP_NOT_FOUND, detail, m.group(1), wants_trace=True)
        m = _NOT_CONSUMER.search(detail)
        if m:
            return self._error(NOT_CONSUMER_GROUP, detail, m.group(1), wants_trace=True)
        if _TIMED_OUT.search(detail):
            return self._error(TIMEOUT, detail, wants_trace=True)
        return self._error(TOOL_EXCEPTION, detail, wants_trace=True)

    def _stack_trace(self, cls: str, message: str | None, after_log: bool) -> None:
        """The first line of a stack trace: its class goes to the error it belongs to.

        printStackTrace starts with "<class>: <getMessage>", and the tool printed
        "failed due to <getMessage>" (or "null"), so the message pairs them even when stderr
        was captured apart or a logged exception came first.
        """
        message = (message or "").strip()
        for i, error in enumerate(self.awaiting_trace):
            if error.detail == message or (error.detail == "null" and not message):
                self.awaiting_trace.pop(i).exception = cls
                return
        if self.awaiting_trace and not after_log:
            self.awaiting_trace.pop(0).exception = cls

    def _skip(self, kind: str, stream: str, number: int, line: str) -> None:
        """Count a harmless line; keep it in the bounded sample while there is room."""
        seen = self.skipped.get(kind, 0)
        self.skipped[kind] = seen + 1
        if seen < _SAMPLE_PER_KIND and len(self.skipped_sample) < SKIPPED_SAMPLE_MAX:
            shown = line if len(line) <= _SHOWN_CHARS else line[:_SHOWN_CHARS] + "..."
            self.skipped_sample.append(f"{stream}:{number}: {shown}")

    def _glued_log(self, line: str, stream: str, number: int) -> None:
        """A log line glued to a 3.8/3.9 row (cut from its last column): counted, not lost."""
        m = _GLUED_LOG.search(line)
        if m is not None:
            self._skip("jvm_log" if m.group("jvm") else "log", stream, number, line[m.start() :])

    # ---- one stream

    def feed(self, text: str, stream: str) -> None:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        layout: _Layout | None = None
        exact = None
        in_table = False  # right after a header or a row: an unreadable line there is a bad row
        continues: _PendingError | None = None  # an error whose message may go on
        after_log = False  # a stack trace right after a log4j line may belong to that event
        rows, table_groups, asked = self.rows, self.table_groups, self.asked_group
        for number, line in enumerate(text.split("\n"), 1):
            if exact is not None and layout is not None:
                m = exact(line)
                if m is not None:
                    values = layout.unglue(m.groups()) if layout.glued else m.groups()
                    row = None if values is None else layout.build(values, asked)
                    if row is not None:
                        if layout.states_stable:
                            table_groups[row["group"]] = None
                        if row["topic"] != "-":  # "-": a member without partitions
                            rows.append(row)
                        if "[" in line or ":" in line:
                            self._glued_log(line, stream, number)
                        in_table = True
                        continue
            if not line or line.isspace():
                in_table = False
                continues = None
                after_log = False
                continue
            if _HEADER.match(line):
                new = _layout_for(line)
                if new is None and ("[" in line or ":" in line):
                    # 3.8/3.9 print the header without its newline too: a log line may follow it.
                    glued = _GLUED_LOG.search(line)
                    if glued is not None:
                        new = _layout_for(line[: glued.start()])
                        if new is not None:
                            self._glued_log(line, stream, number)
                if new is not None:
                    layout, exact = new, new.exact
                    self.headers += 1
                    in_table = True
                    continues = None
                    continue
            # Pasted output may be indented as a whole (docs, mails): messages still count.
            bare = line.lstrip(" ") if line[0] == " " else line
            if self._message(bare):
                in_table = False
                continues = None
                after_log = False
                continue
            m = _ERROR.match(bare)
            if m:
                continues = self._tool_error(m.group(1).strip())
                in_table = False
                after_log = False
                continue
            kind = _log_kind(bare)
            if kind is not None:
                self._skip(kind, stream, number, line)
                after_log = True
                continues = None
                continue
            kind = _noise_kind(bare)
            if kind is not None:
                self._skip(kind, stream, number, line)
                continues = None
                after_log = False
                continue
            m = _THREAD_EXCEPTION.match(line)
            if m:
                cls = m.group(1)
                continues = self._error(
                    JVM_STARTUP if cls in _LAUNCH_CLASSES else TOOL_EXCEPTION, (m.group(2) or cls).strip()
                )
                continues.exception = cls
                in_table = False
                continue
            m = _EXCEPTION_LINE.match(line)
            if m:
                self._stack_trace(m.group(1), m.group(2), after_log)
                self._skip("stack_trace", stream, number, line)
                continues = None
                continue
            if _TRACE_LINE.match(line):
                self._skip("stack_trace", stream, number, line)
                continues = None
                continue
            if _LAUNCHER_FAILURE.match(line):
                continues = self._error(JVM_STARTUP, line.strip(), wants_trace=True)
                in_table = False
                continue
            if continues is not None:  # a message that spans lines
                continues.message += "\n" + line.rstrip()
                continue
            if layout is not None:
                row = layout.read_slow(line, asked)
                if row is not None:
                    if layout.states_stable:
                        table_groups[row["group"]] = None
                    if row["topic"] != "-":
                        rows.append(row)
                    if "[" in line or ":" in line:
                        self._glued_log(line, stream, number)
                    in_table = True
                    continue
            where = f"{stream}:{number}"
            self.unparsed.append(f"{where}: {line}")
            if in_table and layout is not None:
                shown = line if len(line) <= 300 else line[:300] + "..."
                self._error(MALFORMED_ROW, f"{where}: not a row of the table '{layout.header}': {shown!r}")

    def _message(self, line: str) -> bool:
        """Group-state messages, and the 0.10.x describe messages on stdout."""
        if line.startswith("Consumer group "):
            m = _NO_MEMBERS.match(line)
            if m:
                self.message_states[m.group(1)] = EMPTY
                return True
            m = _OLD_MISSING_OR_REBALANCING.match(line)
            if m:
                self._error(GROUP_MISSING_OR_REBALANCING, line, m.group(1))
                return True
            m = _OLD_NOT_EXIST.match(line)
            if m:
                self._error(GROUP_NOT_FOUND, line, m.group(1))
                return True
            m = _OLD_REBALANCING.match(line)
            if m:
                self.message_states[m.group(1)] = PREPARING_REBALANCE
                return True
        elif line.startswith("Warning: "):
            m = _REBALANCING.match(line)
            if m:
                self.message_states[m.group(1)] = PREPARING_REBALANCE
                return True
        return False

    def result(self) -> DescribeResult:
        states = {g: STABLE for g in self.table_groups}
        states.update(self.message_states)
        if self.unparsed and not (self.headers or self.errors or states):
            shown = "; ".join(self.unparsed[:3])
            raise DescribeParseError(f"not kafka-consumer-groups.sh --describe output: {shown}")
        # A Stable group whose members hold no partitions prints nothing at all.
        if self.asked_group is not None and not (self.headers or self.errors or states or self.unparsed):
            states[self.asked_group] = STABLE
        try:
            self.rows.sort(key=itemgetter("group", "topic", "partition"))
        except TypeError:  # rows of a table without GROUP column (None) beside named groups
            self.rows.sort(key=lambda r: (r["group"] or "", r["topic"], r["partition"]))
        errors = [DescribeError(e.kind, e.message, e.exception, e.group) for e in self.errors]
        return DescribeResult(self.rows, errors, states, self.unparsed, self.skipped, self.skipped_sample)


def _as_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    raise DescribeParseError(f"{name} must be text, not {type(value).__name__}")


def parse_describe(stdout: str, stderr: str = "", group: str | None = None) -> DescribeResult:
    """Parse one ``kafka-consumer-groups.sh --describe`` run.

    ``stdout`` and ``stderr`` as captured separately, or everything in ``stdout`` (``2>&1``).
    ``group`` is the group asked for with ``--group``: the rows of layouts without a GROUP
    column (before 2.3) belong to it, and an empty answer means it is Stable with no partitions.
    Raises only ``DescribeParseError``.
    """
    if group is not None and not isinstance(group, str):
        raise DescribeParseError(f"group must be text, not {type(group).__name__}")
    parser = _Parser(group)
    try:
        parser.feed(_as_text(stdout, "stdout"), "stdout")
        parser.feed(_as_text(stderr, "stderr"), "stderr")
        return parser.result()
    except DescribeParseError:
        raise
    except Exception as exc:  # a parser bug must still surface as the parser's own error
        raise DescribeParseError(f"{INTERNAL_ERROR} ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- command line


def cli_parse_describe(file: str, group: str | None, out: IO[str], err: IO[str]) -> int:
    """``python -m kafka_monitor parse-describe [--group G] FILE``: print the parse as JSON.

    Exit 0 when parsed (a tool error in the output is data, reported under "error"), 2 when the
    file cannot be read or is not describe output.
    """
    try:
        if file == "-":
            stream = getattr(sys.stdin, "buffer", None)
            data = stream.read() if stream is not None else sys.stdin.read()
        else:
            with open(file, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        print(f"parse-describe: cannot read {file}: {exc.strerror or exc}", file=err)
        return 2
    try:
        result = parse_describe(data, "", group)
    except DescribeParseError as exc:
        print(f"parse-describe: {'stdin' if file == '-' else file}: {exc}", file=err)
        return 2
    json.dump(result.to_json_dict(), out, indent=2, ensure_ascii=False)
    out.write("\n")
    return 0
