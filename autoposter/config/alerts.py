"""Telling people: the ``smtp:`` mail server, the operators' ``alerts:``, and the signed
JSON webhook blocks that alerts and the watch share."""

from __future__ import annotations

from urllib.parse import urlsplit

from autoposter.config.fields import EMAIL, check_keys, join, show
from autoposter.config.model import AlertsConfig, SmtpConfig
from autoposter.config.reader import Reader
from autoposter.errors import ConfigError

__all__ = ["alerts", "smtp", "webhook"]

_SMTP_KEYS = ("host", "port", "security", "username", "password", "from", "timeout")
_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_ALERT_KEYS = ("email", "webhook", "feed_failing_after", "approval_waiting_after")
_WEBHOOK_KEYS = ("url", "secret")


def smtp(reader: Reader, value: object) -> SmtpConfig | None:
    """The ``smtp:`` section, or None when there is none."""
    path = "smtp"
    if value is None:
        return None
    block = reader.mapping(value, path, "the mail server's settings")
    reader.file_secrets(block, path, ("password",))
    check_keys(block, path, _SMTP_KEYS)
    for needed, example in (("host", "smtp.example.org"), ("from", "autoposter@example.org")):
        if needed not in block:
            raise ConfigError(join(path, needed), f"missing; e.g. {needed}: {example}")
    password = None
    if block.get("password") is not None:
        password = reader.secret(
            reader.string(block["password"], join(path, "password"), "the password")
        )
    security = reader.string(
        block.get("security", "starttls"), join(path, "security"), "starttls, tls or none"
    )
    if security not in _SMTP_PORTS:
        raise ConfigError(
            join(path, "security"), f"expected starttls, tls or none, got {show(security)}"
        )
    sender = reader.string(block["from"], join(path, "from"), "an e-mail address")
    if not EMAIL.fullmatch(sender):
        raise ConfigError(join(path, "from"), f"expected an e-mail address, got {show(sender)}")
    return SmtpConfig(
        host=reader.string(block["host"], join(path, "host"), "a host name"),
        sender=sender,
        port=reader.integer(
            block.get("port", _SMTP_PORTS[security]), join(path, "port"), "a port number", minimum=1
        ),
        security=security,
        username=(
            reader.string(block["username"], join(path, "username"), "a user name")
            if block.get("username") is not None
            else None
        ),
        password=password,
        timeout=(
            reader.duration(block["timeout"], join(path, "timeout"), 0.0, None, exclusive=True)
            if "timeout" in block
            else 20.0
        ),
    )


def alerts(reader: Reader, value: object, mail: SmtpConfig | None) -> AlertsConfig:
    """The ``alerts:`` section; e-mail alerts need ``mail``, the ``smtp:`` section."""
    path = "alerts"
    block = reader.optional_mapping(
        value, path, "'email', 'webhook', 'feed_failing_after' and 'approval_waiting_after'"
    )
    check_keys(block, path, _ALERT_KEYS)
    email = reader.emails(block.get("email"), join(path, "email"), "[web@example.org]")
    if email and mail is None:
        raise ConfigError(join(path, "email"), "e-mail alerts need an 'smtp:' section")
    webhook_url, webhook_secret = webhook(
        reader, block.get("webhook"), join(path, "webhook"), "alerts"
    )
    failing_after = 86400.0
    if "feed_failing_after" in block:
        failing_after = reader.duration(
            block["feed_failing_after"], join(path, "feed_failing_after"), 60.0, None
        )
    waiting_after = 4 * 3600.0
    if "approval_waiting_after" in block:
        waiting_after = reader.duration(
            block["approval_waiting_after"], join(path, "approval_waiting_after"), 1.0, None
        )
    return AlertsConfig(
        email=email,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        feed_failing_after=failing_after,
        approval_waiting_after=waiting_after,
    )


def webhook(reader: Reader, value: object, path: str, what: str) -> tuple[str | None, str | None]:
    """(url, secret) of a signed JSON webhook block (alerts, watch), or (None, None)."""
    if value is None:
        return None, None
    hook = reader.mapping(value, path, "'url' and optionally 'secret'")
    reader.file_secrets(hook, path, ("url", "secret"))
    check_keys(hook, path, _WEBHOOK_KEYS)
    if "url" not in hook:
        raise ConfigError(join(path, "url"), f"missing; the address to POST {what} to")
    url = reader.string(hook["url"], join(path, "url"), "an http(s) URL")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(join(path, "url"), "expected an http(s) URL")
    # Chat webhooks carry their credential in the URL itself.
    reader.secret(url)
    secret = None
    if hook.get("secret") is not None:
        secret = reader.secret(reader.string(hook["secret"], join(path, "secret"), "a key"))
    return url, secret
