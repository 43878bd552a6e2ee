"""The LinkedIn page publisher over HTTP against the Posts API double."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from autoposter.errors import AuthError, RateLimitedError, RejectedError, UnavailableError
from autoposter.publishers import options_of
from autoposter.publishers.linkedin import LIMIT, LinkedInPublisher, little, safe_url
from autoposter.types import Item, PostSpec
from tests.fakes import linkedin as fl
from tests.fakes.apiserver import Fault

SPEC = PostSpec(
    feed="actus",
    account="ville_li",
    template="{title} {hashtags}\n\n{summary}\n\n{link}",
    language="fr",
    hashtags=("conseil municipal", "Exempleville"),
)
LINK = "https://www.exempleville.fr/actualites/budget-2026"
POSTS = r"/rest/posts"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[fl.FakeLinkedIn]:
    with fl.FakeLinkedIn() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def server(shared_server: fl.FakeLinkedIn) -> fl.FakeLinkedIn:
    """One double per module (stopping one takes half a second), emptied for each test."""
    shared_server.reset()
    return shared_server


def make(server: fl.FakeLinkedIn, **options: object) -> LinkedInPublisher:
    defaults: dict[str, object] = {
        "organization_id": fl.ORGANIZATION_ID,
        "access_token": fl.TOKEN,
        "api_url": server.url,
        "timeout": "5s",
    }
    return LinkedInPublisher(name="ville_li", **{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture
def publisher(server: fl.FakeLinkedIn) -> Iterator[LinkedInPublisher]:
    p = make(server)
    yield p
    p.close()


def item(title: str = "Budget 2026 (vote) : les priorités #3 de la ville", **kw: str) -> Item:
    return Item(
        key="k1",
        link=kw.get("link", LINK),
        title=title,
        summary=kw.get("summary", "Écoles, voirie & *solidarité* : 12 M€ [détail] <3 ici> ~ fin_"),
    )


def test_config_keys_are_the_contract() -> None:
    required, optional = options_of(LinkedInPublisher)
    assert required == {"organization_id", "access_token"}
    assert {
        "token_expires",
        "linkedin_version",
        "api_url",
        "timeout",
        "language",
        "template",
        "utm",
    } <= optional


def test_post_shape_headers_and_urn(server: fl.FakeLinkedIn, publisher: LinkedInPublisher) -> None:
    post = publisher.render(item(), SPEC)
    receipt = publisher.publish(post, key="d1")
    (request,) = server.requests_to("POST", POSTS)
    assert request.headers["authorization"] == f"Bearer {fl.TOKEN}"
    assert request.headers["linkedin-version"] == "202607"
    assert request.headers["x-restli-protocol-version"] == "2.0.0"
    body = request.json()
    assert body["author"] == fl.AUTHOR
    assert body["visibility"] == "PUBLIC"
    assert body["distribution"] == {
        "feedDistribution": "MAIN_FEED",
        "targetEntities": [],
        "thirdPartyDistributionChannels": [],
    }
    assert body["lifecycleState"] == "PUBLISHED"
    assert body["isReshareDisabledByAuthor"] is False
    assert body["content"]["article"]["source"] == LINK
    assert body["content"]["article"]["title"] == item().title
    assert receipt.remote_id == server.posts[0]["id"]
    assert receipt.url == f"https://www.linkedin.com/feed/update/{receipt.remote_id}"


def test_commentary_is_shown_whole(server: fl.FakeLinkedIn, publisher: LinkedInPublisher) -> None:
    """Every reserved character escaped: LinkedIn shows the text as meant, not cut."""
    post = publisher.render(item(), SPEC)
    publisher.publish(post, key="d1")
    assert server.posts[0]["displayed"] == post.text
    assert "{hashtag|\\#|ConseilMunicipal}" in server.posts[0]["commentary"]


def test_unescaped_text_would_have_been_cut() -> None:
    """The double cuts as LinkedIn does, so the test above means something."""
    assert fl.displayed("Budget (vote) fin") == "Budget "


def test_golden_french() -> None:
    p = LinkedInPublisher(name="li", organization_id="1", access_token="tok")
    post = p.render(item(), SPEC)
    assert post.text == (
        "Budget 2026 (vote) : les priorités #3 de la ville #ConseilMunicipal #Exempleville\n\n"
        "Écoles, voirie & *solidarité* : 12 M€ [détail] <3 ici> ~ fin_\n\n" + LINK
    )
    assert post.extra["commentary"] == (
        "Budget 2026 \\(vote\\) : les priorités \\#3 de la ville "
        "{hashtag|\\#|ConseilMunicipal} {hashtag|\\#|Exempleville}\n\n"
        "Écoles, voirie & \\*solidarité\\* : 12 M€ \\[détail\\] \\<3 ici\\> \\~ fin\\_\n\n" + LINK
    )


def test_golden_links_keep_underscores_and_lose_parentheses() -> None:
    assert safe_url("https://a.fr/x_(y)?utm_source=li") == "https://a.fr/x_%28y%29?utm_source=li"
    p = LinkedInPublisher(name="ville_li", organization_id="1", access_token="tok", utm=True)
    post = p.render(item(link="https://www.exempleville.fr/agenda/fete_(ete)"), SPEC)
    assert post.link == (
        "https://www.exempleville.fr/agenda/fete_%28ete%29"
        "?utm_source=ville_li&utm_medium=social&utm_campaign=actus"
    )
    assert post.extra["commentary"].endswith("\n\n" + post.link)
    assert fl.displayed(post.extra["commentary"]) == post.text


def test_golden_emoji_cjk_and_long_title() -> None:
    p = LinkedInPublisher(name="li", organization_id="1", access_token="tok")
    spec = PostSpec(feed="f", account="li", template="{title}\n\n{link}", language="ja")
    post = p.render(item("市議会 🎉 " * 1000, summary=""), spec)
    assert len(post.extra["commentary"]) <= LIMIT
    assert post.text.endswith("…\n\n" + LINK)
    assert len(post.title) <= 400


@settings(max_examples=60, deadline=None)
@given(title=st.text(min_size=1, max_size=3000), summary=st.text(max_size=3000))
def test_property_never_over_the_limit_link_intact_nothing_cut(title: str, summary: str) -> None:
    p = LinkedInPublisher(name="li", organization_id="1", access_token="tok")
    post = p.render(Item(key="k", link=LINK, title=title, summary=summary), SPEC)
    commentary = post.extra["commentary"]
    assert len(commentary) <= LIMIT
    assert commentary.endswith(LINK)
    assert fl.displayed(commentary) == post.text


def test_invalid_token_is_an_auth_error(server: fl.FakeLinkedIn) -> None:
    p = make(server, access_token="AQVwrong")
    with pytest.raises(AuthError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert "401" in str(caught.value)
    assert "AQVwrong" not in str(caught.value)


def test_missing_write_scope_is_an_auth_error(server: fl.FakeLinkedIn) -> None:
    p = make(server, access_token=fl.READ_ONLY_TOKEN)
    with pytest.raises(AuthError, match="w_organization_social"):
        p.publish(p.render(item(), SPEC), key="d1")


def test_invalid_post_is_rejected(server: fl.FakeLinkedIn, publisher: LinkedInPublisher) -> None:
    server.fail(
        "POST", POSTS, Fault(status=422, body={"status": 422, "message": "/commentary :: invalid"})
    )
    with pytest.raises(RejectedError):
        publisher.publish(publisher.render(item(), SPEC), key="d1")


def test_rate_limit(server: fl.FakeLinkedIn, publisher: LinkedInPublisher) -> None:
    server.fail(
        "POST",
        POSTS,
        Fault(
            status=429,
            body={"status": 429, "message": "Too Many Requests"},
            headers={"Retry-After": "60"},
        ),
    )
    with pytest.raises(RateLimitedError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert caught.value.retry_after == 60


def test_server_error_is_unavailable(server: fl.FakeLinkedIn, publisher: LinkedInPublisher) -> None:
    server.fail(
        "POST", POSTS, Fault(status=503, body={"status": 503, "message": "Service Unavailable"})
    )
    with pytest.raises(UnavailableError):
        publisher.publish(publisher.render(item(), SPEC), key="d1")


def test_dropped_connection_after_post_then_find_by_link(
    server: fl.FakeLinkedIn, publisher: LinkedInPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    server.fail("POST", POSTS, Fault(after=True))
    with pytest.raises(UnavailableError):
        publisher.publish(post, key="d1")
    assert len(server.posts) == 1
    found = publisher.find(post, key="d1")
    assert found is not None
    assert found.remote_id == server.posts[0]["id"]
    assert (
        publisher.find(publisher.render(item(link="https://www.exempleville.fr/x"), SPEC), key="d2")
        is None
    )


def test_duplicate_answer_is_read_as_already_posted(
    server: fl.FakeLinkedIn, publisher: LinkedInPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    first = publisher.publish(post, key="d1")
    assert publisher.publish(post, key="d1") == first
    assert len(server.posts) == 1


def test_token_expiry_warns_then_stops(
    server: fl.FakeLinkedIn, caplog: pytest.LogCaptureFixture
) -> None:
    p = make(server, token_expires="2026-12-05")
    p.today = lambda: date(2026, 11, 30)
    with caplog.at_level(logging.WARNING, logger="autoposter"):
        info = p.check()
        p.publish(p.render(item(), SPEC), key="d1")
    warnings = [r for r in caplog.records if r.getMessage() == "token-expiring"]
    assert len(warnings) == 2
    assert warnings[0].fields["expires"] == "2026-12-05"  # type: ignore[attr-defined]
    assert info.details["token expires"] == "2026-12-05"
    p.today = lambda: date(2026, 12, 6)
    before = len(server.requests)
    with pytest.raises(AuthError, match="expired"):
        p.publish(p.render(item(), SPEC), key="d2")
    assert len(server.requests) == before  # LinkedIn not even called


def test_check_names_the_organization(publisher: LinkedInPublisher) -> None:
    assert publisher.check().name == fl.ORGANIZATION_NAME


def test_little_text_escapes_every_reserved_character() -> None:
    assert little("\\ | { } @ [ ] ( ) < > # * _ ~") == (
        "\\\\ \\| \\{ \\} \\@ \\[ \\] \\( \\) \\< \\> \\# \\* \\_ \\~"
    )


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="organization_id"):
        LinkedInPublisher(name="li", organization_id="ville", access_token="tok")
    with pytest.raises(ValueError, match="token_expires"):
        LinkedInPublisher(name="li", organization_id="1", access_token="tok", token_expires="soon")
    with pytest.raises(ValueError, match="linkedin_version"):
        LinkedInPublisher(name="li", organization_id="1", access_token="tok", linkedin_version="v2")
