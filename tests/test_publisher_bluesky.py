"""The Bluesky publisher, through the real atproto SDK, against a PDS double on 127.0.0.1."""

from __future__ import annotations

import io
import ipaddress
import logging
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
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
from autoposter.publishers._text import graphemes, utf8_length
from autoposter.publishers.bluesky import BlueskyPublisher, facets, post_length, record_key
from autoposter.storage import Storage
from autoposter.types import Image, Item, Post, PostSpec
from tests.fakes.apiserver import ApiResponse, ApiServer, Fault
from tests.fakes.bluesky import APP_PASSWORD, DID, HANDLE, FakeBluesky

LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
LINK = "https://www.ville.example/actualites/conseil-municipal-du-2-decembre"
TEMPLATE = "{title} {hashtags}\n\n{summary}\n\n{link}"
CREATE = r"/xrpc/com\.atproto\.repo\.createRecord"
GET = r"/xrpc/com\.atproto\.repo\.getRecord"
SESSION = r"/xrpc/com\.atproto\.server\.createSession"
S32 = "234567abcdefghijklmnopqrstuvwxyz"


def spec(template: str = TEMPLATE, tags: tuple[str, ...] = ("Ville",)) -> PostSpec:
    return PostSpec(
        feed="actualites", account="ville", template=template, language="fr", hashtags=tags
    )


def item(title: str = "Conseil municipal", summary: str = "", **kw: object) -> Item:
    return Item(key="k1", link=LINK, title=title, summary=summary, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeBluesky]:
    with FakeBluesky() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def server(shared_server: FakeBluesky) -> FakeBluesky:
    shared_server.reset()
    return shared_server


def _jpeg(size: tuple[int, int], noise: bool = False) -> bytes:
    image = PILImage.new("RGB", size, (200, 30, 40))
    if noise:
        rng = random.Random(4)
        image = PILImage.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG" if noise else "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def images() -> Iterator[ApiServer]:
    """A website serving the items' images: a small JPEG and a 3+ MB PNG."""
    small, big = _jpeg((60, 40)), _jpeg((1200, 1000), noise=True)
    assert len(big) > 1_000_000
    site = ApiServer()
    site.route(
        "GET", r"/small\.jpg", lambda _r: ApiResponse(200, small, {"Content-Type": "image/jpeg"})
    )
    site.route("GET", r"/big\.png", lambda _r: ApiResponse(200, big, {"Content-Type": "image/png"}))
    with site:
        yield site


def publisher(
    server: FakeBluesky, *, networks: tuple[Network, ...] = LOOPBACK, **options: object
) -> BlueskyPublisher:
    """The account, allowed (as ``http.allow_networks`` would) to fetch images from
    the test website on another 127.0.0.1 port."""
    options.setdefault("timeout", "5s")
    built = BlueskyPublisher(
        name="ville_bluesky",
        handle=HANDLE,
        app_password=APP_PASSWORD,
        api_url=server.url,
        **options,  # type: ignore[arg-type]
    )
    built.attach_networks(networks)
    return built


def record_of(server: FakeBluesky, key: str) -> dict[str, object]:
    return server.records[record_key(key)].value


# -- configuration ---------------------------------------------------------------------------


def test_the_keys_of_the_account_block() -> None:
    required, optional = options_of(BlueskyPublisher)
    assert required == {"handle", "app_password"}
    assert optional == {"api_url", "timeout", "language", "template", "utm", "card", "images"}


def test_built_from_its_block_without_any_request(server: FakeBluesky) -> None:
    built = build(
        "ville_bluesky",
        "bluesky",
        {"handle": "@Mairie.bsky.social", "app_password": APP_PASSWORD, "api_url": server.url},
        {"bluesky": BlueskyPublisher},
    )
    assert isinstance(built, BlueskyPublisher)
    assert built.handle == HANDLE
    assert server.requests == []
    built.close()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"handle": HANDLE}, "app_password"),
        ({"app_password": "x"}, "handle"),
        ({"handle": "not a handle", "app_password": "x"}, ""),
        ({"handle": HANDLE, "app_password": "x", "images": "all"}, ""),
        ({"handle": HANDLE, "app_password": "x", "card": "yes"}, ""),
        ({"handle": HANDLE, "app_password": "x", "api_url": "bsky.social"}, ""),
    ],
)
def test_wrong_blocks_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build("ville_bluesky", "bluesky", options, {"bluesky": BlueskyPublisher})
    assert caught.value.path == f"accounts.ville_bluesky{'.' + key if key else ''}"


