"""The X publisher through tweepy against the X double on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from autoposter.errors import AuthError, RateLimitedError, RejectedError, UnavailableError
from autoposter.publishers import options_of
from autoposter.publishers.x import LIMIT, XPublisher, weighted_length
from autoposter.storage import Storage
from autoposter.types import Image, Item, Post, PostSpec
from tests.fakes import x as fx
from tests.fakes.apiserver import ApiRequest, ApiResponse, ApiServer, Fault

SPEC = PostSpec(feed="actus", account="ville_x", template="{title}\n\n{link}", language="fr")
LINK = "https://www.exempleville.fr/actualites/conseil-municipal-du-2-decembre"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class ImageServer(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.route(
            "GET", r"/img\.png", lambda _r: ApiResponse(200, PNG, {"Content-Type": "image/png"})
        )
        self.route("GET", r"/page\.html", self.page)

    @staticmethod
    def page(_request: ApiRequest) -> ApiResponse:
        return ApiResponse(200, b"<html></html>", {"Content-Type": "text/html"})


@pytest.fixture(scope="module")
def shared_server() -> Iterator[fx.FakeX]:
    with fx.FakeX() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def server(shared_server: fx.FakeX) -> fx.FakeX:
    """One double per module (stopping one takes half a second), emptied for each test."""
    shared_server.reset()
    return shared_server


def make(server: fx.FakeX, **options: object) -> XPublisher:
    defaults: dict[str, object] = {
        "consumer_key": fx.CONSUMER_KEY,
        "consumer_secret": fx.CONSUMER_SECRET,
        "access_token": fx.ACCESS_TOKEN,
        "access_token_secret": fx.ACCESS_TOKEN_SECRET,
        "api_url": server.url,
        "timeout": "5s",
    }
    built = XPublisher(name="ville_x", **{**defaults, **options})  # type: ignore[arg-type]
    # As ``http.allow_networks`` would: the test website is on another 127.0.0.1 port.
    built.attach_networks((ipaddress.ip_network("127.0.0.0/8"),))
    return built


@pytest.fixture
def publisher(server: fx.FakeX) -> Iterator[XPublisher]:
    p = make(server)
    yield p
    p.close()


def item(title: str = "Conseil municipal du 2 décembre", **kw: object) -> Item:
    return Item(key=kw.pop("key", "k1"), link=kw.pop("link", LINK), title=title, **kw)  # type: ignore[arg-type]


def test_config_keys_are_the_contract() -> None:
    required, optional = options_of(XPublisher)
    assert required == {"consumer_key", "consumer_secret", "access_token", "access_token_secret"}
    assert {
        "api_url",
        "timeout",
        "language",
        "template",
        "utm",
        "monthly_budget",
        "images",
    } <= optional


def test_posts_with_a_signed_oauth1_request(server: fx.FakeX, publisher: XPublisher) -> None:
    post = publisher.render(item(), SPEC)
    receipt = publisher.publish(post, key="d1")
    assert server.tweets == [{"id": receipt.remote_id, "text": post.text, "media_ids": []}]
    assert receipt.url == f"https://x.com/i/web/status/{receipt.remote_id}"
    header = server.requests_to("POST", r"/2/tweets")[0].headers["authorization"]
    for part in (
        "oauth_consumer_key=",
        "oauth_token=",
        'oauth_signature_method="HMAC-SHA1"',
        "oauth_signature=",
    ):
        assert part in header


def test_wrong_secret_is_an_auth_error_without_secrets(server: fx.FakeX) -> None:
    bad = make(server, consumer_secret="wrong-consumer-secret-000")
    with pytest.raises(AuthError) as caught:
        bad.publish(bad.render(item(), SPEC), key="d1")
    text = str(caught.value)
    assert "401" in text
    for secret in ("wrong-consumer-secret-000", fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET):
        assert secret not in text
    assert server.tweets == []


# -- rendering, golden ---------------------------------------------------------------


def test_golden_french() -> None:
    p = XPublisher(
        name="x", consumer_key="a", consumer_secret="b", access_token="c", access_token_secret="d"
    )
    post = p.render(item("Fête de la musique : l'été arrive à Exempleville !"), SPEC)
    assert post.text == f"Fête de la musique : l'été arrive à Exempleville !\n\n{LINK}"
    assert weighted_length(post.text) == 50 + 2 + 23


def test_golden_emoji_and_cjk_weights() -> None:
    assert weighted_length("🎉") == 2
    assert weighted_length("東京都") == 6
    assert weighted_length("é") == 1
    assert weighted_length(LINK) == 23
    p = XPublisher(
        name="x", consumer_key="a", consumer_secret="b", access_token="c", access_token_secret="d"
    )
    long_cjk = "市議会のお知らせ " * 40
    post = p.render(item(long_cjk.strip()), SPEC)
    assert weighted_length(post.text) <= LIMIT
    assert post.text.endswith("…\n\n" + LINK)
    # "…" weighs 2 on X: 13 whole words, then the 14th with the ellipsis.
    assert post.text == "市議会のお知らせ " * 13 + "市議会のお知らせ…\n\n" + LINK


def test_golden_very_long_title_is_cut_at_a_word_with_the_link_whole() -> None:
    p = XPublisher(
        name="x", consumer_key="a", consumer_secret="b", access_token="c", access_token_secret="d"
    )
    title = "Travaux de voirie rue de la République " * 12
    spec = PostSpec(
        feed="actus",
        account="x",
        template="{title} {hashtags}\n\n{link}",
        language="fr",
        hashtags=("voirie",),
    )
    post = p.render(item(title.strip()), spec)
    assert weighted_length(post.text) <= LIMIT
    head, link = post.text.split("\n\n")
    assert link == LINK
    assert head.endswith("…")
    assert "#Voirie" not in head
    assert title.startswith(head[:-1])


def test_utm_link_is_the_same_everywhere() -> None:
    p = XPublisher(
        name="ville_x",
        consumer_key="a",
        consumer_secret="b",
        access_token="c",
        access_token_secret="d",
        utm=True,
    )
    post = p.render(item(), SPEC)
    assert post.link == f"{LINK}?utm_source=ville_x&utm_medium=social&utm_campaign=actus"
    assert post.text.endswith(post.link)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(min_size=1, max_size=400).filter(lambda t: t.strip()),
    summary=st.text(max_size=600),
    path=st.from_regex(r"[a-z0-9\-/]{0,80}", fullmatch=True),
)
def test_property_never_over_the_limit_and_link_intact(title: str, summary: str, path: str) -> None:
    p = XPublisher(
        name="x", consumer_key="a", consumer_secret="b", access_token="c", access_token_secret="d"
    )
    link = f"https://www.exempleville.fr/{path}"
    spec = PostSpec(feed="f", account="x", template="{title}\n{summary}\n{link}", language="fr")
    post = p.render(Item(key="k", link=link, title=" ".join(title.split()), summary=summary), spec)
    assert weighted_length(post.text) <= LIMIT
    assert post.text.rstrip().endswith(link)
    assert post.link == link


# -- errors ----------------------------------------------------------------------------


def test_server_error_is_unavailable(server: fx.FakeX, publisher: XPublisher) -> None:
    server.fail("POST", r"/2/tweets", Fault(status=503, body={"title": "Service Unavailable"}))
    with pytest.raises(UnavailableError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert caught.value.retryable


def test_rate_limit_gives_seconds_until_reset(server: fx.FakeX, publisher: XPublisher) -> None:
    reset = int(time.time()) + 600
    server.fail(
        "POST",
        r"/2/tweets",
        Fault(
            status=429,
            body={"title": "Too Many Requests"},
            headers={"x-rate-limit-reset": str(reset)},
        ),
    )
    with pytest.raises(RateLimitedError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert caught.value.retry_after is not None
    assert 590 <= caught.value.retry_after <= 601


def test_text_too_long_for_x_is_rejected(publisher: XPublisher) -> None:
    post = Post(account="ville_x", text="a" * 281, link=LINK, language="fr")
    with pytest.raises(RejectedError) as caught:
        publisher.publish(post, key="d1")
    assert "too long" in str(caught.value)
    assert not caught.value.retryable


def test_read_only_app_is_an_auth_error(server: fx.FakeX, publisher: XPublisher) -> None:
    detail = (
        "Your client app is not configured with the appropriate oauth1 app permissions "
        "for this endpoint."
    )
    server.fail(
        "POST", r"/2/tweets", Fault(status=403, body={"title": "Forbidden", "detail": detail})
    )
    with pytest.raises(AuthError):
        publisher.publish(publisher.render(item(), SPEC), key="d1")


def test_timeout_is_unavailable_and_bounded(server: fx.FakeX) -> None:
    p = make(server, timeout="300ms")
    server.fail("POST", r"/2/tweets", Fault(delay=3))
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        p.publish(p.render(item(), SPEC), key="d1")
    assert time.monotonic() - started < 2.5


def test_duplicate_answer_returns_the_existing_post(
    server: fx.FakeX, publisher: XPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    first = publisher.publish(post, key="d1")
    again = publisher.publish(post, key="d1")
    assert again == first
    assert len(server.tweets) == 1


def test_duplicate_not_found_returns_a_duplicate_receipt(
    server: fx.FakeX, publisher: XPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    publisher.publish(post, key="d1")
    server.fail(
        "GET", r"/2/users/\d+/tweets", Fault(status=200, body={"meta": {"result_count": 0}})
    )
    receipt = publisher.publish(post, key="d1")
    assert receipt.remote_id == "duplicate"
    assert receipt.url is None


def test_dropped_connection_after_post_then_find_by_link(
    server: fx.FakeX, publisher: XPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    server.fail("POST", r"/2/tweets", Fault(after=True))
    with pytest.raises(UnavailableError):
        publisher.publish(post, key="d1")
    assert len(server.tweets) == 1
    found = publisher.find(post, key="d1")
    assert found is not None
    assert found.remote_id == server.tweets[0]["id"]
    other = publisher.render(item("Autre chose", link="https://www.exempleville.fr/autre"), SPEC)
    assert publisher.find(other, key="d2") is None


def test_check_says_who_and_the_limit(publisher: XPublisher) -> None:
    info = publisher.check()
    assert info.name == f"@{fx.USERNAME}"
    assert "280" in info.details["limit"]


# -- monthly budget ----------------------------------------------------------------------


def test_monthly_budget_stops_at_the_limit(server: fx.FakeX, tmp_path: Path) -> None:
    storage = Storage.open(f"sqlite:///{tmp_path}/db")
    try:
        p = make(server, monthly_budget=0.5)
        p.attach_state(storage.account_state("x"))
        p.now = lambda: datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
        for n in range(2):
            p.publish(p.render(item(f"Article {n}", link=f"{LINK}/{n}"), SPEC), key=f"d{n}")
        with pytest.raises(RateLimitedError) as caught:
            p.publish(p.render(item("Article 3", link=f"{LINK}/3"), SPEC), key="d3")
        assert str(caught.value).startswith("ville_x: monthly budget of $0.5 reached")
        assert caught.value.retry_after == 3600
        assert len(server.tweets) == 2
        # A text-only post costs $0.015: 0.40 + 0.015 fits in 0.50 (and is counted).
        text_only = PostSpec(feed="actus", account="ville_x", template="{title}", language="fr")
        p.publish(p.render(item("Fermeture de la mairie samedi"), text_only), key="d4")
        assert storage.account_state("x").get("spend:2026-11") == "415"
        # The count survives a restart; a new month starts from zero.
        again = make(server, monthly_budget=0.5)
        again.attach_state(storage.account_state("x"))
        again.now = lambda: datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
        with pytest.raises(RateLimitedError):
            again.publish(again.render(item("Article 5", link=f"{LINK}/5"), SPEC), key="d5")
        again.now = lambda: datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
        again.publish(again.render(item("Article 5", link=f"{LINK}/5"), SPEC), key="d5")
        assert storage.account_state("x").get("spend:2026-12") == "200"
    finally:
        storage.close()


def test_refused_post_is_not_counted(server: fx.FakeX) -> None:
    p = make(server, monthly_budget=1)
    server.fail("POST", r"/2/tweets", Fault(status=400, body={"detail": "Invalid Request"}))
    with pytest.raises(RejectedError):
        p.publish(p.render(item(), SPEC), key="d1")
    assert p._spent(f"spend:{datetime.now(UTC):%Y-%m}") == 0


# -- media -------------------------------------------------------------------------------


def test_image_with_alt_text_is_uploaded_with_it(server: fx.FakeX) -> None:
    with ImageServer() as images:
        p = make(server)
        image = Image(url=f"{images.url}/img.png", alt="La façade de la mairie")
        post = p.render(item(image=image), SPEC)
        p.publish(post, key="d1")
    (tweet,) = server.tweets
    (media_id,) = tweet["media_ids"]
    upload = server.uploads[media_id]
    assert upload.finalized
    assert bytes(upload.data) == PNG
    assert upload.alt == "La façade de la mairie"


def test_image_without_alt_is_left_out_unless_asked(server: fx.FakeX) -> None:
    image = Image(url="http://127.0.0.1:9/img.png")
    assert make(server).render(item(image=image), SPEC).image is None
    assert make(server, images="always").render(item(image=image), SPEC).image == image
    assert (
        make(server, images="never").render(item(image=Image(image.url, "alt")), SPEC).image is None
    )


def test_image_that_is_not_an_image_is_skipped(server: fx.FakeX) -> None:
    with ImageServer() as images:
        p = make(server)
        post = p.render(item(image=Image(url=f"{images.url}/page.html", alt="x")), SPEC)
        p.publish(post, key="d1")
    assert server.tweets[0]["media_ids"] == []
    assert server.uploads == {}


def test_bad_options_are_refused() -> None:
    keys = {
        "consumer_key": "a",
        "consumer_secret": "b",
        "access_token": "c",
        "access_token_secret": "d",
    }
    with pytest.raises(ValueError, match="images"):
        XPublisher(name="x", images="sometimes", **keys)
    with pytest.raises(ValueError, match="monthly_budget"):
        XPublisher(name="x", monthly_budget=-1, **keys)
    with pytest.raises(ValueError, match="template"):
        XPublisher(name="x", template="{titel}", **keys)
    with pytest.raises(ValueError, match="consumer_key"):
        XPublisher(name="x", **{**keys, "consumer_key": ""})
