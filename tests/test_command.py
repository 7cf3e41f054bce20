"""The rendered describe command, run under a real /bin/sh (dash) and bash.

Hostile values either fail validation with a message naming the field, or reach the fake
tool as one literal argument with no side effect (canary files are never created, nothing
new appears in the working directory). The run is bounded by the remote ``timeout`` and the
tool never sees JMX_PORT.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from fixtures.sshd import HANG, HANG_IGNORING_TERM, process_gone

from kafka_monitor.config.schema import CommandTimeouts, MirrorMaker
from kafka_monitor.errors import ConfigError
from kafka_monitor.lag.command import (
    CommandError,
    fill_template,
    load_template,
    render_describe,
    render_describe_command,
    seconds_argument,
    template_path,
    validate_topic,
)

SHELLS = ["/bin/sh", "/bin/bash"]
FAST = {"connect_s": 2, "command_s": 1.2, "kill_grace_s": 0.5, "tool_timeout_ms": 1000}


def run_shell(
    shell: str, command: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    return subprocess.run([shell, "-c", command], cwd=cwd, env=env, capture_output=True, timeout=timeout)


def render(home: Path | str, group: str = "oasis-group", **overrides) -> str:
    values = {
        "kafka_home": str(home),
        "bootstrap_servers": ["kafka-1.example.internal:9092", "10.0.0.7:9093"],
        "group": group,
        "timeouts": CommandTimeouts(),
    }
    values.update(overrides)
    return render_describe(**values)


# --------------------------------------------------------------------------- shape


def test_rendered_command_is_the_bounded_describe_of_one_group(tmp_path, fake_kafka):
    kafka = fake_kafka()
    command = render(kafka.home, command_config="/opt/kafka/config/consumer.properties")
    assert "\n" not in command
    words = shlex.split(command)
    assert words[:5] == ["env", "-u", "JMX_PORT", "-u", "KAFKA_JMX_OPTS"]
    assert words[5:8] == ["timeout", "--kill-after=1s", "8s"]
    tool_args = words[9 : words.index(";")]
    assert words[8] == str(kafka.tool)
    assert tool_args == [
        "--describe",
        "--bootstrap-server",
        "kafka-1.example.internal:9092,10.0.0.7:9093",
        "--group=oasis-group",
        "--timeout",
        "5000",
        "--command-config",
        "/opt/kafka/config/consumer.properties",
    ]
    assert "--topic" not in words  # the tool rejects --topic with --describe

    # And the shell hands the tool exactly those arguments.
    result = run_shell("/bin/sh", command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert kafka.argv() == tool_args


def test_mirrormaker_config_renders_with_its_timeouts(fake_kafka):
    kafka = fake_kafka()
    mm = MirrorMaker(
        name="mm-1",
        ssh_conn_id="mm_ssh",
        kafka_home=str(kafka.home),
        bootstrap_servers="a:9092, b:9092",
        group="oasis-group",
        topics=["t1"],
        timeouts={"command_s": 12.5, "kill_grace_s": 2, "tool_timeout_ms": 5000},
    )
    words = shlex.split(render_describe_command(mm))
    assert words[5:8] == ["timeout", "--kill-after=2s", "12.5s"]
    assert "--command-config" not in words
    assert words[words.index("--bootstrap-server") + 1] == "a:9092,b:9092"
    assert words[words.index("--timeout") + 1] == "5000"
    # The JSON form the DAG passes between tasks renders the same command.
    assert render_describe_command(mm.model_dump(mode="json")) == render_describe_command(mm)


@pytest.mark.parametrize("value, text", [(25.0, "25s"), (2.5, "2.5s"), (0.001, "0.001s"), (1e-5, "0.00001s")])
def test_durations_are_plain_decimal_seconds(value, text):
    assert seconds_argument(value) == text


def test_template_is_a_data_file_that_airflow_will_not_load_as_a_template():
    path = template_path()
    assert path.parent.name == "cli_templates" and path.exists()
    assert not path.name.endswith((".sh", ".bash"))


# --------------------------------------------------------------------------- hostile values: rejected


@pytest.mark.parametrize(
    "topic",
    [
        "x; rm -rf /",
        "$(reboot)",
        "`reboot`",
        "a b",
        "topic\n",
        "*",
        ".",
        "..",
        "",
        "x" * 250,
        "tópico",
        "a'b",
    ],
)
def test_hostile_topics_are_rejected(topic):
    with pytest.raises(CommandError, match=r"topic: .* is not a valid Kafka topic name"):
        validate_topic(topic)


@pytest.mark.parametrize("topic", ["topic-lgs5.0-json", "HEC_H_RECV_01", "-rf", "x" * 249])
def test_legal_topics_pass(topic):
    assert validate_topic(topic) == topic


@pytest.mark.parametrize(
    "servers, field",
    [
        (["h:9092; touch /tmp/pwned"], "bootstrap_servers[0]"),
        (["h:9092 && reboot"], "bootstrap_servers[0]"),
        (["$(reboot):9092"], "bootstrap_servers[0]"),
        (["`reboot`:9092"], "bootstrap_servers[0]"),
        (["-h:9092"], "bootstrap_servers[0]"),
        (["ok:9092", "h:99999"], "bootstrap_servers[1]"),
        (["kafka"], "bootstrap_servers[0]"),
        ("ok:9092,$(reboot):1", "bootstrap_servers[1]"),
        ([], "bootstrap_servers"),
        (["h:9092\ntouch x"], "bootstrap_servers[0]"),
    ],
)
def test_hostile_bootstrap_servers_are_rejected(tmp_path, servers, field):
    with pytest.raises(CommandError) as info:
        render(tmp_path, bootstrap_servers=servers)
    assert str(info.value).startswith(f"describe command: {field}")


@pytest.mark.parametrize(
    "home",
    ["opt/kafka", "-rf", "~/kafka", "$HOME/kafka", "`pwd`/kafka", "/opt/kafka\n; reboot", "/opt/\x00kafka", "", 42],
)
def test_relative_or_unusable_kafka_home_is_rejected(home):
    with pytest.raises(CommandError, match="describe command: kafka_home: "):
        render(home)


def test_relative_command_config_is_rejected(tmp_path):
    with pytest.raises(CommandError, match="describe command: command_config: .* is not an absolute path"):
        render(tmp_path, command_config="config/consumer.properties; reboot")


@pytest.mark.parametrize("group", ["", "a\nb", "a\rb", "a\x00b"])
def test_groups_that_cannot_travel_are_rejected(tmp_path, group):
    with pytest.raises(CommandError, match="describe command: group: "):
        render(tmp_path, group=group)


@pytest.mark.parametrize(
    "timeouts, problem",
    [
        ({"command_s": 5, "tool_timeout_ms": 5000}, "tool_timeout_ms .* must be shorter than command_s"),
        ({"command_s": -1}, "command_s"),
        ({"kill_grace_s": 0}, "kill_grace_s"),
        ({"command_s": "25; reboot"}, "command_s"),
        ({"tool_timeout_ms": "$(reboot)"}, "tool_timeout_ms"),
    ],
)
def test_bad_timeouts_are_rejected(tmp_path, timeouts, problem):
    with pytest.raises(CommandError, match=f"describe command: timeouts: .*{problem}"):
        render(tmp_path, timeouts=timeouts)


def test_timeouts_that_skipped_validation_are_still_checked(tmp_path):
    sneaky = CommandTimeouts.model_construct(connect_s=1, command_s=5, kill_grace_s=1, tool_timeout_ms=8000)
    with pytest.raises(CommandError, match="must be shorter than command_s"):
        render(tmp_path, timeouts=sneaky)


def test_command_errors_are_config_errors():
    # The DAG treats them like any invalid configuration: fail at once, naming the field.
    assert issubclass(CommandError, ConfigError)


# --------------------------------------------------------------------------- the template is checked


def test_template_without_its_bounds_is_refused():
    unbounded = "{tool} --describe --bootstrap-server {bootstrap_servers} --group={group}"
    words = {"tool": "t", "bootstrap_servers": "b", "group": "g"}
    with pytest.raises(CommandError, match=r"lacks \{command_s\}, \{kill_grace_s\}, \{tool_timeout_ms\}"):
        fill_template(unbounded, words, "unbounded.tmpl")


def test_template_with_unknown_or_broken_placeholders_is_refused(tmp_path):
    template = load_template()
    with pytest.raises(CommandError, match=r"line \d+: unknown placeholder \{topic\}"):
        render(tmp_path, template=template + "\n--topic {topic}\n")
    with pytest.raises(CommandError, match="unbalanced"):
        render(tmp_path, template=template.replace("{group}", "{group"))


# --------------------------------------------------------------------------- hostile values: inert

HOSTILE_GROUPS = [
    "$(touch {canary})",
    "`touch {canary}`",
    "x; touch {canary}",
    "x && touch {canary}",
    "x || touch {canary}",
    "x | touch {canary}",
    "x & touch {canary}",
    "x > {canary}",
    "' ; touch {canary} ; '",
    '" ; touch {canary} ; "',
    "\\'; touch {canary}; \\'",
    "${{IFS}}touch${{IFS}}{canary}",
    "$HOME",
    "*",
    "?",
    "~root",
    "!!",
    "#not a comment",
    "-x --all-groups",
    "--all-groups",
    "a\tb",
    "grüppe ✓",
    " leading and trailing ",
]


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_group_ids_arrive_as_one_literal_argument(shell, tmp_path, fake_kafka):
    kafka = fake_kafka()
    canary = tmp_path / "canary"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    (workdir / "existing-file").write_text("")  # what a glob would expand to
    for pattern in HOSTILE_GROUPS:
        group = pattern.format(canary=canary)
        result = run_shell(shell, render(kafka.home, group=group), workdir)
        assert result.returncode == 0, (group, result.stderr)
        assert kafka.argv().count(f"--group={group}") == 1, (group, kafka.argv())
        assert len(kafka.argv()) == 6, (group, kafka.argv())
        assert not canary.exists(), f"group {group!r} ran a command under {shell}"
        assert sorted(p.name for p in workdir.iterdir()) == ["existing-file"], group


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_absolute_paths_are_inert(shell, tmp_path, fake_kafka):
    """Metacharacters in an absolute path are legal in a file name: they stay part of it."""
    canary = tmp_path / "canary"
    # A real install at a path full of shell syntax: the tool inside it must run, nothing else.
    hostile_home = (
        tmp_path / f"k; touch {canary.name} $(touch {canary.name}) `touch {canary.name}`" / "* 'q' \"dq\" && x"
    )
    kafka = fake_kafka(home=hostile_home)
    config = f"{tmp_path}/c; touch {canary}; $(touch {canary}).properties"
    result = run_shell(shell, render(kafka.home, command_config=config), tmp_path)
    assert result.returncode == 0, result.stderr
    argv = kafka.argv()
    assert argv[argv.index("--command-config") + 1] == config
    assert not canary.exists()
    assert [p.name for p in tmp_path.iterdir()] == [hostile_home.parent.name]


def test_hostile_paths_to_nowhere_fail_without_side_effects(tmp_path):
    canary = tmp_path / "canary"
    home = f"/nonexistent; touch {canary}; $(touch {canary})"
    result = run_shell("/bin/sh", render(home), tmp_path)
    assert result.returncode == 127  # `timeout` could not find the (literal) tool path
    assert b"No such file or directory" in result.stderr
    assert not canary.exists()


# --------------------------------------------------------------------------- environment and bounds


@pytest.mark.parametrize("shell", SHELLS)
def test_jmx_port_exported_by_the_caller_is_unset_for_the_tool(shell, tmp_path, fake_kafka):
    kafka = fake_kafka()
    env = dict(
        os.environ,
        JMX_PORT="9997",
        KAFKA_JMX_OPTS="-Dcom.sun.management.jmxremote.port=9997",
        KAFKA_OPTS="-Djava.security.auth.login.config=/etc/kafka/jaas.conf",
    )
    result = run_shell(shell, render(kafka.home), tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert kafka.env_seen() == {"JMX_PORT": "(unset)", "KAFKA_JMX_OPTS": "(unset)"}


def test_stdout_and_stderr_stay_apart(tmp_path, fake_kafka):
    kafka = fake_kafka(
        stdout="GROUP TOPIC\n", stderr="[2026-11-22 02:00:00,000] WARN something (org.x)\n", exit_status=0
    )
    result = run_shell("/bin/sh", render(kafka.home), tmp_path)
    assert result.stdout == b"GROUP TOPIC\n"
    assert result.stderr == b"[2026-11-22 02:00:00,000] WARN something (org.x)\n"


def test_exit_status_of_the_tool_is_reported(tmp_path, fake_kafka):
    kafka = fake_kafka(stderr="Exception in thread main\n", exit_status=3)
    assert run_shell("/bin/sh", render(kafka.home), tmp_path).returncode == 3


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "behaviour, expected_status",
    [
        pytest.param(HANG, 124, id="ends-on-TERM"),
        pytest.param(HANG_IGNORING_TERM, 137, id="ignores-TERM"),
    ],
)
def test_a_hanging_tool_is_killed_with_its_children(shell, behaviour, expected_status, tmp_path, fake_kafka):
    kafka = fake_kafka(behaviour)
    started = time.monotonic()
    result = run_shell(shell, render(kafka.home, timeouts=FAST), tmp_path, timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == expected_status, result.stderr
    pids = kafka.pids()
    assert len(pids) == 2  # the tool and the child it started
    for pid in pids:
        assert _wait_gone(pid), f"process {pid} is still running after the timeout"
    # Ended by the bound (1.2 s, +0.5 s grace), far from the 300 s the tool would sleep.
    assert elapsed < 20


def _wait_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return False
