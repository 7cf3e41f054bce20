"""A real standalone ZooKeeper from Debian's ``zookeeper`` package (3.8), on 127.0.0.1.

Started as ``java -cp /usr/share/java/zookeeper.jar ZooKeeperServerMain <zoo.cfg>`` (the jar's
manifest names every dependency jar), with its own data dir, the client port on loopback, the
admin server off, and remote JMX bound to loopback on one port (registry and RMI server alike,
the setting the README asks of every monitored JVM). Nothing is written outside ``workdir``:
the package's ``/etc/zookeeper`` and ``/var/lib/zookeeper`` are not used.

``ensure_alive`` and readiness ask ZooKeeper itself (the ``srvr`` four-letter word, allowed by
default) rather than trusting an open port.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, port_open, wait_until

ZOOKEEPER_JARS = (Path("/usr/share/java/zookeeper.jar"), Path("/usr/share/zookeeper/lib/zookeeper.jar"))
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
HEAP = "64m"


def zookeeper_jar() -> Path:
    for jar in ZOOKEEPER_JARS:
        if jar.exists():
            return jar
    raise SandboxError(
        "zookeeper: Debian's zookeeper package is not installed (no /usr/share/java/zookeeper.jar); "
        "run scripts/ensure-system-deps"
    )


def four_letter_word(port: int, word: str, timeout: float = 2.0) -> str:
    """Send a four-letter word to ZooKeeper's client port; its whole answer."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii"))
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


class ZooKeeperServer:
    """``with ZooKeeperServer(workdir) as zk: zk.hosts, zk.jmx_address``."""

    name = "zookeeper"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.client_port = free_port()
        self.jmx_port = free_port()
        self.hosts = f"{LOOPBACK}:{self.client_port}"  # kazoo / zkCli connect string
        self.jmx_address = f"{LOOPBACK}:{self.jmx_port}"
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "zoo.cfg"
        self.process: ManagedProcess | None = None

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    "tickTime=2000",
                    f"dataDir={self.data_dir}",
                    f"clientPort={self.client_port}",
                    f"clientPortAddress={LOOPBACK}",
                    "admin.enableServer=false",
                    "maxClientCnxns=60",
                    "4lw.commands.whitelist=srvr,ruok",
                    "",
                ]
            ),
            encoding="utf-8",
        )

    def _argv(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise SandboxError("zookeeper: no java on PATH")
        props = {
            "com.sun.management.jmxremote.port": self.jmx_port,
            "com.sun.management.jmxremote.rmi.port": self.jmx_port,
            "com.sun.management.jmxremote.host": LOOPBACK,
            "com.sun.management.jmxremote.local.only": "true",
            "com.sun.management.jmxremote.ssl": "false",
            "com.sun.management.jmxremote.authenticate": "false",
            "java.rmi.server.hostname": LOOPBACK,
            "zookeeper.admin.enableServer": "false",
            "zookeeper.jmx.log4j.disable": "true",
            "java.io.tmpdir": self.workdir,
        }
        return [
            java,
            f"-Xmx{HEAP}",
            "-XX:+UseSerialGC",
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",  # no hsperfdata file in /tmp
            *(f"-D{k}={v}" for k, v in props.items()),
            "-cp",
            str(zookeeper_jar()),
            MAIN_CLASS,
            str(self.config_path),
        ]

    def start(self) -> ZooKeeperServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.process = ManagedProcess(self.name, self._argv(), log=self.workdir / "zookeeper.log", cwd=self.workdir)
        self.process.start()
        try:
            wait_until(
                lambda: port_open(self.jmx_port) and "Mode: standalone" in self.srvr(),
                f"{self.name} on {self.hosts} (JMX {self.jmx_address})",
                timeout=60,
                interval=0.2,
                proc=self.process.proc,
                log=self.process.log,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> ZooKeeperServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def srvr(self) -> str:
        return four_letter_word(self.client_port, "srvr")

    def ensure_alive(self) -> None:
        where = f"{self.name} (pid {self.pid}, {self.hosts})"
        if self.process is None or not self.process.alive():
            raise SandboxError(f"{where} is not running")
        try:
            answer = self.srvr()
        except OSError as exc:
            raise SandboxError(f"{where} does not answer srvr: {exc}") from None
        if "Mode: standalone" not in answer:
            raise SandboxError(f"{where} answers srvr unexpectedly: {answer[:200]!r}")
        if not port_open(self.jmx_port):
            raise SandboxError(f"{where} does not accept JMX connections on {self.jmx_address}")

    def jmx_target(self, name: str = "sandbox-zookeeper") -> dict:
        """A ``jmx.targets`` entry of the monitor's configuration for this server."""
        return {"name": name, "component": "zookeeper", "address": self.jmx_address}

    def client(self):
        """A started kazoo client on this server (the caller stops it)."""
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.hosts, timeout=10.0)
        client.start(timeout=15)
        return client
