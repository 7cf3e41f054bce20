"""One JMX snapshot of one JVM in the flow, and its documents.

Every query of a target goes to the JVM in ONE run of the JMXQuery jar that ships in the
``jmxquery`` package (each run starts a JVM, ~0.3-1 s). We launch the jar ourselves instead of
through ``jmxquery.JMXConnection`` because that wrapper

- puts ``-u``/``-p`` on the java command line, readable by every user of the worker in ``ps``
  and ``/proc/<pid>/cmdline``: we pass every argument in a Java ``@argfile`` (mode 0600 in a
  private temp folder, removed as soon as the JVM exits), so the command line shows only
  ``java ... @/tmp/.../args``;
- logs and returns ``[]`` on a timeout, and kills only ``java``, not what it started: we run it in
  its own process group with a hard deadline and kill the whole group, and an empty result
  where beans were expected is an error (``no_beans``), never a quiet success.

RMI's handshake timeout is set below our deadline, so a port that accepts and never answers
ends in a clean "Read timed out" from the jar; a JMX server that completes the handshake and
then never answers a read is ended by the hard kill. A quick TCP probe first makes a target
that is down fail in milliseconds, without starting a JVM.

The jar's JSON is not quite JSON (string values and bean names are not escaped, NaN and
Infinity are bare), so it is parsed here by its fixed record layout.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka_monitor.config.schema import JmxSettings, JmxTarget
from kafka_monitor.errors import ConfigError, KafkaMonitorError
from kafka_monitor.jmx.presets import ObjectName, Preset, parse_object_name, resolve_target_presets
from kafka_monitor.store.documents import (
    STATUS_ERROR,
    STATUS_OK,
    Doc,
    daily_index,
    doc_id,
    iso,
    minute_of,
    status_document,
)

log = logging.getLogger(__name__)

# Where each component sits in the flow (logstash -> Kafka -> MirrorMaker -> Spark), for the
# one Kibana view that shows the flow in order.
FLOW_STAGES: dict[str, tuple[str, int]] = {
    "jvm": ("0-jvm", 0),
    "logstash": ("1-ingest", 1),
    "kafka_broker": ("2-broker", 2),
    "zookeeper": ("2-broker", 2),
    "mirrormaker": ("3-mirror", 3),
    "mirrormaker2": ("3-mirror", 3),
    "spark_driver": ("4-processing", 4),
    "spark_executor": ("4-processing", 4),
}

# Error kinds (JmxError.kind, and error_kind of the status document).
TARGET_UNREACHABLE = "target_unreachable"  # refused, unknown host, no route, connect timed out
TIMEOUT = "timeout"  # accepted, then no (complete) answer in time
AUTH_FAILED = "auth_failed"  # wrong or missing credentials, or no access
NO_BEANS = "no_beans"  # an expected bean/attribute matched nothing
CREDENTIALS = "credentials"  # the Airflow connection for the credentials is missing
JAVA_MISSING = "java_missing"  # no java on the worker
JMX_FAILED = "jmx_failed"  # anything else the jar reported

# JVM flags of the short-lived client: start fast, leave no hsperfdata file (it would hold the
# command line, password included), refuse attach (jcmd would print it too).
CLIENT_JVM_FLAGS = (
    "-Xshare:auto",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xmx64m",
    "-XX:-UsePerfData",
    "-XX:+DisableAttachMechanism",
)
PROBE_TIMEOUT_S = 3.0
KILL_WAIT_S = 5.0


class JmxError(KafkaMonitorError):
    """A snapshot failed; ``kind`` is one of the kinds above, the message names target and cause.

    ``samples`` holds what was read anyway (a ``no_beans`` snapshot that matched part of its
    presets): the caller indexes them, so nothing collected is lost.
    """

    def __init__(self, message: str, kind: str, *, samples: Sequence[JmxSample] = (), unmatched: Sequence[str] = ()):
        super().__init__(message)
        self.kind = kind
        self.samples = list(samples)
        self.unmatched = list(unmatched)


@dataclass(frozen=True)
class JmxSample:
    """One numeric value read from one bean (``composite_key`` for a CompositeData attribute)."""

    object_name: str
    domain: str
    properties: dict[str, str] = field(hash=False)
    attribute: str
    composite_key: str | None
    value: float  # NaN/inf are kept: Kafka's client metrics report NaN when there is no data
    preset: str

    @property
    def metric(self) -> str:
        return f"{self.attribute}.{self.composite_key}" if self.composite_key else self.attribute


@dataclass
class Snapshot:
    """Everything one snapshot produced, for the documents and the status document."""

    samples: list[JmxSample]
    query_count: int
    unmatched: list[str]  # required queries (or all-optional presets) that matched nothing
    skipped: list[str]  # values that are not numbers (strings, unreadable attributes)
    duration_ms: float


# --------------------------------------------------------------------------- addresses


def service_url(address: str) -> str:
    """``host:port`` -> the RMI registry URL of ``-Dcom.sun.management.jmxremote.port``."""
    if address.startswith("service:jmx:"):
        return address
    return f"service:jmx:rmi:///jndi/rmi://{address}/jmxrmi"


_URL_HOST_PORT = re.compile(r"//(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?=/|$)")


def probe_endpoint(address: str) -> tuple[str, int] | None:
    """The TCP endpoint to probe before starting a JVM (the RMI registry), when we can tell."""
    if address.startswith("service:jmx:"):
        found = _URL_HOST_PORT.findall(address)
        if not found:
            return None
        host, port = found[-1]
    else:
        host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _probe(target: JmxTarget, timeout: float) -> None:
    endpoint = probe_endpoint(target.address)
    if endpoint is None:
        return
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except socket.gaierror as exc:
        cause = f"cannot resolve host {host!r} ({exc.strerror or exc})"
    except ConnectionRefusedError:
        cause = f"connection refused by {host}:{port} (is JMX enabled on that port?)"
    except TimeoutError:
        cause = f"no answer to a TCP connect to {host}:{port} within {timeout:.1f} s"
    except OSError as exc:
        cause = f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    raise JmxError(_message(target, cause), TARGET_UNREACHABLE)


def _message(target: JmxTarget, cause: str) -> str:
    return f"JMX target {target.name!r} ({target.component} at {target.address}): {cause}"


# --------------------------------------------------------------------------- credentials


def credentials_for(target: JmxTarget) -> tuple[str | None, str | None]:
    """Login and password of the Airflow connection ``target.conn_id`` (None, None without one)."""
    if not target.conn_id:
        return None, None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(target.conn_id)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException and friends, re-raised named
        raise JmxError(
            _message(target, f"cannot read the JMX credentials from Airflow connection {target.conn_id!r}: {exc}"),
            CREDENTIALS,
        ) from None
    return conn.login or None, conn.password or None


# --------------------------------------------------------------------------- the jar


def jmxquery_jar() -> Path:
    import jmxquery

    return Path(jmxquery.JAR_PATH)


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def quote_argfile_arg(arg: str) -> str:
    """One argument for a Java @argfile: double-quoted, with the launcher's escapes.

    Inside quotes the launcher reads \\\\ \\" \\n \\r \\t \\f as escapes; '#' and whitespace are
    literal, so any password survives (tested with quotes, '#', backslashes, '$').
    """
    escaped = (
        arg.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\f", "\\f")
    )
    return f'"{escaped}"'


def jar_arguments(url: str, queries: Sequence[str], username: str | None, password: str | None) -> list[str]:
    args = ["-jar", str(jmxquery_jar()), "-url", url, "-json"]
    if username:
        args += ["-u", username, "-p", password or ""]
    args += ["-q", ";".join(queries)]
    return args


def run_jar(java: str, jar_args: Sequence[str], *, timeout_s: float, rmi_timeout_ms: int) -> tuple[int, str, str]:
    """Run ``java @argfile`` in its own process group; kill the group at the deadline.

    Returns (exit status, stdout, stderr); raises ``subprocess.TimeoutExpired`` after the kill.
    """
    workdir = tempfile.mkdtemp(prefix="kafka-monitor-jmx-")  # mode 0700
    argfile = Path(workdir) / "args"
    proc: subprocess.Popen | None = None
    try:
        fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(quote_argfile_arg(a) for a in jar_args) + "\n")
        argv = [
            java,
            *CLIENT_JVM_FLAGS,
            f"-Dsun.rmi.transport.tcp.handshakeTimeout={rmi_timeout_ms}",
            f"-Dsun.rmi.transport.tcp.responseTimeout={rmi_timeout_ms}",
            f"@{argfile}",
        ]
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate(timeout=KILL_WAIT_S)
            raise
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    finally:
        # Also on Airflow's execution_timeout (an exception raised in this thread).
        if proc is not None and proc.poll() is None:
            _kill_group(proc)
            try:
                proc.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------- output parsing


@dataclass(frozen=True)
class JarRecord:
    bean: str
    attribute: str
    key: str | None
    type: str | None
    value: str | None  # the literal as printed: 12, 0.5, NaN, true, "text"


_RECORD = re.compile(
    r'\{"mBeanName" : "(?P<bean>.*?)", "attribute" : "(?P<attr>[^"]*)"'
    r'(?:, "attributeKey" : "(?P<key>[^"]*)")?'
    r'(?:, "attributeType" : "(?P<type>[^"]*)")?'
    r'(?:, "value" : (?P<value>.*))?\}',
    re.S,
)
_RECORD_START = re.compile(r'(?:^|, \n)(?=\{"mBeanName" : ")')
_ERROR = re.compile(r'^\{ "error": "(?P<kind>[^"]*)", "message":"(?P<message>.*)"\}\s*$', re.S)


class JarOutputError(ValueError):
    pass


def parse_jar_output(stdout: str) -> list[JarRecord]:
    """The jar's ``-json`` array, record by record (see the module doc for why not json.loads)."""
    text = stdout.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise JarOutputError(f"not a result list: {_excerpt(text)}")
    body = text[1:-1].strip("\n")
    if not body.strip():
        return []
    records = []
    for chunk in _RECORD_START.split(body):
        if not chunk.strip():
            continue
        m = _RECORD.fullmatch(chunk.strip())
        if m is None:
            raise JarOutputError(f"unreadable record: {_excerpt(chunk)}")
        # The jar escapes only '"' in bean names (as \"); undo exactly that.
        records.append(JarRecord(m["bean"].replace('\\"', '"'), m["attr"], m["key"], m["type"], m["value"]))
    return records


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def numeric_value(record: JarRecord) -> float | None:
    """The record's value as a float; None when it is not a number (text, unreadable)."""
    raw = record.value
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "true":
        return 1.0
    if raw == "false":
        return 0.0
    if raw.startswith('"'):
        return None
    try:
        return float(raw)  # Java's Double.toString: 1.0E-7, NaN, Infinity, -Infinity
    except ValueError:
        return None