# -- record keys and counting ----------------------------------------------------------------


def _tid_time(tid: str) -> datetime:
    value = 0
    for char in tid:
        value = value * 32 + S32.index(char)
    return datetime.fromtimestamp((value >> 10) / 1_000_000, UTC)


@given(st.text(min_size=1, max_size=64))
def test_record_keys_are_valid_tids_fixed_by_the_key_and_never_in_the_future(key: str) -> None:
    tid = record_key(key)
    assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", tid)
    assert record_key(key) == tid
    assert record_key(key + "!") != tid
    assert datetime(2023, 1, 1, tzinfo=UTC) <= _tid_time(tid) < datetime(2025, 4, 1, tzinfo=UTC)


def test_the_known_tid_of_a_key() -> None:
    assert record_key("0f1e2d3c4b5a69788796a5b4c3d2e1f0") == record_key(
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    )
    assert len({record_key(f"{i:032x}") for i in range(2000)}) == 2000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 300, 300),
        ("é" * 300, 300),  # 600 bytes
        ("日" * 300, 300),  # 900 bytes
        ("👨‍👩‍👧‍👦" * 120, 300),  # 120 graphemes but exactly 3000 bytes
        ("👨‍👩‍👧‍👦" * 121, 303),  # 3025 bytes: over, though only 121 graphemes
    ],
)
def test_length_says_over_when_graphemes_or_bytes_are(text: str, expected: int) -> None:
    assert post_length(text) == expected


# -- rendering (golden) ----------------------------------------------------------------------


def test_golden_french_with_facets_at_byte_offsets(server: FakeBluesky) -> None:
    post = publisher(server).render(
        item(
            "Fête de la musique : l’appel aux musiciens",
            "Inscriptions à l’accueil de la mairie avant le 1er juin.",
            language="fr-FR",
        ),
        spec(tags=("fête de la musique",)),
    )
    title = "Fête de la musique : l’appel aux musiciens #FêteDeLaMusique"
    summary = "Inscriptions à l’accueil de la mairie avant le 1er juin."
    assert post.text == f"{title}\n\n{summary}\n\n{LINK}"
    assert post.language == "fr-FR"
    found = facets(post.text, post.link)
    [tag, link] = found
    encoded = post.text.encode("utf-8")
    assert tag.features[0].tag == "FêteDeLaMusique"
    tag_start = len("Fête de la musique : l’appel aux musiciens ".encode())
    assert (tag.index.byte_start, tag.index.byte_end) == (tag_start, tag_start + 17)
    assert encoded[tag.index.byte_start : tag.index.byte_end].decode() == "#FêteDeLaMusique"
    link_start = len(f"{title}\n\n{summary}\n\n".encode())
    assert (link.index.byte_start, link.index.byte_end) == (link_start, link_start + len(LINK))
    assert link.features[0].uri == LINK


def test_golden_long_title_keeps_the_link_whole(server: FakeBluesky) -> None:
    title = " ".join(["Délibérations"] * 30)  # 419 characters
    post = publisher(server).render(item(title, "Le compte rendu."), spec())
    # 300 - 2 - len(LINK) = 229 for the title and its "…": 16 words of 14
    cut = " ".join(["Délibérations"] * 16) + "…"
    assert graphemes(cut) == 224
    assert post.text == f"{cut}\n\n{LINK}"


def test_golden_emoji_count_one_each(server: FakeBluesky) -> None:
    title = "Fête des familles 👨‍👩‍👧‍👦 place de la République 🇫🇷"
    post = publisher(server).render(item(title, "Goûter offert."), spec(tags=()))
    assert post.text == f"{title}\n\nGoûter offert.\n\n{LINK}"
    assert post.extra["length"] == (
        f"{44 + 2 + 14 + 2 + len(LINK)}/300 graphemes, {utf8_length(post.text)}/3000 bytes"
    )


def test_golden_bytes_limit_an_emoji_heavy_text(server: FakeBluesky) -> None:
    pair = "👨‍👩‍👧‍👦👨‍👩‍👧‍👦"  # 2 graphemes, 50 bytes
    post = publisher(server).render(item("Familles", " ".join([pair] * 70)), spec(tags=()))
    # 289 graphemes would fit, but not 3649 bytes: 80 bytes around, then 57 pairs and "…"
    expected_summary = " ".join([pair] * 57) + "…"
    assert post.text == f"Familles\n\n{expected_summary}\n\n{LINK}"
    assert (graphemes(post.text), utf8_length(post.text)) == (251, 2989)


