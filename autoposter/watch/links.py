"""Redirector links unwrapped, so the digest links to the article and dedup sees one URL."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qs, urlsplit

from autoposter.urls import canonical_link

__all__ = ["dedup_key", "unwrap"]

# host pattern -> (path pattern, query parameters that hold the target, in order)
_REDIRECTORS: tuple[tuple[re.Pattern[str], re.Pattern[str], tuple[str, ...]], ...] = (
    # Google Alerts: https://www.google.com/url?rct=j&sa=t&url=<real>&ct=ga&cd=...&usg=...
    (re.compile(r"(www\.)?google\.[a-z.]+"), re.compile(r"/url"), ("url", "q")),
    # Google News (older feeds): https://news.google.com/news/url?sa=t&fd=R&url=<real>
    (re.compile(r"news\.google\.[a-z.]+"), re.compile(r"/news/url"), ("url",)),
    # Bing News: https://www.bing.com/news/apiclick.aspx?...&url=<real>
    (re.compile(r"(www\.)?bing\.com"), re.compile(r"/news/apiclick\.aspx"), ("url",)),
    # Talkwalker Alerts and Facebook's link shim.
    (re.compile(r"([a-z0-9-]+\.)?talkwalker\.com"), re.compile(r"/.*"), ("url", "u")),
    (re.compile(r"l\.facebook\.com"), re.compile(r"/l\.php"), ("u",)),
)
_GOOGLE_NEWS_ARTICLE = re.compile(r"/(?:rss/)?articles/([A-Za-z0-9_-]+)")
_URL_IN_BYTES = re.compile(rb"https?://[\x21-\x7e]+")
_MAX_DEPTH = 3


def unwrap(url: str) -> str:
    """The real target of a redirector link, else ``url`` unchanged. Never raises.

    Google News ``/rss/articles/CBMi...`` ids of the older kind carry the URL in
    their base64 payload; newer opaque ids cannot be decoded offline and stay.
    """
    for _ in range(_MAX_DEPTH):
        target = _unwrap_once(url)
        if target is None:
            return url
        url = target
    return url


def dedup_key(url: str) -> str:
    """The key under which two sources' links are one entry: unwrapped, then canonical."""
    return canonical_link(unwrap(url))


def _unwrap_once(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower()
    query = parse_qs(parts.query)
    for host_pattern, path_pattern, names in _REDIRECTORS:
        if host_pattern.fullmatch(host) and path_pattern.fullmatch(parts.path):
            for name in names:
                for value in query.get(name, ()):
                    if _is_http(value):
                        return value.strip()
    if host == "news.google.com":
        article = _GOOGLE_NEWS_ARTICLE.fullmatch(parts.path)
        if article:
            return _google_news_target(article.group(1))
    return None


def _google_news_target(article_id: str) -> str | None:
    try:
        payload = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
    except (binascii.Error, ValueError):
        return None
    found = _URL_IN_BYTES.search(payload)
    if found is None:
        return None
    # The protobuf length byte before the URL bounds it exactly when present.
    start = found.start()
    if start > 0 and payload[start - 1] <= len(payload) - start:
        candidate = payload[start : start + payload[start - 1]]
        if _URL_IN_BYTES.fullmatch(candidate):
            return candidate.decode("ascii")
    return found.group(0).decode("ascii")


def _is_http(value: str) -> bool:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