def classify_failure(target: JmxTarget, returncode: int, stdout: str, stderr: str) -> JmxError:
    """The jar exited without results: say why, with its own words (never the arguments)."""
    m = _ERROR.match(stdout.strip())
    detail = _excerpt(m["message"]) if m else ""
    jar_kind = m["kind"] if m else ""
    text = f"{stdout}\n{stderr}"
    if "SecurityException" in text or "Authentication failed" in text or "Access denied" in text:
        line = next((ln.strip() for ln in stderr.splitlines() if "SecurityException" in ln), "")
        reason = line.split("SecurityException:", 1)[-1].strip() or "authentication failed"
        return JmxError(_message(target, f"JMX authentication failed: {reason}"), AUTH_FAILED)
    if re.search(r"SocketTimeoutException|timed out", text):
        return JmxError(
            _message(target, f"the JMX endpoint did not answer in time ({detail or _last_line(stderr)})"), TIMEOUT
        )
    if re.search(r"Connection refused|UnknownHost|No route to host|Network is unreachable", text):
        hint = ""
        refused = re.search(r"Connection refused to host: ([^;\s\]]+)", text)
        endpoint = probe_endpoint(target.address)
        if refused and endpoint and refused.group(1) != endpoint[0]:
            # The registry answered, then pointed us at another address: the JVM's
            # -Djava.rmi.server.hostname (or its RMI port) is not reachable from here.
            hint = (
                f"the JMX server at {endpoint[0]} sends clients on to {refused.group(1)}, which refuses; "
                "check its -Djava.rmi.server.hostname and com.sun.management.jmxremote.rmi.port - "
            )
        return JmxError(_message(target, f"cannot connect ({hint}{detail or _last_line(stderr)})"), TARGET_UNREACHABLE)
    if "non-JRMP server" in text or "ClassCastException" in text:
        return JmxError(
            _message(target, f"the address answers, but not as a JMX RMI endpoint ({detail or _last_line(stderr)})"),
            JMX_FAILED,
        )
    what = (
        f"jmxquery reported {jar_kind}: {detail}"
        if jar_kind
        else (f"jmxquery exited with status {returncode}: {_last_line(stderr) or _excerpt(stdout)}")
    )
    return JmxError(_message(target, what), JMX_FAILED)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    return _excerpt(lines[0]) if lines else ""


