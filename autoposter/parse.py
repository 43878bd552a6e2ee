"""Feed bytes -> :class:`ParsedFeed`: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed here.

Contract of :func:`parse_feed`:

* Pure and in-process: no I/O, no network, no file access. Hostile input is
  refused (entity declarations), defused where that is cheap (over-long author
  text, feedparser #562) and otherwise bounded by :mod:`autoposter.parsepool`,
  which runs this function in worker processes with time and memory limits.
* Every failure is a :class:`ParseError`; feedparser's own exceptions are
  translated here, once.
* Each :class:`Item` comes out clean: plain-text title and summary (tags
  stripped, entities decoded once, whitespace folded, NFC), an absolute
  http(s) link or "", timezone-aware UTC datetimes, a normalized language tag,
  an image with an absolute URL.

feedparser is called with ``sanitize_html=False, resolve_relative_uris=False``
(2.5-3x faster than its defaults): we turn HTML into text and make URLs
absolute ourselves. It is always given a byte stream, never ``bytes``: given
bytes that happen to name a local file, ``feedparser.parse`` reads that file.

Importing this module teaches feedparser (process-wide) to keep
``media:description`` and ``media:title`` apart: by default it pours them
into the entry's summary, content or title, where they clobber the real ones
depending on element order; here they land in keys of their own and serve
as image alt text (and as the summary of last resort).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import feedparser
from feedparser.namespaces import mediarss

from autoposter.errors import ParseError
from autoposter.safetext import clean
from autoposter.types import Image, Item, ParsedFeed
from autoposter.urls import canonical_link

__all__ = ["parse_feed", "tombstones"]

SUMMARY_MAX = 2000
TITLE_MAX = 100
ALT_MAX = 1000
KEY_MAX_BYTES = 1000  # longer ids are hashed: a btree index entry must stay small
HTML_MAX = 100_000  # HTML beyond this cannot reach a 2,000-character summary usefully
AUTHOR_MAX_BYTES = 200  # feedparser's e-mail regex is quadratic in author length (#562)

_JSONFEED_PREFIX = "https://jsonfeed.org/version/"


# --------------------------------------------------------------------------
# feedparser: media:description / media:title in keys of their own


def _media_text_start(self: Any, attrs_d: Any) -> None:
    self.push("ap_media_text", 0)


def _media_text_end(self: Any, kind: str) -> None:
    value = self.pop("ap_media_text")
    if not isinstance(value, str) or not value.strip():
        return
    context = self._get_context()
    media = context.get("media_content")
    if getattr(self, "ap_in_media_content", False) and media:
        media[-1].setdefault(kind, value)
    else:
        context.setdefault("ap_media_" + kind, value)


def _end_media_description(self: Any) -> None:
    _media_text_end(self, "description")


def _end_media_title(self: Any) -> None:
    _media_text_end(self, "title")


_original_start_media_content = mediarss.Namespace._start_media_content


def _start_media_content(self: Any, attrs_d: Any) -> None:
    _original_start_media_content(self, attrs_d)
    self.ap_in_media_content = True


def _end_media_content(self: Any) -> None:
    self.ap_in_media_content = False


if not getattr(mediarss.Namespace, "ap_patched", False):
    mediarss.Namespace._start_media_description = _media_text_start
    mediarss.Namespace._end_media_description = _end_media_description
    mediarss.Namespace._start_media_title = _media_text_start
    mediarss.Namespace._end_media_title = _end_media_title
    mediarss.Namespace._start_media_content = _start_media_content
    mediarss.Namespace._end_media_content = _end_media_content
    mediarss.Namespace.ap_patched = True


# --------------------------------------------------------------------------
# Entry point


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str], default_language: str
) -> ParsedFeed:
    """Read one feed document.

    ``headers`` are the HTTP response headers (any case); ``url`` is the final
    URL the body came from, used as the base of relative links and in errors.
    ``default_language`` applies to items whose feed states no language.
    Raises :class:`ParseError` when the body is not a feed autoposter can read.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    content_type = lower.get("content-type", "")
    body = _strip_bom_utf8(body)
    start = _first_significant(body)
    if start < 0:
        raise ParseError(url, "empty body")
    first = body[start : start + 1]
    media_type = content_type.split(";", 1)[0].strip().lower()
    if first == b"{" or (media_type.endswith("json") and first != b"<"):
        return _parse_json(body, url=url, media_type=media_type, default_language=default_language)
    body, content_type = _transcode_to_utf8(body, content_type, url)
    if _ENTITY_RE.search(body):
        raise ParseError(url, "entity declarations are refused")
    body = _defuse_authors(_defuse_charrefs(body))
    response_headers = {"content-location": url}
    if content_type:
        response_headers["content-type"] = content_type
    try:
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except MemoryError:
        raise
    except Exception as e:  # feedparser raises assorted errors on invalid input
        raise ParseError(url, _short(f"feedparser failed: {type(e).__name__}: {e}")) from e
    parsed = _from_feedparser(result, url=url, default_language=default_language)
    withdrawn = tombstones(body)
    return dataclasses.replace(parsed, withdrawn=withdrawn) if withdrawn else parsed


