"""Remote output and user input reach logs, exceptions and status documents bounded and escaped
(kafka_monitor.text), checked end to end against the real sshd and the real store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

# Airflow configures logging when first imported; importing it now keeps pytest's log capture
# in place for the whole test (an import mid-test replaces the root handlers).
import airflow.providers.ssh.hooks.ssh  # noqa: F401
import pytest

from kafka_monitor.config.schema import MirrorMaker, StoreSettings
from kafka_monitor.lag.pipeline import LagCollectionFailed, collect_and_index_topic
from kafka_monitor.store.sink import SearchSink
from kafka_monitor.text import DEFAULT_LIMIT, bounded
from sandbox.search import find_documents

MINUTE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TOPIC = "orders"
ANSI_RED, ANSI_RESET = "\x1b[31m", "\x1b[0m"
MEGABYTE_LINE = ANSI_RED + "E" * 1_000_000 + ANSI_RESET + "\n"
HOOK_LOGGER = "SSHHook"  # the provider's per-line logging is switched off by the DAG (issue 12, item 2)


# --------------------------------------------------------------------------- the helper


def test_short_plain_text_is_unchanged():
    assert bounded("group 'oasis-group' not found") == "group 'oasis-group' not found"


def test_control_characters_and_ansi_escapes_are_escaped():
    assert bounded(f"{ANSI_RED}red{ANSI_RESET}\r\nnext\x00") == "\\x1b[31mred\\x1b[0m\\r\\nnext\\x00"
    assert bounded("a\nb", keep_newlines=True) == "a\nb"
    assert bounded("right\u202eto-left") == "right\\u202eto-left"


def test_long_text_is_capped_with_a_marker_saying_how_much_was_cut():
    text = "x" * 10_000
    out = bounded(text, 500)
    assert len(out) <= 500
    kept = out.index("…")
    assert out.endswith(f"…[cut {10_000 - kept} of 10000 characters]")
    tail = bounded("y" * 9_000 + "the real error", 200, tail=True)
    assert tail.endswith("the real error") and tail.startswith("…[cut ") and len(tail) <= 200


def test_escaping_counts_towards_the_cap_and_bounding_twice_changes_nothing():
    out = bounded("\x1b" * 10_000, 300)
    assert len(out) <= 300 and "\x1b" not in out
    assert bounded(out, 300) == out
    assert bounded(MEGABYTE_LINE) == bounded(bounded(MEGABYTE_LINE))
    assert len(bounded(MEGABYTE_LINE)) <= DEFAULT_LIMIT


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def store_settings() -> StoreSettings:
    return StoreSettings(kind="opensearch", conn_id="unused", initial_backoff_s=0.01, max_backoff_s=0.05, max_retries=1)


def test_a_megabyte_of_ansi_output_reaches_log_and_status_bounded(
    ssh_connection, fake_kafka, store, opensearch_client, store_settings, caplog
):
    # The host's tool prints a 1 MB line full of ANSI escapes on stdout and on stderr, and fails.
    kafka = fake_kafka(stdout=MEGABYTE_LINE * 2, stderr=MEGABYTE_LINE * 3, exit_status=1)
    mm = MirrorMaker(
        name="mm-1",
        ssh_conn_id=ssh_connection(),
        kafka_home=str(kafka.home),
        bootstrap_servers=["source-kafka-1.example.internal:9092"],
        group="oasis-group",
        topics=[TOPIC],
        timeouts={"connect_s": 5, "command_s": 20, "kill_grace_s": 1, "tool_timeout_ms": 5000},
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LagCollectionFailed) as caught:
        collect_and_index_topic(mm, TOPIC, SearchSink(opensearch_client, store_settings), store_settings, minute=MINUTE)
    assert caught.value.kind == "remote_command_failed"

    # Our own log lines, and every warning or error of anyone's but the hook's per-line echo.
    ours = [
        r
        for r in caplog.records
        if r.name.startswith("kafka_monitor") or (r.levelno >= logging.WARNING and HOOK_LOGGER not in r.name)
    ]
    logged = "\n".join(r.getMessage() for r in ours)
    assert "\x1b" not in logged and "\\x1b[0m" in logged  # escaped, still readable
    assert len(logged) < 16_000  # was ≥ 8 KB of raw escapes per failure, growing with the output
    assert "E" * 5_000 not in logged

    # What Airflow prints for the failure: the exception and its cause, each bounded.
    for exc in (caught.value, caught.value.__cause__):
        assert len(str(exc)) <= DEFAULT_LIMIT and "\x1b" not in str(exc)

    (status,) = find_documents(opensearch_client, "kafka-monitor-status-*", {"topic": TOPIC})
    assert status["error_kind"] == "remote_command_failed"
    assert len(status["error_message"]) <= DEFAULT_LIMIT and "\x1b" not in status["error_message"]
