"""A warning that repeats every minute is logged once per change, not every minute.

A per-minute task that meets the same condition each run (a JMX bean whose value is text, a
topic the mirror stopped consuming) would write the same warning 1,440 times a day. The last
warning's fingerprint per subject lives in an Airflow Variable (the metadata database, so every
worker sees it, under Celery or Kubernetes alike): a warning is logged at WARNING when it
differs from the last one, else one INFO line says it still holds. Where no Variable can be read
(outside a task, a backend error) the warning is always logged: nothing is silenced by mistake.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

VARIABLE_PREFIX = "kafka_monitor_last_warning__"


def _fingerprint(message: str) -> str:
    return hashlib.sha256(message.encode()).hexdigest()[:16]


def warn_on_change(logger: logging.Logger, subject: str, message: str, *args: Any) -> bool:
    """Log ``message % args`` at WARNING if it changed since the last run for ``subject``;
    True when it was logged as a warning."""
    text = message % args if args else message
    key = VARIABLE_PREFIX + hashlib.sha256(subject.encode()).hexdigest()[:24]
    fingerprint = _fingerprint(text)
    try:
        from airflow.sdk import Variable

        last = Variable.get(key, default=None)
    except Exception:  # noqa: BLE001 - no Airflow context or backend: always warn
        logger.warning("%s", text)
        return True
    if last == fingerprint:
        logger.info("%s: the warning logged earlier still holds (unchanged; logged again when it changes)", subject)
        return False
    logger.warning("%s", text)
    try:
        Variable.set(key, fingerprint, description=f"kafka-monitor: last warning for {subject[:200]}")
    except Exception as exc:  # noqa: BLE001 - the warning is logged; only the dedup state is lost
        logger.info("could not record the warning's fingerprint (%s): it will be logged again", exc)
    return True


def clear(subject: str) -> None:
    """The condition is gone: the next occurrence warns again."""
    key = VARIABLE_PREFIX + hashlib.sha256(subject.encode()).hexdigest()[:24]
    try:
        from airflow.sdk import Variable

        if Variable.get(key, default=None) is not None:
            Variable.delete(key)
    except Exception:  # noqa: BLE001 - nothing to clear outside Airflow
        pass
