"""The monitor's configuration: a YAML file, validated on load.

The file is read at run time (by the first task of each DAG run), so adding a topic or a
MirrorMaker host needs no code deploy. Where it is read from, first match wins:

1. the ``path`` argument,
2. the ``KAFKA_MONITOR_CONFIG`` environment variable,
3. the Airflow Variable ``kafka_monitor_config_path``,
4. ``include/kafka_monitor.yaml``.

Every validation error names the field by its path in the file, for example
``mirrormakers[0].topics[2]: 'x; rm -rf /' is not a valid Kafka topic name``.
The field rules themselves live in ``kafka_monitor.config.validators`` (shared with the rooms
that receive the same values another way).
Credentials never live here: only Airflow connection ids do.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from kafka_monitor.config.evaluation import EvaluationSettings
from kafka_monitor.config.loader import (  # noqa: F401 - re-exported: callers import them from here
    CONFIG_ENV_VAR,
    CONFIG_VARIABLE,
    DEFAULT_CONFIG_FILE,
    ConfigSourceError,
    format_validation_error,
    load_config_data,
    resolve_config_path,
)
from kafka_monitor.config.validators import (
    INDEX_PREFIX_FIELDS,
    INDEX_PREFIX_PATTERN,
    REGION_PATTERN,
    check_absolute_path,
    check_conn_id,
    check_custom_namespace,
    check_distinct_index_prefixes,
    check_group,
    check_host_port,
    check_http_url,
    check_name,
    check_topic,
    check_unique_topics,
    split_servers,
)
from kafka_monitor.errors import ConfigError
from kafka_monitor.vocabulary import Component

# Length bounds on free-form values (user input that reaches command lines, document ids,
# index fields and messages). Kafka sets no limit on group ids; 255 is far above any real one.
MAX_GROUP_ID_CHARS = 255
MAX_PATH_CHARS = 1024
MAX_ADDRESS_CHARS = 1024
MAX_URL_CHARS = 2048


def at_most(limit: int) -> BeforeValidator:
    """A length bound checked before any other check, so the error never quotes a huge value."""

    def bound(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit} are allowed")
        return value

    return BeforeValidator(bound)


Topic = Annotated[str, AfterValidator(check_topic)]
Name = Annotated[str, AfterValidator(check_name)]
HostPort = Annotated[str, AfterValidator(check_host_port)]
AbsolutePath = Annotated[str, AfterValidator(check_absolute_path)]
GroupId = Annotated[str, AfterValidator(check_group)]
ConnId = Annotated[str, AfterValidator(check_conn_id)]
IndexPrefix = Annotated[str, Field(pattern=f"^{INDEX_PREFIX_PATTERN.pattern}$")]


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- sections


class CommandTimeouts(StrictModel):
    """Bounds on one collection; together they keep a task well inside its minute."""

    # Defaults fit two describe attempts in the minute's budget (kafka_monitor.config.budget).
    connect_s: float = Field(3.0, gt=0, le=60)  # SSH connect (SSHHook conn_timeout)
    command_s: float = Field(8.0, gt=0, le=55)  # remote `timeout`; the whole describe run
    kill_grace_s: float = Field(1.0, gt=0, le=30)  # `timeout -k`: SIGKILL this long after SIGTERM
    tool_timeout_ms: int = Field(5_000, ge=1000, le=55_000)  # kafka-consumer-groups --timeout

    @model_validator(mode="after")
    def _tool_fits_in_command(self) -> CommandTimeouts:
        if self.tool_timeout_ms / 1000 >= self.command_s:
            raise ValueError(
                f"tool_timeout_ms ({self.tool_timeout_ms}) must be shorter than command_s ({self.command_s} s)"
            )
        return self


class MirrorMaker(StrictModel):
    """One MirrorMaker host: where to SSH, where Kafka is installed, which group mirrors what."""

    name: Name
    ssh_conn_id: ConnId
    kafka_home: Annotated[AbsolutePath, at_most(MAX_PATH_CHARS)]
    bootstrap_servers: Annotated[list[HostPort], BeforeValidator(split_servers), Field(min_length=1)]
    command_config: Annotated[AbsolutePath, at_most(MAX_PATH_CHARS)] | None = None
    group: Annotated[GroupId, at_most(MAX_GROUP_ID_CHARS)]
    topics: Annotated[list[Topic], Field(min_length=1)]
    timeouts: CommandTimeouts = CommandTimeouts()

    @model_validator(mode="after")
    def _unique_topics(self) -> MirrorMaker:
        check_unique_topics(self.topics)
        return self


class AdminTimeouts(StrictModel):
    """Bounds on one Admin-API collection of a group (all its topics)."""

    connect_s: float = Field(5.0, gt=0, le=30)  # TCP + handshake (socket.connection.setup.timeout.ms)
    request_s: float = Field(10.0, gt=0, le=55)  # each Admin API request
    total_s: float = Field(30.0, gt=0, le=55)  # the whole collection, every request together

    @model_validator(mode="after")
    def _request_fits_in_total(self) -> AdminTimeouts:
        if self.request_s > self.total_s:
            raise ValueError(f"request_s ({self.request_s}) must not exceed total_s ({self.total_s})")
        return self


class ConsumerGroupWatch(StrictModel):
    """A consumer group watched through the Kafka Admin API (``kind: admin``): no SSH, no JVM.

    ``kafka_conn_id`` is an Airflow connection of type ``kafka`` (apache-kafka provider); its
    extra is the client configuration, SASL/SSL included. ``batched`` collects every topic of
    the group with one set of requests (one mapped task); otherwise one task per topic.
    """

    name: Name
    kind: Literal["admin"]
    kafka_conn_id: ConnId
    group: GroupId
    topics: Annotated[list[Topic], Field(min_length=1)]
    batched: bool = True
    timeouts: AdminTimeouts = Field(default_factory=lambda: AdminTimeouts.model_validate({}))

    @model_validator(mode="after")
    def _unique_topics(self) -> ConsumerGroupWatch:
        check_unique_topics(self.topics)
        return self


class StoreSettings(StrictModel):
    """The search store the documents go to. Indices are daily: ``<prefix>-YYYY.MM.DD``."""

    kind: Literal["elasticsearch", "opensearch"]
    conn_id: ConnId
    lag_index: IndexPrefix = "kafka-lag"
    status_index: IndexPrefix = "kafka-monitor-status"
    jmx_index: IndexPrefix = "kafka-jmx"
    # Alert incidents: one live document per subject in <incident_index>-state, and the
    # settled notifications in daily <incident_index>-YYYY.MM.DD.
    incident_index: IndexPrefix = "kafka-monitor-incidents"
    retention_days: int = Field(14, ge=1, le=3650)
    chunk_size: int = Field(500, ge=1, le=10_000)  # documents per bulk request
    # Worst case per request is (max_retries + 1) x request_timeout_s plus backoff: with these
    # defaults 4.5 s, so a topic task's two writes fit its budget (kafka_monitor.config.budget).
    max_retries: int = Field(1, ge=0, le=10)  # for 429/5xx, per request and per rejected item
    initial_backoff_s: float = Field(0.5, gt=0, le=30)
    max_backoff_s: float = Field(4.0, gt=0, le=120)
    request_timeout_s: float = Field(2.0, gt=0, le=120)

    @model_validator(mode="after")
    def _distinct_prefixes(self) -> StoreSettings:
        check_distinct_index_prefixes({name: getattr(self, name) for name in INDEX_PREFIX_FIELDS})
        return self


class JmxTarget(StrictModel):
    """One JVM to snapshot."""

    name: Name
    component: Component
    # host:port (an RMI registry, the usual -Dcom.sun.management.jmxremote.port) or a full
    # service:jmx: URL.
    address: Annotated[str, Field(min_length=1), at_most(MAX_ADDRESS_CHARS)]
    # Optional Airflow connection whose login/password are the JMX credentials.
    conn_id: ConnId | None = None
    # Preset names from include/jmx_presets/; omitted means the component's defaults.
    presets: list[Name] | None = None

    @model_validator(mode="after")
    def _address(self) -> JmxTarget:
        if self.address.startswith("service:jmx:"):
            if any(c.isspace() for c in self.address):
                raise ValueError(f"address {self.address!r}: a service URL has no spaces")
        else:
            try:
                check_host_port(self.address)
            except ValueError as exc:
                raise ValueError(f"address: {exc} (expected host:port or a service:jmx: URL)") from None
        return self


class JmxSettings(StrictModel):
    timeout_s: float = Field(20.0, gt=0, le=55)  # one target's whole snapshot, JVM start included
    targets: list[JmxTarget] = []

    @model_validator(mode="after")
    def _unique_targets(self) -> JmxSettings:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"targets: names must be unique, repeated: {', '.join(dupes)}")
        return self


class CloudWatchSettings(StrictModel):
    """The MSK dashboard kept in the repo (include/cloudwatch/) and synced to CloudWatch."""

    enabled: bool = True
    aws_conn_id: ConnId = "aws_default"
    region: Annotated[str, Field(pattern=f"^{REGION_PATTERN.pattern}$")]
    dashboard_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")] = "kafka-monitor-all-in-one"
    msk_cluster_name: Annotated[str, Field(min_length=1, max_length=64)]
    broker_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    mirrormaker_instance_ids: Annotated[list[Annotated[str, Field(pattern=r"^i-[0-9a-f]{8,17}$")]], Field(min_length=1)]
    # Defaults: every mirrored topic, and the first MirrorMaker's group.
    topics: list[Topic] | None = None
    consumer_group: Annotated[GroupId, at_most(MAX_GROUP_ID_CHARS)] | None = None
    # How often the deployed copy is compared with the repo's even when nothing changed here.
    drift_check_minutes: int = Field(60, ge=1, le=10_080)
    # Our own lag as CloudWatch custom metrics: off by default, it costs money per metric.
    publish_lag_metrics: bool = False
    lag_metric_namespace: Annotated[str, AfterValidator(check_custom_namespace)] = "KafkaMonitor"
    # Where the per-partition lag lives, for the dashboard's text widget.
    kibana_url: Annotated[str, AfterValidator(check_http_url), at_most(MAX_URL_CHARS)] | None = None


# --------------------------------------------------------------------------- alerts

EMAIL_PATTERN = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


def check_email(value: str) -> str:
    if not EMAIL_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


Email = Annotated[str, AfterValidator(check_email)]


class AlertChannel(StrictModel):
    """Where notifications go: an Airflow notifier and the connection id holding its secrets."""

    kind: Literal["apprise", "smtp"]
    conn_id: ConnId
    name: Name | None = None  # defaults to "<kind>-<conn_id>"; names the channel in incidents
    # smtp: recipients, and the sender when the connection's from_email extra is not set.
    to: list[Email] | None = None
    from_email: Email | None = None
    # apprise: "text" sends the title and the plain text body; "json" sends the JSON payload as
    # the body (for webhooks that parse it). tag: the connection's services to notify.
    body: Literal["text", "json"] = "text"
    tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.,-]{1,100}$")] = "all"
    # Routing: only incidents that reached this severity (error: stall, stop, rewind, unassigned,
    # lag unknown, failed runs), and only these topics (other subjects then never come here).
    threshold: Literal["warn", "error"] | None = None
    topics: list[Topic] | None = None

    @property
    def channel_id(self) -> str:
        return self.name or f"{self.kind}-{self.conn_id}"

    @model_validator(mode="after")
    def _fields_of_kind(self) -> AlertChannel:
        if self.kind == "smtp" and not self.to:
            raise ValueError("to: an smtp channel needs at least one recipient")
        if self.kind == "apprise" and (self.to or self.from_email):
            raise ValueError("to/from_email: only for smtp channels (apprise takes its targets from the connection)")
        return self


class AlertSettings(StrictModel):
    """Incidents from the lag verdicts and the collections, and where they are notified."""

    enabled: bool = True
    scope: Literal["topic", "group"] = "topic"  # one incident per topic, or per (host, group)
    threshold: Literal["warn", "error"] = "warn"  # error: stall, stop, rewind, unassigned
    open_after_minutes: int = Field(1, ge=1, le=60)
    resolve_after_minutes: int = Field(3, ge=1, le=1440)
    remind_minutes: int | None = Field(None, ge=1, le=10_080)
    unknown_after_minutes: int = Field(3, ge=1, le=1440)  # lag not collected this long: incident
    unknown_resolve_after_minutes: int = Field(1, ge=1, le=1440)
    max_attempts: int = Field(10, ge=1, le=1000)  # per notification and channel, one a minute
    notify_dag_failures: bool = True  # failed or overrunning kafka_monitor runs
    watch_jmx: bool = True  # a JMX target not read for unknown_after_minutes: an incident
    watch_dashboard: bool = True  # the CloudWatch dashboard not synced for unknown_after_minutes
    kibana_url: Annotated[str, AfterValidator(check_http_url)] | None = None  # default: cloudwatch.kibana_url
    airflow_url: Annotated[str, AfterValidator(check_http_url)] | None = None  # the UI, for run links
    channels: Annotated[list[AlertChannel], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_channels(self) -> AlertSettings:
        ids = [c.channel_id for c in self.channels]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"channels: names must be unique (set name:), repeated: {', '.join(dupes)}")
        return self


class LagSettings(StrictModel):
    """How the lag collection fans out (see docs/operations.md, "Fan-out and capacity")."""

    # per_topic: one describe task per (host, group) and one task per topic (label host/topic);
    # per_group: one task per (host, group) describes once and indexes all its topics.
    fan_out: Literal["per_topic", "per_group"] = "per_topic"
    # Describe attempts inside the group's task (a retryable failure tries again at once).
    describe_attempts: int = Field(2, ge=1, le=3)
    retry_pause_s: float = Field(1.0, ge=0, le=10)


class MonitorConfig(StrictModel):
    store: StoreSettings
    mirrormakers: Annotated[list[MirrorMaker], Field(min_length=1)]
    # Consumer groups read through the Admin API (kind: admin); SSH entries stay in mirrormakers.
    consumer_groups: list[ConsumerGroupWatch] = []
    lag: LagSettings = LagSettings()
    jmx: JmxSettings = JmxSettings()
    cloudwatch: CloudWatchSettings | None = None
    evaluation: EvaluationSettings = EvaluationSettings()
    alerts: AlertSettings | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> MonitorConfig:
        names = [m.name for m in self.mirrormakers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"mirrormakers: names must be unique, repeated: {', '.join(dupes)}")
        # Lag document ids hold the name: a group watched both ways needs two names.
        taken = set(names)
        for i, watch in enumerate(self.consumer_groups):
            if watch.name in taken:
                raise ValueError(
                    f"consumer_groups[{i}].name: {watch.name!r} is already used by another entry "
                    "(names are unique across mirrormakers and consumer_groups)"
                )
            taken.add(watch.name)
        unknown = sorted(set(self.evaluation.topics) - set(self.all_topics()))
        if unknown:
            raise ValueError(f"evaluation.topics: not a mirrored topic: {', '.join(unknown)}")
        return self

    # The (host, topic) pairs the lag task is mapped over.
    def lag_targets(self) -> list[dict[str, Any]]:
        return [
            {"mirrormaker": mm.model_dump(mode="json"), "topic": topic}
            for mm in self.mirrormakers
            for topic in mm.topics
        ]

    # The Admin-API collections: one per group when batched, else one per (group, topic).
    def admin_lag_targets(self) -> list[dict[str, Any]]:
        targets = []
        for watch in self.consumer_groups:
            entry = watch.model_dump(mode="json")
            if watch.batched:
                targets.append({"watch": entry, "topics": list(watch.topics)})
            else:
                targets.extend({"watch": entry, "topics": [topic]} for topic in watch.topics)
        return targets

    def all_topics(self) -> list[str]:
        return list(dict.fromkeys(t for mm in self.mirrormakers for t in mm.topics))


# --------------------------------------------------------------------------- loading
# Reading the file (where it is, YAML that refuses duplicate keys) lives in config/loader.py.


def parse_config(data: Any, source: str = "<config>") -> MonitorConfig:
    """Validate already-loaded YAML/JSON data; raise ConfigError naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid kafka-monitor configuration in {source}: the top level must be a mapping")
    try:
        config = MonitorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    _check_jmx_presets(config, source)
    return config


def _check_jmx_presets(config: MonitorConfig, source: str) -> None:
    """Preset names and their ObjectName patterns are checked now, not at the first snapshot."""
    if not config.jmx.targets:
        return
    from kafka_monitor.jmx import presets as jmx_presets  # local: only configs with JMX targets need it

    for i, target in enumerate(config.jmx.targets):
        try:
            jmx_presets.resolve_target_presets(target.component, target.presets)
        except ConfigError as exc:
            raise ConfigError(
                f"invalid kafka-monitor configuration in {source}:\n  jmx.targets[{i}].presets: {exc}"
            ) from None


def load_config(path: str | os.PathLike[str] | None = None) -> MonitorConfig:
    data, config_path = load_config_data(path)
    return parse_config(data, str(config_path))
