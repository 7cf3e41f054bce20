"""Run the bounded describe command on a MirrorMaker host over SSH, and classify the outcome.

One run of ``kafka-consumer-groups.sh --describe --group G`` (rendered by
``kafka_monitor.lag.command``) goes through Airflow's ``SSHHook``. Every way it can go wrong
ends as a ``CollectionError`` whose ``kind`` says why and whose message names the
connection, the host and the cause:

=======================  ===================================================================
kind                     meaning
=======================  ===================================================================
connection_lookup_failed the Airflow connection could not be read: not defined, or a secrets
                         backend failed to answer (Airflow 3 reports both as "not defined")
ssh_connection_invalid   the Airflow connection is malformed (no host, bad extra)
insecure_connection      the connection turns host key checking off (``no_host_key_check``
                         or ``allow_host_key_change``): refused, nothing is sent
ssh_connect_failed       refused, unreachable, unknown host name, closed before the banner,
                         or the session dropped mid-command
ssh_timeout              connecting took longer than ``connect_s`` (TCP, banner or
                         authentication), or the command went silent past the idle limit
ssh_auth_failed          the server did not accept the key (or it cannot be read)
host_key_mismatch        the server's host key is not the pinned one (possible MITM)
host_key_unknown         no pinned key and none in known_hosts: never auto-added
command_timeout          the remote ``timeout`` ended the tool (exit 124, or 137 after KILL)
remote_command_failed    any other non-zero exit; the message carries the stderr tail
(describe kinds)         the tool's own error in the output (e.g. ``group_not_found``), as
                         classified by ``kafka_monitor.lag.describe``
unparseable_output       the output is not any known describe layout
internal_error           the describe parser itself failed (a bug in kafka-monitor, not the host)
group_without_offsets    the group answered but has no partition rows at all (no committed
                         offsets and no assignment: MirrorMaker is not consuming anything)
topic_not_in_group       the group has rows, but none for this topic (the mirror stopped
                         consuming it, or the topic is not mirrored by this group)
=======================  ===================================================================

Timing: connecting is bounded by ``timeouts.connect_s`` (the hook's ``conn_timeout`` stays
``None`` unless set, so it is always passed, and the banner and authentication waits get the
same bound); the command by the remote ``timeout`` (``command_s`` + ``kill_grace_s``). The
hook's own ``cmd_timeout`` is an *idle* timeout that cannot stop the remote process, so it is
set just above the remote bound, as a backstop for a connection that goes silent. One connect
attempt only: the DAG runs every minute and retries at the task level
(``kafka_monitor.retry_policy`` says which kinds are retried).

Messages quote remote output: every ``CollectionError`` message is escaped and capped
(``kafka_monitor.text.bounded``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from kafka_monitor.config.budget import IDLE_MARGIN_S as BUDGET_IDLE_MARGIN_S
from kafka_monitor.config.schema import MirrorMaker
from kafka_monitor.errors import KafkaMonitorError
from kafka_monitor.lag.command import CommandError, as_mirrormaker, render_describe_command, validate_topic
from kafka_monitor.retry_policy import CONNECTION_LOOKUP_FAILED, INTERNAL_ERROR
from kafka_monitor.text import bounded

if TYPE_CHECKING:
    from airflow.providers.ssh.hooks.ssh import SSHHook

# coreutils `timeout`: 124 when the command ended after TERM, 128+9 when it needed KILL.
TIMEOUT_EXIT_STATUSES = frozenset({124, 137})
# Seconds the idle backstop waits beyond the remote bound (the remote end needs a moment to
# report the exit status after killing the tool); part of the minute's budget.
IDLE_MARGIN_S = BUDGET_IDLE_MARGIN_S
STDERR_TAIL_LINES = 6
TAIL_CHARS = 1200

SSH_CONNECTION_INVALID = "ssh_connection_invalid"
INSECURE_CONNECTION = "insecure_connection"
SSH_CONNECT_FAILED = "ssh_connect_failed"
SSH_TIMEOUT = "ssh_timeout"
SSH_AUTH_FAILED = "ssh_auth_failed"
HOST_KEY_MISMATCH = "host_key_mismatch"
HOST_KEY_UNKNOWN = "host_key_unknown"
COMMAND_TIMEOUT = "command_timeout"
REMOTE_COMMAND_FAILED = "remote_command_failed"
INVALID_COMMAND_VALUE = "invalid_command_value"
UNPARSEABLE_OUTPUT = "unparseable_output"
GROUP_NOT_FOUND = "group_not_found"
GROUP_WITHOUT_OFFSETS = "group_without_offsets"
TOPIC_NOT_IN_GROUP = "topic_not_in_group"


@dataclass
class RemoteOutput:
    exit_status: int  # -1 when the server reported none (the remote shell was killed)
    stdout: str
    stderr: str
    duration_s: float


class CollectionError(KafkaMonitorError):
    """The lag of a topic could not be collected; ``kind`` names the cause (see the module doc).

    ``output`` keeps the raw remote stdout/stderr when the command ran, so the caller can log
    it; ``result`` the parsed describe result when there was one.
    """

    def __init__(self, message: str, kind: str, output: RemoteOutput | None = None, result: Any = None):
        super().__init__(bounded(message))
        self.kind = kind
        self.output = output
        self.result = result

    def __reduce__(self):  # picklable with its kind (Airflow may ship exceptions between processes)
        return (self.__class__, (str(self), self.kind, self.output, self.result))


@dataclass
class TopicCollection:
    rows: list[dict[str, Any]]  # this topic's rows from the parser, sorted by partition
    group_state: str | None
    output: RemoteOutput
    result: Any = field(repr=False)  # the full kafka_monitor.lag.describe.DescribeResult


# --------------------------------------------------------------------------- SSH


@dataclass(frozen=True)
class _Target:
    conn_id: str
    address: str  # "user@host:port"

    @property
    def where(self) -> str:
        return f"{self.address} (connection {self.conn_id!r})"


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    out = " | ".join(kept)
    return out if len(out) <= TAIL_CHARS else "…" + out[-TAIL_CHARS:]


def _fingerprint(key: Any) -> str:
    try:
        return f"{key.get_name()} {key.fingerprint}"
    except Exception:  # noqa: BLE001 - only used to describe the key in a message
        return "an unreadable key"


class _QuietHookLog:
    """Stands in for SSHHook's logger while a command runs.

    SSHHook logs every stdout line at INFO and every stderr line at WARNING as they arrive:
    a whole group's table in each task log, every minute. The caller logs a parsed summary and
    a bounded stderr tail instead. Lines are passed on only when ``KAFKA_MONITOR_LOG_REMOTE_LINES``
    is set (for debugging a host); warnings with an exception (the hook's own trouble) always.
    """

    def __init__(self, inner: Any, passthrough: bool):
        self._inner = inner
        self._passthrough = passthrough

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        self._inner.debug(*args, **kwargs)

    def info(self, *args: Any, **kwargs: Any) -> None:
        if self._passthrough:
            self._inner.info(*args, **kwargs)

    def warning(self, *args: Any, **kwargs: Any) -> None:
        if self._passthrough or kwargs.get("exc_info"):
            self._inner.warning(*args, **kwargs)


def remote_lines_logged() -> bool:
    import os

    return os.environ.get("KAFKA_MONITOR_LOG_REMOTE_LINES", "").strip().lower() in ("1", "true", "yes")


# Connection extras that switch host key checking off (``ignore_hostkey_verification`` is the
# provider's deprecated name for ``no_host_key_check``).
INSECURE_EXTRAS = ("no_host_key_check", "ignore_hostkey_verification", "allow_host_key_change")


def insecure_extras(extra: Mapping[str, Any]) -> list[str]:
    """The extras of a connection that ask to skip host key checks (read as the provider does)."""
    return [name for name in INSECURE_EXTRAS if str(extra.get(name, "")).lower() == "true"]


def _lookup_failure(named: str, exc: Exception) -> CollectionError:
    """A connection lookup that failed. Airflow 3 reports a missing connection and a secrets
    backend that failed to answer alike, so both are retried; an access denial is final."""
    if type(exc).__name__ == "AirflowSecretsBackendAccessDenied":  # an authoritative answer
        return CollectionError(f"{named}: the secrets backend denied access: {exc}", SSH_CONNECTION_INVALID)
    if type(exc).__name__ == "AirflowNotFoundException":
        cause = "is not defined (or a secrets backend failed to answer: Airflow reports both alike)"
    else:
        cause = f"could not be read (secrets backend or connection lookup failed: {type(exc).__name__}: {exc})"
    return CollectionError(f"{named} {cause}", CONNECTION_LOOKUP_FAILED)


def _make_hook(conn_id: str, connect_s: float, idle_s: float) -> tuple[SSHHook, _Target]:
    """The SSHHook for ``conn_id``; refuses connections that switch host key checking off.

    The connection's extras are read here, before the hook is built, and the hook is always
    told to check host keys (``no_host_key_check=False`` overrides any extra), so a connection
    that asks otherwise is refused by what it says, not by how the provider words its error.
    """
    from airflow.providers.ssh.hooks.ssh import SSHHook

    named = f"SSH connection {conn_id!r}"
    try:
        insecure = insecure_extras(SSHHook.get_connection(conn_id).extra_dejson)
    except (ValueError, TypeError, KeyError) as exc:  # a malformed extra
        raise CollectionError(f"{named} is invalid: {type(exc).__name__}: {exc}", SSH_CONNECTION_INVALID) from None
    except Exception as exc:  # noqa: BLE001 - not found, or a secrets backend that failed: retried
        raise _lookup_failure(named, exc) from None
    if insecure:
        raise CollectionError(
            f"{named} sets {' and '.join(insecure)}: refusing to connect without checking the host "
            "key; remove it and pin the key with the 'host_key' extra instead",
            INSECURE_CONNECTION,
        )
    try:
        hook = SSHHook(
            ssh_conn_id=conn_id,
            # paramiko takes float seconds; the provider's annotation says int.
            conn_timeout=cast(int, connect_s),
            cmd_timeout=idle_s,
            banner_timeout=connect_s,
            auth_timeout=cast(int, connect_s),
            conn_retry_attempts=1,
            no_host_key_check=False,
        )
    except (ValueError, TypeError) as exc:  # a malformed host_key, port or extra
        raise CollectionError(f"{named} is invalid: {exc}", SSH_CONNECTION_INVALID) from None
    except Exception as exc:  # noqa: BLE001 - AirflowException (no host, bad key file) and kin: a config problem
        raise CollectionError(f"{named} is not usable: {type(exc).__name__}: {exc}", SSH_CONNECTION_INVALID) from None
    return hook, _Target(conn_id, f"{hook.username}@{hook.remote_host}:{hook.port}")


def _classify_connect_error(exc: BaseException, target: _Target, connect_s: float) -> CollectionError:
    """By exception type first. paramiko raises a bare ``SSHException`` for an unknown host key,
    a missing banner and a handshake that never completed; those are told apart by its wording.
    The unknown host key and the server that accepts and never speaks are pinned by tests against
    real servers (tests/test_collect.py), so a paramiko upgrade that rewords them fails there
    instead of silently changing the kind."""
    import paramiko

    where = target.where
    if isinstance(exc, paramiko.BadHostKeyException):
        return CollectionError(
            f"host key of {where} does not match the pinned key: the server offered "
            f"{_fingerprint(exc.key)}, expected {_fingerprint(exc.expected_key)}; "
            "nothing was sent (if the host was rebuilt, update the connection's host_key)",
            HOST_KEY_MISMATCH,
        )
    if isinstance(exc, paramiko.AuthenticationException):
        if "timeout" in str(exc).lower():
            return CollectionError(f"authentication on {where} took longer than {connect_s:g} s", SSH_TIMEOUT)
        return CollectionError(f"authentication failed on {where}: {exc or type(exc).__name__}", SSH_AUTH_FAILED)
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if "not found in known_hosts" in text:
            return CollectionError(
                f"host key of {where} is unknown ({text}); host keys are never auto-added: pin it "
                "with the connection's 'host_key' extra (ssh-keyscan, checked out of band)",
                HOST_KEY_UNKNOWN,
            )
        cause = exc.__context__
        if text == "No existing session":
            # paramiko's start_client() gives up silently after `timeout`; the next step fails so.
            return CollectionError(
                f"{where} accepted the TCP connection but the SSH handshake did not complete within {connect_s:g} s",
                SSH_TIMEOUT,
            )
        if "banner" in text.lower():
            if isinstance(cause, (socket.timeout, TimeoutError)):
                return CollectionError(
                    f"{where} accepted the TCP connection but sent no SSH banner within {connect_s:g} s",
                    SSH_TIMEOUT,
                )
            return CollectionError(
                f"{where} closed the connection before the SSH handshake: {text}", SSH_CONNECT_FAILED
            )
        if isinstance(cause, (socket.timeout, TimeoutError)):
            return CollectionError(f"SSH handshake with {where} timed out after {connect_s:g} s", SSH_TIMEOUT)
        return CollectionError(f"SSH connection to {where} failed: {text or type(exc).__name__}", SSH_CONNECT_FAILED)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return CollectionError(f"connecting to {where} timed out after {connect_s:g} s", SSH_TIMEOUT)
    if isinstance(exc, socket.gaierror):
        return CollectionError(f"cannot resolve the host of {where}: {exc.strerror or exc}", SSH_CONNECT_FAILED)
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        return CollectionError(f"cannot read the SSH key {exc.filename} for {where}: {exc.strerror}", SSH_AUTH_FAILED)
    if isinstance(exc, (OSError, EOFError)):
        detail = str(exc) or type(exc).__name__
        return CollectionError(f"cannot connect to {where}: {detail}", SSH_CONNECT_FAILED)
    return CollectionError(f"SSH connection to {where} failed: {type(exc).__name__}: {exc}", SSH_CONNECT_FAILED)


def run_command(conn_id: str, command: str, *, connect_s: float, idle_s: float) -> tuple[RemoteOutput, _Target]:
    """Run ``command`` on the connection's host; SSH failures raise CollectionError.

    The exit status is returned, not judged. ``idle_s`` is the hook's idle timeout (no output
    for that long ends the wait; it does not stop the remote process).
    """
    from airflow.providers.common.compat.sdk import AirflowException

    hook, target = _make_hook(conn_id, connect_s, idle_s)
    started = time.monotonic()
    try:
        client = hook.get_conn()
    except Exception as exc:  # noqa: BLE001 - every connect failure is classified
        raise _classify_connect_error(exc, target, connect_s) from exc
    hook_log = hook.log
    hook._log = _QuietHookLog(hook_log, remote_lines_logged())
    try:
        exit_status, out, err = hook.exec_ssh_client_command(
            client, command, get_pty=False, environment=None, timeout=idle_s
        )
    except AirflowException as exc:
        # The provider raises AirflowException here only when its idle timeout expired (socket
        # and paramiko failures pass through as themselves); pinned by the idle-timeout test.
        raise CollectionError(
            f"the command on {target.where} sent nothing for {idle_s:g} s (SSH idle timeout); "
            "the connection may be stalled",
            SSH_TIMEOUT,
        ) from exc
    except Exception as exc:  # noqa: BLE001 - the session broke mid-command
        raise CollectionError(
            f"the SSH session to {target.where} broke while the command ran: {type(exc).__name__}: {exc}",
            SSH_CONNECT_FAILED,
        ) from exc
    finally:
        hook._log = hook_log
        client.close()
    output = RemoteOutput(
        exit_status=exit_status,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        duration_s=round(time.monotonic() - started, 3),
    )
    return output, target


# --------------------------------------------------------------------------- describe


def _where(mm: MirrorMaker, address: str | None = None) -> str:
    at = f"{address}, " if address else ""
    return f"{mm.name} ({at}connection {mm.ssh_conn_id!r}, group {mm.group!r})"


def _run_bounded(mm: MirrorMaker) -> tuple[RemoteOutput, str]:
    """The output of a run that ended by itself, and where it ran (for messages)."""
    try:
        command = render_describe_command(mm)
    except CommandError as exc:
        raise CollectionError(f"{_where(mm)}: {exc}; nothing was run", INVALID_COMMAND_VALUE) from None
    t = mm.timeouts
    output, target = run_command(
        mm.ssh_conn_id, command, connect_s=t.connect_s, idle_s=t.command_s + t.kill_grace_s + IDLE_MARGIN_S
    )
    where = _where(mm, target.address)
    if output.exit_status in TIMEOUT_EXIT_STATUSES:
        raise _timeout_error(mm, where, output)
    return output, where


def _timeout_error(mm: MirrorMaker, where: str, output: RemoteOutput) -> CollectionError:
    t = mm.timeouts
    how = "after TERM" if output.exit_status == 124 else f"by KILL {t.kill_grace_s:g} s after TERM"
    return CollectionError(
        f"{where}: kafka-consumer-groups.sh did not finish within {t.command_s:g} s and was "
        f"ended {how} (exit {output.exit_status}); stderr: {_tail(output.stderr) or '(empty)'}",
        COMMAND_TIMEOUT,
        output,
    )


def _exit_error(where: str, output: RemoteOutput) -> CollectionError:
    status = "no exit status (killed by a signal)" if output.exit_status < 0 else f"exit status {output.exit_status}"
    detail = _tail(output.stderr)
    # Kafka prints its own errors on stdout.
    errors_on_stdout = _tail("\n".join(line for line in output.stdout.splitlines() if line.startswith("Error")))
    parts = [f"stderr: {detail or '(empty)'}"] + ([f"stdout: {errors_on_stdout}"] if errors_on_stdout else [])
    return CollectionError(
        f"{where}: kafka-consumer-groups.sh failed with {status}; {'; '.join(parts)}",
        REMOTE_COMMAND_FAILED,
        output,
    )


def _mirrormaker(mm: MirrorMaker | Mapping[str, Any]) -> MirrorMaker:
    try:
        return as_mirrormaker(mm)
    except CommandError as exc:
        raise CollectionError(f"{exc}; nothing was run", INVALID_COMMAND_VALUE) from None


def _partition_key(row: Mapping[str, Any]) -> tuple[int, int]:
    p = row.get("partition")
    return (0, p) if isinstance(p, int) else (1, 0)


@dataclass
class GroupDescribe:
    """One bounded describe run of a group, parsed once; every topic's rows come from it."""

    mm: MirrorMaker
    where: str
    output: RemoteOutput
    result: Any = field(repr=False)  # kafka_monitor.lag.describe.DescribeResult

    @property
    def group_state(self) -> str | None:
        return self.result.group_states.get(self.mm.group)


