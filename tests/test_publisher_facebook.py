"""The Facebook Page publisher through facebook-sdk against the Graph API double."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import facebook
import pytest
from hypothesis import given, settings, strategies as st

from autoposter.errors import AuthError, RateLimitedError, RejectedError, UnavailableError
from autoposter.publishers import options_of
from autoposter.publishers.facebook import LIMIT, FacebookPublisher
from autoposter.types import Item, Post, PostSpec
from tests.fakes import facebook as ff
from tests.fakes.apiserver import Fault

SPEC = PostSpec(
    feed="actus", account="ville_fb", template="{title}\n\n{summary}\n\n{link}", language="fr"
)
LINK = "https://www.exempleville.fr/actualites/marche-de-noel"
FEED = r"/v21\.0/\d+/feed"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ff.FakeFacebook]:
    with ff.FakeFacebook() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def server(shared_server: ff.FakeFacebook) -> ff.FakeFacebook:
    """One double per module (stopping one takes half a second), emptied for each test."""
    shared_server.reset()
    return shared_server


def make(server: ff.FakeFacebook, **options: object) -> FacebookPublisher:
    defaults: dict[str, object] = {
        "page_id": ff.PAGE_ID,
        "access_token": ff.PAGE_TOKEN,
        "api_url": server.url,
        "timeout": "5s",
    }
    return FacebookPublisher(name="ville_fb", **{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture
def publisher(server: ff.FakeFacebook) -> Iterator[FacebookPublisher]:
    p = make(server)
    yield p
    p.close()


def item(title: str = "Marché de Noël : 40 exposants place de l'Église", **kw: object) -> Item:
    return Item(
        key="k1",
        link=str(kw.pop("link", LINK)),
        title=title,
        summary=str(kw.pop("summary", "Du 6 au 24 décembre, vin chaud et artisans 🎄.")),
    )


def test_config_keys_are_the_contract() -> None:
    required, optional = options_of(FacebookPublisher)
    assert required == {"page_id", "access_token"}
    assert {"graph_version", "api_url", "timeout", "language", "template", "utm"} <= optional


def test_link_post_with_the_page_token(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    receipt = publisher.publish(post, key="d1")
    (request,) = server.requests_to("POST", FEED)
    form = request.form()
    assert form["access_token"] == [ff.PAGE_TOKEN]
    assert form["message"] == [post.text]
    assert form["link"] == [LINK]
    assert request.path == f"/v21.0/{ff.PAGE_ID}/feed"
    assert receipt.remote_id == server.posts[0]["id"]
    assert receipt.url == f"https://www.facebook.com/{receipt.remote_id}"


def test_the_sdk_global_is_left_alone(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert facebook.FACEBOOK_GRAPH_URL == "https://graph.facebook.com/"


def test_graph_version_is_configurable(server: ff.FakeFacebook) -> None:
    p = make(server, graph_version="22.0")
    p.publish(p.render(item(), SPEC), key="d1")
    assert server.requests[-1].path == f"/v22.0/{ff.PAGE_ID}/feed"
    with pytest.raises(ValueError, match="graph_version"):
        make(server, graph_version="latest")


def test_golden_french_with_emoji(publisher: FacebookPublisher) -> None:
    post = publisher.render(item(), SPEC)
    assert post.text == (
        "Marché de Noël : 40 exposants place de l'Église\n\n"
        "Du 6 au 24 décembre, vin chaud et artisans 🎄.\n\n" + LINK
    )
    assert post.link == LINK


def test_golden_very_long_text_is_capped(publisher: FacebookPublisher) -> None:
    post = publisher.render(item("Titre", summary="mot " * 20_000), SPEC)
    assert len(post.text) <= LIMIT
    assert post.text.endswith("…\n\n" + LINK)


@settings(max_examples=40, deadline=None)
@given(title=st.text(min_size=1, max_size=200), summary=st.text(max_size=70_000))
def test_property_never_over_the_limit_and_link_intact(title: str, summary: str) -> None:
    p = FacebookPublisher(name="fb", page_id="1", access_token="tok")
    post = p.render(Item(key="k", link=LINK, title=title, summary=summary), SPEC)
    assert len(post.text) <= LIMIT
    assert post.text.endswith(LINK)


def test_invalid_token_is_an_auth_error(server: ff.FakeFacebook) -> None:
    p = make(server, access_token="EAAwrongToken")
    with pytest.raises(AuthError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert "190" in str(caught.value)
    assert "EAAwrongToken" not in str(caught.value)


def test_server_error_is_unavailable(server: ff.FakeFacebook, publisher: FacebookPublisher) -> None:
    server.fail(
        "POST",
        FEED,
        Fault(status=500, body={"error": {"message": "An unknown error occurred", "code": 1}}),
    )
    with pytest.raises(UnavailableError):
        publisher.publish(publisher.render(item(), SPEC), key="d1")


def test_answer_without_content_type_is_unavailable_not_a_crash(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    server.fail(
        "POST", FEED, Fault(status=502, body="Bad Gateway", headers={"Content-Type": "text/html"})
    )
    with pytest.raises(UnavailableError):
        publisher.publish(publisher.render(item(), SPEC), key="d1")


def test_rate_limit_reads_the_usage_header(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    usage = {
        ff.PAGE_ID: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]
    }
    server.fail(
        "POST",
        FEED,
        Fault(
            status=400,
            body={"error": {"message": "(#32) Page request limit reached", "code": 32}},
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        ),
    )
    with pytest.raises(RateLimitedError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert caught.value.retry_after == 7 * 60


def test_invalid_parameter_is_rejected(publisher: FacebookPublisher) -> None:
    post = Post(account="ville_fb", text="x", link="ftp://not-a-web-link", language="fr")
    with pytest.raises(RejectedError) as caught:
        publisher.publish(post, key="d1")
    assert "100" in str(caught.value)


def test_network_error_names_no_token(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    server.fail("GET", FEED, Fault(drop=True))
    with pytest.raises(UnavailableError) as caught:
        publisher.find(publisher.render(item(), SPEC), key="d1")
    assert ff.PAGE_TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None


def test_timeout_is_bounded(server: ff.FakeFacebook) -> None:
    p = make(server, timeout="300ms")
    server.fail("POST", FEED, Fault(delay=3))
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        p.publish(p.render(item(), SPEC), key="d1")
    assert time.monotonic() - started < 2.5


def test_dropped_connection_after_post_then_find_by_link(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    server.fail("POST", FEED, Fault(after=True))
    with pytest.raises(UnavailableError):
        publisher.publish(post, key="d1")
    assert len(server.posts) == 1
    found = publisher.find(post, key="d1")
    assert found is not None
    assert found.remote_id == server.posts[0]["id"]
    (read,) = server.requests_to("GET", FEED)
    assert "link" not in read.query["fields"][0].split(",")  # removed from page posts in v3.3
    other = publisher.render(item(link="https://www.exempleville.fr/autre"), SPEC)
    assert publisher.find(other, key="d2") is None


def test_duplicate_status_is_read_as_already_posted(
    server: ff.FakeFacebook, publisher: FacebookPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    first = publisher.publish(post, key="d1")
    again = publisher.publish(post, key="d1")
    assert again.remote_id == first.remote_id
    assert len(server.posts) == 1


def test_check_names_the_page(publisher: FacebookPublisher) -> None:
    info = publisher.check()
    assert info.name == ff.PAGE_NAME
    assert info.details["graph_version"] == "v21.0"


def test_page_id_must_be_numeric() -> None:
    with pytest.raises(ValueError, match="page_id"):
        FacebookPublisher(name="fb", page_id="mairie-exempleville", access_token="tok")


def test_deleting_a_post_already_gone_is_gone_and_pauses_nothing(
    publisher: FacebookPublisher,
) -> None:
    # After a crash, the deletion made before it is asked for again: the Graph API then
    # answers error 100, subcode 33, "does not exist", which must not read as a Page
    # the token cannot see.
    from autoposter.types import Removal, SentPost

    post = publisher.render(item(), SPEC)
    receipt = publisher.publish(post, key="d1")
    sent = SentPost(
        account="ville_fb",
        remote_id=receipt.remote_id,
        url=receipt.url,
        key="d1",
        sent_at=None,
        link=post.link,
        title=post.title,
    )
    assert publisher.delete(sent) is Removal.DELETED
    assert publisher.delete(sent) is Removal.GONE