# --------------------------------------------------------------------------
# RFC 6721 tombstones, which feedparser drops

TOMBSTONES_NS = b"http://purl.org/atompub/tombstones/1.0"
MAX_TOMBSTONES = 500
_NS_PREFIX_RE = re.compile(rb"""xmlns:([A-Za-z_][\w.-]{0,40})\s*=\s*["']([^"'<>]{1,200})["']""")
_REF_RE = re.compile(rb"""\sref\s*=\s*(?:"([^"<]{1,4096})"|'([^'<]{1,4096})')""")


def tombstones(body: bytes) -> tuple[str, ...]:
    """The ``ref`` of each ``deleted-entry`` element of the tombstones namespace in an Atom
    (UTF-8) document, in order, at most ``MAX_TOMBSTONES``.

    A bounded scan of start tags, not an XML parse: every pattern has a fixed upper
    length, so the time is linear in the body whatever it holds.
    """
    if TOMBSTONES_NS not in body:
        return ()
    prefixes = {m.group(1) for m in _NS_PREFIX_RE.finditer(body) if m.group(2) == TOMBSTONES_NS}
    names = [re.escape(p + b":deleted-entry") for p in prefixes]
    # An element may also declare the namespace as its default one.
    names.append(
        rb"deleted-entry(?=[^<>]{0,4096}xmlns\s*=\s*[\"']" + re.escape(TOMBSTONES_NS) + rb")"
    )
    tag = re.compile(rb"<(?:" + b"|".join(names) + rb")(\s[^<>]{0,8192})?/?>")
    refs: list[str] = []
    for match in tag.finditer(body):
        found = _REF_RE.search(match.group(1) or b"")
        if found is None:
            continue
        ref = html.unescape((found.group(1) or found.group(2)).decode("utf-8", "replace")).strip()
        if ref and ref not in refs:
            refs.append(ref)
        if len(refs) >= MAX_TOMBSTONES:
            break
    return tuple(refs)


# --------------------------------------------------------------------------
# Before feedparser: encodings, entities, author text

_UTF8_BOM = b"\xef\xbb\xbf"
_SPACE_BYTES_RE = re.compile(rb"[ \t\r\n]*")


def _strip_bom_utf8(body: bytes) -> bytes:
    return body[3:] if body.startswith(_UTF8_BOM) else body


def _first_significant(body: bytes) -> int:
    """Index of the first byte that is not ASCII white space, -1 if there is none."""
    m = _SPACE_BYTES_RE.match(body)
    end = m.end() if m else 0
    return end if end < len(body) else -1


