"""One describe per (host, group) per minute, shared with the group's topic tasks.

``describe_for_topics`` runs the bounded describe of a group once (a second attempt at once
when the failure is retryable and the group's budget still holds a whole attempt), parses it
once, and splits it into one small ``TopicRows`` per configured topic: the topic's rows, or
the error that kept them from being collected (a failure of the whole group is every topic's
error). In the ``per_topic`` fan-out the DAG hands each topic task its own ``TopicRows``
through XCom (one key per topic, so a task pulls only its topic's rows: nothing is kept on a
worker's disk or in its memory, and it works the same under Celery or Kubernetes); in the
``per_group`` fan-out the group's task indexes them itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka_monitor.config.budget import describe_attempt_s
from kafka_monitor.config.schema import MirrorMaker
from kafka_monitor.lag.ssh import (
    CollectionError,
    GroupDescribe,
    describe_group,
    topic_collection,
)
from kafka_monitor.retry_policy import is_retryable

log = logging.getLogger(__name__)

XCOM_KEY_PREFIX = "rows:"


def xcom_key(topic: str) -> str:
    """The XCom key of a topic's rows (topic names are [a-zA-Z0-9._-]{1,249})."""
    return XCOM_KEY_PREFIX + topic


@dataclass
class GroupRef:
    """What a topic's collection needs to know of its MirrorMaker entry."""

    name: str
    group: str


@dataclass
class TopicRows:
    """One topic's share of its group's describe: rows, or why there are none."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    group_state: str | None = None
    error_kind: str | None = None
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_kind is not None

    def to_xcom(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "group_state": self.group_state}
        if self.error_kind:
            out["error"] = {"kind": self.error_kind, "message": self.error_message}
        return out

    @classmethod
    def from_xcom(cls, value: Any) -> TopicRows:
        if not isinstance(value, dict) or not isinstance(value.get("rows"), list):
            raise ValueError(f"not a topic's rows: {type(value).__name__}")
        error = value.get("error") or {}
        return cls(
            rows=value["rows"],
            group_state=value.get("group_state"),
            error_kind=error.get("kind"),
            error_message=error.get("message"),
        )

    @classmethod
    def from_error(cls, exc: CollectionError, group: str, topic: str) -> TopicRows:
        state = exc.result.group_states.get(group) if exc.result is not None else None
        return cls(
            rows=_readable_rows(exc, group, topic), group_state=state, error_kind=exc.kind, error_message=str(exc)
        )

    def as_error(self) -> CollectionError:
        return CollectionError(self.error_message or "(no message)", self.error_kind or "internal_error")


def _readable_rows(exc: CollectionError, group: str, topic: str) -> list[dict[str, Any]]:
    """When the only fault is unreadable rows (a truncated line), the rows that were read."""
    result = exc.result
    if result is None or not result.errors or any(e.kind != "malformed_row" for e in result.errors):
        return []
    return list(result.rows_for(group, topic))


@dataclass
class GroupOutcome:
    """What the group's task returns: small, whatever the number of topics."""

    mirrormaker: str
    group: str
    attempts: int
    duration_s: float
    topics: int
    topics_with_rows: int
    partitions: int
    group_state: str | None
    error_kind: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe_with_retry(mm: MirrorMaker, attempts: int, pause_s: float, budget_s: float) -> tuple[GroupDescribe, int]:
    """The group's describe; a retryable failure is tried again when a whole attempt still fits."""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return describe_group(mm), attempt
        except CollectionError as exc:
            left = budget_s - (time.monotonic() - started) - pause_s
            if attempt == attempts or not is_retryable(exc.kind) or left < describe_attempt_s(mm):
                exc.attempts = attempt  # type: ignore[attr-defined]
                raise
            log.warning(
                "%s/%s: describe attempt %d of %d failed (%s), trying again in %g s: %s",
                mm.name,
                mm.group,
                attempt,
                attempts,
                exc.kind,
                pause_s,
                exc,
            )
            time.sleep(pause_s)
    raise AssertionError("unreachable")


def describe_for_topics(
    mm: MirrorMaker,
    topics: Sequence[str] | None = None,
    *,
    attempts: int = 1,
    pause_s: float = 0.0,
    budget_s: float | None = None,
) -> tuple[dict[str, TopicRows], GroupOutcome]:
    """Every configured topic's rows (or error) from one describe of the group."""
    topics = list(mm.topics if topics is None else topics)
    started = time.monotonic()
    budget = budget_s if budget_s is not None else attempts * describe_attempt_s(mm) + (attempts - 1) * pause_s
    shares: dict[str, TopicRows] = {}
    used = 1
    group_error: str | None = None
    state: str | None = None
    try:
        described, used = describe_with_retry(mm, attempts, pause_s, budget)
    except CollectionError as exc:
        used = getattr(exc, "attempts", 1)
        group_error = exc.kind
        log.error("%s/%s: describe failed after %d attempt(s): [%s] %s", mm.name, mm.group, used, exc.kind, exc)
        if exc.output is not None:
            log.error("remote stderr tail: %s", exc.output.stderr[-2000:] or "(empty)")
        for topic in topics:
            shares[topic] = TopicRows.from_error(exc, mm.group, topic)
    else:
        state = described.group_state
        for topic in topics:
            try:
                found = topic_collection(described, topic)
            except CollectionError as exc:
                shares[topic] = TopicRows.from_error(exc, mm.group, topic)
            else:
                shares[topic] = TopicRows(rows=found.rows, group_state=found.group_state)
    with_rows = [s for s in shares.values() if not s.failed]
    outcome = GroupOutcome(
        mirrormaker=mm.name,
        group=mm.group,
        attempts=used,
        duration_s=round(time.monotonic() - started, 3),
        topics=len(topics),
        topics_with_rows=len(with_rows),
        partitions=sum(len(s.rows) for s in with_rows),
        group_state=state,
        error_kind=group_error,
    )
    missing = sorted(t for t, s in shares.items() if s.failed)
    log.info(
        "%s/%s: one describe (%d attempt(s), %.2f s), group %s: %d of %d topics with rows, %d partitions%s",
        mm.name,
        mm.group,
        used,
        outcome.duration_s,
        state or "-",
        len(with_rows),
        len(topics),
        outcome.partitions,
        f"; without rows: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}" if missing else "",
    )
    return shares, outcome
