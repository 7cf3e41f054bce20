"""Keep the CloudWatch dashboard equal to the repository's definition, cheaply.

``sync_dashboard`` puts the body only when the deployed copy differs. Most minutes it makes no
AWS call at all: the hash of the last synced body and the time of the last drift check live in
a ``SyncState`` (an Airflow Variable in the DAG), and the deployed copy is only read again when
the definition changed or ``drift_check_minutes`` have passed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafka_monitor.cloudwatch.aws import call, cloudwatch_client, validation_messages
from kafka_monitor.cloudwatch.render import render_dashboard
from kafka_monitor.cloudwatch.validate import validate_dashboard
from kafka_monitor.config.schema import CloudWatchSettings, MonitorConfig
from kafka_monitor.timestamps import iso, parse_iso

log = logging.getLogger(__name__)

STATE_VARIABLE = "kafka_monitor_dashboard_sync"


def canonical_json(body: Any) -> str:
    """One text per meaning: sorted keys, no whitespace (what hashes and comparisons use)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_hash(settings: CloudWatchSettings, body: Any) -> str:
    """Identity of what is synced: region, dashboard name and the normalised body."""
    text = f"{settings.region}\n{settings.dashboard_name}\n{canonical_json(body)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dashboard_diff(deployed: Any, wanted: Any, name: str) -> str:
    """A unified diff of the normalised bodies (``deployed`` None: not deployed yet)."""
    before = [] if deployed is None else json.dumps(deployed, sort_keys=True, indent=2, ensure_ascii=False).splitlines()
    after = json.dumps(wanted, sort_keys=True, indent=2, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(before, after, fromfile=f"deployed:{name}", tofile="repository", lineterm=""))


