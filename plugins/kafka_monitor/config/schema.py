"""The monitor's configuration: a YAML file, validated on load.

The file is read at run time (by the first task of each DAG run), so adding a topic or a
MirrorMaker host needs no code deploy. Where it is read from, first match wins:

1. the ``path`` argument,
2. the ``KAFKA_MONITOR_CONFIG`` environment variable,
3. the Airflow Variable ``kafka_monitor_config_path``,
4. ``include/kafka_monitor.yaml``.

Every validation error names the field by its path in the file, for example
``mirrormakers[0].topics[2]: 'x; rm -rf /' is not a valid Kafka topic name``.
Credentials never live here: only Airflow connection ids do.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path

CONFIG_ENV_VAR = "KAFKA_MONITOR_CONFIG"
CONFIG_VARIABLE = "kafka_monitor_config_path"
DEFAULT_CONFIG_FILE = "kafka_monitor.yaml"

# Kafka's own rule (clients/.../common/internals/Topic.java): legal chars, max 249, not "." or "..".
TOPIC_PATTERN = re.compile(r"[a-zA-Z0-9._-]{1,249}")
# Names we put into document ids, index names and task labels.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
HOSTNAME_PATTERN = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
INDEX_PREFIX_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,200}")

COMPONENTS = (
    "kafka_broker",
    "zookeeper",
    "mirrormaker",
    "mirrormaker2",
    "logstash",
    "spark_driver",
    "spark_executor",
    "jvm",
)


# --------------------------------------------------------------------------- field checks


def check_topic(value: str) -> str:
    if not isinstance(value, str) or not TOPIC_PATTERN.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"{value!r} is not a valid Kafka topic name (1-249 characters from [a-zA-Z0-9._-], and not '.' or '..')"
        )
    return value


def check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits, '_', '.', '-'; at most 100)")
    return value


def check_host(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])  # raises ValueError with its own message
        return host
    if HOSTNAME_PATTERN.fullmatch(host):
        return host
    raise ValueError(f"{host!r} is not a valid host name or address")


def check_host_port(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a host:port string")
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not host:port")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} has no valid port (1-65535)")
    check_host(host)
    return value


def split_servers(value: Any) -> Any:
    """Accept Kafka's own comma-separated form as well as a YAML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def check_absolute_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value or "\n" in value:
        raise ValueError(f"{value!r} is not an absolute path")
    # Normalise without touching the (remote) file system.
    return str(PurePosixPath(value))


def check_group(value: str) -> str:
    # Kafka puts no rule on group ids; they are always shell-quoted. Only what cannot travel
    # through a command line or a document id is refused.
    if not value or "\x00" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{value!r} is not a usable consumer group id (empty, or has NUL/newline)")
    return value


def check_conn_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", value):
        raise ValueError(f"{value!r} is not a valid Airflow connection id")
    return value


