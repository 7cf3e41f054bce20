"""A real HTTP webhook receiver on 127.0.0.1 that records every request.

``with WebhookReceiver(user=..., password=...) as hook: hook.url``. ``down()`` closes the
listening socket (clients get "connection refused", as from a dead endpoint) and ``up()``
opens it again on the same port; ``fail_with(503)`` answers every request with that status
until ``fail_with(None)``. With a user and password, requests without that HTTP basic auth
are answered 401 (and still recorded), so a test proves the connection's secret is used.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.process import LOOPBACK, SandboxError, free_port, port_open, wait_until


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _handle(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = receiver.failing_with or 200
        if status == 200 and receiver.expected_auth is not None:
            if self.headers.get("Authorization") != receiver.expected_auth:
                status = 401
        with receiver.lock:
            receiver.requests.append(ReceivedRequest(self.command, self.path, dict(self.headers), body, status))
        reply = b'{"ok": true}' if status == 200 else b'{"ok": false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = _handle  # noqa: N815 - http.server's naming
    do_PUT = _handle  # noqa: N815
    do_GET = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, receiver: WebhookReceiver):
        super().__init__(address, _Handler)
        self.receiver = receiver


class WebhookReceiver:
    name = "webhook-receiver"

    def __init__(self, user: str | None = None, password: str | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.user = user
        self.password = password
        self.expected_auth = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user is not None else None
        )
        self.requests: list[ReceivedRequest] = []
        self.lock = threading.Lock()
        self.failing_with: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifetime
    def start(self) -> WebhookReceiver:
        self.up()
        return self

    def up(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = _Server((LOOPBACK, self.port), self)
        except OSError as exc:
            raise SandboxError(f"{self.name}: cannot listen on {LOOPBACK}:{self.port}: {exc}") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        wait_until(lambda: port_open(self.port), f"{self.name} on {self.url}", timeout=10)

    def down(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    stop = down

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.down()

    def ensure_alive(self) -> WebhookReceiver:
        if self._server is None or not port_open(self.port):
            raise SandboxError(f"{self.name} on {self.url} is not answering")
        return self

    # -- behaviour and records
    def fail_with(self, status: int | None) -> None:
        self.failing_with = status

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def received(self, path: str | None = None, accepted_only: bool = True) -> list[ReceivedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path == path) and (not accepted_only or r.answered == 200)
            ]

    def apprise_url(self, path: str = "/alerts") -> str:
        """An apprise ``json://`` URL posting to ``path`` (with the basic auth, when set)."""
        auth = f"{self.user}:{self.password}@" if self.user is not None else ""
        return f"json://{auth}{LOOPBACK}:{self.port}{path}"

    def apprise_connection(self, path: str = "/alerts") -> dict[str, Any]:
        return {"conn_type": "apprise", "extra": {"config": {"path": self.apprise_url(path)}}}
