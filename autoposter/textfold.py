"""The case-, accent- and apostrophe-insensitive form of a text, for keyword matching.

A French institution's name is written "Orléans" by one paper and "ORLEANS" by
another, "mairie d'Exempleville" with a straight or a typographic apostrophe;
a keyword must find them all.
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold", "fold_with_map"]

# Apostrophes and look-alikes that people and word processors type interchangeably.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})


def fold(text: str) -> str:
    """``text`` without case, accents or apostrophe variants."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_APOSTROPHES))
    return "".join(d for d in decomposed if not unicodedata.combining(d))


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index in ``text`` it came from
    (so a match in the folded text can be marked in the original one)."""
    folded: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        f = fold(c)
        folded.append(f)
        origin.extend([i] * len(f))
    return "".join(folded), origin
