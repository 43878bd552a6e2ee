"""The webhook publisher against a hook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Iterator
from types import MappingProxyType

import pytest
from hypothesis import given, settings, strategies as st

from autoposter.errors import AuthError, RateLimitedError, RejectedError, UnavailableError
from autoposter.publishers import options_of
from autoposter.publishers.webhook import WebhookPublisher, signature
from autoposter.safetext import clean
from autoposter.types import Image, Item, PostSpec
from tests.fakes import webhook as fw
from tests.fakes.apiserver import Fault

SPEC = PostSpec(feed="actus", account="ville_hook", template="{title}\n\n{link}", language="fr")
LINK = 'https://www.exempleville.fr/actualites/"quotes"-et-\\barres'
HOOK = r"/hooks/.+"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[fw.FakeWebhook]:
    with fw.FakeWebhook() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def server(shared_server: fw.FakeWebhook) -> fw.FakeWebhook:
    """One double per module (stopping one takes half a second), emptied for each test."""
    shared_server.reset()
    return shared_server


def make(server: fw.FakeWebhook, **options: object) -> WebhookPublisher:
    defaults: dict[str, object] = {"url": server.hook_url, "secret": fw.SECRET, "timeout": "5s"}
    return WebhookPublisher(name="ville_hook", **{**defaults, **options})  # type: ignore[arg-type]


def item(title: str = 'Réunion "publique" : {ordre du jour} \\ 20 h', **kw: object) -> Item:
    return Item(key="k1", link=LINK, title=title, summary="Salle des fêtes 🎉", **kw)  # type: ignore[arg-type]


def assert_no_secret(error: BaseException) -> None:
    rendered = "".join(traceback.format_exception(error))
    assert fw.HOOK_TOKEN not in rendered
    assert "fakeHookSecretInPath" not in rendered
    assert fw.SECRET not in rendered


def test_config_keys_are_the_contract() -> None:
    required, optional = options_of(WebhookPublisher)
    assert required == {"url"}
    assert {
        "secret",
        "body",
        "headers",
        "limit",
        "timeout",
        "language",
        "template",
        "utm",
    } <= optional


def test_default_body_signed_with_the_key(server: fw.FakeWebhook) -> None:
    p = make(server)
    image = Image(url="https://www.exempleville.fr/img/salle.jpg", alt="La salle")
    post = p.render(item(image=image), SPEC)
    receipt = p.publish(post, key="delivery-42")
    (got,) = server.received
    assert got["data"] == {
        "text": post.text,
        "title": item().title,
        "link": LINK,
        "summary": "Salle des fêtes 🎉",
        "language": "fr",
        "feed": "actus",
        "account": "ville_hook",
        "image": {"url": image.url, "alt": "La salle"},
    }
    assert got["headers"]["idempotency-key"] == "delivery-42"
    assert receipt.remote_id == got["id"]
    (request,) = server.requests_to("POST", HOOK)
    assert request.headers["x-autoposter-signature"] == signature(fw.SECRET, request.body)


def test_the_double_checks_the_signature(server: fw.FakeWebhook) -> None:
    p = make(server, secret="not-the-shared-secret")
    with pytest.raises(AuthError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert_no_secret(caught.value)
    assert "not-the-shared-secret" not in str(caught.value)
    assert server.received == []


def test_slack_and_discord_templates_are_escaped_json(server: fw.FakeWebhook) -> None:
    slack = make(server, body=MappingProxyType({"text": "{text}", "unfurl_links": True}))
    post = slack.render(item(), SPEC)
    slack.publish(post, key="d1")
    assert server.received[0]["data"] == {"text": post.text, "unfurl_links": True}
    discord = make(
        server,
        body={
            "content": "{title}",
            "embeds": ({"url": "{link}", "description": "{summary} {{x}}"},),
        },
    )
    discord.publish(discord.render(item(), SPEC), key="d2")
    assert server.received[1]["data"] == {
        "content": item().title,
        "embeds": [{"url": LINK, "description": "Salle des fêtes 🎉 {x}"}],
    }


@settings(max_examples=50, deadline=None)
@given(title=st.text(max_size=300))
def test_property_body_is_valid_json_whatever_the_text(title: str) -> None:
    p = WebhookPublisher(name="h", url="https://hooks.example/x", body={"text": "{title} — {link}"})
    post = p.render(Item(key="k", link=LINK, title=title), SPEC)
    # The title as every post carries it: no markup, no control, no bidi override.
    assert json.loads(p.payload(post, key="k")) == {"text": f"{clean(title)} — {LINK}"}


def test_limit_for_hooks_that_have_one() -> None:
    p = WebhookPublisher(name="h", url="https://hooks.example/x", limit=2000)
    post = p.render(item("mot " * 1000), SPEC)
    assert len(post.text) <= 2000
    assert post.text.endswith(LINK)


def test_plain_ok_answer_uses_the_key_as_id() -> None:
    with fw.FakeWebhook(secret=None, plain=True) as server:
        p = WebhookPublisher(name="h", url=server.hook_url, headers={"X-Team": "com"})
        receipt = p.publish(p.render(item(), SPEC), key="delivery-7")
        assert receipt.remote_id == "delivery-7"
        assert server.received[0]["headers"]["x-team"] == "com"
        assert "x-autoposter-signature" not in server.received[0]["headers"]


def test_retry_with_the_same_key_is_not_delivered_twice(server: fw.FakeWebhook) -> None:
    p = make(server)
    post = p.render(item(), SPEC)
    server.fail("POST", HOOK, Fault(after=True))
    with pytest.raises(UnavailableError) as caught:
        p.publish(post, key="d1")
    assert_no_secret(caught.value)
    receipt = p.publish(post, key="d1")
    assert len(server.received) == 1
    assert receipt.remote_id == server.received[0]["id"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (403, AuthError),
        (404, AuthError),
        (400, RejectedError),
        (500, UnavailableError),
    ],
)
def test_statuses(server: fw.FakeWebhook, status: int, error: type[Exception]) -> None:
    p = make(server)
    server.fail("POST", HOOK, Fault(status=status, body={"message": f"nope {fw.HOOK_TOKEN}"}))
    with pytest.raises(error) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert_no_secret(caught.value)


def test_rate_limit_reads_retry_after(server: fw.FakeWebhook) -> None:
    p = make(server)
    server.fail(
        "POST",
        HOOK,
        Fault(status=429, body={"message": "slow down"}, headers={"Retry-After": "30"}),
    )
    with pytest.raises(RateLimitedError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert caught.value.retry_after == 30
    server.fail(
        "POST", HOOK, Fault(status=429, body={"message": "rate limited", "retry_after": 1.5})
    )
    with pytest.raises(RateLimitedError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert caught.value.retry_after == 1.5


def test_network_errors_name_the_host_not_the_url(server: fw.FakeWebhook) -> None:
    p = make(server, timeout="300ms")
    server.fail("POST", HOOK, Fault(delay=3))
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert time.monotonic() - started < 2.5
    assert "127.0.0.1" in str(caught.value)
    assert_no_secret(caught.value)
    assert caught.value.__context__ is None


def test_find_cannot_tell_and_check_shows_no_secret(server: fw.FakeWebhook) -> None:
    p = make(server)
    assert p.find(p.render(item(), SPEC), key="d1") is None
    info = p.check()
    assert info.details["host"] == "127.0.0.1"
    assert fw.HOOK_TOKEN not in repr(info)


def test_bad_options_are_refused_without_echoing_the_url() -> None:
    with pytest.raises(ValueError, match="unknown field") as caught:
        WebhookPublisher(name="h", url="https://hooks.example/T0/secret", body={"text": "{texte}"})
    assert "secret" not in str(caught.value).replace("body", "")
    with pytest.raises(ValueError, match="url") as caught:
        WebhookPublisher(name="h", url="ftp://hooks.example/T0/s3cr3t")
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(ValueError, match="headers"):
        WebhookPublisher(name="h", url="https://hooks.example/x", headers={"X-A": "b\r\nX-Evil: 1"})
