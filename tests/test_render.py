"""Rendering: hashtags, templates and the truncation rule that never cuts the link."""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings, strategies as st

from autoposter.errors import ParseError
from autoposter.parse import parse_feed
from autoposter.publishers import available, build
from autoposter.render import (
    fill,
    hashtag,
    hashtags,
    render_text,
    safe_item,
    shorten,
    with_utm,
)
from autoposter.safetext import clean
from autoposter.types import Image, Item, PostSpec

LINK = "https://www.ville.example/actualites/conseil-municipal-2-decembre"


def spec(template: str = "{title} {hashtags}\n\n{summary}\n\n{link}", tags=("Ville",)) -> PostSpec:
    return PostSpec(feed="actu", account="a", template=template, language="fr", hashtags=tags)


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        ("conseil municipal", "#ConseilMunicipal"),
        ("Ville", "#Ville"),
        ("#vie-locale", "#VieLocale"),
        ("élections municipales", "#ÉlectionsMunicipales"),
        ("JO2024", "#JO2024"),
        ("  ", ""),
        ("!!!", ""),
    ],
)
def test_hashtags_are_camel_case_for_screen_readers(raw: str, written: str) -> None:
    assert hashtag(raw) == written


def test_duplicate_hashtags_are_written_once() -> None:
    assert hashtags(["Ville", "ville", "vie locale"]) == "#Ville #VieLocale"


def test_fill_tidies_empty_fields() -> None:
    item = Item(key="k", link=LINK, title="Travaux", summary="")
    assert fill("{title} {hashtags}\n\n{summary}\n\n{link}", item, spec(tags=())) == (
        f"Travaux\n\n{LINK}"
    )


def test_short_posts_are_left_whole() -> None:
    item = Item(key="k", link=LINK, title="Travaux", summary="Rue fermée.")
    assert render_text(item, spec(), limit=500) == f"Travaux #Ville\n\nRue fermée.\n\n{LINK}"


def test_the_summary_is_cut_first_at_a_word_boundary() -> None:
    item = Item(key="k", link=LINK, title="Travaux", summary="un deux trois quatre cinq six sept")
    text = render_text(item, spec(), limit=len(f"Travaux #Ville\n\nun deux trois…\n\n{LINK}"))
    assert text == f"Travaux #Ville\n\nun deux trois…\n\n{LINK}"


def test_hashtags_go_before_the_title_is_cut() -> None:
    item = Item(
        key="k", link=LINK, title="Conseil municipal du 2 décembre", summary="Ordre du jour"
    )
    limit = len(f"Conseil municipal du 2 décembre\n\n{LINK}")
    assert render_text(item, spec(), limit=limit) == f"Conseil municipal du 2 décembre\n\n{LINK}"
    assert render_text(item, spec(), limit=limit - 5) == f"Conseil municipal du 2…\n\n{LINK}"


def test_a_limit_below_the_link_is_an_error() -> None:
    item = Item(key="k", link=LINK, title="T")
    with pytest.raises(ValueError, match="link alone"):
        render_text(item, spec(), limit=10)


def test_shorten_cuts_a_long_word_between_characters_or_gives_up() -> None:
    assert shorten("anticonstitutionnellement", lambda s: len(s) <= 5) == "anti…"
    assert shorten("anticonstitutionnellement", lambda s: len(s) <= 1) == ""


words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=400
)


@given(title=words, summary=words, limit=st.integers(min_value=len(LINK) + 2, max_value=600))
def test_never_over_the_limit_and_the_link_always_survives(
    title: str, summary: str, limit: int
) -> None:
    item = Item(key="k", link=LINK, title=title, summary=summary)
    text = render_text(item, spec(), limit=limit)
    assert len(text) <= limit
    assert LINK in text


def test_campaign_tags_are_added_once() -> None:
    tagged = with_utm("https://v.example/a?id=3#top", source="ville_mastodon", campaign="actu")
    assert tagged == (
        "https://v.example/a?id=3&utm_source=ville_mastodon&utm_medium=social&utm_campaign=actu#top"
    )
    assert with_utm(tagged, source="other", campaign="x") == tagged
    assert with_utm("mailto:a@b.example", source="s", campaign="c") == "mailto:a@b.example"


def test_a_title_without_spaces_is_cut_between_characters() -> None:
    item = Item(
        key="k", link=LINK, title="市议会关于二〇二七年预算和学校翻新的特别会议通知", summary=""
    )
    limit = len(f"市议会关于二〇…\n\n{LINK}")
    assert render_text(item, spec(tags=()), limit=limit) == f"市议会关于二〇…\n\n{LINK}"


def test_emoji_are_never_split() -> None:
    family = "👨‍👩‍👧‍👦"
    item = Item(key="k", link=LINK, title=family * 10, summary="")
    text = render_text(item, spec(tags=()), limit=len(f"{family}{family}…\n\n{LINK}") + 3)
    assert text == f"{family}{family}…\n\n{LINK}"


# -- hostile text: what reaches a post -----------------------------------------------------

