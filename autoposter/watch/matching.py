"""Keywords found in a text, and the same text with them highlighted (HTML-escaped).

Matching ignores case, accents and the kind of apostrophe (``autoposter.textfold``):
"Orleans" finds "Orléans", "mairie d'Exempleville" finds "Mairie d’Exempleville".
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache

from autoposter.textfold import fold, fold_with_map

__all__ = ["find_keywords", "highlight_html"]


def _whole(word: str) -> str:
    # Whole words only: "Rennes" is not in "Garennes".
    return rf"(?<!\w){re.escape(word)}(?!\w)"


@lru_cache(maxsize=256)
def _folded(keywords: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each keyword as configured, with its pattern over folded text."""
    return tuple((k, re.compile(_whole(fold(k.strip())))) for k in keywords if k.strip())


@lru_cache(maxsize=256)
def _any(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    words = sorted({fold(k.strip()) for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    # The longest first: "mairie d'Exempleville" is marked whole, not just its last word.
    return re.compile("|".join(_whole(w) for w in words))


def find_keywords(text: str, keywords: Sequence[str]) -> tuple[str, ...]:
    """The ``keywords`` present in ``text`` (as configured, in configuration order)."""
    folded = fold(text)
    return tuple(k for k, pattern in _folded(tuple(keywords)) if pattern.search(folded))


def highlight_html(text: str, keywords: Sequence[str]) -> str:
    """``text`` escaped for HTML, each keyword wrapped in ``<mark>``."""
    pattern = _any(tuple(keywords))
    if pattern is None:
        return html.escape(text)
    folded, origin = fold_with_map(text)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(folded):
        start, end = origin[m.start()], origin[m.end() - 1] + 1
        if start < last:
            continue  # two folded matches inside one original character
        out.append(html.escape(text[last:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)