# Signatures of encodings in which ASCII markup is not ASCII bytes (the XML
# spec's appendix F, loosened to any first character). Such bodies are
# transcoded to UTF-8 first, so that the byte-level checks below cannot be
# bypassed by re-encoding the attack.
_WIDE_SIGNATURES: tuple[tuple[bytes, str, int], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be", 4),
    (b"\xff\xfe\x00\x00", "utf-32-le", 4),
    (b"\xfe\xff", "utf-16-be", 2),
    (b"\xff\xfe", "utf-16-le", 2),
    (b"\x00\x00\x00", "utf-32-be", 0),
    (b"<\x00\x00\x00", "utf-32-le", 0),
    (b"\x00", "utf-16-be", 0),
    (b"<\x00", "utf-16-le", 0),
    (b"\x4c\x6f\xa7\x94", "cp037", 0),
)
_DECLARED_ENCODING_RE = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")


def _transcode_to_utf8(body: bytes, content_type: str, url: str) -> tuple[bytes, str]:
    match = next((sig for sig in _WIDE_SIGNATURES if body.startswith(sig[0])), None)
    if match is None:
        return body, content_type
    _, codec, skip = match
    try:
        text = body[skip:].decode(codec)
    except UnicodeDecodeError as e:
        raise ParseError(url, f"not a feed: invalid {codec} text") from e
    text = _DECLARED_ENCODING_RE.sub(r"\1\2utf-8\2", text, count=1)
    return text.encode("utf-8"), content_type.split(";", 1)[0]


# An entity declaration can only serve an attack here ("billion laughs",
# quadratic blow-up, external entities); feeds never need one. Refused
# wherever it appears, so no comment or literal can hide it from the check.
_ENTITY_RE = re.compile(rb"<!ENTITY", re.IGNORECASE)

# Character references to surrogates or beyond U+10FFFF make feedparser's
# fallback parser raise: they are dropped. Only long references can be such,
# so the scan is cheap.
_LONG_CHARREF_RE = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")


def _charref_replacement(m: re.Match[bytes]) -> bytes:
    hex_digits, decimal_digits = m.groups()
    digits = hex_digits or decimal_digits
    if len(digits) > 8:
        return b""
    code = int(digits, 16) if hex_digits else int(digits)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return b""
    return m.group(0)


def _defuse_charrefs(body: bytes) -> bytes:
    return _LONG_CHARREF_RE.sub(_charref_replacement, body) if b"&#" in body else body


# Elements whose text feedparser runs through its quadratic e-mail regex.
_AUTHORISH_RE = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:author|creator|managingeditor|webmaster|publisher)(?:\s[^<>]*)?>",
    re.IGNORECASE,
)
_CDATA_OPEN = b"<![CDATA["


def _defuse_authors(body: bytes) -> bytes:
    """Cut author-like element text to ``AUTHOR_MAX_BYTES``; linear in the body size."""
    pieces: list[bytes] = []
    done = 0
    for m in _AUTHORISH_RE.finditer(body):
        start = m.end()
        if start < done:
            continue
        if body.startswith(_CDATA_OPEN, start):
            start += len(_CDATA_OPEN)
            end = body.find(b"]]>", start)
        else:
            end = body.find(b"<", start)
        if end < 0:
            end = len(body)
        if end - start <= AUTHOR_MAX_BYTES:
            continue
        cut = start + AUTHOR_MAX_BYTES
        while cut > start and 0x80 <= body[cut] < 0xC0:  # not inside a UTF-8 sequence
            cut -= 1
        amp = body.rfind(b"&", start, cut)
        if amp >= 0 and body.find(b";", amp, cut) < 0:  # not inside a reference
            cut = amp
        pieces.append(body[done:cut])
        done = end
    if not pieces:
        return body
    pieces.append(body[done:])
    return b"".join(pieces)


# --------------------------------------------------------------------------
# feedparser result -> ParsedFeed


# feedparser's dicts alias keys on read ("updated_parsed" answers "published_parsed",
# "url" answers "href", with a DeprecationWarning): read them as plain dicts.
_get = dict.get


