"""The Threads publisher over HTTP against the Graph API for Threads double."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoposter.errors import (
    AuthError,
    BudgetExceededError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from autoposter.publishers import options_of, writer_for
from autoposter.publishers.threads import (
    LIMIT,
    ThreadsPublisher,
    links,
    text_length,
    topic_tag,
)
from autoposter.storage import Storage
from autoposter.types import AccountStore, Image, Item, Post, PostSpec, Removal, SentPost
from tests.fakes import threads as ft
from tests.fakes.apiserver import Fault
from tests.test_dispatch import Alerts, Clock, dispatch, make_config, queue, states

SPEC = PostSpec(
    feed="actus",
    account="ville_threads",
    template="{title} {hashtags}\n\n{summary}\n\n{link}",
    language="fr",
    hashtags=("conseil municipal", "Exempleville"),
)
LINK = "https://www.exempleville.fr/actualites/budget-2026"
CONTAINERS = rf"/v1\.0/{ft.USER_ID}/threads"
PUBLISH = rf"/v1\.0/{ft.USER_ID}/threads_publish"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ft.FakeThreads]:
    with ft.FakeThreads() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def server(shared_server: ft.FakeThreads) -> ft.FakeThreads:
    """One double per module (stopping one takes half a second), emptied for each test."""
    shared_server.reset()
    return shared_server


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with Storage.open(f"sqlite:///{tmp_path}/autoposter.db") as s:
        yield s


def make(
    server: ft.FakeThreads,
    *,
    name: str = "ville_threads",
    state: AccountStore | None = None,
    clock: Clock | None = None,
    **options: object,
) -> ThreadsPublisher:
    defaults: dict[str, object] = {
        "user_id": ft.USER_ID,
        "access_token": ft.TOKEN,
        "api_url": server.url,
        "timeout": "5s",
    }
    p = ThreadsPublisher(name=name, **{**defaults, **options})  # type: ignore[arg-type]
    p.sleep = lambda _seconds: None
    if clock is not None:
        p.now = clock
    if state is not None:
        p.attach_state(state)
    return p


@pytest.fixture
def publisher(server: ft.FakeThreads) -> Iterator[ThreadsPublisher]:
    p = make(server)
    yield p
    p.close()


def item(**kw: object) -> Item:
    return Item(
        key="k1",
        link=str(kw.get("link", LINK)),
        title=str(kw.get("title", "Budget 2026 : les priorités de la ville")),
        summary=str(kw.get("summary", "Écoles, voirie et solidarité : 12 M€ d'investissements.")),
        image=kw.get("image"),  # type: ignore[arg-type]
    )


def container_fields(server: ft.FakeThreads) -> list[dict[str, str]]:
    return [
        {k: v[0] for k, v in r.form().items() if k != "access_token"}
        for r in server.requests_to("POST", CONTAINERS)
    ]


# -- configuration and writing ------------------------------------------------------------


def test_config_keys_are_the_contract() -> None:
    required, optional = options_of(ThreadsPublisher)
    assert required == {"user_id", "access_token"}
    assert optional == {
        "refresh_after",
        "api_url",
        "timeout",
        "language",
        "template",
        "utm",
        "images",
    }


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"user_id": "ville"}, "user_id"),
        ({"refresh_after": "2h"}, "refresh_after"),
        ({"refresh_after": "soon"}, "refresh_after"),
        ({"images": "sometimes"}, "images"),
    ],
)
def test_wrong_options_name_their_key(
    server: ft.FakeThreads, options: dict[str, object], key: str
) -> None:
    with pytest.raises(ValueError, match=key):
        make(server, **options)


def test_meta_counts_emoji_as_their_bytes_and_links_once() -> None:
    assert text_length("Conseil municipal") == 17
    assert text_length("Fête 🎉") == 5 + 4
    assert text_length("Famille 👨‍👩‍👧") == 8 + len("👨‍👩‍👧".encode())
    assert links(f"Voir {LINK} et {LINK}", LINK) == {LINK}
    assert topic_tag(("conseil municipal",)) == "ConseilMunicipal"
    assert topic_tag(("Sport & loisirs",)) == "SportLoisirs"
    assert topic_tag(()) is None


def test_the_writer_renders_without_a_token() -> None:
    writer = writer_for("ville_threads", "threads", {"user_id": ft.USER_ID, "images": "never"})
    post = writer.render(item(image=Image("https://www.exempleville.fr/a.jpg", "Le parvis")), SPEC)
    assert post.image is None
    assert post.extra["card"] == f"link: {LINK}"
    assert post.extra["topic_tag"] == "ConseilMunicipal"


def test_a_long_text_is_cut_at_the_limit_with_its_link_intact(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    summary = "Le conseil a voté 🎉 le budget des écoles et de la voirie. " * 30
    post = publisher.render(item(summary=summary), SPEC)
    assert text_length(post.text) <= LIMIT < text_length(summary)
    assert post.text.endswith(LINK)
    assert "…" in post.text
    receipt = publisher.publish(post, key="k")
    (sent,) = server.posts
    assert sent["text"] == post.text
    assert receipt.remote_id == sent["id"]


def test_a_text_naming_more_than_five_links_is_shortened(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    summary = " ".join(f"https://www.exempleville.fr/doc/{i}" for i in range(6))
    post = publisher.render(item(summary=summary), SPEC)
    assert len(links(post.text, post.link)) <= 5
    assert LINK in post.text
    publisher.publish(post, key="k")
    assert len(server.posts) == 1


# -- posting -----------------------------------------------------------------------------


def test_a_post_with_a_link_card_and_topic_tag(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    receipt = publisher.publish(post, key="k")
    (fields,) = container_fields(server)
    assert fields == {
        "media_type": "TEXT",
        "text": post.text,
        "link_attachment": LINK,
        "topic_tag": "ConseilMunicipal",
    }
    (publish,) = server.requests_to("POST", PUBLISH)
    assert publish.form()["creation_id"] == list(server.containers)
    (sent,) = server.posts
    assert sent["link_attachment_url"] == LINK
    assert receipt.url == sent["permalink"]
    assert all(ft.TOKEN not in r.path for r in server.requests)


def test_an_image_with_alt_text_waits_for_its_container(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    server.in_progress_reads = 2
    waited: list[float] = []
    publisher.sleep = waited.append
    image = Image("https://www.exempleville.fr/parvis.jpg", "Le parvis de la mairie au soleil")
    post = publisher.render(item(image=image), SPEC)
    publisher.publish(post, key="k")
    (fields,) = container_fields(server)
    assert fields["media_type"] == "IMAGE"
    assert fields["image_url"] == image.url
    assert fields["alt_text"] == image.alt
    assert "link_attachment" not in fields, "Meta shows no link card on an image post"
    assert LINK in fields["text"]
    assert waited == [1.0, 2.0], "read again while IN_PROGRESS, then published"
    assert server.posts[0]["media_type"] == "IMAGE"


def test_an_image_without_alt_text_is_left_out_by_default(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    post = publisher.render(item(image=Image("https://www.exempleville.fr/a.jpg")), SPEC)
    publisher.publish(post, key="k")
    assert [f["media_type"] for f in container_fields(server)] == ["TEXT"]


def test_an_image_meta_cannot_use_leaves_a_text_post(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    image = Image("https://www.exempleville.fr/gone.jpg", "Une photo")
    server.broken_images.add(image.url)
    publisher.publish(publisher.render(item(image=image), SPEC), key="k")
    assert [f["media_type"] for f in container_fields(server)] == ["IMAGE", "TEXT"]
    assert server.posts[0]["link_attachment_url"] == LINK


def test_a_container_never_ready_is_not_maybe_posted(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    server.in_progress_reads = 100
    with pytest.raises(UnavailableError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="k")
    assert caught.value.maybe_posted is False
    assert len(server.requests_to("GET", r"/v1\.0/\d+")) == 6, "bounded"
    assert server.posts == []


def test_meta_refusals_are_read(server: ft.FakeThreads, publisher: ThreadsPublisher) -> None:
    too_long = Post(account="ville_threads", text="x" * 501, link=LINK, language="fr")
    with pytest.raises(RejectedError, match="500 characters"):
        publisher.publish(too_long, key="k")
    many = " ".join(f"https://www.exempleville.fr/{i}" for i in range(6))
    with pytest.raises(RejectedError, match="more than 5 links"):
        publisher.publish(Post("ville_threads", many, LINK, "fr"), key="k")
    assert server.posts == []


def test_errors_are_mapped_and_never_show_the_token(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    server.fail("POST", CONTAINERS, Fault(status=503))
    with pytest.raises(UnavailableError) as unavailable:
        publisher.publish(post, key="k")
    assert unavailable.value.maybe_posted is False, "a container is harmless"
    server.fail("POST", PUBLISH, Fault(status=500))
    with pytest.raises(UnavailableError) as uncertain:
        publisher.publish(post, key="k")
    assert uncertain.value.maybe_posted is True, "the publish call is the commit point"
    limited = {"error": {"message": "Application request limit reached", "code": 4}}
    server.fail("POST", CONTAINERS, Fault(status=400, body=limited, headers={"Retry-After": "90"}))
    with pytest.raises(RateLimitedError) as rate:
        publisher.publish(post, key="k")
    assert rate.value.retry_after == 90
    echoed = {
        "error": {
            "message": f"Invalid OAuth access token - Cannot parse access token {ft.TOKEN}",
            "type": "OAuthException",
            "code": 190,
        }
    }
    server.fail("POST", CONTAINERS, Fault(status=400, body=echoed))
    with pytest.raises(AuthError) as refused:
        publisher.publish(post, key="k")
    assert ft.TOKEN not in str(refused.value)
    server.fail("POST", CONTAINERS, Fault(drop=True))
    with pytest.raises(UnavailableError) as dropped:
        publisher.publish(post, key="k")
    assert ft.TOKEN not in str(dropped.value)
    assert server.posts == []


def test_the_daily_quota_is_kept_before_meta_refuses(
    server: ft.FakeThreads, storage: Storage
) -> None:
    clock = Clock(T0)
    state = storage.account_state("ville_threads")
    now = T0.timestamp()
    state.set("published", json.dumps([now - 3600 * 23 + i for i in range(250)]))
    p = make(server, state=state, clock=clock)
    with pytest.raises(BudgetExceededError) as caught:
        p.publish(p.render(item(), SPEC), key="k")
    assert caught.value.retry_after == pytest.approx(3600, abs=2)
    assert server.requests_to("POST", CONTAINERS) == []
    clock.advance(hours=1, seconds=1)
    p.publish(p.render(item(), SPEC), key="k")
    assert len(server.posts) == 1
    p.close()


def test_meta_s_own_quota_refusal_is_a_rate_limit(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    for i in range(ft.QUOTA):
        server.posts.append({"id": str(i), "time": 1e12})
    with pytest.raises(RateLimitedError, match="maximum number of posts"):
        publisher.publish(publisher.render(item(), SPEC), key="k")


# -- finding, checking, tokens -----------------------------------------------------------


def test_find_looks_for_the_link_in_recent_threads(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    post = publisher.render(item(), SPEC)
    assert publisher.find(post, key="k") is None
    receipt = publisher.publish(post, key="k")
    assert publisher.find(post, key="k") == receipt
    (listing, _) = server.requests_to("GET", CONTAINERS)
    assert listing.query["fields"] == ["id,permalink,text,link_attachment_url,timestamp"]


def test_check_shows_the_profile_quota_and_token(
    server: ft.FakeThreads, publisher: ThreadsPublisher
) -> None:
    info = publisher.check()
    assert info.name == f"@{ft.USERNAME}"
    assert info.details["quota"] == "0/250 posts in 24 h"
    assert info.details["token expires"].startswith("unknown until the first refresh")
    server.revoke()
    with pytest.raises(AuthError):
        publisher.check()


def test_the_token_is_refreshed_and_kept_in_state(
    server: ft.FakeThreads, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    clock, state = Clock(T0), storage.account_state("ville_threads")
    p = make(server, state=state, clock=clock)
    p.publish(p.render(item(), SPEC), key="k1")
    assert server.refreshed == []
    stored = json.loads(state.get("token") or "")
    assert stored["token"] is None, "the configured token is not copied into the database"
    assert ft.TOKEN not in (state.get("token") or "")

    clock.advance(days=8)
    p.publish(p.render(item(link=LINK + "-2"), SPEC), key="k2")
    (refreshed,) = server.refreshed
    (call,) = server.requests_to("GET", r"/refresh_access_token")
    assert call.query["grant_type"] == ["th_refresh_token"]
    stored = json.loads(state.get("token") or "")
    assert stored["token"] == refreshed
    assert stored["expires"].startswith((T0 + timedelta(days=68)).date().isoformat())
    assert server.requests[-1].form().get("access_token") in ([refreshed], None)
    p.close()

    # A restart uses the refreshed token, even once Meta stops taking the first one.
    server.valid_tokens.discard(ft.TOKEN)
    again = make(server, state=state, clock=clock)
    assert again.check().details["token expires"] == (T0 + timedelta(days=68)).date().isoformat()

    # Refreshes that fail for 50 days bring the warning, then the refusal.
    server.fail("GET", r"/refresh_access_token", *[Fault(status=503)] * 3)
    clock.advance(days=51)
    with caplog.at_level(logging.WARNING):
        details = again.check().details
    assert "expires in 9 days" in details["warning"]
    assert "token-expiring" in caplog.text
    assert "token-refresh-failed" in caplog.text
    assert refreshed not in caplog.text
    clock.advance(days=10)
    server.fail("GET", r"/refresh_access_token", Fault(status=503))
    with pytest.raises(AuthError, match="expired"):
        again.check()
    again.close()


def test_a_new_token_in_the_configuration_starts_afresh(
    server: ft.FakeThreads, storage: Storage
) -> None:
    clock, state = Clock(T0), storage.account_state("ville_threads")
    p = make(server, state=state, clock=clock)
    p.check()
    clock.advance(days=8)
    p.check()
    assert len(server.refreshed) == 1
    other = "THFAKEotherLongLivedToken98765"
    server.valid_tokens.add(other)
    q = make(server, state=state, clock=clock, access_token=other)
    q.check()
    assert server.requests[-1].query["access_token"] == [other]
    assert json.loads(state.get("token") or "")["token"] is None
    p.close()
    q.close()


# -- through the delivery pipeline -------------------------------------------------------


def test_a_post_dropped_after_publishing_is_found_after_a_restart(
    tmp_path: Path, storage: Storage, server: ft.FakeThreads
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock = Clock()
    queue(storage, config, clock, 1)
    first = make(server, name="a", state=storage.account_state("a"), clock=clock)
    server.fail("POST", PUBLISH, Fault(after=True))  # published, the answer lost
    assert dispatch(config, storage, clock, {"a": first}).retried == 1
    first.close()

    clock.advance(hours=1)
    restarted = make(server, name="a", state=storage.account_state("a"), clock=clock)
    assert dispatch(config, storage, clock, {"a": restarted}).sent == 1
    restarted.close()
    (post,) = server.posts
    assert len(server.requests_to("POST", PUBLISH)) == 1, "found: not posted again"
    (record,) = storage.posted()
    assert record.remote_url == post["permalink"]


def test_a_refused_token_pauses_the_account_with_one_alert(
    tmp_path: Path, storage: Storage, server: ft.FakeThreads
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock = Clock()
    alerts = Alerts()
    queue(storage, config, clock, 3)
    server.revoke()
    p = make(server, name="a", state=storage.account_state("a"), clock=clock)
    dispatch(config, storage, clock, {"a": p}, alerts)
    for _ in range(2):
        clock.advance(hours=1)
        dispatch(config, storage, clock, {"a": p}, alerts)
    p.close()
    (reason,) = storage.paused_accounts().values()
    assert "refused the access token" in reason
    assert ft.TOKEN not in reason
    assert alerts.kinds() == ["account-paused"]
    assert states(storage) == ["pending"] * 3, "nothing is lost"
    assert server.posts == []


def test_delete_takes_a_post_back_and_a_post_gone_is_gone(server: ft.FakeThreads) -> None:
    p = make(server)
    receipt = p.publish(p.render(item(), SPEC), key="k-delete")
    sent = SentPost(
        account="ville_threads",
        remote_id=receipt.remote_id,
        url=receipt.url,
        key="k-delete",
        sent_at=None,
        link=LINK,
        title="Budget 2026",
    )
    assert p.can_delete
    assert p.delete(sent) == Removal.DELETED
    assert server.posts == []
    assert server.deleted == [receipt.remote_id]
    assert p.delete(sent) == Removal.GONE  # again: nothing more to do
    assert server.deleted == [receipt.remote_id]
    (call,) = [r for r in server.requests if r.method == "DELETE"][:1]
    assert call.query["access_token"] == [ft.TOKEN]


def test_delete_with_a_refused_token_is_an_auth_error(server: ft.FakeThreads) -> None:
    p = make(server)
    receipt = p.publish(p.render(item(), SPEC), key="k-delete-auth")
    server.revoke()
    sent = SentPost("ville_threads", receipt.remote_id, None, "k", None, LINK, "Budget 2026")
    with pytest.raises(AuthError):
        p.delete(sent)
    assert len(server.posts) == 1
