"""Sending what a watch found: the digest and the immediate alerts, by mail and webhook."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autoposter import mail
from autoposter.alerts import SIGNATURE_HEADER, post_signed_json
from autoposter.config import Config
from autoposter.storage.watch import StoredMatch
from autoposter.watch.digest import Digest

__all__ = ["SIGNATURE_HEADER", "match_json", "send_alert", "send_digest"]


def match_json(stored: StoredMatch) -> dict[str, Any]:
    match = stored.match
    return {
        "watch": match.watch,
        "source": match.source,
        "url": match.url,
        "title": match.title,
        "author": match.author,
        "text": match.text,
        "published": match.published.isoformat() if match.published else None,
        "first_seen_at": stored.first_seen_at.isoformat(),
        "keywords": list(match.keywords),
        "alert": match.alert,
    }


def send_digest(config: Config, digest: Digest, matches: Sequence[StoredMatch]) -> None:
    """Mail the digest to its recipients and POST it to the watch webhook, if configured.

    Raises NotifyError when any channel fails (the digest is then not marked sent).
    """
    if digest.recipients and config.smtp is not None:
        message = mail.build_message(
            config.smtp,
            to=digest.recipients,
            subject=digest.subject,
            text=digest.text,
            html=digest.html,
        )
        mail.send(config.smtp, message)
    _webhook(
        config,
        {
            "event": "watch.digest",
            "watch": digest.watch,
            "subject": digest.subject,
            "matches": [match_json(m) for m in matches],
        },
    )


def send_alert(config: Config, stored: StoredMatch, recipients: Sequence[str]) -> None:
    """One immediate alert for one match; NotifyError when a channel fails."""
    match = stored.match
    words = ", ".join(match.keywords) or "alert keyword"
    subject = f"[autoposter] ALERT {match.watch}: {words} ({match.source})"
    lines = [
        f"An entry matching {words} was found by {match.source}.",
        "",
        match.title or "",
        f"by {match.author}" if match.author else "",
        match.text[:1000],
        "",
        match.url,
    ]
    text = "\n".join(line for line in lines if line is not None) + "\n"
    if recipients and config.smtp is not None:
        mail.send(
            config.smtp,
            mail.build_message(config.smtp, to=recipients, subject=subject, text=text),
        )
    _webhook(config, {"event": "watch.alert", "subject": subject, "match": match_json(stored)})


def _webhook(config: Config, payload: dict[str, Any]) -> None:
    url = config.watch.webhook_url
    if url:
        post_signed_json(url, config.watch.webhook_secret, payload, what="watch webhook")