def _from_feedparser(result: Any, *, url: str, default_language: str) -> ParsedFeed:
    entries = _get(result, "entries") or []
    version = _get(result, "version") or ""
    if not entries and not version:
        exc = _get(result, "bozo_exception")
        reason = str(exc) if exc else "no RSS or Atom element found"
        raise ParseError(url, _short(f"not a feed: {reason}"))
    feed = _get(result, "feed") or {}
    title_detail = _get(feed, "title_detail") or {}
    feed_title = _text(_get(feed, "title"), _get(title_detail, "type"), multiline=False)
    feed_link = _http_url(_get(feed, "link"), _get(title_detail, "base") or url)
    feed_language = _language(_get(feed, "language"))
    fallback_language = feed_language or _language(default_language) or default_language or None
    items: list[Item] = []
    seen: set[str] = set()
    for entry in entries:
        item = _entry_item(entry, url=url, language=fallback_language)
        if item is not None and item.key not in seen:
            seen.add(item.key)
            items.append(item)
    return ParsedFeed(title=feed_title, link=feed_link, language=feed_language, items=tuple(items))


def _entry_item(entry: Any, *, url: str, language: str | None) -> Item | None:
    title_detail = _get(entry, "title_detail") or {}
    summary_detail = _get(entry, "summary_detail") or {}
    contents = [c for c in _get(entry, "content") or () if _get(c, "value")]
    first_detail = title_detail or summary_detail or (contents[0] if contents else {})
    base = _get(first_detail, "base") or url

    entry_id = _clean_id(_get(entry, "id"))
    written = _absolute_url(_get(entry, "link"), base) or _absolute_url(entry_id, "")
    link = _safe_url(written)

    summary = _text(_get(entry, "summary"), _get(summary_detail, "type"), multiline=True)
    for content in contents:
        if summary:
            break
        summary = _text(_get(content, "value"), _get(content, "type"), multiline=True)
    if not summary:
        summary = _text(_get(entry, "ap_media_description"), None, multiline=True)
    summary = _cut(summary, SUMMARY_MAX)

    title = _text(_get(entry, "title"), _get(title_detail, "type"), multiline=False)
    if not title:
        title = _title_from(summary)
    if not (title or link):
        return None  # nothing to post

    entry_language = (
        _language(_get(entry, "language"))
        or _language(_get(first_detail, "language"))
        or _language(_get(summary_detail, "language"))
        or language
    )
    tags = _get(entry, "tags") or ()
    return Item(
        key=_key(entry_id, written, title),
        link=link,
        title=title,
        summary=summary,
        published=_from_struct(_get(entry, "published_parsed")),
        updated=_from_struct(_get(entry, "updated_parsed")),
        language=entry_language,
        categories=_categories(_get(t, "label") or _get(t, "term") for t in tags),
        image=_entry_image(entry, base, summary_detail, contents),
        author=_author(_get(entry, "author")),
    )


_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


def _is_image_media(media: Any, src: str) -> bool:
    medium = str(_get(media, "medium") or "").lower()
    kind = str(_get(media, "type") or "").lower()
    if medium or kind:
        return medium == "image" or kind.startswith("image/")
    return urlsplit(src).path.lower().endswith(_IMAGE_EXTENSIONS)


def _entry_image(entry: Any, base: str, summary_detail: Any, contents: list[Any]) -> Image | None:
    """enclosure image/*, media:content image, media:thumbnail, else the first <img> of the HTML."""
    media_alt: dict[str, str] = {}
    media_images: list[str] = []
    for media in _get(entry, "media_content") or ():
        src = _http_url(_get(media, "url"), base)
        if src:
            alt = _get(media, "description") or _get(media, "title")
            if alt:
                media_alt.setdefault(src, alt)
            if _is_image_media(media, src):
                media_images.append(src)
    entry_alt = _get(entry, "ap_media_description") or _get(entry, "ap_media_title")

    def with_alt(src: str) -> Image:
        return Image(src, _alt(media_alt.get(src) or entry_alt))

    for link in _get(entry, "links") or ():
        if _get(link, "rel") == "enclosure" and str(_get(link, "type") or "").lower().startswith(
            "image/"
        ):
            src = _http_url(_get(link, "href"), base)
            if src:
                return with_alt(src)
    if media_images:
        return with_alt(media_images[0])
    for thumbnail in _get(entry, "media_thumbnail") or ():
        src = _http_url(_get(thumbnail, "url"), base)
        if src:
            return with_alt(src)
    for detail in (*contents, summary_detail):
        value = _get(detail, "value")
        if isinstance(value, str) and value and _is_html(_get(detail, "type"), value):
            image = _first_img(value, _get(detail, "base") or base)
            if image is not None:
                return image
    return None


