"""Keywords found in a text, and the same text with them highlighted (HTML-escaped)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["find_keywords", "highlight_html"]


@lru_cache(maxsize=256)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    words = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    # Whole words only ("Rennes" is not in "Garennes"), any case.
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def find_keywords(text: str, keywords: Sequence[str]) -> tuple[str, ...]:
    """The ``keywords`` present in ``text`` (as configured, in configuration order)."""
    pattern = _pattern(tuple(keywords))
    if pattern is None:
        return ()
    seen = {m.group(0).casefold() for m in pattern.finditer(text)}
    return tuple(k for k in keywords if k.strip().casefold() in seen)


def highlight_html(text: str, keywords: Sequence[str]) -> str:
    """``text`` escaped for HTML, each keyword wrapped in ``<mark>``."""
    pattern = _pattern(tuple(keywords))
    if pattern is None:
        return html.escape(text)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