def describe_group(mm: MirrorMaker | Mapping[str, Any]) -> GroupDescribe:
    """Run the group's describe once and parse it; raises CollectionError for a failure of the
    whole group (SSH, timeout, exit status, unreadable output, the tool's own error)."""
    from kafka_monitor.lag.describe import INTERNAL_ERROR as PARSER_BUG
    from kafka_monitor.lag.describe import DescribeParseError, parse_describe

    mm = _mirrormaker(mm)
    output, where = _run_bounded(mm)
    try:
        result = parse_describe(output.stdout, output.stderr, group=mm.group)
    except DescribeParseError as exc:
        if str(exc).startswith(PARSER_BUG):
            # Our parser failed, not the host's output: say so (and keep the output for the log).
            raise CollectionError(
                f"{where}: kafka-monitor's describe parser failed on this output (a bug in kafka-monitor, "
                f"please report it with the logged output): {exc}",
                INTERNAL_ERROR,
                output,
            ) from exc
        if output.exit_status != 0:
            raise _exit_error(where, output) from exc
        raise CollectionError(f"{where}: unreadable describe output: {exc}", UNPARSEABLE_OUTPUT, output) from exc
    # The tool reports its errors in the output with exit status 0; a JVM that could not start
    # exits non-zero with a message the parser also knows. Either way its kind is the cause.
    if result.errors:
        error = result.errors[0]
        more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
        cause = error.message
        if error.exception and error.exception not in cause:
            cause += f" [{error.exception}]"  # Kafka 2.8's NPE says only "null"
        raise CollectionError(f"{where}: kafka-consumer-groups.sh reported: {cause}{more}", error.kind, output, result)
    if output.exit_status != 0:
        raise _exit_error(where, output)
    return GroupDescribe(mm=mm, where=where, output=output, result=result)


