"""Reading configuration: where the file is, read with the one YAML reader
(``kafka_monitor.datafile``: a key repeated in one mapping is an error naming the key and both
lines, where plain PyYAML would keep the last silently — a second ``topics:`` dropping topics, a
second ``store:`` resetting the retention).

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

from pydantic import ValidationError

from kafka_monitor.datafile import read_yaml
from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path
from kafka_monitor.text import bounded

CONFIG_ENV_VAR = "KAFKA_MONITOR_CONFIG"
CONFIG_VARIABLE = "kafka_monitor_config_path"
DEFAULT_CONFIG_FILE = "kafka_monitor.yaml"
MAX_MESSAGE_CHARS = 500  # per validation message (they may quote the offending value)


class ConfigSourceError(ConfigError):
    """Where the configuration is could not be found out (a secrets backend failed)."""


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
    return read_yaml(config_path), config_path
