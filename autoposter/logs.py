"""Logs as events with fields: one line per feed poll and per delivery.

``event("published", account="ville", url=...)`` logs the line
``published account=ville url=...`` in human mode and one JSON object per
line in JSON mode. A filter replaces every configured secret by ``[redacted]``
in every line, whatever path the secret took to get there, and in the forms it takes
on the way: percent-encoded in a URL, escaped in JSON or in a ``repr``.
Uncaught exceptions, in any thread, go through the same filter.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

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


def timestamp(created: float, zone: tzinfo | None, timespec: str = "seconds") -> str:
    """ISO 8601 with the offset: ``2026-12-08T07:00:00+01:00`` in ``zone`` (the configured
    timezone), or in the machine's own zone when None; never a time without its zone."""
    when = datetime.fromtimestamp(created, UTC)
    return (when.astimezone(zone) if zone is not None else when.astimezone()).isoformat(
        timespec=timespec
    )


class HumanFormatter(logging.Formatter):
    def __init__(self, zone: tzinfo | None = None) -> None:
        super().__init__()
        self.zone = zone

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [
            timestamp(record.created, self.zone),
            record.levelname.lower(),
            record.getMessage(),
        ]
        parts += [f"{k}={_format_value(v)}" for k, v in fields.items() if v is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def __init__(self, zone: tzinfo | None = None) -> None:
        super().__init__()
        self.zone = zone

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": timestamp(record.created, self.zone, "milliseconds"),
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

    def add(self, secrets: Iterable[str]) -> None:
        known = set(self.secrets) | {s for s in secrets if len(s) >= 4}
        self.secrets = sorted(known, key=len, reverse=True)


def written_forms(secret: str) -> set[str]:
    """The ways ``secret`` can be written in a line: as is, percent-encoded (``quote``,
    ``quote_plus``, either case of hex digits), escaped by JSON or by ``repr``."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe=":/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }
    forms |= {_LOWER_HEX.sub(lambda m: m.group(0).lower(), form) for form in forms}
    return forms


_LOWER_HEX = re.compile(r"%[0-9A-F]{2}")


@functools.lru_cache(maxsize=8)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    forms = {form for secret in secrets for form in written_forms(secret)}
    if not forms:
        return None
    # Longest first, so a secret that contains another is removed whole.
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (4 characters or more) replaced."""
    pattern = _pattern(frozenset(s for s in secrets if len(s) >= 4))
    return text if pattern is None else pattern.sub(REDACTED, text)


def add_secrets(secrets: Iterable[str]) -> None:
    """Also redact ``secrets`` from now on (a reloaded configuration's new tokens);
    the ones known before stay redacted."""
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        if getattr(handler, "_autoposter", False) and isinstance(formatter, RedactingFormatter):
            formatter.add(secrets)
            _known_secrets[:] = formatter.secrets


def scrub(error: BaseException, secrets: Iterable[str] | None = None) -> BaseException:
    """Remove secrets from ``error`` in place, and from the errors it was raised from.

    Its ``args`` and its text attributes (``message``, ``url``...) are redacted,
    so that whatever is stored or shown from it holds none. ``secrets``
    defaults to the configuration's, as ``redact_known``. Returns ``error``.
    """
    known = list(secrets) if secrets is not None else list(_known_secrets)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        with contextlib.suppress(AttributeError, TypeError):  # an exotic exception class
            current.args = tuple(
                redact(a, known) if isinstance(a, str) else a for a in current.args
            )
            for name, value in list(getattr(current, "__dict__", {}).items()):
                if isinstance(value, str):
                    setattr(current, name, redact(value, known))
        current = current.__cause__ or current.__context__
    return error


def redact_known(text: str) -> str:
    """``text`` without any secret of the configuration last given to ``configure``."""
    return redact(text, _known_secrets)


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure(
    fmt: str = "human",
    *,
    secrets: Iterable[str] = (),
    level: int | None = None,
    zone: tzinfo | None = None,
) -> None:
    """Send autoposter's events to standard error in the chosen format, from ``level`` up
    (default: ``$AUTOPOSTER_LOG_LEVEL``, else info; an unknown name counts as info).

    Each line's time carries its offset, in ``zone`` (the configured timezone; the
    machine's own until a configuration is read)."""
    if level is None:
        level = _LEVELS.get(
            os.environ.get("AUTOPOSTER_LOG_LEVEL", "").strip().lower(), logging.INFO
        )
    inner: logging.Formatter = JsonFormatter(zone) if fmt == "json" else HumanFormatter(zone)
    formatter = RedactingFormatter(inner, secrets)
    _known_secrets[:] = formatter.secrets
    _route_uncaught_exceptions()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    # The level is the output's: every event still reaches the other observers of the
    # logger (the metrics count unchanged polls, which are printed only at debug level).
    handler.setLevel(level)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_autoposter", False):
            root.removeHandler(existing)
    handler._autoposter = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(logging.DEBUG)


def _route_uncaught_exceptions() -> None:
    """Print uncaught exceptions (a bug, in any thread) with the secrets redacted."""

    def report(
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
        where: str = "",
    ) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(redact_known(f"uncaught exception{where}:\n{text}"))
        sys.stderr.flush()

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        report(args.exc_type, args.exc_value, args.exc_traceback, f" in thread {name}")

    sys.excepthook = report
    threading.excepthook = thread_hook