def topic_collection(described: GroupDescribe, topic: str) -> TopicCollection:
    """One topic's rows from its group's describe; raises CollectionError when it has none."""
    mm, where, output, result = described.mm, described.where, described.output, described.result
    group_state = described.group_state
    rows = sorted(result.rows_for(mm.group, topic), key=_partition_key)
    if rows:
        return TopicCollection(rows=rows, group_state=group_state, output=output, result=result)

    group_rows = [r for r in result.rows if r.get("group") in (mm.group, None)]
    if not group_rows:
        if group_state == "Dead":
            raise CollectionError(
                f"{where}: the consumer group is Dead (it does not exist)", GROUP_NOT_FOUND, output, result
            )
        state = group_state or "not reported"
        notice = _tail(output.stderr, 2)
        raise CollectionError(
            f"{where}: the consumer group has no partitions at all (state {state}): no committed "
            f"offsets and no assignment, so MirrorMaker is not consuming; topic {topic!r} has no lag to "
            f"report{'; stderr: ' + notice if notice else ''}",
            GROUP_WITHOUT_OFFSETS,
            output,
            result,
        )
    topics = sorted({str(r.get("topic")) for r in group_rows})
    shown = ", ".join(topics[:10]) + (f" and {len(topics) - 10} more" if len(topics) > 10 else "")
    raise CollectionError(
        f"{where}: topic {topic!r} is not in consumer group {mm.group!r} (the mirror stopped "
        f"consuming it, or it is not mirrored by this group); the group has: {shown}",
        TOPIC_NOT_IN_GROUP,
        output,
        result,
    )


def collect_topic(mm: MirrorMaker | Mapping[str, Any], topic: str) -> TopicCollection:
    """The topic's per-partition rows from one describe run; raises CollectionError."""
    mm = _mirrormaker(mm)
    try:
        topic = validate_topic(topic)
    except CommandError as exc:
        raise CollectionError(f"{_where(mm)}: {exc}; nothing was run", INVALID_COMMAND_VALUE) from None
    return topic_collection(describe_group(mm), topic)
