"""The digest: one mail per watch, grouped by source, keywords highlighted.

Pure: matches in, subject/text/HTML out. Every value from a source is
escaped; only http(s) links become ``href``s.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import urlsplit

from autoposter.config import WatchConfig
from autoposter.storage.watch import StoredMatch
from autoposter.watch.matching import highlight_html

__all__ = ["Digest", "FailingSource", "build_digest"]

EXCERPT = 400


@dataclass(frozen=True, slots=True)
class Digest:
    watch: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str
    match_ids: tuple[int, ...]
    failing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FailingSource:
    """A source whose last ``failures`` polls in a row, since ``since``, failed with
    ``error`` (secrets already removed): the digest says so, or its silence would
    read as "nobody talked about us"."""

    source: str
    failures: int
    since: datetime
    error: str


def build_digest(
    watch: WatchConfig,
    matches: Sequence[StoredMatch],
    *,
    tz: tzinfo,
    now: datetime,
    failing: Sequence[FailingSource] = (),
) -> Digest:
    """The digest of ``matches`` (may be empty: "nothing new"), then the sources that
    have been failing, in both the text and the HTML part."""
    count = len(matches)
    noun = "mention" if count == 1 else "mentions"
    subject = (
        f"[autoposter] {watch.name}: {count} new {noun}"
        if count
        else f"[autoposter] {watch.name}: nothing new"
    )
    when = now.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    groups = _by_source(watch, matches)
    keywords = (*watch.keywords, *watch.alert_keywords)

    text = [f'Reputation watch "{watch.name}", {when}: {count} new {noun}.', ""]
    page = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(subject)}</title></head>",
        '<body style="font-family: sans-serif; max-width: 46em">',
        f"<h1>Reputation watch &ldquo;{html.escape(watch.name)}&rdquo;</h1>",
        f"<p>{html.escape(when)}: {count} new {noun}.</p>",
    ]
    if not count:
        text.append("Nothing new was found since the last digest.")
        page.append("<p>Nothing new was found since the last digest.</p>")
    for source, found in groups:
        text += [f"== {source} ({len(found)}) ==", ""]
        page.append(f"<h2>{html.escape(source)} ({len(found)})</h2>")
        page.append("<ul>")
        for stored in found:
            text += _text_entry(stored, tz)
            page.append(_html_entry(stored, tz, keywords))
        page.append("</ul>")
    if failing:
        text += [f"== sources failing ({len(failing)}) ==", ""]
        page.append(f"<h2>Sources failing ({len(failing)})</h2>")
        page.append("<ul>")
        for bad in failing:
            since = bad.since.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            said = f"failing since {since} ({bad.failures} polls in a row): {bad.error}"
            text += [f"* {bad.source}: {said}", ""]
            page.append(f"<li><strong>{html.escape(bad.source)}</strong>: {html.escape(said)}</li>")
        page.append("</ul>")
        page.append("<p>What these sources would have found is missing above.</p>")
        text += ["What these sources would have found is missing above.", ""]
    text += ["-- ", "autoposter reputation watch"]
    page.append("<p><small>autoposter reputation watch</small></p></body></html>")
    return Digest(
        watch=watch.name,
        recipients=watch.recipients,
        subject=subject,
        text="\n".join(text) + "\n",
        html="\n".join(page) + "\n",
        match_ids=tuple(m.id for m in matches),
        failing=tuple(bad.source for bad in failing),
    )


def _by_source(
    watch: WatchConfig, matches: Sequence[StoredMatch]
) -> list[tuple[str, list[StoredMatch]]]:
    order = {source.name: index for index, source in enumerate(watch.sources)}
    groups: dict[str, list[StoredMatch]] = {}
    for stored in matches:
        groups.setdefault(stored.match.source, []).append(stored)
    return sorted(groups.items(), key=lambda pair: (order.get(pair[0], len(order)), pair[0]))


def _headline(stored: StoredMatch) -> str:
    match = stored.match
    if match.title:
        return match.title
    first = " ".join(match.text.split())
    return first[:100] + ("…" if len(first) > 100 else "") if first else match.url


def _excerpt(stored: StoredMatch) -> str:
    match = stored.match
    text = " ".join(match.text.split())
    # Google News repeats the headline (without its " - Source" suffix) as the text.
    headline = " ".join(match.title.split()).rpartition(" - ")[0] or match.title
    if not text or (headline and text.startswith(headline) and len(text) < len(headline) + 60):
        return ""
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def _byline(stored: StoredMatch, tz: tzinfo) -> str:
    match = stored.match
    parts = []
    if match.author:
        parts.append(f"by {match.author}")
    moment = match.published or stored.first_seen_at
    parts.append(moment.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
    return ", ".join(parts)


def _text_entry(stored: StoredMatch, tz: tzinfo) -> list[str]:
    match = stored.match
    flag = "[ALERT] " if match.alert else ""
    lines = [f"* {flag}{_headline(stored)}", f"  {_byline(stored, tz)}"]
    excerpt = _excerpt(stored)
    if excerpt:
        lines.append(f"  {excerpt}")
    if match.keywords:
        lines.append(f"  keywords: {', '.join(match.keywords)}")
    lines += [f"  {match.url}", ""]
    return lines


def _html_entry(stored: StoredMatch, tz: tzinfo, keywords: Sequence[str]) -> str:
    match = stored.match
    headline = highlight_html(_headline(stored), keywords)
    if _linkable(match.url):
        href = html.escape(match.url, quote=True)
        headline = f'<a href="{href}">{headline}</a>'
    flag = '<strong style="color: #b00">ALERT</strong> ' if match.alert else ""
    parts = [
        f'<li style="margin-bottom: 1em">{flag}{headline}<br>',
        f"<small>{html.escape(_byline(stored, tz))}</small>",
    ]
    excerpt = _excerpt(stored)
    if excerpt:
        parts.append(f"<br>{highlight_html(excerpt, keywords)}")
    if match.keywords:
        parts.append(f"<br><small>keywords: {html.escape(', '.join(match.keywords))}</small>")
    parts.append("</li>")
    return "".join(parts)


def _linkable(url: str) -> bool:
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:
        return False
