"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records every message it accepts.

``with SmtpReceiver(user=..., password=...) as smtp: smtp.port; smtp.messages``. With a user
and password it offers AUTH LOGIN/PLAIN without TLS (loopback only) and refuses mail from
clients that did not log in, so a test proves the connection's credentials are used.
``airflow_connection()`` is the matching smtp connection (no SSL, no STARTTLS).
"""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sandbox.process import LOOPBACK, SandboxError, free_port, port_open, wait_until


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    authenticated_as: str | None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    def text(self) -> str:
        """The decoded body parts, joined."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)


class _Handler:
    def __init__(self, receiver: SmtpReceiver):
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.receiver.user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.auth_data and session.auth_data.login else None
        with self.receiver.lock:
            self.receiver.messages.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, raw, login)  # type: ignore[arg-type]
            )
        return "250 OK"


class SmtpReceiver:
    name = "smtp-receiver"

    def __init__(self, user: str | None = None, password: str | None = None, port: int | None = None):
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.messages: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self._controller: Any = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname=LOOPBACK, port=self.port, **kwargs)
        try:
            self._controller.start()
        except Exception as exc:  # noqa: BLE001 - reported with the part named
            raise SandboxError(f"{self.name} on {LOOPBACK}:{self.port} did not start: {exc}") from exc
        wait_until(lambda: port_open(self.port), f"{self.name} on {LOOPBACK}:{self.port}", timeout=10)
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ensure_alive(self) -> SmtpReceiver:
        if self._controller is None or not port_open(self.port):
            raise SandboxError(f"{self.name} on {LOOPBACK}:{self.port} is not answering")
        return self

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def received(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.messages)

    def airflow_connection(self, from_email: str = "kafka-monitor@example.org") -> dict[str, Any]:
        conn: dict[str, Any] = {
            "conn_type": "smtp",
            "host": LOOPBACK,
            "port": self.port,
            "extra": {
                "from_email": from_email,
                "disable_ssl": True,
                "disable_tls": True,
                "timeout": 5,
                "retry_limit": 0,
            },
        }
        if self.user is not None:
            conn["login"] = self.user
            conn["password"] = self.password
        return conn