# --------------------------------------------------------------------------
# JSON Feed 1.0 / 1.1


def _parse_json(body: bytes, *, url: str, media_type: str, default_language: str) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ParseError(url, _short(f"not a feed: invalid JSON: {e}")) from e
    if not isinstance(doc, dict):
        raise ParseError(url, "not a feed: JSON document is not a JSON Feed")
    version = doc.get("version")
    is_jsonfeed = isinstance(version, str) and version.startswith(_JSONFEED_PREFIX)
    if not is_jsonfeed and media_type != "application/feed+json":
        raise ParseError(url, "not a feed: JSON document is not a JSON Feed")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise ParseError(url, "not a feed: JSON Feed without an items list")
    feed_language = _language(_str(doc.get("language")))
    fallback_language = feed_language or _language(default_language) or default_language or None
    items: list[Item] = []
    seen: set[str] = set()
    for raw in raw_items:
        if isinstance(raw, dict):
            item = _json_item(raw, url=url, language=fallback_language)
            if item is not None and item.key not in seen:
                seen.add(item.key)
                items.append(item)
    return ParsedFeed(
        title=_text(_str(doc.get("title")), None, multiline=False),
        link=_http_url(_str(doc.get("home_page_url")), url),
        language=feed_language,
        items=tuple(items),
    )


def _json_item(raw: dict[str, Any], *, url: str, language: str | None) -> Item | None:
    raw_id = raw.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    entry_id = _clean_id(raw_id)
    written = (
        _absolute_url(_str(raw.get("url")), url)
        or _absolute_url(_str(raw.get("external_url")), url)
        or _absolute_url(entry_id, "")
    )
    link = _safe_url(written)
    content_html = _str(raw.get("content_html"))
    summary = _text(_str(raw.get("summary")), None, multiline=True)
    if not summary:
        summary = _text(_str(raw.get("content_text")), "text/plain", multiline=True)
    if not summary:
        summary = _text(content_html, "text/html", multiline=True)
    summary = _cut(summary, SUMMARY_MAX)
    title = _text(_str(raw.get("title")), None, multiline=False) or _title_from(summary)
    if not (title or link):
        return None  # nothing to post

    image: Image | None = None
    for field in ("image", "banner_image"):
        src = _http_url(_str(raw.get(field)), url)
        if src:
            image = Image(src)
            break
    if image is None:
        for attachment in _list(raw.get("attachments")):
            if isinstance(attachment, dict) and _str(attachment.get("mime_type")).startswith(
                "image/"
            ):
                src = _http_url(_str(attachment.get("url")), url)
                if src:
                    image = Image(src, _alt(_str(attachment.get("title"))))
                    break
    if image is None and content_html:
        image = _first_img(content_html, url)

    author = None
    authors = _list(raw.get("authors")) or [raw.get("author")]
    if isinstance(authors[0], dict):
        author = _author(_str(authors[0].get("name")))
    return Item(
        key=_key(entry_id, written, title),
        link=link,
        title=title,
        summary=summary,
        published=_from_iso(raw.get("date_published")),
        updated=_from_iso(raw.get("date_modified")),
        language=_language(_str(raw.get("language"))) or language,
        categories=_categories(t for t in _list(raw.get("tags")) if isinstance(t, str)),
        image=image,
        author=author,
    )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------
