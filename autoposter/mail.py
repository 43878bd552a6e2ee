"""Sending e-mail over SMTP: alerts now, reputation digests too."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from autoposter.config import SmtpConfig
from autoposter.errors import NotifyError


def build_message(
    smtp: SmtpConfig, *, to: Sequence[str], subject: str, text: str, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send(smtp: SmtpConfig, message: EmailMessage) -> None:
    """Deliver ``message`` to the configured server; NotifyError names what went wrong."""
    with _session(smtp) as client:
        client.send_message(message)


def check_login(smtp: SmtpConfig) -> None:
    """Connect, secure the connection as configured, log in if configured, and quit:
    what ``send`` does before the message. NotifyError names what went wrong."""
    with _session(smtp):
        pass


@contextmanager
def _session(smtp: SmtpConfig) -> Iterator[smtplib.SMTP]:
    """A connection to the server, secured and logged in as configured, closed after;
    every SMTP or network error in it becomes a NotifyError."""
    where = f"mail server {smtp.host}:{smtp.port}"
    try:
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            yield client
    except smtplib.SMTPAuthenticationError as e:
        raise NotifyError(f"{where} refused the login of {smtp.username!r} ({e.smtp_code})") from e
    except smtplib.SMTPNotSupportedError as e:
        raise NotifyError(f"{where} does not support {smtp.security.upper()}: {e}") from e
    except smtplib.SMTPRecipientsRefused as e:
        refused = ", ".join(sorted(e.recipients))
        raise NotifyError(f"{where} refused the recipients {refused}") from e
    except smtplib.SMTPResponseException as e:
        text = (
            e.smtp_error.decode("utf-8", "replace")
            if isinstance(e.smtp_error, bytes)
            else e.smtp_error
        )
        raise NotifyError(f"{where} answered {e.smtp_code}: {text}") from e
    except (smtplib.SMTPException, OSError) as e:
        raise NotifyError(f"{where}: {type(e).__name__}: {e}") from e
