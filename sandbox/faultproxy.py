"""A real HTTP reverse proxy that injects faults: ``FaultProxy(upstream_url)``.

Put it between a client and a real server (the search store, moto, ...) and tell it what to do
with the next matching requests: answer them itself with an error status (429, 500, ...),
accept them and never answer (a hung server), or forward them and edit the upstream reply
(e.g. turn some bulk items into rejections). Every other request is forwarded unchanged.

It is a threaded ``http.server`` on 127.0.0.1, HTTP/1.1 with keep-alive (clients pool
connections), one upstream connection per client connection. Bodies are read whole (chunked
request bodies are de-chunked), which is fine for the bulk bodies of a test. On stop the
listening socket, every client connection and every hung request are closed, so nothing is
left behind.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from sandbox.process import LOOPBACK, SandboxError, port_open

# Headers that belong to one hop, never forwarded (RFC 9110 section 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass
class SeenRequest:
    method: str
    path: str
    body: bytes
    outcome: str  # "forwarded", "rewritten", "failed <status>", "hung", "upstream error: ..."
    headers: dict[str, str] = field(default_factory=dict)  # as received (lower-case names)


@dataclass
class _Rule:
    kind: str  # "fail" | "hang" | "rewrite"
    remaining: int
    path_contains: str | None = None
    body_contains: bytes | None = None
    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    rewrite: Callable[[bytes], bytes] | None = None

    def matches(self, path: str, body: bytes) -> bool:
        if self.path_contains is not None and self.path_contains not in path:
            return False
        if self.body_contains is not None and self.body_contains not in body:
            return False
        return True


class FaultProxy:
    """``with FaultProxy(store.url) as proxy: client(proxy.url); proxy.fail_next(2, 429)``."""

    name = "fault proxy"

    def __init__(self, upstream_url: str, upstream_timeout: float = 30.0):
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"{self.name}: upstream must be http://host:port, not {upstream_url!r}")
        self.upstream_url = upstream_url.rstrip("/")
        self.upstream = (parts.hostname, parts.port)
        self.upstream_timeout = upstream_timeout
        self.requests: list[tuple[str, str]] = []
        self.seen: list[SeenRequest] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.url = ""

    # -- lifetime
    def start(self) -> FaultProxy:
        self._server = _Server((LOOPBACK, 0), _Handler, self)
        self.port = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fault-proxy-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # releases hung requests
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ensure_alive(self) -> None:
        if self._server is None or self._thread is None or not self._thread.is_alive() or not port_open(self.port):
            raise SandboxError(f"{self.name} ({LOOPBACK}:{self.port} -> {self.upstream_url}) is not running")

    # -- faults (rules apply in the order given; each takes the next requests it matches)
    def fail_next(
        self,
        n: int,
        status: int,
        body: bytes = b"",
        headers: dict | None = None,
        path_contains: str | None = None,
        body_contains: bytes | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests here with ``status`` (never forwarded)."""
        self._add(_Rule("fail", n, path_contains, body_contains, status=status, body=body, headers=dict(headers or {})))

    def hang_next(self, n: int, path_contains: str | None = None, body_contains: bytes | None = None) -> None:
        """Accept the next ``n`` matching requests and never answer (until the proxy stops)."""
        self._add(_Rule("hang", n, path_contains, body_contains))

    def rewrite_next(
        self, fn: Callable[[bytes], bytes], path_contains: str | None = None, body_contains: bytes | None = None
    ) -> None:
        """Forward the next matching request, then pass its reply body through ``fn``."""
        self._add(_Rule("rewrite", 1, path_contains, body_contains, rewrite=fn))

    def clear(self) -> None:
        """Drop the faults not yet used."""
        with self._lock:
            self._rules.clear()

    def pending(self) -> int:
        """How many requests the remaining faults would still take."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def _add(self, rule: _Rule) -> None:
        if rule.remaining < 1:
            raise ValueError(f"{self.name}: n must be at least 1, not {rule.remaining}")
        with self._lock:
            self._rules.append(rule)

    def _take(self, path: str, body: bytes) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(path, body):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def _record(self, method: str, path: str, body: bytes, outcome: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path))
            self.seen.append(SeenRequest(method, path, body, outcome, headers))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, proxy: FaultProxy):
        self.proxy = proxy
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def forget(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in one write, without Nagle: no 40 ms delayed-ACK stalls.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()
            self.server.forget(self.request)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # requests are recorded in FaultProxy.seen instead

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        received = {k.lower(): v for k, v in self.headers.items()}
        rule = proxy._take(self.path, body)
        if rule is not None and rule.kind == "hang":
            proxy._record(self.command, self.path, body, "hung", received)
            proxy._stopping.wait()
            self.close_connection = True
            return
        if rule is not None and rule.kind == "fail":
            proxy._record(self.command, self.path, body, f"failed {rule.status}", received)
            headers = dict(rule.headers)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json" if rule.body[:1] in (b"{", b"[") else "text/plain"
            self._answer(rule.status, list(headers.items()), rule.body)
            return
        rewrite = rule.rewrite if rule is not None else None
        try:
            status, headers, reply = self._forward(body, plain=rewrite is not None)
        except (OSError, http.client.HTTPException) as exc:
            proxy._record(self.command, self.path, body, f"upstream error: {exc}", received)
            message = f"{proxy.name}: upstream {proxy.upstream_url} failed: {exc}".encode()
            self._answer(502, [("Content-Type", "text/plain")], message)
            return
        if rewrite is not None:
            reply = rewrite(reply)
        proxy._record(self.command, self.path, body, "rewritten" if rewrite else "forwarded", received)
        self._answer(status, headers, reply)

    def _forward(self, body: bytes, plain: bool) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        headers["Host"] = f"{proxy.upstream[0]}:{proxy.upstream[1]}"
        if plain:  # a reply we edit must not come back compressed
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
            headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*proxy.upstream, timeout=proxy.upstream_timeout)
            try:
                self._upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = self._upstream.getresponse()
                reply = response.read()
                break
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                # A kept-alive upstream connection the server had closed: reconnect once.
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        # Date and Server come from send_response; Content-Length is recomputed by _answer.
        out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"date", "server"}]
        if self.command != "HEAD":
            out = [(k, v) for k, v in out if k.lower() != "content-length"]
        return response.status, out, reply

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()  # one write: status line, headers and body

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _proxy
