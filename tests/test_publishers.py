"""The registry's writers, and the one HTTP error boundary seen through the doubles."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from autoposter.errors import ConfigError, UnavailableError
from autoposter.publishers import available, build, installed, writer_for
from autoposter.types import Item, PostSpec, Publisher
from tests.fakes import facebook as ff, linkedin as fl, telegram as ft, webhook as fw, x as fx
from tests.fakes.apiserver import Fault

SDKS = ("mastodon", "atproto", "tweepy", "facebook", "requests", "httpx")
ITEM = Item(key="k", link="https://www.exempleville.fr/actu/1", title="Marché de Noël")
SPEC = PostSpec(feed="actu", account="a", template="{title}\n\n{link}", language="fr")

# Each built-in type with the options a real block has; the tokens are obviously fake.
BLOCKS: dict[str, dict[str, Any]] = {
    "console": {},
    "mastodon": {"api_url": "{url}", "access_token": "FAKE-token"},
    "bluesky": {"api_url": "{url}", "handle": "ville.example.org", "app_password": "FAKE-pw"},
    "facebook": {"api_url": "{url}", "page_id": "1234", "access_token": "FAKE-token"},
    "x": {
        "api_url": "{url}",
        "consumer_key": "FAKE-ck",
        "consumer_secret": "FAKE-cs",
        "access_token": "FAKE-at",
        "access_token_secret": "FAKE-ats",
    },
    "linkedin": {"api_url": "{url}", "organization_id": "1", "access_token": "FAKE-token"},
    "telegram": {
        "api_url": "{url}",
        "bot_token": "123456:FAKE-token-aaaaaaaaaaaaaaaa",
        "chat_id": "@ville",
    },
    "webhook": {"url": "{url}/hook"},
}


def block(kind: str, url: str) -> dict[str, Any]:
    return {
        k: v.replace("{url}", url) if isinstance(v, str) else v for k, v in BLOCKS[kind].items()
    }


def test_every_built_in_type_has_a_block_here() -> None:
    assert set(BLOCKS) <= set(installed())


def test_building_every_writer_imports_no_sdk_and_no_http_library() -> None:
    script = f"""
import json, sys
from autoposter.publishers import writer_for
from autoposter.types import Item, PostSpec
blocks = json.loads({json.dumps(json.dumps(BLOCKS))})
item = Item(key="k", link="https://www.exempleville.fr/actu/1", title="Marché")
spec = PostSpec(feed="actu", account="a", template="{{title}} {{link}}", language="fr")
for kind, options in blocks.items():
    options = {{k: v.replace("{{url}}", "https://api.example.org") for k, v in options.items()}}
    writer_for("a", kind, options).render(item, spec)
print(json.dumps(sorted(m for m in {SDKS!r} if m in sys.modules)))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_a_writer_renders_as_its_publisher_does(kind: str) -> None:
    options = block(kind, "http://127.0.0.1:9")
    publisher = build("a", kind, options, available({kind}))
    try:
        assert writer_for("a", kind, options).render(ITEM, SPEC) == publisher.render(ITEM, SPEC)
    finally:
        publisher.close()


def test_writer_for_checks_option_names_as_build_does() -> None:
    with pytest.raises(ConfigError, match=r"accounts\.a\.colour: unknown option for type 'x'"):
        writer_for("a", "x", {"colour": "blue"})
    with pytest.raises(ConfigError, match=r"accounts\.a\.type: unknown type 'myspace'"):
        writer_for("a", "myspace", {})
    with pytest.raises(ConfigError, match=r"accounts\.a: images"):
        writer_for("a", "x", {"images": "sometimes"})
    # No credentials needed: the writer never sees them.
    assert (
        writer_for("a", "mastodon", {"limit": 200})
        .render(ITEM, SPEC)
        .extra["length"]
        .endswith("/200")
    )


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("kind", sorted(set(BLOCKS) - {"console"}))
def test_a_refused_connection_is_not_maybe_posted_on_any_network(kind: str) -> None:
    publisher = build("a", kind, {**block(kind, _closed_port_url()), "timeout": "2s"}, available())
    try:
        with pytest.raises(UnavailableError) as caught:
            publisher.publish(publisher.render(ITEM, SPEC), key="k1")
    finally:
        publisher.close()
    assert caught.value.retryable
    assert not caught.value.maybe_posted


def _dropping(
    fake: Callable[[], Any], make: Callable[[Any], Publisher]
) -> Callable[[], AbstractContextManager[Publisher]]:
    from contextlib import contextmanager

    @contextmanager
    def run() -> Iterator[Publisher]:
        with fake() as server:
            server.fail("POST", r".*", Fault(drop=True))
            publisher = make(server)
            try:
                yield publisher
            finally:
                publisher.close()

    return run


def _make(module: str) -> Callable[[Any], Publisher]:
    import importlib

    return importlib.import_module(f"tests.test_publisher_{module}").make  # type: ignore[no-any-return]


DROPPING = {
    "linkedin": _dropping(fl.FakeLinkedIn, _make("linkedin")),
    "telegram": _dropping(ft.FakeTelegram, _make("telegram")),
    "webhook": _dropping(fw.FakeWebhook, _make("webhook")),
    "facebook": _dropping(ff.FakeFacebook, _make("facebook")),
    "x": _dropping(fx.FakeX, _make("x")),
}


@pytest.mark.parametrize("kind", sorted(DROPPING))
def test_a_connection_dropped_after_sending_is_maybe_posted_on_every_raw_http_network(
    kind: str,
) -> None:
    with DROPPING[kind]() as publisher, pytest.raises(UnavailableError) as caught:
        publisher.publish(publisher.render(ITEM, SPEC), key="k1")
    assert caught.value.retryable
    assert caught.value.maybe_posted
