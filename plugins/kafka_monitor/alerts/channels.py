"""Delivery through Airflow's notifiers, one channel a connection id.

- ``apprise``: the apprise provider's ``AppriseNotifier`` (Slack, Teams, e-mail, webhooks and
  ~100 more; the connection's ``config`` extra holds the service URLs, secrets included). The
  provider's hook ignores apprise's result (``Apprise.notify`` returns False when a service
  refused or was unreachable, and the hook drops it), so ``CheckedAppriseNotifier`` makes the
  same call and raises on False: a channel that is down must never count as delivered.
- ``smtp``: the smtp provider's ``SmtpNotifier`` (host, port, login/password and the
  ``from_email``/``timeout``/``retry_limit``/``disable_ssl``/``disable_tls`` extras come from the
  connection); it raises on any failure.

Notifiers are called with ``notify()`` directly, not through ``__call__``: the message is
already rendered from our templates, and Airflow's template rendering of the notifier's fields
would run the message text through Jinja a second time. Errors are reported with any
``user:password@`` scrubbed and cut short; secrets never leave the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka_monitor.alerts.messages import Message
from kafka_monitor.config.schema import AlertChannel
from kafka_monitor.errors import KafkaMonitorError
from kafka_monitor.store.sink import scrub

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300
NOTIFY_TYPES = {"open": "failure", "escalate": "failure", "remind": "warning", "resolve": "success"}


class ChannelError(KafkaMonitorError):
    """A channel did not take a notification; the message names the channel and the cause."""


Sender = Callable[[AlertChannel, Message, str], None]


def _checked_apprise_notifier():
    from airflow.providers.apprise.notifications.apprise import AppriseNotifier

    class CheckedAppriseNotifier(AppriseNotifier):
        """``AppriseNotifier`` that fails when apprise reports a failure (the provider drops it)."""

        def notify(self, context):
            import apprise

            apprise_obj = apprise.Apprise()
            self.hook.set_config_from_conn(conn=self.hook.get_connection(self.apprise_conn_id), apprise_obj=apprise_obj)
            if len(apprise_obj) == 0:
                raise ChannelError("the connection's config extra names no apprise service")
            result = apprise_obj.notify(
                body=self.body,
                title=self.title or "",
                notify_type=self.notify_type,
                body_format=self.body_format,
                tag=self.tag,
            )
            if result is None:
                raise ChannelError(f"no apprise service of the connection has tag {self.tag!r}")
            if not result:
                raise ChannelError("an apprise service refused the notification or could not be reached")

    return CheckedAppriseNotifier


def send(channel: AlertChannel, message: Message, kind: str) -> None:
    """Deliver ``message`` to ``channel`` or raise ``ChannelError``."""
    try:
        if channel.kind == "apprise":
            from apprise import NotifyFormat, NotifyType

            notifier = _checked_apprise_notifier()(
                body=message.payload_json if channel.body == "json" else message.text,
                title=message.title,
                notify_type=NotifyType(NOTIFY_TYPES.get(kind, "info")),
                body_format=NotifyFormat.TEXT,
                tag=channel.tag,
                apprise_conn_id=channel.conn_id,
            )
        else:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifier = SmtpNotifier(
                to=list(channel.to or []),
                from_email=channel.from_email,
                subject=message.title,
                html_content=message.html,
                smtp_conn_id=channel.conn_id,
                custom_headers={
                    "X-Kafka-Monitor-Kind": kind,
                    "X-Kafka-Monitor-Incident": str(message.payload.get("incident_id")),
                },
            )
        notifier.notify({})
    except ChannelError as exc:
        raise ChannelError(f"channel {channel.channel_id!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any notifier failure keeps the notification pending
        cause = scrub(f"{type(exc).__name__}: {exc}")[:MAX_ERROR_CHARS]
        raise ChannelError(f"channel {channel.channel_id!r} ({channel.kind}): {cause}") from None