def check_http_url(value: str) -> str:
    if not re.fullmatch(r"https?://\S+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def check_custom_namespace(value: str) -> str:
    if not re.fullmatch(r"[\x21-\x7e]{1,255}", value) or value.startswith(("AWS/", ":")):
        raise ValueError(
            f"{value!r} is not a usable custom metric namespace "
            "(1-255 printable ASCII characters, not starting with 'AWS/' or ':')"
        )
    return value


Topic = Annotated[str, AfterValidator(check_topic)]
Name = Annotated[str, AfterValidator(check_name)]
HostPort = Annotated[str, AfterValidator(check_host_port)]
AbsolutePath = Annotated[str, AfterValidator(check_absolute_path)]
GroupId = Annotated[str, AfterValidator(check_group)]
ConnId = Annotated[str, AfterValidator(check_conn_id)]
IndexPrefix = Annotated[str, Field(pattern=f"^{INDEX_PREFIX_PATTERN.pattern}$")]
Component = Literal[
    "kafka_broker", "zookeeper", "mirrormaker", "mirrormaker2", "logstash", "spark_driver", "spark_executor", "jvm"
]


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
    kafka_home: AbsolutePath
    bootstrap_servers: Annotated[list[HostPort], BeforeValidator(split_servers), Field(min_length=1)]
    command_config: AbsolutePath | None = None
    group: GroupId
    topics: Annotated[list[Topic], Field(min_length=1)]
    timeouts: CommandTimeouts = CommandTimeouts()

    @model_validator(mode="after")
    def _unique_topics(self) -> MirrorMaker:
        seen: set[str] = set()
        for i, topic in enumerate(self.topics):
            if topic in seen:
                raise ValueError(f"topics[{i}]: {topic!r} is listed twice")
            seen.add(topic)
        return self


class StoreSettings(StrictModel):
    """The search store the documents go to. Indices are daily: ``<prefix>-YYYY.MM.DD``."""

    kind: Literal["elasticsearch", "opensearch"]
    conn_id: ConnId
    lag_index: IndexPrefix = "kafka-lag"
    status_index: IndexPrefix = "kafka-monitor-status"
    jmx_index: IndexPrefix = "kafka-jmx"
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
        if len({self.lag_index, self.status_index, self.jmx_index}) < 3:
            raise ValueError("lag_index, status_index and jmx_index must differ")
        return self


class JmxTarget(StrictModel):
    """One JVM to snapshot."""

    name: Name
    component: Component
    # host:port (an RMI registry, the usual -Dcom.sun.management.jmxremote.port) or a full
    # service:jmx: URL.
    address: str
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
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    dashboard_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")] = "kafka-monitor-all-in-one"
    msk_cluster_name: Annotated[str, Field(min_length=1, max_length=64)]
    broker_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    mirrormaker_instance_ids: Annotated[list[Annotated[str, Field(pattern=r"^i-[0-9a-f]{8,17}$")]], Field(min_length=1)]
    # Defaults: every mirrored topic, and the first MirrorMaker's group.
    topics: list[Topic] | None = None
    consumer_group: GroupId | None = None
    # How often the deployed copy is compared with the repo's even when nothing changed here.
    drift_check_minutes: int = Field(60, ge=1, le=10_080)
    # Our own lag as CloudWatch custom metrics: off by default, it costs money per metric.
    publish_lag_metrics: bool = False
    lag_metric_namespace: Annotated[str, AfterValidator(check_custom_namespace)] = "KafkaMonitor"
    # Where the per-partition lag lives, for the dashboard's text widget.
    kibana_url: Annotated[str, AfterValidator(check_http_url)] | None = None


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
    lag: LagSettings = LagSettings()
    jmx: JmxSettings = JmxSettings()
    cloudwatch: CloudWatchSettings | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> MonitorConfig:
        names = [m.name for m in self.mirrormakers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"mirrormakers: names must be unique, repeated: {', '.join(dupes)}")
        return self

    # The (host, topic) pairs the lag task is mapped over.
    def lag_targets(self) -> list[dict[str, Any]]:
        return [
            {"mirrormaker": mm.model_dump(mode="json"), "topic": topic}
            for mm in self.mirrormakers
            for topic in mm.topics
        ]

    def all_topics(self) -> list[str]:
        return list(dict.fromkeys(t for mm in self.mirrormakers for t in mm.topics))


# --------------------------------------------------------------------------- loading


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid kafka-monitor configuration in {source}:"]
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += f".{part}" if path else str(part)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        if err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"  {path or '(top level)'}: {msg}")
    return "\n".join(lines)


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


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV_VAR)
    if env:
        return Path(env)
    variable = _airflow_variable(CONFIG_VARIABLE)
    if variable:
        return Path(variable)
    return include_path(DEFAULT_CONFIG_FILE)


def _airflow_variable(key: str) -> str | None:
    try:
        from airflow.sdk import Variable
    except ImportError:  # used outside Airflow (the command line)
        return None
    try:
        return Variable.get(key, default=None)
    except Exception:  # noqa: BLE001 - no Airflow context (plain CLI use): the variable is simply absent
        return None


def load_config(path: str | os.PathLike[str] | None = None) -> MonitorConfig:
    config_path = resolve_config_path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read kafka-monitor configuration {config_path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"kafka-monitor configuration {config_path} is not valid YAML{where}: {exc}") from None
    return parse_config(data, str(config_path))


def cli_check_config(path: str | None, out, err) -> int:
    """``python -m kafka_monitor check-config``: 0 and a summary, or 2 and the errors."""
    from kafka_monitor.config.budget import check_minute

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=err)
        return 2
    problems = check_minute(config)
    if problems:
        print(f"kafka-monitor configuration {resolve_config_path(path)} cannot run every minute:", file=err)
        for problem in problems:
            print(f"  {problem}", file=err)
        return 2
    print(f"configuration {resolve_config_path(path)} is valid:", file=out)
    for mm in config.mirrormakers:
        print(f"  mirrormaker {mm.name}: group {mm.group!r}, {len(mm.topics)} topics via {mm.ssh_conn_id}", file=out)
    print(f"  lag fan-out: {config.lag.fan_out}", file=out)
    print(f"  jmx targets: {len(config.jmx.targets)}", file=out)
    print(f"  store: {config.store.kind} via {config.store.conn_id}", file=out)
    print(f"  cloudwatch dashboard: {'on' if config.cloudwatch and config.cloudwatch.enabled else 'off'}", file=out)
    return 0
