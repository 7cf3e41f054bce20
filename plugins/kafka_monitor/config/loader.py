"""Reading configuration: where the file is, and YAML that refuses to guess.

``read_yaml`` / ``read_yaml_file`` are the one YAML reader for everything in ``include/`` (the
monitor's configuration, the JMX presets): PyYAML's safe loader, except that a key repeated
in one mapping is an error naming the key and both lines. Plain PyYAML keeps the last one
silently, so a second ``topics:`` would drop topics and a second ``store:`` would reset the
retention to its default.

Where the configuration file is (first match wins): the ``path`` argument, the
``KAFKA_MONITOR_CONFIG`` environment variable, the Airflow Variable
``kafka_monitor_config_path``, ``include/kafka_monitor.yaml``. The fallback to the example
file is taken only when the Variable is *not set*: a secrets backend that fails to answer
fails the lookup (``ConfigSourceError``) instead of silently monitoring the example setup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path
from kafka_monitor.text import bounded

CONFIG_ENV_VAR = "KAFKA_MONITOR_CONFIG"
CONFIG_VARIABLE = "kafka_monitor_config_path"
DEFAULT_CONFIG_FILE = "kafka_monitor.yaml"
# Far above any real configuration (2,000 topics take ~100 KB), far below trouble.
MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_MESSAGE_CHARS = 500  # per validation message (they may quote the offending value)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigSourceError(ConfigError):
    """Where the configuration is could not be found out (a secrets backend failed)."""


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (``<<`` merges may still
    be overridden by an explicit key: that is what merge keys are for)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first_line.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    continue
                line = key_node.start_mark.line + 1
                if seen is not None:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"key {bounded(repr(key), 200)} appears twice in one mapping (first at line {seen}, "
                        f"again at line {line}); YAML would silently keep only the last",
                        key_node.start_mark,
                    )
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str, source: str, what: str = "kafka-monitor configuration") -> Any:
    """Parse ``text`` with ``UniqueKeyLoader``; ``ConfigError`` naming ``source`` and the line."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(f"{what} {source}: line {line}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{what} {source} is not valid YAML{where}: {bounded(str(exc), 1000)}") from None


def read_yaml_file(path: str | os.PathLike[str], what: str = "kafka-monitor configuration") -> Any:
    """Read and parse a YAML file of ``include/`` (or the configuration), bounded in size."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{what} {path} is larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB: refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    return read_yaml(text, str(path), what)


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
        # Messages may quote the value (a 200 KB group id): escaped and capped.
        lines.append(f"  {bounded(path or '(top level)', 200)}: {bounded(msg, MAX_MESSAGE_CHARS)}")
    return "\n".join(lines)


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV_VAR)
    if env:
        return Path(env)
    variable = airflow_variable(CONFIG_VARIABLE)
    if variable:
        return Path(variable)
    return include_path(DEFAULT_CONFIG_FILE)


def airflow_variable(key: str) -> str | None:
    """The Variable's value, or None when it is not set (or Airflow is not installed).

    Asks each configured secrets backend in Airflow's order, as ``Variable.get`` does, but
    tells "not set" from "a backend failed": Airflow 3's ``Variable.get`` logs a failing
    backend and answers "not found", which would make us fall back to the example file.
    """
    try:
        from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded
    except ImportError:  # used outside Airflow (the command line without it)
        return None
    failures: list[str] = []
    try:
        backends = ensure_secrets_backend_loaded()
    except Exception as exc:  # noqa: BLE001 - named in the error below
        raise ConfigSourceError(
            f"cannot read Airflow Variable {key!r}: the secrets backends could not be loaded: "
            f"{type(exc).__name__}: {bounded(str(exc), 500)}"
        ) from exc
    for backend in backends:
        try:
            value = _ask_backend(backend, key)
        except Exception as exc:  # noqa: BLE001 - an authoritative deny included: both are failures here
            failures.append(f"{type(backend).__name__}: {type(exc).__name__}: {bounded(str(exc), 300)}")
            continue
        if value is not None:
            return str(value)
    if failures:
        raise ConfigSourceError(
            f"cannot tell whether Airflow Variable {key!r} (the configuration path) is set: "
            f"{'; '.join(failures)}. Not falling back to {DEFAULT_CONFIG_FILE}: set "
            f"{CONFIG_ENV_VAR} or fix the secrets backend"
        )
    return None


def _ask_backend(backend: Any, key: str) -> str | None:
    """``backend.get_variable(key)``, except for the task runner's own backend (the Execution
    API through the supervisor), which answers None for "not found" and for a failed request
    alike: there the reply is read here, and only VARIABLE_NOT_FOUND means "not set"."""
    if type(backend).__name__ != "ExecutionAPISecretsBackend":
        return backend.get_variable(key=key)
    try:
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult
        from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS
    except ImportError:  # another Airflow layout: its own answer is all there is
        return backend.get_variable(key=key)
    reply = SUPERVISOR_COMMS.send(GetVariable(key=key))
    if isinstance(reply, ErrorResponse):
        if reply.error == ErrorType.VARIABLE_NOT_FOUND:
            return None
        raise RuntimeError(f"the API server answered {reply.error.value}: {reply.detail}")
    if isinstance(reply, VariableResult):
        return reply.value
    raise RuntimeError(f"unexpected reply {type(reply).__name__}")


def load_config_data(path: str | os.PathLike[str] | None = None) -> tuple[Any, Path]:
    """The configuration's YAML data and where it was read from."""
    config_path = resolve_config_path(path)
    return read_yaml_file(config_path), config_path
