"""A real local Spark driver (the ``pyspark`` wheel's Spark on the installed JDK) with Spark's
``JmxSink`` and ``JvmSource``, its remote JMX bound to 127.0.0.1.

The driver runs in its own Python process (``python -m sandbox.spark``), which starts Spark's
driver JVM through pyspark; both live in one process group, so stopping the part ends the JVM
and any Python worker with it. The test talks to the driver over a loopback control port, one
JSON line per request and per reply:

- ``{"op": "ping"}`` -> the application id and how many jobs the driver has run;
- ``{"op": "run_jobs", "n": N}`` -> runs N jobs one after the other, each ``count()`` of a
  two-partition RDD built in the JVM (one job, one stage, two tasks each: no Python worker);
  the reply counts what the driver itself ran (the tests' independent truth);
- ``{"op": "hold"}`` -> starts one job whose single task sleeps until released, and answers
  once Spark reports it running, so a snapshot sees a busy driver (one active job and stage);
- ``{"op": "release"}`` -> cancels the held job and answers once no job is active;
- ``{"op": "stop"}`` -> stops the SparkContext and exits.

Everything Spark writes (local dirs, temp files, the py4j handshake file) goes under
``workdir``; the Spark UI is off, so the part opens no port but the JMX one and the control one.
``spark.metrics.appStatusSource.enabled`` adds the ``appStatus`` counters (completed jobs,
stages, tasks) that the tests check against the driver's own count.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sandbox.process import (
    LOOPBACK,
    ManagedProcess,
    SandboxError,
    free_port,
    port_open,
    process_group_alive,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0  # a cold Spark start on a loaded 2-core machine
CONTROL_TIMEOUT_S = 120.0
HOLD_GROUP = "sandbox-hold"
PARTITIONS_PER_JOB = 2


def spark_conf(jmx_port: int, workdir: Path, namespace: str | None = None) -> dict[str, str]:
    """The SparkConf of the sandbox driver: JmxSink + JvmSource, remote JMX on loopback."""
    java_options = " ".join(
        [
            f"-Dcom.sun.management.jmxremote.port={jmx_port}",
            f"-Dcom.sun.management.jmxremote.rmi.port={jmx_port}",
            f"-Dcom.sun.management.jmxremote.host={LOOPBACK}",
            "-Dcom.sun.management.jmxremote.local.only=true",
            "-Dcom.sun.management.jmxremote.ssl=false",
            "-Dcom.sun.management.jmxremote.authenticate=false",
            f"-Djava.rmi.server.hostname={LOOPBACK}",
            f"-Djava.io.tmpdir={workdir / 'tmp'}",
            "-XX:-UsePerfData",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
        ]
    )
    conf = {
        "spark.master": "local[2]",
        "spark.app.name": "kafka-monitor-sandbox",
        "spark.driver.memory": "512m",
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.driver.extraJavaOptions": java_options,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.local.dir": str(workdir / "local"),
        "spark.metrics.conf.*.sink.jmx.class": "org.apache.spark.metrics.sink.JmxSink",
        "spark.metrics.conf.*.source.jvm.class": "org.apache.spark.metrics.source.JvmSource",
        "spark.metrics.appStatusSource.enabled": "true",
        "spark.python.worker.reuse": "true",
    }
    if namespace:
        conf["spark.metrics.namespace"] = namespace
    return conf


class SparkDriver:
    """``with SparkDriver(workdir) as spark: spark.jmx_address; spark.run_jobs(3)``.

    ``restart()`` stops the driver and starts a new one on the same JMX port: a new JVM and
    a new application id, as when an operator restarts a Spark job.
    """

    name = "spark driver"

    def __init__(self, workdir: Path, *, namespace: str | None = None):
        self.workdir = Path(workdir)
        self.namespace = namespace
        self.jmx_port = free_port()
        self.jmx_address = f"{LOOPBACK}:{self.jmx_port}"
        self.control_port = 0
        self.process: ManagedProcess | None = None
        self.app_id: str | None = None
        self.starts = 0

    # -- lifetime
    def start(self) -> SparkDriver:
        self.control_port = free_port()
        self.starts += 1
        run_dir = self.workdir / f"run-{self.starts}"
        (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        conf_file = run_dir / "spark-conf.json"
        conf_file.write_text(json.dumps(spark_conf(self.jmx_port, run_dir, self.namespace)), encoding="utf-8")
        env = dict(os.environ)
        env.update(
            {
                "TMPDIR": str(run_dir / "tmp"),
                "SPARK_LOCAL_IP": LOOPBACK,
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            }
        )
        env.pop("SPARK_HOME", None)  # the wheel's own Spark, never another install
        env.pop("PYSPARK_SUBMIT_ARGS", None)
        argv = [sys.executable, "-m", "sandbox.spark", "--control-port", str(self.control_port), str(conf_file)]
        self.process = ManagedProcess(self.name, argv, log=run_dir / "driver.log", env=env, cwd=run_dir)
        self.process.start()
        try:
            wait_until(
                lambda: port_open(self.control_port) and port_open(self.jmx_port),
                f"{self.name} (JMX {self.jmx_address})",
                timeout=START_TIMEOUT_S,
                interval=0.25,
                proc=self.process.proc,
                log=self.process.log,
            )
            self.app_id = self.request({"op": "ping"})["app_id"]
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        # PySpark's worker daemon moves to a process group of its own (and ends when the JVM
        # does): note every process below the driver now, to make sure they are all gone.
        below = descendants(self.process.pid) if self.process.alive() and self.process.pid else set()
        if self.process.alive():
            try:
                self.request({"op": "stop"}, timeout=30)
                self.process.proc.wait(timeout=30)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - the group is killed below in any case
                pass
        self.process.stop()
        # The JVM and Python workers are the leader's children: wait until the kill reached them.
        pgid = self.process.pid
        if pgid is not None:
            deadline = time.monotonic() + 15
            while process_group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        deadline = time.monotonic() + 10
        while (left := [pid for pid in below if pid_alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:  # only processes this part started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self) -> SparkDriver:
        self.stop()
        wait_until(lambda: not port_open(self.jmx_port), f"{self.name}: JMX port {self.jmx_port} to close", timeout=30)
        return self.start()

    def __enter__(self) -> SparkDriver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def ensure_alive(self) -> None:
        where = f"{self.name} (pid {self.pid}, JMX {self.jmx_address})"
        if self.process is None or not self.process.alive():
            raise SandboxError(f"{where} is not running")
        if not port_open(self.jmx_port):
            raise SandboxError(f"{where} does not accept JMX connections")
        self.request({"op": "ping"})

    def jmx_target(self, name: str = "sandbox-spark-driver") -> dict:
        """A ``jmx.targets`` entry of the monitor's configuration for this driver."""
        return {"name": name, "component": "spark_driver", "address": self.jmx_address}

    # -- control
    def request(self, message: dict[str, Any], timeout: float = CONTROL_TIMEOUT_S) -> dict[str, Any]:
        try:
            with socket.create_connection((LOOPBACK, self.control_port), timeout=timeout) as sock:
                sock.sendall((json.dumps(message) + "\n").encode())
                with sock.makefile("r", encoding="utf-8") as reader:
                    line = reader.readline()
        except OSError as exc:
            raise SandboxError(f"{self.name}: {message.get('op')} failed: {exc}") from None
        if not line:
            raise SandboxError(f"{self.name}: {message.get('op')}: the driver closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise SandboxError(f"{self.name}: {message.get('op')}: {reply.get('error')}")
        return reply

    def run_jobs(self, n: int) -> dict[str, int]:
        """Run ``n`` jobs; the driver's own totals since its start: jobs, stages, tasks."""
        return self.request({"op": "run_jobs", "n": n})

    def hold(self) -> None:
        self.request({"op": "hold"})

    def release(self) -> None:
        self.request({"op": "release"})


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, by the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent's wait is missing.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --------------------------------------------------------------------------- the driver process


class _Driver:
    def __init__(self, conf: dict[str, str]):
        from pyspark import SparkConf, SparkContext

        self.sc = SparkContext(conf=SparkConf().setAll(list(conf.items())))
        self.jobs = self.stages = self.tasks = 0
        self.batches = 0
        self.hold_thread: threading.Thread | None = None

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "ping":
            return {"app_id": self.sc.applicationId, **self.totals()}
        if op == "run_jobs":
            return self.run_jobs(int(message["n"]))
        if op == "hold":
            return self.hold()
        if op == "release":
            return self.release()
        raise ValueError(f"unknown op {op!r}")

    def totals(self) -> dict[str, int]:
        return {"jobs": self.jobs, "stages": self.stages, "tasks": self.tasks}

    def run_jobs(self, n: int) -> dict[str, int]:
        """Run ``n`` jobs, then wait until Spark's status store has recorded their end: the
        appStatus counters are updated by the same listener, just before that record, so a
        snapshot taken after the reply sees them."""
        self.batches += 1
        group = f"sandbox-jobs-{self.batches}"
        self.sc.setJobGroup(group, "jobs run by the test bed")
        try:
            for _ in range(n):
                self.one_job()
        finally:
            self.sc._jsc.clearJobGroup()
        tracker = self.sc.statusTracker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ids = tracker.getJobIdsForGroup(group)
            infos = [tracker.getJobInfo(job_id) for job_id in ids]
            if len(ids) == n and all(info is not None and info.status == "SUCCEEDED" for info in infos):
                return self.totals()
            time.sleep(0.05)
        raise RuntimeError(f"Spark did not record the end of {n} job(s) within 60 s")

    def one_job(self) -> None:
        jvm = self.sc._jvm
        values = jvm.java.util.ArrayList()
        for i in range(10):
            values.add(i)
        counted = self.sc._jsc.parallelize(values, PARTITIONS_PER_JOB).count()
        if counted != 10:
            raise RuntimeError(f"count() gave {counted}, not 10")
        self.jobs += 1
        self.stages += 1
        self.tasks += PARTITIONS_PER_JOB

    def hold(self) -> dict[str, Any]:
        if self.hold_thread is not None and self.hold_thread.is_alive():
            raise RuntimeError("a job is already held")

        def run() -> None:
            self.sc.setJobGroup(HOLD_GROUP, "held by the test bed", interruptOnCancel=True)
            try:
                self.sc.parallelize([0], 1).map(_sleep_long).count()
            except Exception:  # noqa: BLE001 - cancelled, as intended
                pass

        self.hold_thread = threading.Thread(target=run, name="hold", daemon=True)
        self.hold_thread.start()
        tracker = self.sc.statusTracker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if tracker.getJobIdsForGroup(HOLD_GROUP) and tracker.getActiveStageIds():
                return {}
            time.sleep(0.1)
        raise RuntimeError("the held job did not start within 60 s")

    def release(self) -> dict[str, Any]:
        self.sc.cancelJobGroup(HOLD_GROUP)
        if self.hold_thread is not None:
            self.hold_thread.join(timeout=60)
        tracker = self.sc.statusTracker()
        deadline = time.monotonic() + 60
        while tracker.getActiveJobsIds() and time.monotonic() < deadline:
            time.sleep(0.1)
        return {}


def _sleep_long(value: int) -> int:
    time.sleep(600)  # until the job is cancelled
    return value


def _serve(driver: _Driver, port: int) -> None:
    server = socket.create_server((LOOPBACK, port))
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rw", encoding="utf-8") as stream:
            line = stream.readline()
            if not line:
                continue
            message = json.loads(line)
            if message.get("op") == "stop":
                stream.write(json.dumps({"ok": True}) + "\n")
                stream.flush()
                break
            try:
                reply = {"ok": True, **driver.handle(message)}
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            stream.write(json.dumps(reply) + "\n")
            stream.flush()
    server.close()
    driver.sc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the sandbox's Spark driver (started by SparkDriver)")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("conf", type=Path)
    args = parser.parse_args(argv)
    driver = _Driver(json.loads(args.conf.read_text(encoding="utf-8")))
    _serve(driver, args.control_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
