"""Rendering: hashtags, templates and the truncation rule that never cuts the link."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoposter.render import fill, hashtag, hashtags, render_text, shorten, with_utm
from autoposter.types import Item, PostSpec

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
