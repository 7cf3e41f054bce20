"""JMX presets: which MBeans and attributes to read from each kind of JVM in the flow.

A preset is a YAML file in ``include/jmx_presets/`` (one per preset, named after it)::

    name: kafka_broker_throughput
    description: Messages and bytes in/out per second, whole broker and per topic.
    components: [kafka_broker]
    queries:
      - bean: kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec
        attributes: [Count, OneMinuteRate]
      - bean: kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=*
        attributes: [Count, OneMinuteRate]
        optional: true      # a topic's bean exists only once the topic had traffic
      - bean: java.lang:type=Memory
        attributes: [{name: HeapMemoryUsage, keys: [used, committed, max]}]

``bean`` is a JMX ObjectName or ObjectName pattern, checked on load by
``kafka_monitor.jmx.object_name`` (a malformed pattern is a configuration error, not a failed
snapshot at 3 a.m.). A composite attribute (``HeapMemoryUsage``) yields one value
per key; without ``keys`` every key of it is read.

What "matched" means, checked after every snapshot (see ``kafka_monitor.jmx.snapshot``): each query
that is not ``optional`` must return at least one value for each of its attributes, and a
preset whose queries are all optional must return at least one value in total (ZooKeeper runs
either standalone or replicated, so exactly one of its two bean families exists).

``_component_defaults.yaml`` maps each component to the presets a target gets when its
``presets`` field is omitted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kafka_monitor.datafile import read_yaml
from kafka_monitor.errors import ConfigError
from kafka_monitor.jmx.object_name import ObjectName, check_bean_pattern
from kafka_monitor.paths import include_path
from kafka_monitor.vocabulary import COMPONENTS

PRESETS_DIR = "jmx_presets"
DEFAULTS_FILE = "_component_defaults.yaml"

PRESET_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute, and for a composite attribute the keys to read (empty: all of them)."""

    name: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    bean: str
    pattern: ObjectName = field(compare=False, repr=False)
    attributes: tuple[AttributeSpec, ...]
    optional: bool = False

    def query_strings(self) -> list[str]:
        """JMXQuery's ``{bean}/{attribute}[/{key}]`` forms, one per attribute (or key)."""
        out: list[str] = []
        for attr in self.attributes:
            if attr.keys:
                out.extend(f"{self.bean}/{attr.name}/{key}" for key in attr.keys)
            else:
                out.append(f"{self.bean}/{attr.name}")
        return out


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    components: tuple[str, ...]
    queries: tuple[Query, ...]
    source: str = field(default="", compare=False)

    @property
    def all_optional(self) -> bool:
        return all(q.optional for q in self.queries)


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


_ATTRIBUTE_PATTERN = re.compile(r"[^/;\n]+")


def _check_attribute_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{value!r} is not an attribute name")
    if value == "*" or not _ATTRIBUTE_PATTERN.fullmatch(value):
        raise _fail(where, f"{value!r} is not a usable attribute name (no '*', '/', ';' or newline)")
    return value


def _parse_attribute(raw: Any, where: str) -> AttributeSpec:
    if isinstance(raw, str):
        return AttributeSpec(_check_attribute_name(raw, where))
    if isinstance(raw, dict):
        unknown = set(raw) - {"name", "keys"}
        if unknown:
            raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))} (an attribute has name and keys)")
        name = _check_attribute_name(raw.get("name"), f"{where}.name")
        keys = raw.get("keys") or []
        if not isinstance(keys, list):
            raise _fail(f"{where}.keys", "must be a list of composite keys")
        checked = tuple(_check_attribute_name(k, f"{where}.keys[{i}]") for i, k in enumerate(keys))
        if len(set(checked)) != len(checked):
            raise _fail(f"{where}.keys", "a key is listed twice")
        return AttributeSpec(name, checked)
    raise _fail(where, f"{raw!r} is neither an attribute name nor {{name: ..., keys: [...]}}")


