"""A real OpenSSH server on 127.0.0.1 standing in for a MirrorMaker host.

``/usr/sbin/sshd -D -e`` runs with its own configuration, its own ed25519 host key and one
client key pair, all generated in a temporary folder; it accepts exactly that client key for
the current user. The Airflow connection it hands out pins the host key (the ``host_key``
extra), the way production connections must: host keys are checked, never auto-added.

Usage::

    with SshServer() as server:
        os.environ["AIRFLOW_CONN_MM"] = json.dumps(server.airflow_connection())
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, process_group_alive, wait_until

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it needs an absolute path
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")  # Debian's sshd refuses to start without it
START_ATTEMPTS = 3  # a free port can be taken between picking and binding it


def generate_key(path: Path, comment: str = "kafka-monitor-sandbox") -> Path:
    """An ed25519 key pair without passphrase at ``path`` / ``path.pub``."""
    try:
        subprocess.run(
            [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise SandboxError(
            f"sshd: cannot generate a key with ssh-keygen: {exc} {detail.decode(errors='replace')}"
        ) from exc
    return path


def public_key_line(private_key: Path) -> str:
    """``ssh-ed25519 AAAA…`` (type and base64 only, no comment) of a key pair."""
    fields = Path(str(private_key) + ".pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


class SshServer:
    """OpenSSH sshd on a free loopback port, accepting one generated key for the current user."""

    name = "sshd"

    def __init__(
        self,
        base_dir: Path | None = None,
        start_timeout: float = 20.0,
        session_env: dict[str, str] | None = None,
        max_startups: str | None = "100:30:200",
    ):
        # max_startups None: sshd's default (10:30:100), as on an untouched MirrorMaker host.
        self.max_startups = max_startups
        # session_env: variables sshd exports into every session (sshd_config SetEnv), e.g. the
        # JMX_PORT a MirrorMaker host's profile exports.
        self.session_env = dict(session_env or {})
        self._own_dir = base_dir is None
        self.dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="kafka-monitor-sshd-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.start_timeout = start_timeout
        self.host = LOOPBACK
        self.port: int | None = None
        self.user = getpass.getuser()
        self.host_key_file = self.dir / "ssh_host_ed25519_key"
        self.client_key_file = self.dir / "client_ed25519_key"
        self.authorized_keys = self.dir / "authorized_keys"
        self.config_file = self.dir / "sshd_config"
        self.pid_file = self.dir / "sshd.pid"
        self.log = self.dir / "sshd.log"
        self.process: ManagedProcess | None = None

    # ------------------------------------------------------------------ lifecycle

    def stop_serving(self) -> None:
        """The host's sshd goes down (the port stays reserved for ``serve_again``)."""
        if self.process is not None:
            self.process.stop()

    def serve_again(self) -> SshServer:
        """sshd back on the same port, with the same host key."""
        assert self.port is not None
        self.process = ManagedProcess(self.name, [SSHD, "-D", "-e", "-f", str(self.config_file)], log=self.log).start()
        wait_until(
            self._answers, f"sshd on {self.host}:{self.port}", timeout=self.start_timeout, proc=self.process.proc
        )
        return self

    def start(self) -> SshServer:
        PRIVSEP_DIR.mkdir(parents=True, exist_ok=True)
        if not self.host_key_file.exists():
            generate_key(self.host_key_file, "kafka-monitor-sandbox-host")
        if not self.client_key_file.exists():
            generate_key(self.client_key_file, "kafka-monitor-sandbox-client")
        self.authorized_keys.write_text(public_key_line(self.client_key_file) + "\n")
        os.chmod(self.authorized_keys, 0o600)
        last_error: SandboxError | None = None
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self._write_config()
            self.process = ManagedProcess(
                self.name, [SSHD, "-D", "-e", "-f", str(self.config_file)], log=self.log
            ).start()
            try:
                wait_until(
                    self._answers,
                    f"sshd on {self.host}:{self.port}",
                    timeout=self.start_timeout,
                    proc=self.process.proc,
                    log=self.log,
                )
                return self
            except SandboxError as exc:
                last_error = exc
                self.process.stop()
                if "Address already in use" not in self.log.read_text(errors="replace"):
                    break
        raise last_error  # type: ignore[misc]

    def _write_config(self) -> None:
        self.config_file.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {self.host}",
                    f"HostKey {self.host_key_file}",
                    f"PidFile {self.pid_file}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    # Tests run as root; keys only.
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    # The temp folder's modes are not sshd's business here.
                    "StrictModes no",
                    "PrintMotd no",
                    "LogLevel VERBOSE",
                    # Parallel tests may connect at once; the default 10:30:100 drops some.
                    *([f"MaxStartups {self.max_startups}"] if self.max_startups else []),
                    # Half-open connections (e.g. a client that rejected our host key) end soon.
                    "LoginGraceTime 20",
                    *(
                        [f"SetEnv {' '.join(f'{k}={v}' for k, v in self.session_env.items())}"]
                        if self.session_env
                        else []
                    ),
                    "",
                ]
            )
        )

    def _answers(self) -> bool:
        """True once the server sends its SSH banner."""
        assert self.port is not None
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.settimeout(2.0)
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def ensure_alive(self) -> SshServer:
        pid = self.process.pid if self.process else None
        if self.process is None or not self.process.alive() or not self._answers():
            raise SandboxError(f"sshd (pid {pid}, {self.host}:{self.port}) is not running{self._log_tail()}")
        return self

    def _log_tail(self, lines: int = 10) -> str:
        if not self.log.exists():
            return ""
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n--- last lines of " + str(self.log) + " ---\n" + "\n".join(tail)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SshServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def group_alive(self) -> bool:
        """Whether any process of sshd's process group is left."""
        return self.pid is not None and process_group_alive(self.pid)

    # ------------------------------------------------------------------ client side

    def host_key_line(self) -> str:
        """The server's public host key as ``ssh-ed25519 AAAA…`` (what the ``host_key`` extra pins)."""
        return public_key_line(self.host_key_file)

    def airflow_connection(
        self,
        conn_id: str = "sandbox_ssh",
        *,
        connect_timeout: float = 5.0,
        cmd_timeout: float = 30.0,
        host_key: str | None = None,
        pin_host_key: bool = True,
        key_file: str | None = None,
        **extra,
    ) -> dict:
        """The JSON form of an Airflow SSH connection to this server (``AIRFLOW_CONN_<ID>``).

        The host key is pinned through the ``host_key`` extra (``host_key`` pins another key,
        ``pin_host_key=False`` leaves it to known_hosts); ``look_for_keys`` is off so the
        connection depends on nothing in ``~/.ssh``. ``extra`` adds or overrides extras (fault
        tests pass e.g. ``no_host_key_check=True``).
        """
        if self.port is None:
            raise SandboxError(f"sshd for connection {conn_id!r} was never started")
        extras = {
            "key_file": key_file or str(self.client_key_file),
            "host_key": (host_key or self.host_key_line()) if pin_host_key else None,
            "conn_timeout": connect_timeout,
            "cmd_timeout": cmd_timeout,
            "look_for_keys": False,
        }
        extras.update(extra)
        extras = {k: v for k, v in extras.items() if v is not None}
        return {
            "conn_type": "ssh",
            "description": f"sandbox sshd ({conn_id})",
            "host": self.host,
            "port": self.port,
            "login": self.user,
            "extra": extras,
        }

    def __repr__(self) -> str:
        return f"SshServer(pid={self.pid}, {self.host}:{self.port}, user={self.user})"
