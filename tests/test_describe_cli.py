"""``python -m kafka_monitor parse-describe`` as operators run it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "describe_corpus"


def parse_describe_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kafka_monitor", "parse-describe", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )


def expected(case: str) -> dict:
    return json.loads((CORPUS / f"{case}.json").read_text())["expected"]


def test_file_with_group():
    proc = parse_describe_cli("--group", "mm-dc1-to-dc2", str(CORPUS / "kafka-2.6-no-active-members.txt"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    want = expected("kafka-2.6-no-active-members")
    assert doc["rows"] == want["rows"]
    assert doc["group_states"] == want["group_states"] == {"mm-dc1-to-dc2": "Empty"}
    assert doc["error"] is None and doc["errors"] == []
    assert proc.stderr == b""


def test_stdin_and_group_for_a_layout_without_group_column():
    data = (CORPUS / "kafka-2.1-no-group-column.txt").read_bytes()
    with_group = json.loads(parse_describe_cli("--group", "mm-dc1-to-dc2", "-", stdin=data).stdout)
    assert with_group["rows"] == expected("kafka-2.1-no-group-column")["rows"]
    without = parse_describe_cli("-", stdin=data)
    assert without.returncode == 0
    assert {row["group"] for row in json.loads(without.stdout)["rows"]} == {None}


def test_tool_error_is_data_exit_0():
    proc = parse_describe_cli(str(CORPUS / "kafka-2.8-npe-null-offset.txt"))
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["error"]["kind"] == "tool_exception"
    assert doc["error"]["exception"] == "java.lang.NullPointerException"
    assert doc["rows"] == []


def test_empty_stdin_for_an_asked_group_is_stable():
    proc = parse_describe_cli("--group", "mm-subscribed-to-missing-topic", "-", stdin=b"")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["group_states"] == {"mm-subscribed-to-missing-topic": "Stable"}


def test_bytes_that_are_not_utf8_are_still_read(tmp_path):
    text = (CORPUS / "kafka-2.6-basic.txt").read_bytes().replace(b"mm-dc1-to-dc2-0\n", b"mm-dc1-to-dc2-\xe9\n")
    path = tmp_path / "latin1.txt"
    path.write_bytes(text)
    proc = parse_describe_cli(str(path))
    assert proc.returncode == 0
    clients = {row["client_id"] for row in json.loads(proc.stdout)["rows"]}
    assert "mm-dc1-to-dc2-\ufffd" in clients


@pytest.mark.parametrize("name", ["missing.txt", "."])
def test_unreadable_file_exit_2(tmp_path, name):
    path = tmp_path / name if name != "." else tmp_path
    proc = parse_describe_cli(str(path))
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert b"cannot read" in proc.stderr and str(path).encode() in proc.stderr


def test_not_describe_output_exit_2(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("mm-dc1-to-dc2\nlogstash\n")
    proc = parse_describe_cli(str(path))
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert b"not kafka-consumer-groups.sh --describe output" in proc.stderr
    assert b"stdout:1: mm-dc1-to-dc2" in proc.stderr


def test_several_errors_are_all_listed():
    text = (
        b"\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n"
        b"a               orders          0          5               9               4               -               -               -\n"
        b"\nError: Consumer group 'b' does not exist.\n"
        b"\nError: Consumer group 'c' does not exist.\n"
    )
    proc = parse_describe_cli("-", stdin=text)
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert [e["group"] for e in doc["errors"]] == ["b", "c"]
    assert doc["error"] == doc["errors"][0]
    assert doc["rows"][0]["lag"] == 4 and doc["group_states"] == {"a": "Stable"}


def test_skipped_jvm_lines_are_reported_not_errors():
    # Unified logging writes to stdout, between two rows: the JSON says what was skipped.
    proc = parse_describe_cli("--group", "mm-dc1-to-dc2", str(CORPUS / "kafka-3.x-jvm-unified-logging-in-table.txt"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["rows"] == expected("kafka-3.x-jvm-unified-logging-in-table")["rows"]
    assert doc["errors"] == [] and doc["unparsed"] == []
    assert doc["skipped_lines"] == 2 and doc["skipped"] == {"jvm_log": 2}
    assert doc["skipped_sample"][0].startswith("stdout:1: [0.001s][warning][pagesize] ")
