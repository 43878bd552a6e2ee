"""Operations on the operators' alerts: send a test alert, check the mail server's login."""

from __future__ import annotations

from dataclasses import dataclass

from autoposter import mail
from autoposter.alerts import Alert, Alerter, Sent
from autoposter.config import Config
from autoposter.errors import NotifyError


@dataclass(frozen=True, slots=True)
class AlertsTest:
    """What ``alerts test`` did: one entry per configured channel; none configured means
    the alerts are log lines only. ``ok`` when every channel took the alert."""

    channels: tuple[Sent, ...]

    @property
    def ok(self) -> bool:
        return bool(self.channels) and all(sent.ok for sent in self.channels)


def test_alerts(config: Config) -> AlertsTest:
    """Send one test alert through every configured channel (e-mail, webhook), now."""
    if not (config.alerts.email or config.alerts.webhook_url):
        return AlertsTest(())
    alerter = Alerter(config)
    try:
        sent = alerter.send_now(
            Alert(
                "test",
                "test alert",
                "This is a test alert from `autoposter alerts test`: the alerts reach you.",
            )
        )
    finally:
        alerter.close()
    return AlertsTest(tuple(sent))


@dataclass(frozen=True, slots=True)
class SmtpCheck:
    """What ``check --online`` learned about the mail server; ``text`` says it for people."""

    server: str
    ok: bool
    text: str


def check_smtp(config: Config) -> SmtpCheck | None:
    """Connect to the ``smtp:`` server, secure the connection and log in as configured,
    then quit, sending nothing; None without an ``smtp:`` section."""
    smtp = config.smtp
    if smtp is None:
        return None
    server = f"{smtp.host}:{smtp.port}"
    login = f", logged in as {smtp.username}" if smtp.username else ""
    try:
        mail.check_login(smtp)
    except NotifyError as e:
        return SmtpCheck(server, False, str(e))
    return SmtpCheck(server, True, f"{smtp.security}{login}")