def parse_preset(data: Any, source: str, expected_name: str | None = None) -> Preset:
    """Validate one preset document; every error names the file and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a preset must be a mapping with name, components and queries")
    unknown = set(data) - {"name", "description", "components", "queries"}
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(sorted(unknown))} (check the spelling)")
    name = data.get("name")
    if not isinstance(name, str) or not PRESET_NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"{source}: name: {name!r} is not a preset name (lower case letters, digits, '_')")
    if expected_name is not None and name != expected_name:
        raise ConfigError(f"{source}: name: {name!r} differs from the file name ({expected_name!r})")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ConfigError(f"{source}: description: must be text")
    components = data.get("components")
    if not isinstance(components, list) or not components:
        raise ConfigError(f"{source}: components: must be a non-empty list of {', '.join(COMPONENTS)}")
    for i, comp in enumerate(components):
        if comp not in COMPONENTS:
            raise ConfigError(f"{source}: components[{i}]: {comp!r} is not one of {', '.join(COMPONENTS)}")
    raw_queries = data.get("queries")
    if not isinstance(raw_queries, list) or not raw_queries:
        raise ConfigError(f"{source}: queries: must be a non-empty list")
    queries = []
    for i, raw in enumerate(raw_queries):
        where = f"{source}: queries[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a mapping with bean and attributes")
        unknown = set(raw) - {"bean", "attributes", "optional"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (check the spelling)")
        bean = raw.get("bean")
        try:
            if not isinstance(bean, str):
                raise ValueError("an ObjectName pattern is text (domain:key=value,...)")
            pattern = check_bean_pattern(bean)
        except ValueError as exc:
            raise ConfigError(f"{where}.bean: {bean!r} is not a valid ObjectName pattern: {exc}") from None
        attrs = raw.get("attributes")
        if not isinstance(attrs, list) or not attrs:
            raise ConfigError(f"{where}.attributes: must be a non-empty list")
        specs = tuple(_parse_attribute(a, f"{where}.attributes[{j}]") for j, a in enumerate(attrs))
        if len({s.name for s in specs}) != len(specs):
            raise ConfigError(f"{where}.attributes: an attribute is listed twice")
        optional = raw.get("optional", False)
        if not isinstance(optional, bool):
            raise ConfigError(f"{where}.optional: must be true or false")
        queries.append(Query(bean=bean, pattern=pattern, attributes=specs, optional=optional))
    return Preset(
        name=name, description=description.strip(), components=tuple(components), queries=tuple(queries), source=source
    )


def presets_dir() -> Path:
    return include_path(PRESETS_DIR)


def load_presets(directory: str | Path | None = None) -> dict[str, Preset]:
    """Every preset in ``directory`` (default ``include/jmx_presets``), by name; validated."""
    path = Path(directory) if directory is not None else presets_dir()
    return dict(_load_presets_cached(str(path.resolve())))


def load_component_defaults(directory: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    path = Path(directory) if directory is not None else presets_dir()
    return dict(_load_defaults_cached(str(path.resolve())))


def clear_cache() -> None:
    """Forget loaded presets (tests that edit preset files call this)."""
    _load_presets_cached.cache_clear()
    _load_defaults_cached.cache_clear()


def _read_yaml(path: Path) -> Any:
    return read_yaml(path, "JMX preset file")


@lru_cache(maxsize=8)
def _load_presets_cached(directory: str) -> tuple[tuple[str, Preset], ...]:
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"the JMX preset folder {root} does not exist")
    presets: dict[str, Preset] = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        preset = parse_preset(_read_yaml(path), str(path), expected_name=path.stem)
        presets[preset.name] = preset
    if not presets:
        raise ConfigError(f"the JMX preset folder {root} holds no presets (*.yaml)")
    return tuple(presets.items())


@lru_cache(maxsize=8)
def _load_defaults_cached(directory: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    root = Path(directory)
    path = root / DEFAULTS_FILE
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must map each component to a list of preset names")
    presets = dict(_load_presets_cached(directory))
    out: dict[str, tuple[str, ...]] = {}
    for comp, names in data.items():
        if comp not in COMPONENTS:
            raise ConfigError(f"{path}: {comp!r} is not a component ({', '.join(COMPONENTS)})")
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{path}: {comp}: must be a non-empty list of preset names")
        for i, name in enumerate(names):
            _check_applicable(presets, name, comp, f"{path}: {comp}[{i}]")
        out[comp] = tuple(names)
    missing = [c for c in COMPONENTS if c not in out]
    if missing:
        raise ConfigError(f"{path}: no default presets for {', '.join(missing)}")
    return tuple(out.items())


def _check_applicable(presets: dict[str, Preset], name: Any, component: str, where: str) -> Preset:
    if not isinstance(name, str) or name not in presets:
        known = ", ".join(sorted(presets))
        raise ConfigError(f"{where}: unknown JMX preset {name!r} (known: {known})")
    preset = presets[name]
    if component not in preset.components:
        raise ConfigError(f"{where}: preset {name!r} is for {', '.join(preset.components)}, not {component}")
    return preset


def resolve_target_presets(
    component: str, presets: Sequence[str] | None, directory: str | Path | None = None
) -> list[Preset]:
    """The presets a target reads: the named ones, or its component's defaults.

    Raises ConfigError for an unknown preset, a preset meant for another component, a preset
    named twice, or a malformed preset file (bad ObjectName pattern and the like).
    """
    if component not in COMPONENTS:
        raise ConfigError(f"{component!r} is not a component ({', '.join(COMPONENTS)})")
    available = load_presets(directory)
    if presets is None:
        names: Iterable[str] = load_component_defaults(directory)[component]
    else:
        names = list(presets)
        if not names:
            raise ConfigError("presets: the list is empty (omit it for the component's defaults)")
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ConfigError(f"preset {name!r} is listed twice")
            seen.add(name)
    return [_check_applicable(available, name, component, f"presets[{i}]") for i, name in enumerate(names)]