# Text: HTML or plain text -> clean plain text

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_BREAKING_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl"),
        *("dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary"),
        *("table", "tr", "ul"),
    }
)
_SPACING_TAGS = frozenset({"td", "th"})
_MARKUP_RE = re.compile(
    r"""
      <!--.*?(?:-->|\Z)
    | <!\[CDATA\[(?P<cdata>.*?)(?:\]\]>|\Z)
    | <(?P<drop>script|style|template)\b[^>]*>.*?(?:</(?P=drop)\s*>|\Z)
    | </?(?P<tag>[A-Za-z][A-Za-z0-9:-]*)(?:[^>"']|"[^"]*"|'[^']*')*>
    | <[!?][^>]*>
    """,
    re.DOTALL | re.IGNORECASE | re.VERBOSE,
)
_HTML_SPACE_RE = re.compile(r"[ \t\r\n\f]+")
# Controls, lone surrogates and noncharacters: never wanted in a post.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# Runs of white space within a line; no-break spaces are kept (French typography).
_SPACE_RUN_RE = re.compile(r"[^\S\xa0\u202f\u2007]+")
# Plain text that is markup after all: a closing tag, <br>, or a known entity.
_HTMLISH_RE = re.compile(
    r"</[A-Za-z][A-Za-z0-9]*\s*>|<br\s*/?>|&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});",
    re.IGNORECASE,
)


def _markup_replacement(m: re.Match[str]) -> str:
    tag = m.group("tag")
    if tag is not None:
        tag = tag.lower()
        if tag in _BREAKING_TAGS:
            return "\n"
        return " " if tag in _SPACING_TAGS else ""
    cdata = m.group("cdata")
    if cdata is not None:
        return html.escape(cdata, quote=False)  # literal text: survives the unescape below
    return ""


def _looks_like_html(value: str) -> bool:
    for m in _HTMLISH_RE.finditer(value):
        name = m.group(1)
        if name is None or name.startswith("#") or name + ";" in _HTML5_ENTITIES:
            return True
    return False


def _is_html(content_type: str | None, value: str) -> bool:
    if content_type in _HTML_TYPES:
        return True
    return ("<" in value or "&" in value) and _looks_like_html(value)


def _text(value: object, content_type: str | None, *, multiline: bool) -> str:
    """Clean text from a feed value; ``content_type`` as feedparser reports it.

    HTML (declared, or plain text that carries closing tags or entity
    references — double-escaped feeds) loses its tags, script and style, and
    has its entities decoded once; breaking tags become line breaks.
    """
    if not isinstance(value, str) or not value:
        return ""
    if _is_html(content_type, value):
        if len(value) > HTML_MAX:
            value = value[:HTML_MAX]
            if value.rfind("<") > value.rfind(">"):  # do not leave half a tag
                value = value[: value.rfind("<")]
        if "<" in value:
            value = _MARKUP_RE.sub(_markup_replacement, _HTML_SPACE_RE.sub(" ", value))
        if "&" in value:
            value = html.unescape(value)
    return _fold(value, multiline)


def _fold(value: str, multiline: bool) -> str:
    value = clean(value)
    lines = (_SPACE_RUN_RE.sub(" ", line).strip() for line in value.splitlines())
    text = ("\n" if multiline else " ").join(line for line in lines if line)
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" \n,;:-–—(") + "…"


_SENTENCE_RE = re.compile(r"(.{8,}?[.!?…])(?=\s|$)")  # 8+: not "M." of "M. Dupont"


def _title_from(summary: str) -> str:
    """A title for an untitled item: the summary's first sentence, at most ~100 characters."""
    line = summary.split("\n", 1)[0]
    m = _SENTENCE_RE.match(line)
    return _cut(m.group(1) if m else line, TITLE_MAX)


def _alt(value: object) -> str | None:
    text = _cut(_text(value, None, multiline=False), ALT_MAX)
    return text or None


