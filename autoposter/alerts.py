"""Telling operators what needs them: e-mail and/or a webhook, never blocking the pipeline.

Alerts are raised on transitions only (an account paused, a delivery failed
or left unknown, a feed failing for too long, a burst held), so each event
is told once. Sending happens on a background thread; a failure to send is
logged, never raised into a poll or a dispatch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from autoposter import logs, mail
from autoposter.config import Config
from autoposter.errors import NotifyError

SIGNATURE_HEADER = "X-Autoposter-Signature"


@dataclass(frozen=True, slots=True)
class Alert:
    """``kind`` is one of: account-paused, delivery-failed, delivery-unknown,
    feed-failing, burst-held, budget-reached, approval-waiting, reload-failed, test."""

    kind: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Sent:
    """How one channel (``email`` or ``webhook``) took an alert; ``detail`` says it for
    people: the recipients, or what went wrong (never a secret)."""

    channel: str
    ok: bool
    detail: str


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class LogOnly:
    """No channel configured: the log line is the alert."""

    def notify(self, alert: Alert) -> None:
        logs.event("alert", level=logging.WARNING, kind=alert.kind, subject=alert.subject)


class Alerter:
    """Sends each alert to the configured e-mail recipients and webhook."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")
        self._host = socket.gethostname()

    def notify(self, alert: Alert) -> None:
        logs.event("alert", level=logging.WARNING, kind=alert.kind, subject=alert.subject)
        self._pool.submit(self._send, alert)

    def _send(self, alert: Alert) -> None:
        for sent in self.send_now(alert):
            if not sent.ok:
                logs.event(
                    "alert-not-sent", level=logging.ERROR, channel=sent.channel, error=sent.detail
                )

    def send_now(self, alert: Alert) -> list[Sent]:
        """Send ``alert`` through every configured channel, in this thread, and say how
        each went (e-mail first, then the webhook); never raises NotifyError."""
        alerts = self._config.alerts
        subject = f"[autoposter] {alert.subject}"
        body = f"{alert.body}\n\n-- \nautoposter on {self._host}\n"
        results: list[Sent] = []
        if alerts.email and self._config.smtp is not None:
            to = ", ".join(alerts.email)
            try:
                message = mail.build_message(
                    self._config.smtp, to=alerts.email, subject=subject, text=body
                )
                mail.send(self._config.smtp, message)
                results.append(Sent("email", True, f"sent to {to}"))
            except NotifyError as e:
                results.append(Sent("email", False, logs.redact_known(str(e))))
        if alerts.webhook_url:
            try:
                self._post(alerts.webhook_url, alerts.webhook_secret, alert, subject, body)
                results.append(Sent("webhook", True, "accepted"))
            except NotifyError as e:
                results.append(Sent("webhook", False, logs.redact_known(str(e))))
        return results

    @staticmethod
    def _post(url: str, secret: str | None, alert: Alert, subject: str, body: str) -> None:
        payload = {"kind": alert.kind, "subject": subject, "text": body}
        post_signed_json(url, secret, payload, what="alert webhook")

    def close(self) -> None:
        """Wait for alerts still being sent (bounded by the SMTP and HTTP timeouts)."""
        self._pool.shutdown(wait=True)


def notifier_for(config: Config) -> Alerter | LogOnly:
    if config.alerts.email or config.alerts.webhook_url:
        return Alerter(config)
    return LogOnly()


def post_signed_json(url: str, secret: str | None, payload: object, *, what: str) -> None:
    """POST ``payload`` as JSON, signed with ``secret`` (HMAC-SHA256 in SIGNATURE_HEADER);
    raises NotifyError naming ``what``, never the URL, which may hold a credential."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if secret:
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    import httpx  # here: a process that never posts a webhook (the console) stays small

    try:
        response = httpx.post(url, content=body, headers=headers, timeout=20)
    except httpx.HTTPError as e:
        raise NotifyError(f"{what}: {type(e).__name__}") from e
    if response.status_code >= 300:
        raise NotifyError(f"{what} answered HTTP {response.status_code}")
