"""TCP-level faults for clients of binary protocols (Kafka's): ``SilentServer`` and ``refused_address``.

``sandbox.faultproxy`` speaks HTTP; a Kafka client needs faults below that:

- ``SilentServer()`` — a listening socket on 127.0.0.1 that accepts every connection, reads
  and discards what it is sent, and never answers (a hung broker: the client's handshake
  request waits for a reply that never comes);
- ``refused_address()`` — a 127.0.0.1 port nothing listens on (a broker that is down: the
  connection is refused).

On stop every accepted connection and the listening socket are closed, so nothing is left.
"""

from __future__ import annotations

import socket
import threading

from sandbox.process import LOOPBACK, SandboxError, free_port, port_open


def refused_address() -> str:
    """``127.0.0.1:<port>`` where nothing listens (checked, not assumed)."""
    port = free_port()
    if port_open(port):  # pragma: no cover - a race with another process taking the port
        raise SandboxError(f"port {port} was meant to be free")
    return f"{LOOPBACK}:{port}"


class SilentServer:
    """``with SilentServer() as s: s.address`` -> accepts, reads, never answers."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self.accepted = 0
        self.bytes_received = 0
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> SilentServer:
        self._listener.listen(64)
        thread = threading.Thread(target=self._accept_loop, name="silent-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
                self.accepted += 1
            thread = threading.Thread(target=self._swallow, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _swallow(self, conn: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.bytes_received += len(data)

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._connections.clear()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