@dataclass(frozen=True)
class SyncRecord:
    """What the last sync left behind (kept between task runs, on any worker)."""

    dashboard: str
    region: str
    body_hash: str
    synced_at: datetime  # when CloudWatch was last found equal to, or made equal to, this body
    drift_checked_at: datetime  # when the deployed copy was last read

    def to_dict(self) -> dict[str, Any]:
        return {
            "dashboard": self.dashboard,
            "region": self.region,
            "body_hash": self.body_hash,
            "synced_at": iso(self.synced_at),
            "drift_checked_at": iso(self.drift_checked_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncRecord:
        return cls(
            dashboard=str(data["dashboard"]),
            region=str(data["region"]),
            body_hash=str(data["body_hash"]),
            synced_at=parse_iso(data["synced_at"]),
            drift_checked_at=parse_iso(data["drift_checked_at"]),
        )


class SyncState(ABC):
    """Where the last sync's record lives between task runs."""

    @abstractmethod
    def load(self) -> SyncRecord | None: ...

    @abstractmethod
    def save(self, record: SyncRecord) -> None: ...


class MemorySyncState(SyncState):
    """In-process state, for unit tests and one-off command-line runs."""

    def __init__(self, record: SyncRecord | None = None):
        self.record = record
        self.saves = 0

    def load(self) -> SyncRecord | None:
        return self.record

    def save(self, record: SyncRecord) -> None:
        self.record = record
        self.saves += 1


class VariableSyncState(SyncState):
    """The record as JSON in an Airflow Variable, so every worker sees the same state.

    An unreadable value (edited by hand, older format) counts as no state: the next sync then
    reads the deployed dashboard and compares, which is always safe.
    """

    def __init__(self, key: str = STATE_VARIABLE):
        self.key = key

    def load(self) -> SyncRecord | None:
        from airflow.sdk import Variable

        raw = Variable.get(self.key, default=None)
        if raw is None:
            return None
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
            return SyncRecord.from_dict(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Airflow Variable %s does not hold a dashboard sync record (%s); ignoring it", self.key, exc)
            return None

    def save(self, record: SyncRecord) -> None:
        from airflow.sdk import Variable

        Variable.set(
            self.key,
            json.dumps(record.to_dict(), sort_keys=True),
            description="kafka-monitor: last CloudWatch dashboard sync (written by the DAG)",
        )


@dataclass
class SyncResult:
    """What one sync did.

    ``action``: "disabled" (no cloudwatch section or enabled: false), "skipped_no_change"
    (same body as last synced and no drift check due: no AWS call), "unchanged" (read the
    deployed copy, equal), "created", "updated" (the definition changed) or "drift_repaired"
    (the definition did not change but the deployed copy had been edited).
    """

    action: str
    dashboard: str | None
    aws_called: bool = False
    aws_calls: list[str] = field(default_factory=list)
    put: bool = False
    drift_checked: bool = False
    diff: str = ""
    validation_messages: list[str] = field(default_factory=list)
    body_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def put_dashboard_body(client: Any, name: str, body: Mapping[str, Any]) -> list[str]:
    """PutDashboard; returns CloudWatch's validation messages (warnings: the dashboard was saved).

    A body CloudWatch refuses raises ``CloudWatchError`` (kind "invalid") carrying its messages.
    """
    response = call(client, "PutDashboard", f"dashboard {name!r}", DashboardName=name, DashboardBody=json.dumps(body))
    messages = validation_messages(response)
    for message in messages:
        log.warning("dashboard %s: CloudWatch validation message: %s", name, message)
    return messages


def drift_check_due(record: SyncRecord, now: datetime, minutes: int) -> bool:
    elapsed = now - record.drift_checked_at
    # A clock that went backwards also counts as due.
    return elapsed < timedelta(0) or elapsed >= timedelta(minutes=minutes)


def sync_dashboard(config: MonitorConfig, *, state: SyncState, now: datetime, client: Any = None) -> SyncResult:
    """Make the CloudWatch dashboard match the repository's definition.

    ``client``: a boto3 CloudWatch client; by default one is made from the Airflow connection,
    and only when AWS has to be asked. Raises ``DashboardValidationError`` (bad definition,
    before any AWS call) or ``CloudWatchError`` (AWS refused or could not be reached); the
    state is only updated after a successful check or put.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    settings = config.cloudwatch
    if settings is None or not settings.enabled:
        return SyncResult(action="disabled", dashboard=settings.dashboard_name if settings else None)

    body = render_dashboard(config)
    validate_dashboard(body)
    name = settings.dashboard_name
    wanted_hash = body_hash(settings, body)
    record = state.load()
    if (
        record is not None
        and record.body_hash == wanted_hash
        and not drift_check_due(record, now, settings.drift_check_minutes)
    ):
        log.info(
            "dashboard %s: unchanged since %s, next drift check after %s; no AWS call",
            name,
            iso(record.synced_at),
            iso(record.drift_checked_at + timedelta(minutes=settings.drift_check_minutes)),
        )
        return SyncResult(action="skipped_no_change", dashboard=name, body_hash=wanted_hash)

    if client is None:
        client = cloudwatch_client(settings)
    result = SyncResult(action="unchanged", dashboard=name, aws_called=True, drift_checked=True, body_hash=wanted_hash)
    subject = f"dashboard {name!r}"

    deployed: Any = None
    result.aws_calls.append("GetDashboard")
    response = call(client, "GetDashboard", subject, missing_ok=True, DashboardName=name)
    deployed_text = None if response is None else response.get("DashboardBody")
    if deployed_text is not None:
        try:
            deployed = json.loads(deployed_text)
        except ValueError:
            deployed = deployed_text  # not JSON: certainly different; the diff shows it as a string

    if deployed_text is not None and canonical_json(deployed) == canonical_json(body):
        log.info("dashboard %s: deployed copy matches the repository", name)
        synced_at = record.synced_at if record is not None and record.body_hash == wanted_hash else now
    else:
        if deployed_text is None:
            result.action = "created"
        elif record is not None and record.body_hash == wanted_hash:
            result.action = "drift_repaired"
        else:
            result.action = "updated"
        result.diff = dashboard_diff(deployed, body, name)
        log.info(
            "dashboard %s: %s; differences (deployed -> repository):\n%s",
            name,
            {
                "created": "not deployed yet, creating it",
                "updated": "the definition changed, updating it",
                "drift_repaired": "the deployed copy was edited by hand, putting the definition back",
            }[result.action],
            result.diff,
        )
        result.aws_calls.append("PutDashboard")
        result.validation_messages = put_dashboard_body(client, name, body)
        result.put = True
        synced_at = now

    state.save(
        SyncRecord(
            dashboard=name, region=settings.region, body_hash=wanted_hash, synced_at=synced_at, drift_checked_at=now
        )
    )
    return result
