"""Turning an item into the text of a post: templates, hashtags, truncation.

Pure functions. Each network passes its own way of counting length; the rule
for making a text fit is the same everywhere: shorten the summary, then drop
the hashtags, then shorten the title at a word boundary with "…". The link is
never cut.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import regex  # type: ignore[import-untyped]

from autoposter.safetext import clean
from autoposter.types import Item, PostSpec

ELLIPSIS = "…"
_GRAPHEME = regex.compile(r"\X")
# The {fields} a post template may name; the configuration and every publisher check
# templates against this one list (template_problem).
TEMPLATE_FIELDS = ("title", "link", "summary", "hashtags", "feed", "author", "categories")

_WORD_SPLIT = re.compile(r"[^\w]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+(?=\n|$)")
_DOUBLE_SPACE = re.compile(r"(?<=\S) {2,}(?=\S)")


def template_problem(template: str) -> str | None:
    """What is wrong with a post template, in the words of the person who wrote it;
    None when it names only ``TEMPLATE_FIELDS``, plainly (no ``:format`` or ``!conversion``)."""
    allowed = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
    try:
        fields = [part[1:] for part in string.Formatter().parse(template)]
    except ValueError as e:
        return f"braces do not match ({e}); write {{{{ or }}}} for a literal brace"
    for name, spec, conversion in fields:
        if name is None:
            continue
        if not name:
            return f"empty braces {{}}; name a field, one of {allowed}"
        if name not in TEMPLATE_FIELDS:
            close = difflib.get_close_matches(name, TEMPLATE_FIELDS, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            return f"unknown field {{{name}}}{hint}; allowed fields: {allowed}"
        if spec or conversion:
            return f"write plain {{{name}}}; formats like ':' or '!' are not supported"
    return None


def names_link(template: str) -> bool:
    """Whether a (valid) template puts the item's ``{link}`` in the text."""
    try:
        return any(part[1] == "link" for part in string.Formatter().parse(template))
    except ValueError:
        return False


LINK_LABEL_MAX = 30  # characters of a link shown shortened, as the Bluesky app shows them


def link_label(url: str) -> str:
    """A link as people read it when it is too long to show whole: the host and the
    start of the path, then "…" (``https://www.ville.example/a/very/long/path`` ->
    ``www.ville.example/a/very/lon…``). Only for a network that keeps the full URL
    elsewhere (a link facet)."""
    parts = urlsplit(url)
    shown = (parts.netloc + parts.path + ("?" + parts.query if parts.query else "")) or url
    shown = shown.removesuffix("/")
    if len(shown) <= LINK_LABEL_MAX:
        return shown
    return shown[: LINK_LABEL_MAX - 1] + ELLIPSIS


def hashtag(text: str) -> str:
    """``"conseil municipal"`` -> ``"#ConseilMunicipal"``.

    CamelCase so screen readers say the words; accents kept, since Mastodon and
    Bluesky accept them. Returns "" when nothing word-like is left.
    """
    text = unicodedata.normalize("NFC", text.strip().lstrip("#"))
    words = [w for w in _WORD_SPLIT.split(text) if w]
    if not words:
        return ""
    if len(words) == 1:
        word = words[0]
        return "#" + word[:1].upper() + word[1:]
    return "#" + "".join(w[:1].upper() + w[1:] for w in words)


def hashtags(tags: Sequence[str]) -> str:
    seen: list[str] = []
    for tag in tags:
        written = hashtag(tag)
        if written and written.lower() not in {s.lower() for s in seen}:
            seen.append(written)
    return " ".join(seen)


def with_utm(link: str, *, source: str, campaign: str, medium: str = "social") -> str:
    """``link`` with campaign tags for the site's analytics; tags already there are kept,
    never added twice."""
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https"):
        return link
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    for key, value in (
        ("utm_source", source),
        ("utm_medium", medium),
        ("utm_campaign", campaign),
    ):
        if key not in present:
            query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _tidy(text: str) -> str:
    text = _TRAILING_SPACE.sub("", text)
    text = _DOUBLE_SPACE.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def safe_item(item: Item) -> Item:
    """``item`` with every text a post may show (title, summary, author, categories,
    image alt text) made safe by ``safetext.clean``; its link and image URL untouched.

    Items from feeds are clean already (parse applies the same rule); this is for
    items written elsewhere, such as ``post --title``.
    """
    image = item.image
    if image is not None and image.alt is not None:
        image = dataclasses.replace(image, alt=clean(image.alt).strip() or None)
    return dataclasses.replace(
        item,
        title=clean(item.title),
        summary=clean(item.summary),
        author=None if item.author is None else clean(item.author),
        categories=tuple(clean(c) for c in item.categories),
        image=image,
    )


def fill(template: str, item: Item, spec: PostSpec, **overrides: str) -> str:
    """The template filled with the item's fields, blank lines and stray spaces tidied.

    Every field but the link, and the text around the link, is made safe
    (``safetext.clean``: no markup, no control, no bidi override), whatever
    the text came from (a feed, ``post --title``, the template itself); the
    link is left exactly as it is.
    """
    fields = {
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "hashtags": hashtags(spec.hashtags),
        "feed": spec.feed,
        "author": item.author or "",
        "categories": ", ".join(item.categories),
    }
    fields.update(overrides)
    link = fields["link"]
    fields = {name: value if name == "link" else clean(value) for name, value in fields.items()}
    text = template.format_map(fields)
    return _tidy(link.join(clean(part) for part in text.split(link)) if link else clean(text))


def shorten(text: str, fits: Callable[[str], bool]) -> str:
    """The longest prefix of ``text``, cut at a word boundary and ending with "…", that fits.

    Returns ``text`` itself when it fits, and "" when not even one word does.
    """
    if fits(text):
        return text
    best = _longest_fitting([m.start() for m in re.finditer(r"\s+", text)], text, fits)
    if best:
        return best
    # No word fits, or the script writes no spaces (Chinese, Japanese): cut between
    # user-perceived characters, never inside one (an emoji, a letter with its accent).
    ends = list(itertools.accumulate(len(g) for g in _GRAPHEME.findall(text)))
    return _longest_fitting(ends[:-1], text, fits)


def _longest_fitting(cuts: list[int], text: str, fits: Callable[[str], bool]) -> str:
    lo, hi, best = 0, len(cuts) - 1, ""
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = text[: cuts[mid]].rstrip(" ,;:.-–—、。，") + ELLIPSIS
        if candidate != ELLIPSIS and fits(candidate):
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def render_text(
    item: Item,
    spec: PostSpec,
    *,
    limit: int | None = None,
    length: Callable[[str], int] = len,
) -> str:
    """The post's text, at most ``limit`` as ``length`` counts it.

    Raises ValueError when even the link alone does not fit, which only a
    misconfigured limit can cause.
    """
    text = fill(spec.template, item, spec)
    if limit is None or length(text) <= limit:
        return text

    summary = shorten(
        item.summary, lambda s: length(fill(spec.template, item, spec, summary=s)) <= limit
    )
    text = fill(spec.template, item, spec, summary=summary)
    if length(text) <= limit:
        return text
    title = shorten(
        item.title,
        lambda t: (
            length(fill(spec.template, item, spec, summary="", hashtags="", title=t)) <= limit
        ),
    )
    text = fill(spec.template, item, spec, summary="", hashtags="", title=title)
    if length(text) > limit:
        raise ValueError(f"the link alone is longer than the limit of {limit}")
    return text