# --------------------------------------------------------------------------- snapshot


def _plan(presets: Sequence[Preset]) -> list[str]:
    """Every preset's query strings, each once, in preset order."""
    return list(dict.fromkeys(s for p in presets for q in p.queries for s in q.query_strings()))


def take_snapshot(
    target: JmxTarget,
    settings: JmxSettings,
    *,
    username: str | None = None,
    password: str | None = None,
    presets: Sequence[Preset] | None = None,
) -> Snapshot:
    """Read every preset query of ``target`` in one bounded JVM run; raise JmxError on failure.

    A ``no_beans`` JmxError carries the values that were read (``.samples``).
    """
    started = time.monotonic()
    if presets is None:
        try:
            presets = resolve_target_presets(target.component, target.presets)
        except ConfigError as exc:
            raise JmxError(_message(target, f"invalid presets: {exc}"), JMX_FAILED) from None
    queries = _plan(presets)
    deadline = started + settings.timeout_s

    _probe(target, min(PROBE_TIMEOUT_S, settings.timeout_s / 3))

    java = java_binary()
    if java is None:
        raise JmxError(
            _message(target, "no java on this worker (set JAVA_HOME or put java on PATH): jmxquery needs a JVM"),
            JAVA_MISSING,
        )
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise JmxError(_message(target, f"no time left of the {settings.timeout_s:g} s budget"), TIMEOUT)
    # Let RMI give up cleanly a little before we kill it (JVM start-up takes part of the budget).
    rmi_timeout_ms = max(500, int(remaining * 1000 * 0.75))
    try:
        rc, out, err = run_jar(
            java,
            jar_arguments(service_url(target.address), queries, username, password),
            timeout_s=remaining,
            rmi_timeout_ms=rmi_timeout_ms,
        )
    except subprocess.TimeoutExpired:
        raise JmxError(
            _message(
                target,
                f"no complete answer within {settings.timeout_s:g} s "
                "(the target accepts connections but does not answer); "
                "the java process group was killed",
            ),
            TIMEOUT,
        ) from None
    except OSError as exc:
        raise JmxError(_message(target, f"cannot run {java}: {exc}"), JAVA_MISSING) from None

    if rc != 0:
        raise classify_failure(target, rc, out, err)
    try:
        records = parse_jar_output(out)
    except JarOutputError as exc:
        raise JmxError(_message(target, f"jmxquery printed something unexpected: {exc}"), JMX_FAILED) from None

    samples, skipped, unmatched = _interpret(records, presets)
    duration_ms = (time.monotonic() - started) * 1000
    snap = Snapshot(
        samples=samples, query_count=len(queries), unmatched=unmatched, skipped=skipped, duration_ms=duration_ms
    )
    from kafka_monitor import warn_once

    subject = f"jmx target {target.name}: values that are not numbers"
    if skipped:
        # The same beans every minute: logged once per change (kafka_monitor.warn_once).
        warn_once.warn_on_change(
            log,
            subject,
            "JMX target %s: %d value(s) are not numbers and were not indexed: %s",
            target.name,
            len(skipped),
            "; ".join(skipped[:10]),
        )
    else:
        warn_once.clear(subject)
    if not samples:
        raise JmxError(
            _message(
                target,
                f"none of the {len(queries)} queries of presets "
                f"{', '.join(p.name for p in presets)} matched a bean "
                "(wrong component or presets for this JVM?)",
            ),
            NO_BEANS,
            unmatched=unmatched,
        )
    if unmatched:
        raise JmxError(
            _message(target, f"{len(unmatched)} expected bean pattern(s) matched nothing: " + "; ".join(unmatched)),
            NO_BEANS,
            samples=samples,
            unmatched=unmatched,
        )
    return snap


