"""Text that can go into a post: no markup, no control character, no spoofing format.

``clean`` is the one rule, applied where items are normalized (parse) and to
whatever else reaches a post (render). Standard library only, so any stage may
import it.

- Markup is stripped to its text, however many times it was escaped on the way
  (the caller decodes entities; a tag that decoding reveals is stripped again
  here), and a ``<`` that would open a tag with what follows is dropped: no
  text can become a tag in a consumer that renders it as HTML.
- Bidi embedding, override and isolate controls (U+202A-U+202E,
  U+2066-U+2069) are dropped: ``Facture <U+202E>gpj.exe`` would show as
  "Facture exe.jpg". The marks U+200E, U+200F and U+061C stay: right-to-left
  scripts need them and they reorder nothing.
- Zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, soft hyphen) are kept
  between two visible characters of a word, where scripts and emoji need them,
  and dropped at the edges of the text and of words, and anywhere in a word
  that looks like a link, where they make two different addresses look alike.
- C0 and C1 controls, lone surrogates and noncharacters are dropped; tabs
  become spaces and line breaks become ``\\n``.
"""

from __future__ import annotations

import re

__all__ = ["clean"]

_TAG_RE = re.compile(
    r"""
      <!--.*?(?:-->|\Z)
    | <!\[CDATA\[|\]\]>
    | </?[A-Za-z][A-Za-z0-9:-]*(?:[^<>"']|"[^"]*"|'[^']*')*>
    | <[!?][^<>]*>
    """,
    re.DOTALL | re.VERBOSE,
)
# What is left of a tag once complete ones are gone: "<" before a name, "/", "!" or "?".
_TAG_OPENER_RE = re.compile(r"<+(?=[A-Za-z/!?])")
_LINE_BREAK_RE = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_DROPPED_RE = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069"
    "\u2061-\u2064\u180e\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_WORD_RE = re.compile(r"\S+")
_LINKISH_RE = re.compile(r"://|^www\.|@", re.IGNORECASE)
# Each round strips one layer; more layers than this are not markup anyone meant.
_MAX_ROUNDS = 8


def clean(text: str) -> str:
    """``text`` without markup, controls (``\\n`` kept) or spoofing format characters.

    Idempotent: ``clean(clean(t)) == clean(t)``. Does not decode entities and
    does not fold white space (the callers do, each its own way).
    """
    text = _LINE_BREAK_RE.sub("\n", text).replace("\t", " ")
    text = _DROPPED_RE.sub("", text)
    if "<" in text:
        text = _strip_markup(text)
    if any(z in text for z in _ZERO_WIDTH):
        text = _WORD_RE.sub(_word_without_spoofing, text)
    return text


def _strip_markup(text: str) -> str:
    for _ in range(_MAX_ROUNDS):
        stripped = _TAG_RE.sub("", text)
        if stripped == text:
            break
        text = stripped
    # Dropping every "<" of a run before a name leaves no "<" that could open a tag.
    return _TAG_OPENER_RE.sub("", _TAG_RE.sub("", text))


def _word_without_spoofing(m: re.Match[str]) -> str:
    word = m.group(0)
    bare = "".join(c for c in word if c not in _ZERO_WIDTH)
    if _LINKISH_RE.search(bare):
        return bare
    return word.strip(_ZERO_WIDTH) or ""
