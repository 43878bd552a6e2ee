"""The one reading of an HTTP ``Retry-After`` value, for every client in autoposter.

``retry_after(value)`` takes either form RFC 9110 allows, delta-seconds
(``120``) or an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``), and answers
seconds to wait, never negative, or None when the value is absent or cannot
be read. Standard library only, so that the fetcher, the watch sources and
the publishers may all use it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["retry_after"]


def retry_after(
    value: str | None, *, date: str | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value.

    An HTTP-date is measured from ``date`` (the response's own ``Date`` header:
    the server's clock, immune to ours being off) when it is given and readable,
    else from ``now`` (default: the current time).
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, number) if math.isfinite(number) else None
    when = _http_date(text)
    if when is None:
        return None
    origin = _http_date(date) if date else None
    if origin is None:
        origin = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - origin).total_seconds())


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # An HTTP-date is always GMT; a date without a zone is read as such.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
