"""The Mastodon publisher, through the real Mastodon.py, against a Mastodon double on 127.0.0.1."""

from __future__ import annotations

import io
import ipaddress
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image as PILImage

from autoposter.errors import (
    AuthError,
    ConfigError,
    PublishError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from autoposter.fetch import Network
from autoposter.publishers import build, options_of
from autoposter.publishers.mastodon import MastodonPublisher, mastodon_language, status_length
from autoposter.storage import Storage
from autoposter.types import Image, Item, Post, PostSpec
from tests.fakes.apiserver import ApiResponse, ApiServer, Fault
from tests.fakes.mastodon import TOKEN, FakeMastodon, server_length

LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
LINK = "https://www.ville.example/actualites/conseil-municipal-du-2-decembre"
TEMPLATE = "{title} {hashtags}\n\n{summary}\n\n{link}"
STATUSES = r"/api/v1/statuses"


def spec(template: str = TEMPLATE, tags: tuple[str, ...] = ("Ville",)) -> PostSpec:
    return PostSpec(
        feed="actualites", account="ville", template=template, language="fr", hashtags=tags
    )


def item(title: str = "Conseil municipal", summary: str = "", **kw: object) -> Item:
    return Item(key="k1", link=LINK, title=title, summary=summary, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def server(shared_server: FakeMastodon) -> FakeMastodon:
    shared_server.reset()
    return shared_server


@pytest.fixture(scope="module")
def images() -> Iterator[ApiServer]:
    """A website serving the items' images."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (40, 30), (0, 90, 160)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    site = ApiServer()
    site.route(
        "GET",
        r"/images/salle\.jpg",
        lambda _r: ApiResponse(200, jpeg, {"Content-Type": "image/jpeg"}),
    )
    site.route(
        "GET",
        r"/images/page\.html",
        lambda _r: ApiResponse(200, b"<html></html>", {"Content-Type": "text/html"}),
    )
    with site:
        yield site


def publisher(
    server: FakeMastodon, *, networks: tuple[Network, ...] = LOOPBACK, **options: object
) -> MastodonPublisher:
    """The account, allowed (as ``http.allow_networks`` would) to fetch images from
    the test website on another 127.0.0.1 port."""
    options.setdefault("timeout", "5s")
    built = MastodonPublisher(
        name="ville_mastodon",
        api_url=server.url,
        access_token=TOKEN,
        **options,  # type: ignore[arg-type]
    )
    built.attach_networks(networks)
    return built


# -- configuration ---------------------------------------------------------------------------


def test_the_keys_of_the_account_block() -> None:
    required, optional = options_of(MastodonPublisher)
    assert required == {"api_url", "access_token"}
    assert optional == {
        "timeout",
        "language",
        "template",
        "visibility",
        "spoiler_text",
        "utm",
        "images",
        "limit",
    }


def test_built_from_its_block_without_any_request(server: FakeMastodon) -> None:
    built = build(
        "ville_mastodon",
        "mastodon",
        {"api_url": server.url, "access_token": TOKEN, "visibility": "unlisted", "timeout": "10s"},
        {"mastodon": MastodonPublisher},
    )
    assert isinstance(built, MastodonPublisher)
    assert built.timeout == 10.0
    assert server.requests == []
    built.close()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"api_url": "https://m.example"}, "access_token"),
        ({"access_token": "x"}, "api_url"),
        ({"api_url": "https://m.example", "access_token": "x", "visibility": "direct"}, ""),
        ({"api_url": "https://m.example", "access_token": "x", "images": "sometimes"}, ""),
        ({"api_url": "https://m.example", "access_token": "x", "limit": 10}, ""),
        ({"api_url": "https://m.example", "access_token": "x", "template": "{titel}"}, ""),
        ({"api_url": "https://m.example", "access_token": "x", "password": "x"}, "password"),
    ],
)
def test_wrong_blocks_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build("ville_mastodon", "mastodon", options, {"mastodon": MastodonPublisher})
    assert caught.value.path == f"accounts.ville_mastodon{'.' + key if key else ''}"
    assert "x" not in caught.value.message.split() or key == "password"


# -- counting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour", 7),
        (LINK, 23),  # the post's link counts 23 whatever its length
        (f"Voir {LINK}.", 5 + 23 + 1),
        ("👨‍👩‍👧‍👦 🇫🇷", 3),  # a ZWJ family and a flag are one character each
        ("e\u0301te\u0301", 3),  # combining accents belong to their letter
        ("市議会のお知らせ", 8),
        ("l’été", 5),
    ],
)
def test_length_is_counted_as_mastodon_counts(text: str, expected: int) -> None:
    assert status_length(text, link=LINK) == expected
    assert server_length(text) == expected


def test_other_urls_count_the_worse_of_the_servers_two_readings() -> None:
    other = "https://a.fr/x"  # 14 characters, counted 23 by the server if it recognizes it
    assert status_length(f"{other} {LINK}", link=LINK) == 14 + 12 + 1 + 23
    assert server_length(f"{other} {LINK}") <= status_length(f"{other} {LINK}", link=LINK)


def test_the_content_warning_counts_too() -> None:
    assert status_length("abc", spoiler_text="Travaux", link=LINK) == 10


@pytest.mark.parametrize(
    ("tag", "code"),
    [("fr", "fr"), ("fr-FR", "fr"), ("br_FR", "br"), ("zh-TW", "zh-TW"), ("EN", "en"), ("", None)],
)
def test_language_codes_mastodon_accepts(tag: str, code: str | None) -> None:
    assert mastodon_language(tag) == code


# -- rendering (golden) ----------------------------------------------------------------------


def test_golden_french_with_accents_and_apostrophes(server: FakeMastodon) -> None:
    post = publisher(server).render(
        item(
            "Conseil municipal : l’ordre du jour de décembre",
            "Les élus se réunissent jeudi à 18 h 30 à l’hôtel de ville.",
            language="fr-FR",
        ),
        spec(tags=("conseil municipal", "Ville")),
    )
    assert post.text == (
        "Conseil municipal : l’ordre du jour de décembre #ConseilMunicipal #Ville\n\n"
        "Les élus se réunissent jeudi à 18 h 30 à l’hôtel de ville.\n\n"
        f"{LINK}"
    )
    assert post.language == "fr-FR"
    assert post.link == LINK
    assert post.extra["length"] == f"{72 + 2 + 58 + 2 + 23}/500"


def test_golden_long_title_is_cut_after_the_summary_and_the_hashtags(server: FakeMastodon) -> None:
    title = "Travaux de voirie : fermeture de la rue de la République entre la place et la gare"
    summary = "La circulation sera déviée par le boulevard Victor-Hugo pendant trois semaines."
    p = publisher(server, limit=100)
    post = p.render(item(title, summary), spec())
    # 100 - 23 (link) - 2 (blank line) = 75 characters for the title and its "…"
    assert post.text == (
        f"Travaux de voirie : fermeture de la rue de la République entre la place et…\n\n{LINK}"
    )
    assert status_length(post.text, link=LINK) <= 100


def test_golden_emoji_flags_and_families_count_one(server: FakeMastodon) -> None:
    title = "Fête des familles 👨‍👩‍👧‍👦 et des voisins 🇫🇷🇪🇺 ce samedi"  # 47 characters
    summary = "Venez nombreux avec vos enfants, un goûter sera offert à 16 heures !"
    post = publisher(server, limit=100).render(item(title, summary), spec(tags=()))
    # 100 - 47 - 2 - 2 - 23 leaves 26 characters for the summary and its "…"
    assert post.text == f"{title}\n\nVenez nombreux avec vos…\n\n{LINK}"
    assert status_length(post.text, link=LINK) == 47 + 2 + 24 + 2 + 23


def test_golden_cjk_and_combining_marks(server: FakeMastodon) -> None:
    title = "市議会のお知らせ"
    summary = "Cafe\u0301 citoyen a\u0300 la me\u0301diathe\u0300que"
    post = publisher(server).render(item(title, summary), spec(tags=()))
    assert post.text == f"{title}\n\n{summary}\n\n{LINK}"
    assert post.extra["length"] == f"{8 + 2 + 29 + 2 + 23}/500"


def test_campaign_tags_are_in_the_text_and_the_posts_link(server: FakeMastodon) -> None:
    post = publisher(server, utm=True).render(item(), spec(tags=()))
    tagged = LINK + "?utm_source=ville_mastodon&utm_medium=social&utm_campaign=actualites"
    assert post.link == tagged
    assert post.text == f"Conseil municipal\n\n{tagged}"


def test_account_template_replaces_the_feeds(server: FakeMastodon) -> None:
    post = publisher(server, template="{title} — {link}").render(item(), spec())
    assert post.text == f"Conseil municipal — {LINK}"


words = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N")), min_size=1),
        st.sampled_from(
            ["👨‍👩‍👧‍👦", "🇫🇷", "e\u0301", "市議会", "l’été", "https://autre.example/p?a=1", "#1"]
        ),
    ),
    max_size=60,
).map(" ".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=words, summary=words, limit=st.integers(min_value=100, max_value=600))
def test_never_over_the_limit_and_the_link_intact(
    server: FakeMastodon, title: str, summary: str, limit: int
) -> None:
    p = publisher(server, limit=limit, spoiler_text="Info")
    post = p.render(item(title or "T", summary), spec(tags=("Ville", "vie locale")))
    p.close()
    assert server_length(post.text, "Info") <= limit
    assert status_length(post.text, spoiler_text="Info", link=LINK) <= limit
    assert post.text.endswith(LINK)
    assert LINK in post.text.split()


# -- publishing ------------------------------------------------------------------------------


def test_publish_sends_text_language_visibility_and_idempotency_key(server: FakeMastodon) -> None:
    p = publisher(server, visibility="unlisted", spoiler_text="Travaux")
    post = p.render(item("Rue fermée", "Du 3 au 7 mars.", language="fr-FR"), spec())
    receipt = p.publish(post, key="delivery-key-1")
    [status] = server.statuses
    assert status.text == post.text
    assert status.language == "fr"
    assert status.visibility == "unlisted"
    assert status.spoiler_text == "Travaux"
    assert status.idempotency_key == "delivery-key-1"
    assert receipt.remote_id == status.id
    assert receipt.url == f"https://social.ville.example/@mairie/{status.id}"
    [sent] = server.requests_to("POST", STATUSES)
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["idempotency-key"] == "delivery-key-1"


def test_no_request_at_render_and_the_limit_read_once(server: FakeMastodon) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    assert server.requests == []
    p.publish(post, key="a")
    p.publish(p.render(item("Autre"), spec()), key="b")
    assert len(server.requests_to("GET", r"/api/v2/instance/?")) == 1


def test_the_same_key_makes_one_status(server: FakeMastodon) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    first = p.publish(post, key="same")
    again = p.publish(post, key="same")
    assert first == again
    assert len(server.statuses) == 1


def test_an_image_with_alt_text_is_uploaded_with_its_description(
    server: FakeMastodon, images: ApiServer
) -> None:
    p = publisher(server)
    alt = "La salle du conseil, vue depuis la tribune"
    post = p.render(item(image=Image(f"{images.url}/images/salle.jpg", alt)), spec())
    p.publish(post, key="img")
    [media] = server.media.values()
    assert media["description"] == alt
    assert media["content_type"] == "image/jpeg"
    assert server.statuses[0].media_ids == [media["id"]]


def test_an_image_without_alt_text_is_left_out_unless_always(
    server: FakeMastodon, images: ApiServer
) -> None:
    picture = Image(f"{images.url}/images/salle.jpg")
    default = publisher(server).render(item(image=picture), spec())
    assert default.image is None
    always = publisher(server, images="always")
    post = always.render(item(image=picture), spec())
    always.publish(post, key="always")
    [media] = server.media.values()
    assert media["description"] is None
    assert (
        publisher(server, images="never")
        .render(item(image=Image(picture.url, "alt")), spec())
        .image
        is None
    )


@pytest.mark.parametrize("path", ["/images/missing.jpg", "/images/page.html"])
def test_an_image_that_cannot_be_had_does_not_block_the_post(
    server: FakeMastodon, images: ApiServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = publisher(server)
    post = p.render(item(image=Image(f"{images.url}{path}", "Une photo")), spec())
    with caplog.at_level(logging.WARNING, logger="autoposter"):
        p.publish(post, key="img-missing")
    assert server.statuses[0].media_ids == []
    assert server.media == {}
    assert any(r.getMessage() == "image-skipped" for r in caplog.records)


def test_an_image_on_another_loopback_origin_is_not_fetched_and_the_post_goes(
    server: FakeMastodon, images: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    p = publisher(server, networks=())
    url = f"{images.url}/images/salle.jpg"
    post = p.render(item(image=Image(url, "La salle")), spec())
    served = len(images.requests)
    with caplog.at_level(logging.WARNING, logger="autoposter"):
        p.publish(post, key="img-refused")
    assert server.statuses[-1].media_ids == []
    assert len(images.requests) == served
    [skipped] = [r for r in caplog.records if r.getMessage() == "image-skipped"]
    fields = skipped.__dict__["fields"]
    assert fields["image"] == url
    assert f"refused {url}" in fields["reason"]
    assert "http.allow_networks" in fields["reason"]


def test_the_instances_limit_is_read_and_kept(server: FakeMastodon, tmp_path: Path) -> None:
    server.max_characters = 5000
    storage = Storage.open(f"sqlite:///{tmp_path}/db")
    try:
        first = publisher(server)
        first.attach_state(storage.account_state("ville_mastodon"))
        info = first.check()
        assert info.name == "@mairie@social.ville.example"
        assert info.details["limit"] == "5000"
        again = publisher(server)
        again.attach_state(storage.account_state("ville_mastodon"))
        assert again.limit == 5000  # known at once after a restart
        long_summary = "mot " * 300
        assert len(again.render(item(summary=long_summary), spec()).text) > 1000
    finally:
        storage.close()


def test_an_instance_allowing_less_gets_the_post_written_again(server: FakeMastodon) -> None:
    server.max_characters = 120
    p = publisher(server)
    post = p.render(item(summary="mot " * 100), spec())  # rendered for 500: not yet known
    with pytest.raises(UnavailableError) as caught:
        p.publish(post, key="short")
    assert caught.value.retryable
    assert not caught.value.maybe_posted
    assert server.statuses == []
    again = p.render(item(summary="mot " * 100), spec())
    p.publish(again, key="short")
    assert server_length(server.statuses[0].text) <= 120


# -- errors ----------------------------------------------------------------------------------


def _publish_error(
    server: FakeMastodon, fault: Fault, what: Item | None = None, **options: object
) -> PublishError:
    p = publisher(server, **options)
    post = p.render(what or item(), spec())
    server.fail("POST", STATUSES, fault)
    with pytest.raises(PublishError) as caught:
        p.publish(post, key="err")
    error = caught.value
    assert TOKEN not in str(error)
    return error


def test_a_server_error_is_retryable(server: FakeMastodon) -> None:
    error = _publish_error(server, Fault(status=500))
    assert isinstance(error, UnavailableError)
    assert error.retryable


def test_a_timeout_is_retryable(server: FakeMastodon) -> None:
    error = _publish_error(server, Fault(delay=2.0, status=200), timeout="300ms")
    assert isinstance(error, UnavailableError)
    assert "timed out" in error.message


def test_rate_limit_says_when_to_come_back(server: FakeMastodon) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=120)).isoformat()
    error = _publish_error(
        server,
        Fault(
            status=429,
            body={"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            },
        ),
    )
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is not None
    assert 100 < error.retry_after <= 121


def test_a_refused_token_is_an_auth_error() -> None:
    with FakeMastodon(token="ANOTHER-TOKEN") as server:
        p = publisher(server)  # type: ignore[arg-type]
        with pytest.raises(AuthError) as caught:
            p.publish(p.render(item(), spec()), key="k")
        assert "401" in caught.value.message
        assert TOKEN not in str(caught.value)
        with pytest.raises(AuthError):
            p.check()


def test_a_missing_scope_is_an_auth_error(server: FakeMastodon) -> None:
    error = _publish_error(
        server, Fault(status=403, body={"error": "This action is outside the authorized scopes"})
    )
    assert isinstance(error, AuthError)
    assert "write:statuses" in error.message


def test_a_refused_post_says_why(server: FakeMastodon) -> None:
    server.max_characters = 100
    error = _publish_error(server, Fault(), item(summary="mot " * 80), limit=400)
    assert isinstance(error, RejectedError)
    assert "character limit of 100 exceeded" in error.message
    assert not error.retryable


def test_a_wrong_api_url_pauses_the_account(server: FakeMastodon) -> None:
    p = MastodonPublisher(name="m", api_url=server.url + "/nowhere", access_token=TOKEN)
    with pytest.raises(AuthError, match="check api_url"):
        p.publish(p.render(item(), spec()), key="lost")


def test_images_accepts_the_x_publishers_spelling() -> None:
    p = MastodonPublisher(
        name="m", api_url="https://m.example", access_token=TOKEN, images="with-alt"
    )
    assert p.images == "with_alt"


def test_no_token_in_logs(server: FakeMastodon, caplog: pytest.LogCaptureFixture) -> None:
    p = publisher(server)
    server.fail("GET", r"/api/v2/instance/?", Fault(status=503))
    with caplog.at_level(logging.DEBUG):
        p.publish(p.render(item(), spec()), key="logs")
    assert caplog.records
    assert all(TOKEN not in r.getMessage() + str(r.__dict__) for r in caplog.records)


# -- find ------------------------------------------------------------------------------------


def test_a_post_made_before_the_connection_dropped_is_found(server: FakeMastodon) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    server.fail("POST", STATUSES, Fault(after=True))
    with pytest.raises(UnavailableError) as caught:
        p.publish(post, key="dropped")
    assert caught.value.maybe_posted
    assert len(server.statuses) == 1
    found = p.find(post, key="dropped")
    assert found is not None
    assert found.remote_id == server.statuses[0].id
    assert found.url == f"https://social.ville.example/@mairie/{found.remote_id}"


def test_find_knows_links_with_query_strings(server: FakeMastodon) -> None:
    p = publisher(server, utm=True)
    post = p.render(item(), spec())
    receipt = p.publish(post, key="utm")
    assert "&amp;" in server._status_json(server.statuses[0])["content"]
    assert p.find(post, key="utm") == receipt


def test_find_says_none_when_not_posted_and_raises_when_it_cannot_tell(
    server: FakeMastodon,
) -> None:
    p = publisher(server)
    p.publish(p.render(item("Autre chose"), spec()), key="x")
    other = Post(account="ville_mastodon", text="t", link=LINK + "-bis", language="fr")
    assert p.find(other, key="y") is None
    server.fail("GET", r"/api/v1/accounts/\d+/statuses", Fault(status=502))
    with pytest.raises(UnavailableError):
        p.find(other, key="y")


def test_past_the_idempotency_hour_find_still_sees_the_post(server: FakeMastodon) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    receipt = p.publish(post, key="old")
    now = server.clock()
    server.clock = lambda: now + 3700  # the server forgot the key
    assert p.find(post, key="old") == receipt


def test_check_names_the_account(server: FakeMastodon) -> None:
    info = publisher(server, visibility="unlisted").check()
    assert info.name == "@mairie@social.ville.example"
    assert info.details["limit"] == "500"
    assert info.details["visibility"] == "unlisted"
