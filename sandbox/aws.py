"""moto's server as the sandbox's AWS (CloudWatch, IAM), on a free 127.0.0.1 port.

It runs as its own process (``python -m moto.server``), not as moto's ``ThreadedMotoServer``
inside the test process, because:

- importing moto's server into the test process loads moto's botocore hooks and global
  settings there; as a separate process the product's boto3 clients stay untouched and talk
  plain HTTP, exactly as against AWS;
- it has the sandbox parts' shape: its own process group, stopped with everything it started,
  ``ensure_alive()`` notices a dead server, and a test can kill it for a real outage;
- auth enforcement (``/moto-api/reset-auth``) and state resets stay inside that process.

The server writes one werkzeug line per HTTP request to its log; ``request_count()`` reads
that log, so tests can count the requests the server really received.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.process import LOOPBACK, ManagedProcess, SandboxError, free_port, port_open, wait_until

# Keys moto accepts while auth is not enforced (the default). Never real credentials.
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"
DEFAULT_REGION = "eu-west-1"

# werkzeug's access log line: 127.0.0.1 - - [date] "POST / HTTP/1.1" 200 -
# (werkzeug may colour it with ANSI codes).
_REQUEST_LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) (\S+) HTTP/[\d.]+')


class MotoServer:
    """``moto_server`` on 127.0.0.1:<free port>; a context manager."""

    name = "moto_server"

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        port: int | None = None,
        region: str = DEFAULT_REGION,
        start_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kafka-monitor-moto-"))
        self.port = port or free_port()
        self.region = region
        self.start_timeout = start_timeout
        self.log = self.workdir / f"moto-{self.port}.log"
        self.process: ManagedProcess | None = None

    # ------------------------------------------------------------------ lifetime

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> MotoServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)  # auth is switched on per test via reset-auth
        env["PYTHONUNBUFFERED"] = "1"  # one log line per request, written at once
        env["NO_COLOR"] = "1"
        self.process = ManagedProcess(
            self.name,
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
            log=self.log,
            env=env,
            cwd=self.workdir,
        ).start()
        try:
            wait_until(
                self._answers,
                f"{self.name} on {LOOPBACK}:{self.port}",
                timeout=self.start_timeout,
                proc=self.process.proc,
                log=self.log,
            )
        except BaseException:
            self.stop()  # a server that never answered must not outlive the failed start
            raise
        return self

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/config", timeout=1) as resp:
            return 200 <= resp.status < 300  # moto answers 201 here

    def ensure_alive(self) -> None:
        pid = self.process.pid if self.process else None
        where = f"{self.name} (pid {pid}, {LOOPBACK}:{self.port})"
        if self.process is None or not self.process.alive():
            raise SandboxError(f"{where} is not running")
        try:
            if self._answers():
                return
        except (OSError, urllib.error.URLError) as exc:
            raise SandboxError(f"{where} does not answer: {exc}") from exc
        raise SandboxError(f"{where} does not answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def listening(self) -> bool:
        return port_open(self.port)

    # ------------------------------------------------------------------ moto's own API

    def _post(self, path: str, data: bytes = b"") -> dict[str, Any]:
        # text/plain: Flask hides a form-encoded body from moto's handlers.
        req = urllib.request.Request(
            f"{self.endpoint_url}{path}", data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                body = resp.read()
        except (OSError, urllib.error.URLError) as exc:
            raise SandboxError(f"{self.name}: POST {path} failed: {exc}") from exc
        return json.loads(body or b"{}")

    def reset(self) -> None:
        """Forget every resource and switch auth enforcement off again."""
        self._post("/moto-api/reset")
        self._post("/moto-api/reset-auth", b"inf")

    def enforce_auth(self, free_actions: int = 0) -> None:
        """Check credentials (IAM) on every request after the next ``free_actions`` ones."""
        self._post("/moto-api/reset-auth", str(int(free_actions)).encode())

    def create_access_key(
        self, user: str = "kafka-monitor", actions: tuple[str, ...] = ("cloudwatch:*",)
    ) -> tuple[str, str]:
        """An IAM user allowed ``actions`` and its key; call before ``enforce_auth``.

        moto checks CloudWatch calls against the ``monitoring:`` prefix (the endpoint name)
        where AWS uses ``cloudwatch:``, so both are granted.
        """
        import boto3  # local: only tests that enforce auth need it

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=TEST_ACCESS_KEY,
            aws_secret_access_key=TEST_SECRET_KEY,
        )
        granted = sorted({*actions, *(a.replace("cloudwatch:", "monitoring:") for a in actions)})
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user,
            PolicyName=f"{user}-policy",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": granted, "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    # ------------------------------------------------------------------ what it received

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request the server logged, moto-api calls excluded."""
        if not self.log.exists():
            return []
        found = []
        for match in _REQUEST_LINE.finditer(self.log.read_text(errors="replace")):
            if not match.group(2).startswith("/moto-api/"):
                found.append((match.group(1), match.group(2)))
        return found

    def request_count(self) -> int:
        return len(self.requests())

    # ------------------------------------------------------------------ Airflow

    def airflow_connection(
        self,
        *,
        login: str = TEST_ACCESS_KEY,
        password: str = TEST_SECRET_KEY,
        endpoint_url: str | None = None,
        region: str | None = None,
        config_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON for ``AIRFLOW_CONN_<ID>`` (conn_type aws) pointing at this server.

        ``endpoint_url`` lets a test put a proxy in between; ``config_kwargs`` become the
        botocore Config (e.g. ``{"retries": {"max_attempts": 1}}`` for quick fault tests).
        """
        extra: dict[str, Any] = {
            "region_name": region or self.region,
            "endpoint_url": endpoint_url or self.endpoint_url,
        }
        if config_kwargs:
            extra["config_kwargs"] = config_kwargs
        return {"conn_type": "aws", "login": login, "password": password, "extra": extra}

    def airflow_connection_json(self, **kwargs: Any) -> str:
        return json.dumps(self.airflow_connection(**kwargs))
