"""Include and exclude filters, case- and accent-insensitive."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autoposter.config import FeedConfig, Filter
from autoposter.routing import accepts
from autoposter.types import Item

FEED = FeedConfig(
    name="actu",
    url="https://www.ville.example/feed",
    accounts=("a",),
    poll_interval=300.0,
    template="{title}\n\n{link}",
    hashtags=(),
    language="fr",
    include=Filter(),
    exclude=Filter(),
    burst_limit=5,
    timeout=20.0,
    max_bytes=10 * 1024 * 1024,
    enabled=True,
)


def item(title: str = "Actualité", categories: tuple[str, ...] = (), summary: str = "") -> Item:
    return Item(
        key="k",
        link="https://www.ville.example/a",
        title=title,
        summary=summary,
        categories=categories,
    )


def test_no_filters_let_everything_through() -> None:
    assert accepts(FEED, item())


@pytest.mark.parametrize(
    ("it", "expected"),
    [
        (item(categories=("Vie municipale",)), True),
        (item(categories=("VIE MUNICIPALE",)), True),
        (item(categories=("Sport",)), False),
        (item(title="Le Conseil Municipal se réunit"), True),
        (item(summary="ordre du jour du conseil municipal"), True),
        (item(title="Conseil municipalité"), False),
        (item(title="Élections : bureaux de vote"), True),
    ],
)
def test_include_needs_a_category_or_a_keyword(it: Item, expected: bool) -> None:
    feed = replace(
        FEED,
        include=Filter(categories=("vie municipale",), keywords=("conseil municipal", "elections")),
    )
    assert accepts(feed, it) is expected


def test_exclude_wins_over_include() -> None:
    feed = replace(
        FEED,
        include=Filter(categories=("Culture",)),
        exclude=Filter(keywords=("annulé",)),
    )
    assert accepts(feed, item(categories=("Culture",)))
    assert not accepts(feed, item(title="Concert annulé", categories=("Culture",)))
    assert not accepts(feed, item(title="Concert ANNULE", categories=("Culture",)))
