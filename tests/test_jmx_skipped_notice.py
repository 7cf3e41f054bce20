"""The warning about JMX values that are not numbers comes once per change, not every minute,
with the memory in the store's status documents (kafka_monitor.jmx.skipped_notice), never in
the worker: the same set of text values again logs at INFO, a new set warns again."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from kafka_monitor.config.schema import JmxSettings, JmxTarget, StoreSettings
from kafka_monitor.jmx.skipped_notice import PreviousNotice, log_skipped, previous_notice
from kafka_monitor.jmx.snapshot import JmxError, collect_and_index
from kafka_monitor.store.sink import SearchSink
from sandbox.search import find_documents

MINUTE = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
SETTINGS = JmxSettings(timeout_s=20)
# Gauges whose Value is text: Spark's JmxSink publishes whatever a gauge returns, and the shipped
# spark_metrics preset asks for every gauge's Value.
TEXT_GAUGE = "metrics:name=app-1.driver.test.version,type=gauges"
OTHER_TEXT_GAUGE = "metrics:name=app-1.driver.test.mode,type=gauges"
LOGGER = "kafka_monitor.jmx.snapshot"


def notices(caplog) -> list[tuple[int, str]]:
    found = [(r.levelno, r.getMessage()) for r in caplog.records if "not numbers" in r.getMessage()]
    caplog.clear()
    return found


def test_the_same_text_values_warn_once_and_a_change_warns_again(jvm, store, caplog):
    sink = SearchSink(store.opensearch_client(), StoreSettings(kind="opensearch", conn_id="s", initial_backoff_s=0.01))
    target = JmxTarget(name="spark-text", component="spark_driver", address=jvm.address)

    def collect(minute_offset: int) -> list[tuple[int, str]]:
        with caplog.at_level(logging.INFO, logger=LOGGER):
            collect_and_index(
                target,
                SETTINGS,
                sink,
                status_index_prefix="kafka-monitor-status",
                jmx_index_prefix="kafka-jmx",
                minute=MINUTE + timedelta(minutes=minute_offset),
            )
        return notices(caplog)

    jvm.register(TEXT_GAUGE, {"Value": "4.3.0"})
    try:
        first = collect(0)
        assert [level for level, _ in first] == [logging.WARNING]
        assert "1 value(s) are not numbers" in first[0][1] and TEXT_GAUGE in first[0][1]

        # Next minute, same value: already warned.
        assert [level for level, _ in collect(1)] == [logging.INFO]
        # The text changes, the set of attributes does not: still no new warning.
        jvm.set(TEXT_GAUGE, {"Value": "4.3.1"})
        assert [level for level, _ in collect(2)] == [logging.INFO]
        # Another text value appears: the set changed.
        jvm.register(OTHER_TEXT_GAUGE, {"Value": "standalone"})
        changed = collect(3)
        assert [level for level, _ in changed] == [logging.WARNING] and "2 value(s)" in changed[0][1]
        assert [level for level, _ in collect(4)] == [logging.INFO]
        # Gone, then back: both are changes; nothing is logged while there is nothing to say.
        jvm.unregister(OTHER_TEXT_GAUGE)
        jvm.unregister(TEXT_GAUGE)
        assert collect(5) == []
        jvm.register(TEXT_GAUGE, {"Value": "4.3.0"})
        assert [level for level, _ in collect(6)] == [logging.WARNING]
    finally:
        for name in (TEXT_GAUGE, OTHER_TEXT_GAUGE):
            try:
                jvm.unregister(name)
            except Exception:  # noqa: BLE001 - already gone
                pass

    statuses = sorted(
        find_documents(store.opensearch_client(), "kafka-monitor-status-*", {"target": target.name}),
        key=lambda d: d["@timestamp"],
    )
    assert [s["skipped_count"] for s in statuses] == [1, 1, 1, 2, 2, 0, 1]
    digests = [s["skipped_digest"] for s in statuses]
    assert digests[0] == digests[1] == digests[2] == digests[6] and digests[3] == digests[4] != digests[0]
    assert digests[5] is None


def test_a_store_that_cannot_be_read_means_a_warning_not_silence(caplog):
    class BrokenSink:
        def search(self, *args, **kwargs):
            raise OSError("connection refused")

    previous = previous_notice(BrokenSink(), "kafka-monitor-status", "t", MINUTE)
    assert not previous.found and "connection refused" in (previous.error or "")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        level = log_skipped("t", ["b Value (String: x)"], ["b Value"], previous)
    assert level == logging.WARNING and "connection refused" in caplog.records[-1].getMessage()
    # And the same digest from a readable store is INFO.
    same = PreviousNotice(True, "0" * 16, "2026-11-22T10:14:00Z")
    assert log_skipped("t", [], [], same) == 0


def test_a_collection_that_fails_after_reading_still_reports_its_text_values_once(jvm, store, caplog):
    # The broker's presets read a per-topic meter whose values are text, and one gauge they
    # require is gone: the collection fails (no_beans) but indexes what it read, and its text
    # values are reported like a successful collection's.
    sink = SearchSink(store.opensearch_client(), StoreSettings(kind="opensearch", conn_id="s", initial_backoff_s=0.01))
    target = JmxTarget(name="broker-text", component="kafka_broker", address=jvm.address)
    odd_topic = "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=odd"
    offline = "kafka.controller:type=KafkaController,name=OfflinePartitionsCount"
    jvm.register(odd_topic, {"Count": "n/a", "OneMinuteRate": "n/a"})
    jvm.unregister(offline)
    levels = []
    try:
        for offset in (0, 1):
            with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(JmxError) as failed:
                collect_and_index(
                    target,
                    SETTINGS,
                    sink,
                    status_index_prefix="kafka-monitor-status",
                    jmx_index_prefix="kafka-jmx",
                    minute=MINUTE + timedelta(minutes=offset),
                )
            assert failed.value.kind == "no_beans" and failed.value.samples
            levels.append([level for level, _ in notices(caplog)])
    finally:
        jvm.unregister(odd_topic)
    assert levels == [[logging.WARNING], [logging.INFO]]
    statuses = find_documents(store.opensearch_client(), "kafka-monitor-status-*", {"target": target.name})
    assert sorted((s["status"], s["error_kind"], s["skipped_count"]) for s in statuses) == [
        ("error", "no_beans", 2),
        ("error", "no_beans", 2),
    ]