def snapshot(
    target: JmxTarget, settings: JmxSettings, *, username: str | None = None, password: str | None = None
) -> list[JmxSample]:
    """The values of every preset bean of ``target``: one JVM call, bounded; raises JmxError."""
    return take_snapshot(target, settings, username=username, password=password).samples


def _interpret(records: Iterable[JarRecord], presets: Sequence[Preset]) -> tuple[list[JmxSample], list[str], list[str]]:
    """Samples (each value once, labelled with the first preset that asked for it), the
    values skipped as non-numeric, and the expectations nothing satisfied."""
    parsed: list[tuple[JarRecord, ObjectName]] = []
    for rec in records:
        try:
            parsed.append((rec, parse_object_name(rec.bean)))
        except ValueError:
            parsed.append((rec, ObjectName(rec.bean, rec.bean.partition(":")[0], ())))

    def hits(query, attr) -> list[int]:
        return [
            i
            for i, (rec, name) in enumerate(parsed)
            if rec.attribute == attr.name and (not attr.keys or rec.key in attr.keys) and query.pattern.matches(name)
        ]

    owner: dict[int, str] = {}
    unmatched: list[str] = []
    for preset in presets:
        preset_hit = False
        for query in preset.queries:
            for attr in query.attributes:
                found = hits(query, attr)
                for i in found:
                    owner.setdefault(i, preset.name)
                preset_hit = preset_hit or bool(found)
                if not found and not query.optional:
                    unmatched.append(f"{query.bean} {attr.name} (preset {preset.name})")
        if not preset_hit and preset.all_optional:
            unmatched.append(f"any bean of preset {preset.name}")

    samples: list[JmxSample] = []
    skipped: list[str] = []
    seen: set[tuple[str, str, str | None]] = set()
    for i, (rec, name) in enumerate(parsed):
        if i not in owner:
            # The jar matched it but no query here does: report it rather than guess its preset.
            skipped.append(f"{rec.bean} {rec.attribute} (matched no preset query)")
            continue
        ident = (rec.bean, rec.attribute, rec.key)
        if ident in seen:
            continue
        seen.add(ident)
        value = numeric_value(rec)
        if value is None:
            skipped.append(
                f"{rec.bean} {rec.attribute}{'.' + rec.key if rec.key else ''} "
                f"({rec.type or 'unknown type'}: {rec.value if rec.value is not None else 'unreadable'})"
            )
            continue
        samples.append(
            JmxSample(
                object_name=rec.bean,
                domain=name.domain,
                properties=name.unquoted(),
                attribute=rec.attribute,
                composite_key=rec.key,
                value=value,
                preset=owner[i],
            )
        )
    return samples, skipped, unmatched