def test_golden_cjk_and_combining_marks(server: FakeBluesky) -> None:
    summary = "市議会は三月二日に開かれます。 Cafe\u0301 citoyen"
    post = publisher(server).render(item("市議会のお知らせ", summary), spec(tags=()))
    assert post.text == f"市議会のお知らせ\n\n{summary}\n\n{LINK}"


def test_campaign_tags_are_the_same_in_text_facet_and_card(server: FakeBluesky) -> None:
    p = publisher(server, utm=True)
    post = p.render(item(), spec(tags=()))
    tagged = LINK + "?utm_source=ville_bluesky&utm_medium=social&utm_campaign=actualites"
    assert post.link == tagged
    assert post.text.endswith(tagged)
    p.publish(post, key="utm")
    record = record_of(server, "utm")
    assert record["embed"]["external"]["uri"] == tagged  # type: ignore[index]
    assert [f["features"][0].get("uri") for f in record["facets"]] == [tagged]  # type: ignore[attr-defined]


words = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N")), min_size=1),
        st.sampled_from(["👨‍👩‍👧‍👦", "🇫🇷", "e\u0301", "市議会", "l’été", "#Ville", "ville.fr"]),
    ),
    max_size=120,
).map(" ".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=words, summary=words)
def test_never_over_300_graphemes_or_3000_bytes_and_the_link_intact(
    server: FakeBluesky, title: str, summary: str
) -> None:
    p = publisher(server)
    post = p.render(item(title or "T", summary), spec(tags=("Ville", "vie locale")))
    p.close()
    assert graphemes(post.text) <= 300
    assert utf8_length(post.text) <= 3000
    assert post.text.endswith(LINK)
    encoded = post.text.encode("utf-8")
    slices = [encoded[f.index.byte_start : f.index.byte_end] for f in facets(post.text, LINK)]
    assert LINK.encode() in slices
    for piece in slices:
        piece.decode("utf-8")  # every facet lies on character boundaries


# -- publishing ------------------------------------------------------------------------------


def test_publish_makes_a_post_with_langs_facets_and_a_card(
    server: FakeBluesky, images: ApiServer
) -> None:
    p = publisher(server)
    post = p.render(
        item(
            "Travaux rue Pasteur",
            "La rue sera fermée du 3 au 7 mars.",
            language="fr",
            image=Image(f"{images.url}/small.jpg"),  # no alt: fine for a card's thumbnail
        ),
        spec(),
    )
    receipt = p.publish(post, key="delivery-1")
    rkey = record_key("delivery-1")
    assert receipt.remote_id == f"at://{DID}/app.bsky.feed.post/{rkey}"
    assert receipt.url == f"https://bsky.app/profile/{DID}/post/{rkey}"
    record = server.records[rkey].value
    assert record["text"] == post.text
    assert record["langs"] == ["fr"]
    assert record["createdAt"].endswith("Z")
    external = record["embed"]["external"]
    assert external["uri"] == LINK
    assert external["title"] == "Travaux rue Pasteur"
    assert external["description"] == "La rue sera fermée du 3 au 7 mars."
    [(mime, _size)] = server.blobs.values()
    assert external["thumb"]["mimeType"] == mime == "image/jpeg"
    kinds = [f["features"][0]["$type"] for f in record["facets"]]
    assert kinds == ["app.bsky.richtext.facet#tag", "app.bsky.richtext.facet#link"]


