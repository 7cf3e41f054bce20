"""A warning that repeats every minute is logged once per change (kafka_monitor.warn_once).

The last warning's fingerprint lives in an Airflow Variable; here it is given through Airflow's
environment-variable backend (AIRFLOW_VAR_*), which Variable.get reads outside a task too.
"""

from __future__ import annotations

import hashlib
import logging

from kafka_monitor import warn_once

SUBJECT = "jmx target broker-1: values that are not numbers"
TEXT = "JMX target broker-1: 7 value(s) are not numbers and were not indexed: a; b"


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def logger() -> tuple[logging.Logger, Records]:
    log = logging.getLogger("test.warn_once")
    log.handlers[:] = [Records()]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log, log.handlers[0]  # type: ignore[return-value]


def env_name(subject: str) -> str:
    key = warn_once.VARIABLE_PREFIX + hashlib.sha256(subject.encode()).hexdigest()[:24]
    return "AIRFLOW_VAR_" + key.upper()


def test_an_unchanged_warning_is_not_repeated(monkeypatch):
    log, seen = logger()
    monkeypatch.setenv(env_name(SUBJECT), warn_once._fingerprint(TEXT))
    assert warn_once.warn_on_change(log, SUBJECT, TEXT) is False
    assert [r.levelname for r in seen.records] == ["INFO"]
    assert "still holds" in seen.records[0].getMessage()


def test_a_changed_warning_is_logged(monkeypatch):
    log, seen = logger()
    monkeypatch.setenv(env_name(SUBJECT), warn_once._fingerprint("an older warning"))
    assert warn_once.warn_on_change(log, SUBJECT, TEXT) is True
    assert any(r.levelname == "WARNING" and r.getMessage() == TEXT for r in seen.records)


def test_without_a_readable_state_the_warning_is_always_logged():
    log, seen = logger()
    assert warn_once.warn_on_change(log, "a subject never seen", "%d values", 3) is True
    assert any(r.levelname == "WARNING" and r.getMessage() == "3 values" for r in seen.records)