# --------------------------------------------------------------------------- documents


def mbean_field(key: str) -> str:
    # A '.' in a key would nest objects in the store (and clash with a sibling key).
    return key.replace(".", "_")


def jmx_documents(
    samples: Iterable[JmxSample],
    *,
    target: JmxTarget,
    index_prefix: str,
    minute: datetime,
    collected_at: datetime,
    run_id: str | None = None,
) -> list[Doc]:
    """One document per value; the id is (target, bean, attribute, key, scheduled minute)."""
    minute = minute_of(minute)
    stamp = iso(minute)
    index = daily_index(index_prefix, minute)
    stage, order = FLOW_STAGES[target.component]
    docs = []
    for s in samples:
        finite = math.isfinite(s.value)
        source: dict[str, Any] = {
            "@timestamp": stamp,
            "target": target.name,
            "component": target.component,
            "flow_stage": stage,
            "flow_order": order,
            "preset": s.preset,
            "object_name": s.object_name,
            "domain": s.domain,
            "mbean": {mbean_field(k): v for k, v in s.properties.items()},
            "attribute": s.attribute,
            "composite_key": s.composite_key,
            "metric": s.metric,
            # JSON has no NaN: the store gets null plus the text ("no data yet" in Kafka clients).
            "value": s.value if finite else None,
            "value_text": None
            if finite
            else ("NaN" if math.isnan(s.value) else ("Infinity" if s.value > 0 else "-Infinity")),
            "collected_at": iso(collected_at),
            "run_id": run_id,
        }
        docs.append(Doc(index, doc_id("jmx", target.name, s.object_name, s.attribute, s.composite_key, stamp), source))
    return docs


