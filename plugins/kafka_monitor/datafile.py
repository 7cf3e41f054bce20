"""Reading a YAML data file (the configuration, a JMX preset) with errors that name the place.

A leaf, and the one YAML reader: every room that reads YAML refuses a repeated key (YAML would
silently keep the last one), bounds the file's size, and raises the same ``ConfigError`` text,
naming the file and, for a syntax error, the line and column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from kafka_monitor.errors import ConfigError
from kafka_monitor.text import bounded

# Far above any real configuration (2,000 topics take ~100 KB), far below trouble.
MAX_YAML_BYTES = 16 * 1024 * 1024
_MERGE_TAG = "tag:yaml.org,2002:merge"


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """`` at line L, column C: <error>`` (the place only when the parser knows it)."""
    mark = exc.problem_mark if isinstance(exc, yaml.MarkedYAMLError) else None
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{where}: {bounded(str(exc), 1000)}"


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


def parse_yaml(text: str, source: str, what: str = "kafka-monitor configuration") -> Any:
    """Parse ``text`` with ``UniqueKeyLoader``; ``ConfigError`` naming ``source`` and the line."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(f"{what} {source}: line {line}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {source} is not valid YAML{yaml_error_text(exc)}") from None


def read_yaml(path: str | os.PathLike[str], what: str = "kafka-monitor configuration") -> Any:
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
    return parse_yaml(text, str(path), what)