def test_a_card_thumbnail_on_another_loopback_origin_is_not_fetched_and_the_card_goes(
    server: FakeBluesky, images: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    p = publisher(server, networks=())
    url = f"{images.url}/small.jpg"
    post = p.render(item("Travaux rue Pasteur", image=Image(url)), spec())
    served = len(images.requests)
    with caplog.at_level(logging.WARNING, logger="autoposter"):
        p.publish(post, key="thumb-refused")
    external = record_of(server, "thumb-refused")["embed"]["external"]  # type: ignore[index]
    assert external["uri"] == LINK
    assert "thumb" not in external
    assert len(images.requests) == served
    [skipped] = [r for r in caplog.records if r.getMessage() == "image-skipped"]
    assert f"refused {url}" in skipped.__dict__["fields"]["reason"]


def test_an_image_embed_carries_its_alt_text(server: FakeBluesky, images: ApiServer) -> None:
    p = publisher(server, card=False)
    alt = "La façade de la mairie pavoisée"
    post = p.render(item(image=Image(f"{images.url}/small.jpg", alt)), spec())
    p.publish(post, key="alt")
    [image] = record_of(server, "alt")["embed"]["images"]  # type: ignore[index]
    assert image["alt"] == alt
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (60, 40)
    no_alt = p.render(item(image=Image(f"{images.url}/small.jpg")), spec())
    assert no_alt.image is None  # with_alt: left out rather than posted without description
    p.publish(no_alt, key="no-alt")
    assert "embed" not in record_of(server, "no-alt")


def test_a_big_image_is_shrunk_under_the_blob_limit(server: FakeBluesky, images: ApiServer) -> None:
    p = publisher(server)
    post = p.render(item(image=Image(f"{images.url}/big.png", "Panorama")), spec())
    p.publish(post, key="big")
    [(mime, size)] = server.blobs.values()
    assert mime == "image/jpeg"
    assert size <= 1_000_000


def test_an_image_that_cannot_be_had_does_not_block_the_post(
    server: FakeBluesky, images: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    p = publisher(server)
    post = p.render(item(image=Image(f"{images.url}/missing.jpg", "x")), spec())
    with caplog.at_level(logging.WARNING, logger="autoposter"):
        p.publish(post, key="missing-image")
    assert "thumb" not in record_of(server, "missing-image")["embed"]["external"]  # type: ignore[index]
    assert any(r.getMessage() == "image-skipped" for r in caplog.records)


def test_publishing_again_with_the_same_key_makes_no_second_post(server: FakeBluesky) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    first = p.publish(post, key="once")
    again = p.publish(post, key="once")
    assert again == first
    assert len(server.records) == 1
    assert len(server.requests_to("POST", CREATE)) == 2  # the second was refused, then looked up


def test_an_explicit_already_exists_answer_is_read_as_posted(server: FakeBluesky) -> None:
    # Newer PDS versions name the error instead of answering 500.
    p = publisher(server)
    post = p.render(item(), spec())
    first = p.publish(post, key="named")
    server.fail(
        "POST",
        CREATE,
        Fault(status=400, body={"error": "RecordAlreadyExists", "message": "Record exists"}),
    )
    assert p.publish(post, key="named") == first
    assert len(server.records) == 1


def test_a_post_made_before_the_connection_dropped_is_found(server: FakeBluesky) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    server.fail("POST", CREATE, Fault(after=True))
    receipt = p.publish(post, key="dropped")  # the lookup after the failure finds it
    assert len(server.records) == 1
    assert p.find(post, key="dropped") == receipt
    assert p.find(post, key="another") is None


def test_a_server_error_is_retryable_when_nothing_was_made(server: FakeBluesky) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    server.fail("POST", CREATE, Fault(status=500, body={"error": "InternalServerError"}))
    with pytest.raises(UnavailableError) as caught:
        p.publish(post, key="e500")
    assert caught.value.retryable
    assert server.records == {}


def test_a_timeout_is_retryable(server: FakeBluesky) -> None:
    p = publisher(server, timeout="300ms")
    p.check()
    server.fail("POST", CREATE, Fault(delay=2.0, status=502))
    server.fail("GET", GET, Fault(delay=2.0, status=502))
    with pytest.raises(UnavailableError) as caught:
        p.publish(p.render(item(), spec()), key="slow")
    assert "timed out" in caught.value.message


def test_rate_limit_says_when_to_come_back(server: FakeBluesky) -> None:
    p = publisher(server)
    reset = int(datetime.now(UTC).timestamp()) + 90
    server.fail(
        "POST",
        CREATE,
        Fault(
            status=429,
            body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
            },
        ),
    )
    with pytest.raises(RateLimitedError) as caught:
        p.publish(p.render(item(), spec()), key="slow-down")
    assert caught.value.retry_after is not None
    assert 80 < caught.value.retry_after <= 91


def test_a_wrong_password_is_an_auth_error(server: FakeBluesky) -> None:
    p = BlueskyPublisher(
        name="ville_bluesky", handle=HANDLE, app_password="wrong-pass-word-0000", api_url=server.url
    )
    with pytest.raises(AuthError) as caught:
        p.publish(p.render(item(), spec()), key="k")
    assert "Invalid identifier or password" in caught.value.message
    assert "wrong-pass-word-0000" not in str(caught.value)


def test_an_emailed_code_asked_at_login_is_an_auth_error(server: FakeBluesky) -> None:
    server.fail(
        "POST",
        SESSION,
        Fault(
            status=401,
            body={"error": "AuthFactorTokenRequired", "message": "A sign in code has been sent"},
        ),
    )
    with pytest.raises(AuthError, match="app password"):
        publisher(server).check()


def test_a_refused_post_says_why(server: FakeBluesky) -> None:
    p = publisher(server)
    too_long = Post(account="ville_bluesky", text="é" * 301, link=LINK, language="fr")
    with pytest.raises(RejectedError) as caught:
        p.publish(too_long, key="long")
    assert "grapheme too big (maximum 300, got 301)" in caught.value.message
    assert not caught.value.retryable


def test_find_raises_when_it_cannot_tell(server: FakeBluesky) -> None:
    p = publisher(server)
    post = p.render(item(), spec())
    server.fail("GET", GET, Fault(status=502))
    with pytest.raises(UnavailableError):
        p.find(post, key="x")


# -- the session -----------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    opened = Storage.open(f"sqlite:///{tmp_path}/db")
    yield opened
    opened.close()


def test_the_session_is_reused_across_restarts(server: FakeBluesky, storage: Storage) -> None:
    first = publisher(server)
    first.attach_state(storage.account_state("ville_bluesky"))
    first.publish(first.render(item("Un"), spec()), key="one")
    first.close()
    second = publisher(server)  # a restart: a new publisher, the same database
    second.attach_state(storage.account_state("ville_bluesky"))
    second.publish(second.render(item("Deux"), spec()), key="two")
    assert second.find(second.render(item("Un"), spec()), key="one") is not None
    assert server.sessions_created == 1
    assert len(server.records) == 2
    stored = storage.account_state("ville_bluesky").get("session") or ""
    assert APP_PASSWORD not in stored


def test_a_revoked_session_is_replaced_by_one_new_login(
    server: FakeBluesky, storage: Storage
) -> None:
    p = publisher(server)
    p.attach_state(storage.account_state("ville_bluesky"))
    p.publish(p.render(item("Un"), spec()), key="one")
    server.revoke_sessions()  # e.g. the app password was changed and set again
    later = publisher(server)
    later.attach_state(storage.account_state("ville_bluesky"))
    later.publish(later.render(item("Deux"), spec()), key="two")
    assert server.sessions_created == 2
    assert len(server.records) == 2


def test_an_access_token_near_its_end_is_refreshed_and_kept(
    server: FakeBluesky, storage: Storage
) -> None:
    server.access_ttl = 60  # the SDK refreshes 15 minutes before the end
    p = publisher(server)
    state = storage.account_state("ville_bluesky")
    p.attach_state(state)
    p.check()
    before = state.get("session")
    p.publish(p.render(item(), spec()), key="refresh")
    assert server.sessions_refreshed >= 1
    assert state.get("session") != before
    assert server.sessions_created == 1


def test_logins_are_rate_limited_like_bsky_social(server: FakeBluesky) -> None:
    server.session_limit = 0
    with pytest.raises(RateLimitedError) as caught:
        publisher(server).check()
    assert caught.value.retry_after is not None
    assert 250 < caught.value.retry_after <= 301


def test_no_secret_in_logs_or_errors(
    server: FakeBluesky, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    p = publisher(server)
    p.attach_state(storage.account_state("ville_bluesky"))
    with caplog.at_level(logging.DEBUG):
        p.publish(p.render(item(), spec()), key="quiet")
        server.revoke_sessions()
        server.fail("POST", SESSION, Fault(status=500))
        with pytest.raises(PublishError) as caught:
            p.publish(p.render(item("Autre"), spec()), key="quiet-2")
    stored = storage.account_state("ville_bluesky").get("session")
    tokens = [APP_PASSWORD] + (stored.split(":::")[2:4] if stored else [])
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records) + str(caught.value)
    assert all(token not in text for token in tokens)


def test_check_names_the_account(server: FakeBluesky) -> None:
    info = publisher(server).check()
    assert info.name == f"@{HANDLE}"
    assert info.details["did"] == DID
    assert "warning" in info.details  # the fake's password is not shaped like an app password
