"""Every item can be posted whatever its length, and its whole link reaches the network.

For every network's writer: any title, summary and link up to 2,000 characters
renders within the network's limit, and the full link is in the text, in a link
facet (Bluesky), or in the network's own link field (Facebook ``link``, LinkedIn
article ``source``).
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from autoposter.publishers import writer_for
from autoposter.publishers._text import graphemes, utf8_length
from autoposter.publishers.bluesky import MAX_BYTES, MAX_GRAPHEMES, facets
from autoposter.publishers.linkedin import safe_url
from autoposter.types import Item, PostSpec

WRITERS: dict[str, dict[str, Any]] = {
    "mastodon": {},
    "bluesky": {},
    "facebook": {},
    "x": {},
    "linkedin": {},
    "telegram": {},
    "webhook": {"limit": 500},
}
URL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_.~/%=&"
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=2000).filter(
    lambda t: t.strip() != ""
)


@st.composite
def items(draw: st.DrawFn) -> Item:
    path = draw(st.text(st.sampled_from(URL_CHARS), min_size=0, max_size=1970))
    return Item(
        key="k",
        link=f"https://www.ville.example/{path}",
        title=draw(TEXT),
        summary=draw(st.one_of(st.just(""), TEXT)),
    )


def spec(account: str) -> PostSpec:
    return PostSpec(
        feed="actualites",
        account=account,
        template="{title}\n\n{summary}\n\n{link}",
        language="fr",
        hashtags=("Ville",),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=items(), kind=st.sampled_from(sorted(WRITERS)))
def test_any_length_renders_within_the_limit_and_the_whole_link_gets_there(
    item: Item, kind: str
) -> None:
    writer = writer_for("a", kind, WRITERS[kind])
    post = writer.render(item, spec("a"))
    for used, allowed in re.findall(r"(\d+)/(\d+)", post.extra["length"]):
        assert int(used) <= int(allowed), post.extra["length"]
    if kind == "bluesky":
        assert graphemes(post.text) <= MAX_GRAPHEMES
        assert utf8_length(post.text) <= MAX_BYTES
        uris = [
            f.features[0].uri
            for f in facets(post.text, post.link, post.extra.get("link_text"))
            if hasattr(f.features[0], "uri")
        ]
        assert item.link in uris, "the facet carries the whole link"
        assert post.link == item.link, "and so does the card"
    elif kind in ("facebook", "linkedin"):
        assert writer.link_outside_text
        assert post.link in (item.link, safe_url(item.link)), "the link field carries it"
    else:
        assert item.link in post.text


def test_a_link_too_long_for_bluesky_is_shown_short_and_linked_whole() -> None:
    link = "https://www.ville.example/actualites/" + "tres-long-" * 40
    writer = writer_for("a", "bluesky", {})
    post = writer.render(Item(key="k", link=link, title="Travaux"), spec("a"))
    assert post.extra["link_text"] == "www.ville.example/actualites/…"
    assert "www.ville.example/actualites/…" in post.text
    (found,) = facets(post.text, post.link, post.extra["link_text"])
    assert found.features[0].uri == link
    shown = post.text.encode()[found.index.byte_start : found.index.byte_end].decode()
    assert shown == post.extra["link_text"]