def _categories(values: Iterable[object]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = _text(value, None, multiline=False)
        if text and text not in out:
            out.append(text)
    return tuple(out)


_EMAIL_THEN_NAME_RE = re.compile(r"^\S+@\S+\s*\((.*)\)$")
_NAME_THEN_EMAIL_RE = re.compile(r"^(.*?)\s*[(<]\s*\S+@\S+\s*[)>]$")
_EMAIL_RE = re.compile(r"^\S+@\S+$")


def _author(value: object) -> str | None:
    """The author's name, or None.

    RSS writes "email (Name)", feedparser makes Atom's "Name (email)"; a bare
    e-mail address is not a name and is not published.
    """
    text = _text(value, None, multiline=False)[:AUTHOR_MAX_BYTES]
    m = _EMAIL_THEN_NAME_RE.match(text) or _NAME_THEN_EMAIL_RE.match(text)
    if m:
        text = m.group(1).strip()
    elif _EMAIL_RE.match(text):
        text = ""
    return text or None


# --------------------------------------------------------------------------
# Images in HTML

_IMG_RE = re.compile(r"""<img\b((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
_ATTR_RE = re.compile(r"""([^\s"'=<>/]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_PIXEL_SIZES = frozenset({"0", "1", "0px", "1px"})  # tracking pixels are not pictures


def _first_img(markup: str, base: str) -> Image | None:
    """The first ``<img>`` with a usable http(s) source that is not a tracking pixel."""
    for m in _IMG_RE.finditer(markup):
        attrs: dict[str, str] = {}
        for a in _ATTR_RE.finditer(m.group(1)):
            name = a.group(1).lower()
            if name not in attrs:
                attrs[name] = html.unescape(a.group(2) or a.group(3) or a.group(4) or "")
        if _PIXEL_SIZES.intersection(
            (attrs.get("width", "").strip(), attrs.get("height", "").strip())
        ):
            continue
        src = _http_url(attrs.get("src"), base)
        if src:
            return Image(src, _alt(attrs.get("alt")))
    return None


# --------------------------------------------------------------------------
# Links, keys, languages, dates


def _http_url(value: object, base: str) -> str:
    """``value`` made absolute against ``base``, its unsafe characters percent-encoded;
    "" unless it is an http(s) URL with a host."""
    return _safe_url(_absolute_url(value, base))


def _safe_url(absolute: str) -> str:
    return _UNSAFE_IN_URL_RE.sub(lambda m: quote(m.group(0)), absolute)


def _absolute_url(value: object, base: str) -> str:
    """``value`` made absolute against ``base``, as written; "" unless http(s) with a host.

    Item keys are made from this form: it is what they were made from before links were
    percent-encoded, so an item stored then is not taken for a new one now.
    """
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if not value:
        return ""
    try:
        absolute = urljoin(base, value)
        parts = urlsplit(absolute)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return absolute


# Characters a browser would percent-encode anyway: left raw, they end a link early in a
# post, open a tag where the post is shown as HTML, or make one address look like another.
_UNSAFE_IN_URL_RE = re.compile(
    '[\x00-\x20\x7f-\xa0"<>`\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]'
)


def _clean_id(value: object) -> str:
    return _CONTROL_RE.sub("", value).strip() if isinstance(value, str) else ""


def _key(entry_id: str, link: str, title: str) -> str:
    key = entry_id or canonical_link(link)
    if not key:
        key = "sha256:" + hashlib.sha256(f"{title}\n{link}".encode()).hexdigest()
    elif len(key.encode("utf-8", "surrogatepass")) > KEY_MAX_BYTES:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def _language(value: object) -> str | None:
    """A BCP 47 tag in its usual case (``fr_FR``, ``FR-fr`` -> ``fr-FR``); None if not one."""
    if not isinstance(value, str):
        return None
    value = value.strip().replace("_", "-")
    if not _LANGUAGE_RE.fullmatch(value):
        return None
    first, *rest = value.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            parts.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def _from_struct(value: object) -> datetime | None:
    """feedparser's ``*_parsed`` (a struct_time in UTC) as an aware datetime."""
    if value is None:
        return None
    try:
        t: Any = value
        return datetime(t[0], t[1], t[2], t[3], t[4], min(t[5], 59), tzinfo=UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _from_iso(value: object) -> datetime | None:
    """An RFC 3339 date-time in UTC; a date-time without offset is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
