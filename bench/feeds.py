"""Synthetic feeds of realistic shape, generated here (never third-party files)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

_WORDS = [
    "conseil",
    "municipal",
    "travaux",
    "rue",
    "école",
    "cantine",
    "marché",
    "noël",
    "budget",
    "mairie",
    "inscriptions",
    "culture",
    "sport",
    "bibliothèque",
    "piscine",
    "collecte",
    "déchets",
    "voirie",
    "réunion",
    "publique",
    "quartier",
    "associations",
    "festival",
    "patrimoine",
    "jeunesse",
]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _plain_body(rng: random.Random, paragraphs: int) -> str:
    return "".join(f"<p>{_words(rng, 90)} &eacute;t&eacute;.</p>" for _ in range(paragraphs))


def _rich_body(rng: random.Random, site: int, paragraphs: int) -> str:
    """Article HTML as a CMS's editor writes it: links, emphasis, lists, and a figure with
    the srcset and classes a WordPress theme adds, every third paragraph."""
    out: list[str] = []
    for p in range(paragraphs):
        a, b, c = _words(rng, 25), _words(rng, 3), _words(rng, 25)
        out.append(
            f'<p>{a} <a href="https://commune{site}.example/{rng.choice(_WORDS)}/">{b}</a> '
            f"{c} <strong>{_words(rng, 4)}</strong> {_words(rng, 20)}, <em>{_words(rng, 3)}</em>"
            f" {_words(rng, 10)}&nbsp;: &laquo;&nbsp;{_words(rng, 5)}&nbsp;&raquo;.</p>\n"
        )
        if p % 3 == 1:
            img = f"https://commune{site}.example/wp-content/uploads/2026/11/photo-{p}"
            out.append(
                '<figure class="wp-block-image size-large"><img loading="lazy" '
                f'decoding="async" width="1024" height="683" src="{img}-1024x683.jpg" '
                f'alt="{_words(rng, 6)}" class="wp-image-{1000 + p}" srcset="{img}-1024x683.jpg'
                f' 1024w, {img}-300x200.jpg 300w, {img}-768x512.jpg 768w" sizes="(max-width: '
                f'1024px) 100vw, 1024px" /><figcaption class="wp-element-caption">'
                f"{_words(rng, 8)}</figcaption></figure>\n"
            )
        if p % 4 == 2:
            items = "".join(f"<li>{_words(rng, 7)}</li>" for _ in range(4))
            out.append(f'<ul class="wp-block-list">{items}</ul>\n')
    return "".join(out)


def rss_feed(
    site: int,
    items: int = 15,
    *,
    first: int = 0,
    paragraphs: int = 8,
    seed: int = 0,
    rich: bool = True,
) -> bytes:
    """An RSS 2.0 feed of ``items`` entries numbered from ``first`` (newest first), each a
    whole article of ``paragraphs`` paragraphs.

    ``rich``: shaped like WordPress, the commonest CMS of these sites (an excerpt in
    ``<description>``, the article's HTML with its markup in ``<content:encoded>``).
    Otherwise the article is bare ``<p>`` paragraphs in ``<description>``."""
    rng = random.Random(seed * 1_000_003 + site)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Commune {site}</title><link>https://commune{site}.example/</link>"
        "<language>fr-FR</language>"
    ]
    for n in range(first + items - 1, first - 1, -1):
        title = _words(rng, 8).capitalize()
        when = (start + timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        head = (
            f"<item><title>{title}</title><link>https://commune{site}.example/actu/{n}</link>"
            f"<pubDate>{when}</pubDate><category><![CDATA[Vie locale]]></category>"
        )
        if rich:
            parts.append(
                f"{head}<dc:creator><![CDATA[Service communication]]></dc:creator>"
                f'<guid isPermaLink="false">https://commune{site}.example/?p={n}</guid>'
                f"<description><![CDATA[{_words(rng, 40)} [&#8230;]]]></description>"
                f"<content:encoded><![CDATA[{_rich_body(rng, site, paragraphs)}]]>"
                "</content:encoded></item>"
            )
        else:
            parts.append(
                f"{head}<guid isPermaLink='false'>c{site}-{n}</guid>"
                f"<description><![CDATA[{_plain_body(rng, paragraphs)}]]></description></item>"
            )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


MEDIAN = (15, 4)


def shape(site: int) -> tuple[int, int]:
    """(items, paragraphs) of site ``site``: ~15 entries and ~75 KB at the median, every 20th
    site twice as long, every 100th a 60-entry ~2.4 MB feed (the tail)."""
    if site % 100 == 99:
        return 60, 32
    if site % 20 == 19:
        return 15, 7
    return MEDIAN


def site_feed(site: int, *, first: int = 0, rich: bool = True) -> bytes:
    """The feed of site ``site`` with the realistic size distribution of :func:`shape`."""
    items, paragraphs = shape(site)
    if not rich:
        paragraphs = {4: 6, 7: 12, 32: 50}[paragraphs]  # the same sizes in bare paragraphs
    return rss_feed(site, items, first=first, paragraphs=paragraphs, rich=rich)
