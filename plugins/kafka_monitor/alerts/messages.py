"""Notification messages rendered from the Jinja templates in ``include/alerts/``.

``title.txt.j2`` (one line), ``body.txt.j2`` (plain text) and ``payload.json.j2`` (the webhook
payload, checked to be valid JSON). The values come from the notification's facts, frozen when
the transition happened, so a message delivered late still says what was true then.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path

TEMPLATE_DIR = "alerts"
KIND_LABELS = {"open": "OPEN", "escalate": "ESCALATED", "remind": "STILL", "resolve": "RESOLVED"}


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    payload: dict[str, Any]

    @property
    def html(self) -> str:
        """The plain text for mail clients (the SMTP notifier sends HTML)."""
        return f"<pre>{html.escape(self.text)}</pre>"

    @property
    def payload_json(self) -> str:
        return json.dumps(self.payload, sort_keys=True)


def duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(float(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(include_path(TEMPLATE_DIR))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text; the HTML form escapes the whole text
        keep_trailing_newline=False,
    )
    env.filters["duration"] = duration
    return env


def _rison_string(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def kibana_link(base: str | None, subject: dict[str, str]) -> str | None:
    """The Kibana dashboard, filtered to the subject (a KQL query in the app state)."""
    if not base or "mirrormaker" not in subject:
        return None
    if "topic" in subject:
        kql = f'mirrormaker:"{subject["mirrormaker"]}" and topic:"{subject["topic"]}"'
    else:
        kql = f'mirrormaker:"{subject["mirrormaker"]}" and group:"{subject["group"]}"'
    state = f"(query:(language:kuery,query:{_rison_string(kql)}))"
    glue = "&" if "?" in base.split("#")[-1] else "?"
    return f"{base}{glue}_g=(time:(from:now-6h,to:now))&_a={urllib.parse.quote(state, safe='():,')}"


def airflow_link(base: str | None, dag_id: str | None, run_id: str | None) -> str | None:
    if not base or not dag_id or not run_id:
        return None
    return f"{base.rstrip('/')}/dags/{urllib.parse.quote(dag_id, safe='')}/runs/{urllib.parse.quote(run_id, safe='')}"


def render(
    *,
    kind: str,
    track: str,
    subject: dict[str, str],
    facts: dict[str, Any],
    incident_id: str,
    minute: str,
    delivered_minute: datetime | None = None,
    kibana_url: str | None = None,
    airflow_url: str | None = None,
    dag_id: str | None = None,
) -> Message:
    if track == "dag":
        label = subject.get("dag_id", "?")
    elif track == "jmx":
        label = f"{subject.get('target')} ({subject.get('component')})"
    elif track == "dashboard":
        label = str(subject.get("dashboard"))
    else:
        label = "/".join(subject[k] for k in ("mirrormaker", "group", "topic") if k in subject)
    late = None
    if delivered_minute is not None:
        queued = datetime.fromisoformat(minute.replace("Z", "+00:00"))
        late = int((delivered_minute - queued).total_seconds() // 60) or None
    values: dict[str, Any] = {
        "partition_count": None,
        "status_counts": None,
        "total_lag": None,
        "max_lag": None,
        "max_lag_seconds": None,
        "eta_seconds": None,
        "reason": None,
        "error_kind": None,
        "error_message": None,
        "bad_minutes": None,
        "opened_at": None,
        "resolved_at": None,
        "run_id_of_event": None,
        "failed_tasks": None,
        "topics_by_status": None,
        "worst_partition": None,
        **facts,
        "kind": kind,
        "kind_label": KIND_LABELS.get(kind, kind.upper()),
        "track": track,
        "subject": subject,
        "subject_label": label,
        "incident_id": incident_id,
        "minute": minute,
        "late_minutes": late,
        "kibana_link": kibana_link(kibana_url, subject),
        "airflow_link": airflow_link(airflow_url, dag_id or subject.get("dag_id"), facts.get("run_id_of_event")),
    }
    env = _environment()
    try:
        title = env.get_template("title.txt.j2").render(values).strip()
        values["title"] = title
        text = env.get_template("body.txt.j2").render(values).strip() + "\n"
        payload_text = env.get_template("payload.json.j2").render(values)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"alert templates in {include_path(TEMPLATE_DIR)}: {type(exc).__name__}: {exc}") from None
    try:
        payload = json.loads(payload_text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"alert template {include_path(TEMPLATE_DIR, 'payload.json.j2')} rendered invalid JSON "
            f"(line {exc.lineno}): {exc.msg}"
        ) from None
    return Message(title=title, text=text, payload=payload)
