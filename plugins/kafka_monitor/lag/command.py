"""The bounded, shell-quoted ``kafka-consumer-groups.sh --describe`` command.

The command line is data: ``include/cli_templates/describe_group.tmpl`` (not ending in
``.sh``, which Airflow's SSHOperator would load as a template file). This module fills its
``{placeholders}``; every value is first checked with the configuration's own validators
(``kafka_monitor.config.schema``) and then ``shlex.quote``-d, so a topic ``x; rm -rf /`` is refused
and a group id ``$(reboot)`` reaches the tool as one literal argument. The template itself is
trusted (it is part of the repository) but still checked: it must bound the run (``timeout``
values and the tool's ``--timeout``), and every placeholder in it must be known.

The remote shell is assumed to be POSIX (sh, bash, dash, ksh, zsh).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kafka_monitor.config.schema import (
    CommandTimeouts,
    MirrorMaker,
    check_absolute_path,
    check_group,
    check_host_port,
    check_topic,
    split_servers,
)
from kafka_monitor.errors import ConfigError
from kafka_monitor.paths import include_path

TEMPLATE_DIR = "cli_templates"
DESCRIBE_TEMPLATE = "describe_group.tmpl"
# Relative to kafka_home; the same in every Kafka release since 0.9.
TOOL_RELATIVE_PATH = "bin/kafka-consumer-groups.sh"

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# A rendered describe command is not bounded without these.
REQUIRED_PLACEHOLDERS = frozenset(
    {"tool", "bootstrap_servers", "group", "command_s", "kill_grace_s", "tool_timeout_ms"}
)
OPTIONAL_PLACEHOLDERS = frozenset({"command_config_args"})


class CommandError(ConfigError):
    """A value for the remote command failed validation, or the template is broken.

    Raised before anything is sent anywhere; the message names the field.
    """


# --------------------------------------------------------------------------- values


def _checked(field: str, check, value: Any) -> str:
    if not isinstance(value, str):
        raise CommandError(f"describe command: {field}: {value!r} is not a string")
    try:
        return check(value)
    except ValueError as exc:
        raise CommandError(f"describe command: {field}: {exc}") from None


def validate_topic(topic: Any) -> str:
    """Kafka's own topic rule (the command never carries a topic, the parser filters by it)."""
    return _checked("topic", check_topic, topic)


def _bootstrap(servers: Any) -> str:
    servers = split_servers(servers)
    if isinstance(servers, str) or not isinstance(servers, Sequence) or not servers:
        raise CommandError(f"describe command: bootstrap_servers: {servers!r} is not a non-empty list of host:port")
    checked = [_checked(f"bootstrap_servers[{i}]", check_host_port, s) for i, s in enumerate(servers)]
    return ",".join(checked)


def _timeouts(timeouts: Any) -> CommandTimeouts:
    # Re-validated even when it is already a CommandTimeouts: a model_construct()-ed or
    # deserialised object would otherwise skip the bounds.
    data = timeouts.model_dump() if isinstance(timeouts, CommandTimeouts) else timeouts
    try:
        return CommandTimeouts.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'timeouts'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise CommandError(f"describe command: timeouts: {problems}") from None


def seconds_argument(value: float) -> str:
    """A duration for coreutils ``timeout``: plain decimal seconds, never exponent notation."""
    text = format(Decimal(repr(float(value))).normalize(), "f")
    if Decimal(text) <= 0:
        raise CommandError(f"describe command: duration {value!r} must be positive")
    return text + "s"


# --------------------------------------------------------------------------- template


def template_path(name: str = DESCRIBE_TEMPLATE) -> Path:
    return include_path(TEMPLATE_DIR, name)


def load_template(path: str | Path | None = None) -> str:
    path = Path(path) if path else template_path()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read command template {path}: {exc.strerror}") from None


def fill_template(template: str, words: Mapping[str, str], source: str = "<template>") -> str:
    """Replace ``{name}`` by ``words[name]`` (already quoted shell text); one line out.

    Comment lines (``#``) and blank lines are dropped, the others joined by single spaces.
    """
    used: set[str] = set()
    parts: list[str] = []
    for lineno, raw in enumerate(template.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in words:
                raise CommandError(f"command template {source}, line {lineno}: unknown placeholder {{{name}}}")
            used.add(name)
            return words[name]

        rendered = PLACEHOLDER.sub(substitute, line)
        # A stray brace is a typo in the template (a placeholder that would go out literally).
        if "{" in PLACEHOLDER.sub("", line) or "}" in PLACEHOLDER.sub("", line):
            raise CommandError(f"command template {source}, line {lineno}: unbalanced '{{' or '}}'")
        rendered = rendered.strip()
        if rendered:
            parts.append(rendered)
    missing = sorted(REQUIRED_PLACEHOLDERS - used)
    if missing:
        raise CommandError(
            f"command template {source} lacks {', '.join('{' + m + '}' for m in missing)}: "
            "the describe command would not be bounded or complete"
        )
    return " ".join(parts)


# --------------------------------------------------------------------------- rendering


def render_describe(
    *,
    kafka_home: str,
    bootstrap_servers: Sequence[str] | str,
    group: str,
    timeouts: CommandTimeouts | Mapping[str, Any],
    command_config: str | None = None,
    template: str | None = None,
    template_source: str | None = None,
) -> str:
    """The remote command line for one ``--describe --group`` run; raises CommandError."""
    home = _checked("kafka_home", check_absolute_path, kafka_home)
    tool = home.rstrip("/") + "/" + TOOL_RELATIVE_PATH
    group = _checked("group", check_group, group)
    bounds = _timeouts(timeouts)
    words = {
        "tool": shlex.quote(tool),
        "bootstrap_servers": shlex.quote(_bootstrap(bootstrap_servers)),
        "group": shlex.quote(group),
        "command_s": shlex.quote(seconds_argument(bounds.command_s)),
        "kill_grace_s": shlex.quote(seconds_argument(bounds.kill_grace_s)),
        "tool_timeout_ms": shlex.quote(str(int(bounds.tool_timeout_ms))),
        "command_config_args": "",
    }
    if command_config is not None:
        config_path = _checked("command_config", check_absolute_path, command_config)
        words["command_config_args"] = shlex.join(["--command-config", config_path])
    if template is None:
        path = template_path()
        template, template_source = load_template(path), str(path)
    return fill_template(template, words, template_source or "<template>")


def as_mirrormaker(mm: MirrorMaker | Mapping[str, Any]) -> MirrorMaker:
    """Accept the model or its JSON form (what the DAG passes between tasks), validated."""
    if isinstance(mm, MirrorMaker):
        return mm
    try:
        return MirrorMaker.model_validate(mm)
    except ValidationError as exc:
        from kafka_monitor.config.schema import format_validation_error

        raise CommandError(format_validation_error(exc, "mirrormaker")) from None


def render_describe_command(mm: MirrorMaker | Mapping[str, Any], template: str | None = None) -> str:
    """The bounded describe command for a configured MirrorMaker host."""
    mm = as_mirrormaker(mm)
    return render_describe(
        kafka_home=mm.kafka_home,
        bootstrap_servers=mm.bootstrap_servers,
        group=mm.group,
        timeouts=mm.timeouts,
        command_config=mm.command_config,
        template=template,
    )
