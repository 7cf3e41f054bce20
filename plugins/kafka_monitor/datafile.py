"""Reading a YAML data file (the configuration, a JMX preset) with errors that name the place.

A leaf: every room that reads YAML raises the same ``ConfigError`` text, naming the file and,
for a syntax error, the line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kafka_monitor.errors import ConfigError


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """`` at line L, column C: <error>`` (the place only when the parser knows it)."""
    mark = exc.problem_mark if isinstance(exc, yaml.MarkedYAMLError) else None
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{where}: {exc}"


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document; ``what`` names the file's role in the messages ("JMX preset file")."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML{yaml_error_text(exc)}") from None
