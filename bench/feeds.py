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


def rss_feed(
    site: int, items: int = 15, *, first: int = 0, paragraphs: int = 8, seed: int = 0
) -> bytes:
    """An RSS 2.0 feed of ``items`` entries numbered from ``first`` (newest first),
    about 5 KB of HTML description each, like a CMS that puts whole articles in its feed."""
    rng = random.Random(seed * 1_000_003 + site)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Commune {site}</title><link>https://commune{site}.example/</link>"
        "<language>fr-FR</language>"
    ]
    for n in range(first + items - 1, first - 1, -1):
        title = " ".join(rng.choice(_WORDS) for _ in range(8)).capitalize()
        body = "".join(
            "<p>" + " ".join(rng.choice(_WORDS) for _ in range(90)) + " &eacute;t&eacute;.</p>"
            for _ in range(paragraphs)
        )
        when = (start + timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        parts.append(
            f"<item><title>{title}</title><link>https://commune{site}.example/actu/{n}</link>"
            f"<guid isPermaLink='false'>c{site}-{n}</guid><pubDate>{when}</pubDate>"
            f"<category>Vie locale</category><description><![CDATA[{body}]]></description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def shape(site: int) -> tuple[int, int]:
    """(items, paragraphs) of site ``site``: ~15 entries and ~75 KB at the median, every 20th
    site twice as long, every 100th a 60-entry ~2.5 MB feed (the tail)."""
    if site % 100 == 99:
        return 60, 50
    if site % 20 == 19:
        return 15, 12
    return 15, 6


def site_feed(site: int, *, first: int = 0) -> bytes:
    """The feed of site ``site`` with the realistic size distribution of :func:`shape`."""
    items, paragraphs = shape(site)
    return rss_feed(site, items, first=first, paragraphs=paragraphs)