def collect_and_index(
    target: JmxTarget,
    settings: JmxSettings,
    sink,
    *,
    status_index_prefix: str,
    jmx_index_prefix: str,
    minute: datetime,
    run_id: str | None = None,
    try_number: int | None = None,
) -> dict[str, Any]:
    """Snapshot ``target``, index its documents and a status document; re-raise a JmxError
    after the status document (and any values read) are indexed."""
    started = time.monotonic()
    subject = {"target": target.name, "component": target.component}

    def status(state: str, rows: int, kind: str | None = None, message: str | None = None) -> Doc:
        return status_document(
            index_prefix=status_index_prefix,
            minute=minute,
            source="jmx",
            subject=subject,
            status=state,
            duration_ms=(time.monotonic() - started) * 1000,
            row_count=rows,
            error_kind=kind,
            error_message=message,
            collected_at=datetime.now(UTC),
            run_id=run_id,
            try_number=try_number,
        )

    try:
        username, password = credentials_for(target)
        snap = take_snapshot(target, settings, username=username, password=password)
    except JmxError as exc:
        docs = jmx_documents(
            exc.samples,
            target=target,
            index_prefix=jmx_index_prefix,
            minute=minute,
            collected_at=datetime.now(UTC),
            run_id=run_id,
        )
        sink.index([*docs, status(STATUS_ERROR, len(docs), exc.kind, str(exc))])
        log.error("%s", exc)
        raise
    except Exception as exc:
        sink.index([status(STATUS_ERROR, 0, type(exc).__name__, _message(target, f"unexpected error: {exc}"))])
        raise

    docs = jmx_documents(
        snap.samples,
        target=target,
        index_prefix=jmx_index_prefix,
        minute=minute,
        collected_at=datetime.now(UTC),
        run_id=run_id,
    )
    report = sink.index([*docs, status(STATUS_OK, len(docs))])
    summary = {
        "target": target.name,
        "component": target.component,
        "status": STATUS_OK,
        "samples": len(snap.samples),
        "queries": snap.query_count,
        "skipped": len(snap.skipped),
        "indexed": getattr(report, "indexed", None),
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    log.info(
        "JMX target %s: %d values from %d queries in %.0f ms",
        target.name,
        len(snap.samples),
        snap.query_count,
        snap.duration_ms,
    )
    return summary
