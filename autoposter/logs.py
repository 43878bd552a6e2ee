"""Logs as events with fields: one line per feed poll and per delivery.

``event("published", account="ville", url=...)`` logs the line
``published account=ville url=...`` in human mode and one JSON object per
line in JSON mode. A filter replaces every configured secret by ``[redacted]``
in every line, whatever path the secret took to get there.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "autoposter"
REDACTED = "[redacted]"

log = logging.getLogger(LOGGER_NAME)
_known_secrets: list[str] = []


def event(name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields."""
    log.log(level, name, extra={"fields": fields})


def _format_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        when = (
            datetime.fromtimestamp(record.created, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        )
        parts = [when, record.levelname.lower(), record.getMessage()]
        parts += [f"{k}={_format_value(v)}" for k, v in fields.items() if v is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            if value is not None:
                data[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and removes every known secret from what it produced."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_known(text: str) -> str:
    """``text`` without any secret of the configuration last given to ``configure``."""
    return redact(text, _known_secrets)


def configure(
    fmt: str = "human", *, secrets: Iterable[str] = (), level: int = logging.INFO
) -> None:
    """Send autoposter's events to standard error in the chosen format."""
    inner: logging.Formatter = JsonFormatter() if fmt == "json" else HumanFormatter()
    formatter = RedactingFormatter(inner, secrets)
    _known_secrets[:] = formatter.secrets
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_autoposter", False):
            root.removeHandler(existing)
    handler._autoposter = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(level)
