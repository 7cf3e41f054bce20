"""The sandbox's alert receivers behave like the real thing the alerts tests rely on."""

from __future__ import annotations

import base64
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

import pytest
from fixtures.receivers import RECEIVER_PASSWORD, RECEIVER_USER

from sandbox.process import port_open


def post(url: str, body: bytes, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_webhook_receiver_records_demands_auth_and_goes_down_and_up(webhook_receiver):
    hook = webhook_receiver
    assert post(hook.url + "/a", b'{"n": 1}', (RECEIVER_USER, RECEIVER_PASSWORD)) == 200
    assert post(hook.url + "/a", b'{"n": 2}') == 401
    assert [r.json() for r in hook.received("/a")] == [{"n": 1}]
    assert len(hook.received("/a", accepted_only=False)) == 2
    hook.fail_with(503)
    assert post(hook.url + "/a", b"{}", (RECEIVER_USER, RECEIVER_PASSWORD)) == 503
    hook.fail_with(None)
    hook.down()
    assert not port_open(hook.port)
    with pytest.raises(urllib.error.URLError):
        post(hook.url + "/a", b"{}")
    hook.up()
    assert post(hook.url + "/a", b'{"n": 3}', (RECEIVER_USER, RECEIVER_PASSWORD)) == 200
    assert [r.json()["n"] for r in hook.received("/a")] == [1, 3]


def test_the_smtp_receiver_takes_mail_only_from_a_logged_in_client(smtp_receiver):
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "hello", "a@example.org", "b@example.org"
    message.set_content("body text")
    with smtplib.SMTP("127.0.0.1", smtp_receiver.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPException):
            client.send_message(message)
    with smtplib.SMTP("127.0.0.1", smtp_receiver.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(RECEIVER_USER, "wrong")
    with smtplib.SMTP("127.0.0.1", smtp_receiver.port, timeout=5) as client:
        client.login(RECEIVER_USER, RECEIVER_PASSWORD)
        client.send_message(message)
    (mail,) = smtp_receiver.received()
    assert (mail.subject, mail.rcpt_tos, mail.authenticated_as) == ("hello", ["b@example.org"], RECEIVER_USER)
    assert mail.text().strip() == "body text"
