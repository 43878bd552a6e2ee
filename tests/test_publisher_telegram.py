"""The Telegram channel publisher over HTTP against the Bot API double."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Iterator

import pytest
from hypothesis import given, settings, strategies as st

from autoposter.errors import (
    AuthError,
    PublishError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from autoposter.publishers import options_of
from autoposter.publishers.telegram import LIMIT, TelegramPublisher, visible_length
from autoposter.types import Item, Post, PostSpec
from tests.fakes import telegram as ft
from tests.fakes.apiserver import Fault

SPEC = PostSpec(
    feed="actus", account="ville_tg", template="{title}\n\n{summary}\n\n{link}", language="fr"
)
LINK = "https://www.exempleville.fr/alertes/canicule?niveau=orange&zone=centre"
SEND = r"/bot[^/]*/sendMessage"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ft.FakeTelegram]:
    with ft.FakeTelegram() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def server(shared_server: ft.FakeTelegram) -> ft.FakeTelegram:
    """One double per module (stopping one takes half a second), emptied for each test."""
    shared_server.reset()
    return shared_server


def make(server: ft.FakeTelegram, **options: object) -> TelegramPublisher:
    defaults: dict[str, object] = {
        "bot_token": ft.TOKEN,
        "chat_id": ft.CHANNEL,
        "api_url": server.url,
        "timeout": "5s",
    }
    return TelegramPublisher(name="ville_tg", **{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture
def publisher(server: ft.FakeTelegram) -> Iterator[TelegramPublisher]:
    p = make(server)
    yield p
    p.close()


def item(
    title: str = "Alerte canicule : niveau < orange > & fontaines ouvertes", **kw: str
) -> Item:
    return Item(
        key="k1",
        link=kw.get("link", LINK),
        title=title,
        summary=kw.get("summary", "Buvez de l'eau 💧 & restez au frais."),
    )


def assert_no_token(error: BaseException) -> None:
    rendered = "".join(traceback.format_exception(error))
    assert ft.TOKEN not in str(error)
    assert ft.TOKEN not in rendered
    assert ft.TOKEN.split(":")[1] not in rendered


def test_config_keys_are_the_contract() -> None:
    required, optional = options_of(TelegramPublisher)
    assert required == {"bot_token", "chat_id"}
    assert {
        "disable_notification",
        "link_preview",
        "api_url",
        "timeout",
        "language",
        "template",
        "utm",
    } <= optional


def test_message_shape(server: ft.FakeTelegram, publisher: TelegramPublisher) -> None:
    post = publisher.render(item(), SPEC)
    receipt = publisher.publish(post, key="d1")
    (message,) = server.messages
    body = message["body"]
    assert body["chat_id"] == ft.CHANNEL
    assert body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"url": LINK, "prefer_large_media": True}
    assert body["disable_notification"] is False
    assert message["visible"] == post.text
    assert receipt == type(receipt)(
        remote_id=str(message["message_id"]),
        url=f"https://t.me/ville_exemple/{message['message_id']}",
    )


def test_an_edited_text_is_sent_escaped_instead_of_the_rendered_one(
    server: ft.FakeTelegram, publisher: TelegramPublisher
) -> None:
    rendered = publisher.render(item(), SPEC)
    edited = dataclasses.replace(rendered, text=f"Fontaines <ouvertes> & eau fraîche\n\n{LINK}")
    publisher.publish(edited, key="d1")
    (message,) = server.messages
    escaped_link = LINK.replace("&", "&amp;")
    assert message["body"]["text"] == (
        f"Fontaines &lt;ouvertes&gt; &amp; eau fraîche\n\n{escaped_link}"
    )
    assert message["visible"] == edited.text


def test_golden_html() -> None:
    p = TelegramPublisher(name="tg", bot_token=ft.TOKEN, chat_id=ft.CHANNEL)
    post = p.render(item(), SPEC)
    assert post.extra["html"] == (
        "<b>Alerte canicule : niveau &lt; orange &gt; &amp; fontaines ouvertes</b>\n\n"
        "Buvez de l'eau 💧 &amp; restez au frais.\n\n"
        "https://www.exempleville.fr/alertes/canicule?niveau=orange&amp;zone=centre"
    )
    assert post.text == (
        "Alerte canicule : niveau < orange > & fontaines ouvertes\n\n"
        "Buvez de l'eau 💧 & restez au frais.\n\n" + LINK
    )


def test_golden_long_title_keeps_its_bold_when_cut() -> None:
    p = TelegramPublisher(name="tg", bot_token=ft.TOKEN, chat_id=ft.CHANNEL)
    post = p.render(item("Travaux 🚧 rue du Château & place " * 300, summary="résumé"), SPEC)
    assert visible_length(post.text) <= LIMIT
    assert post.extra["html"].startswith("<b>Travaux 🚧 rue du Château &amp; place")
    assert post.extra["html"].endswith("…</b>\n\n" + LINK.replace("&", "&amp;"))
    assert ft.parse_html(post.extra["html"]) == post.text


def test_golden_cjk_counts_utf16() -> None:
    assert visible_length("東京") == 2
    assert visible_length("💧") == 2
    assert visible_length("\ue000a\ue001") == 1


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=5000), summary=st.text(max_size=5000))
def test_property_never_over_the_limit_link_intact_valid_html(title: str, summary: str) -> None:
    p = TelegramPublisher(name="tg", bot_token=ft.TOKEN, chat_id=ft.CHANNEL)
    post = p.render(Item(key="k", link=LINK, title=title, summary=summary), SPEC)
    assert visible_length(post.text) <= LIMIT
    assert post.text.endswith(LINK)
    assert ft.parse_html(post.extra["html"]) == post.text


def test_private_chat_has_no_public_url(server: ft.FakeTelegram) -> None:
    p = make(server, chat_id=ft.CHANNEL_ID, link_preview=False, disable_notification=True)
    receipt = p.publish(p.render(item(), SPEC), key="d1")
    assert receipt.url is None
    body = server.messages[0]["body"]
    assert body["link_preview_options"] == {"is_disabled": True}
    assert body["disable_notification"] is True


def test_wrong_token_is_an_auth_error_without_the_token(server: ft.FakeTelegram) -> None:
    wrong = "987654321:AAEwrongWrongWrongWrongWrong0123"
    p = make(server, bot_token=wrong)
    with pytest.raises(AuthError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert wrong not in "".join(traceback.format_exception(caught.value))


def test_kicked_bot_is_an_auth_error(server: ft.FakeTelegram) -> None:
    p = make(server, chat_id=ft.KICKED)
    with pytest.raises(AuthError, match="administrator"):
        p.publish(p.render(item(), SPEC), key="d1")


def test_bad_request_is_rejected_with_telegram_s_words(publisher: TelegramPublisher) -> None:
    post = Post(
        account="ville_tg",
        text="x",
        link=LINK,
        language="fr",
        extra={"html": "<blink>x</blink>", "html_of": "x"},
    )
    with pytest.raises(RejectedError, match="can't parse entities") as caught:
        publisher.publish(post, key="d1")
    assert_no_token(caught.value)


def test_too_long_is_rejected(publisher: TelegramPublisher) -> None:
    post = Post(account="ville_tg", text="a" * 4097, link=LINK, language="fr")
    with pytest.raises(RejectedError, match="too long"):
        publisher.publish(post, key="d1")


def test_rate_limit_uses_retry_after(server: ft.FakeTelegram, publisher: TelegramPublisher) -> None:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 17",
        "parameters": {"retry_after": 17},
    }
    server.fail("POST", SEND, Fault(status=429, body=body))
    with pytest.raises(RateLimitedError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert caught.value.retry_after == 17
    assert_no_token(caught.value)


def test_server_error_is_unavailable(server: ft.FakeTelegram, publisher: TelegramPublisher) -> None:
    server.fail(
        "POST",
        SEND,
        Fault(status=502, body={"ok": False, "error_code": 502, "description": "Bad Gateway"}),
    )
    with pytest.raises(UnavailableError) as caught:
        publisher.publish(publisher.render(item(), SPEC), key="d1")
    assert_no_token(caught.value)


@pytest.mark.parametrize("fault", [Fault(drop=True), Fault(after=True), Fault(delay=3)])
def test_network_errors_never_show_the_token(server: ft.FakeTelegram, fault: Fault) -> None:
    p = make(server, timeout="300ms")
    server.fail("POST", SEND, fault)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert time.monotonic() - started < 2.5
    assert_no_token(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_unreachable_host_never_shows_the_token() -> None:
    p = TelegramPublisher(
        name="tg",
        bot_token=ft.TOKEN,
        chat_id=ft.CHANNEL,
        api_url="http://127.0.0.1:9",
        timeout="1s",
    )
    with pytest.raises(PublishError) as caught:
        p.publish(p.render(item(), SPEC), key="d1")
    assert_no_token(caught.value)


def test_find_cannot_tell(publisher: TelegramPublisher) -> None:
    assert publisher.find(publisher.render(item(), SPEC), key="d1") is None


def test_check_names_the_channel_and_bot(publisher: TelegramPublisher) -> None:
    info = publisher.check()
    assert info.name == "Ville d'Exemple"
    assert info.details["bot"] == "@ExempleVilleBot"


def test_bad_options_are_refused_without_echoing_the_token() -> None:
    with pytest.raises(ValueError, match="bot_token") as caught:
        TelegramPublisher(name="tg", bot_token="not-a-token-secret", chat_id=ft.CHANNEL)
    assert "not-a-token-secret" not in str(caught.value)
    with pytest.raises(ValueError, match="chat_id"):
        TelegramPublisher(name="tg", bot_token=ft.TOKEN, chat_id="ville exemple")