HOSTILE_FEED = Path(__file__).parent / "data" / "feeds" / "rss20_hostile_text.xml"
# A post may hold line breaks; no other C0 control, no bidi control, nothing tag-like.
_TAG = re.compile(r"<[A-Za-z/!?]")
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Options that build each network's publisher without any request (rendering is pure).
NETWORKS: dict[str, dict[str, object]] = {
    "bluesky": {"handle": "ville.example", "app_password": "x", "api_url": "http://127.0.0.1:9"},
    "console": {},
    "facebook": {"page_id": "1", "access_token": "x", "api_url": "http://127.0.0.1:9"},
    "linkedin": {"organization_id": "1", "access_token": "x", "api_url": "http://127.0.0.1:9"},
    "mastodon": {"access_token": "x", "api_url": "http://127.0.0.1:9"},
    "telegram": {
        "bot_token": "123456789:AAEabcdefghijklmnopqrstuvwxyz0123456",
        "chat_id": "@ville",
        "api_url": "http://127.0.0.1:9",
    },
    "webhook": {"url": "http://127.0.0.1:9/hook"},
    "x": {
        **{k: "x" for k in ("consumer_key", "consumer_secret", "access_token")},
        "access_token_secret": "x",
        "api_url": "http://127.0.0.1:9",
    },
}


def assert_safe(text: str) -> None:
    assert not _TAG.search(text), text
    assert not _BIDI_CONTROLS.intersection(text), text
    assert all(c == "\n" or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in text), text


def test_every_network_posts_hostile_titles_clean() -> None:
    feed = parse_feed(
        HOSTILE_FEED.read_bytes(),
        url="https://www.exempleville.fr/rss",
        headers={},
        default_language="fr",
    )
    registry = available(NETWORKS)
    assert set(registry) == set(NETWORKS)
    for kind, options in NETWORKS.items():
        publisher = build(f"ville_{kind}", kind, options, registry)
        try:
            for item in feed.items:
                post = publisher.render(item, spec(template="{title}\n\n{summary}\n\n{link}"))
                for text in (post.text, post.title, post.summary, *post.extra.values()):
                    # Telegram's text is HTML: its own <b> around the title, the rest escaped.
                    assert_safe(re.sub("</?b>", "", text) if kind == "telegram" else text)
                assert "gpj.exe" in post.text or "Facture" not in item.title
        finally:
            publisher.close()


def test_text_written_elsewhere_is_made_safe_too() -> None:
    item = Item(
        key="k",
        link=LINK,
        title="<img src=x onerror=alert(1)>Facture \u202egpj.exe",
        summary="a\x00b\tc",
        author="\u2066Mairie\u2069",
        image=Image("https://www.ville.example/a.jpg", "<b>La salle</b>"),
    )
    safe = safe_item(item)
    assert (safe.title, safe.summary, safe.author) == ("Facture gpj.exe", "ab c", "Mairie")
    assert safe.image == Image("https://www.ville.example/a.jpg", "La salle")
    # A tag made of the template and two fields is no more a tag than one in a field.
    assert render_text(item, spec(template="{title}<{summary}>{link}")) == f"Facture gpj.exe{LINK}"


def test_zero_width_characters_are_kept_only_inside_words() -> None:
    assert clean("\u200bavant") == "avant"
    assert clean("après\u200b fin\u200b") == "après fin"
    assert clean("👩\u200d👩\u200d👧 famille") == "👩\u200d👩\u200d👧 famille"
    assert clean("می\u200cخواهم") == "می\u200cخواهم"
    assert (
        clean("voir https://ville\u200b.fr/x ou a\u200b@b.fr")
        == "voir https://ville.fr/x ou a@b.fr"
    )


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("<<b>img src=x>", ""),
        ("<<a>img>t", "t"),
        ("a < b et c > d", "a < b et c > d"),
        ("3<4", "3<4"),
        ("<!-- x -->y<![CDATA[z]]>", "yz"),
        ("<scr<script>ipt>alert(1)", "alert(1)"),
        ("<<<img", "img"),
    ],
)
def test_markup_cannot_survive_by_nesting(raw: str, safe: str) -> None:
    assert clean(raw) == safe
    assert not _TAG.search(clean(raw))


_FEED_TEXT = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(["<", ">", "&", "&lt;", "&amp;lt;", "<b>", "</b>", "<img src=x>"])
    | st.sampled_from(["<![CDATA[", "]]>", "\u202e", "\u2066", "\u200b", "\u200d", "\x00"]),
    max_size=40,
).map("".join)


def _xml_text(text: str) -> str:
    # The feed's author escaped the text once, as XML requires; characters XML 1.0
    # cannot carry are left out (no feed can hold them).
    kept = "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)
    return escape(kept.replace("\ufffe", "").replace("\uffff", ""))


@settings(max_examples=150, deadline=None)
@given(title=_FEED_TEXT, summary=_FEED_TEXT, cdata=st.booleans())
def test_for_any_feed_text_a_post_holds_no_tag_no_control_and_its_link(
    title: str, summary: str, cdata: bool
) -> None:
    written = (
        "<![CDATA[" + title.replace("]]>", "") + "]]>"
        if cdata and "\x00" not in title
        else _xml_text(title)
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<item><title>{written}</title><link>{LINK}</link>"
        f"<description>{_xml_text(summary)}</description></item></channel></rss>"
    ).encode()
    try:
        feed = parse_feed(
            body, url="https://www.ville.example/rss", headers={}, default_language="fr"
        )
    except ParseError:
        return  # a document the parser refuses posts nothing
    for item in feed.items:
        text = render_text(item, spec(), limit=300)
        assert_safe(text)
        assert text.endswith(LINK)
        assert item.link == LINK
