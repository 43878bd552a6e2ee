"""A refusal that concerns the account or the integration, not the post, loses nothing.

Each network's double answers one account-level refusal, in that network's own
words, to our real client driven by the real dispatch pipeline: the delivery
stays pending, the account is paused with a reason that says what to fix, one
alert goes out, and once the account is resumed the post is made.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autoposter.publishers.bluesky import BlueskyPublisher
from autoposter.publishers.facebook import FacebookPublisher
from autoposter.publishers.linkedin import LinkedInPublisher
from autoposter.publishers.mastodon import MastodonPublisher
from autoposter.publishers.telegram import TelegramPublisher
from autoposter.publishers.webhook import WebhookPublisher
from autoposter.publishers.x import XPublisher
from autoposter.storage import Storage
from tests.fakes import (
    bluesky as fb_sky,
    facebook as ff,
    linkedin as fl,
    mastodon as fm,
    telegram as ft,
    webhook as fw,
    x as fx,
)
from tests.fakes.apiserver import ApiServer, Fault
from tests.test_dispatch import Alerts, Clock, dispatch, make_config, queue, states

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def _mastodon(server: Any) -> Any:
    return MastodonPublisher(name="a", api_url=server.url, access_token=fm.TOKEN, timeout="5s")


def _bluesky(server: Any) -> Any:
    return BlueskyPublisher(
        name="a",
        handle=fb_sky.HANDLE,
        app_password=fb_sky.APP_PASSWORD,
        api_url=server.url,
        timeout="5s",
    )


def _facebook(server: Any) -> Any:
    return FacebookPublisher(
        name="a", page_id=ff.PAGE_ID, access_token=ff.PAGE_TOKEN, api_url=server.url, timeout="5s"
    )


def _x(server: Any) -> Any:
    return XPublisher(
        name="a",
        consumer_key=fx.CONSUMER_KEY,
        consumer_secret=fx.CONSUMER_SECRET,
        access_token=fx.ACCESS_TOKEN,
        access_token_secret=fx.ACCESS_TOKEN_SECRET,
        api_url=server.url,
        timeout="5s",
    )


def _linkedin(server: Any) -> Any:
    return LinkedInPublisher(
        name="a",
        organization_id=fl.ORGANIZATION_ID,
        access_token=fl.TOKEN,
        api_url=server.url,
        timeout="5s",
    )


def _telegram(server: Any) -> Any:
    return TelegramPublisher(
        name="a", bot_token=ft.TOKEN, chat_id=ft.CHANNEL, api_url=server.url, timeout="5s"
    )


def _webhook(server: Any) -> Any:
    return WebhookPublisher(name="a", url=server.hook_url, secret=fw.SECRET, timeout="5s")


@dataclass(frozen=True)
class Network:
    server: Callable[[], ApiServer]
    client: Callable[[Any], Any]
    method: str
    route: str


NETWORKS = {
    "mastodon": Network(fm.FakeMastodon, _mastodon, "POST", r"/api/v1/statuses"),
    "bluesky": Network(
        fb_sky.FakeBluesky, _bluesky, "POST", r"/xrpc/com\.atproto\.repo\.createRecord"
    ),
    "facebook": Network(ff.FakeFacebook, _facebook, "POST", r"/v\d+\.0/\d+/feed"),
    "x": Network(fx.FakeX, _x, "POST", r"/2/tweets"),
    "linkedin": Network(fl.FakeLinkedIn, _linkedin, "POST", r"/rest/posts"),
    "telegram": Network(ft.FakeTelegram, _telegram, "POST", r"/bot[^/]+/sendMessage"),
    "webhook": Network(fw.FakeWebhook, _webhook, "POST", r"/hooks/.+"),
}


def _graph(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": {**error, "fbtrace_id": "AbC"}}


def _telegram_error(status: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": status, "description": description}


# (network, status, body the network answers, words the pause reason must hold)
REFUSALS: list[tuple[str, int, Any, str]] = [
    ("mastodon", 403, {"error": "Your login is currently disabled"}, "disabled"),
    ("mastodon", 403, {"error": "This action is outside the authorized scopes"}, "scopes"),
    ("mastodon", 401, {"error": "The access token was revoked"}, "access token"),
    ("bluesky", 400, {"error": "AccountTakedown", "message": "Account has been taken down"}, ""),
    ("bluesky", 400, {"error": "AccountDeactivated", "message": "Account is deactivated"}, ""),
    ("bluesky", 400, {"error": "RepoTakendown", "message": "Repo has been takendown"}, ""),
    ("bluesky", 400, {"error": "RepoSuspended", "message": "Repo has been suspended"}, ""),
    ("bluesky", 400, {"error": "RepoDeactivated", "message": "Repo has been deactivated"}, ""),
    ("bluesky", 403, {"error": "Forbidden", "message": "Missing scope"}, ""),
    ("facebook", 400, _graph(190, "Error validating access token", 463), "token"),
    ("facebook", 403, _graph(10, "(#10) Application does not have permission"), "permission"),
    ("facebook", 403, _graph(200, "(#200) Requires pages_manage_posts permission"), "permission"),
    ("facebook", 400, _graph(102, "Session key invalid"), "token"),
    ("facebook", 400, _graph(368, "The action attempted has been deemed abusive"), "blocked"),
    (
        "facebook",
        400,
        _graph(100, "Object with ID '104123456789012' does not exist, cannot be loaded", 33),
        "page_id",
    ),
    (
        "x",
        403,
        {
            "title": "Client Forbidden",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use"
            " keys and tokens from a Twitter developer App that is attached to a Project.",
            "reason": "client-not-enrolled",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
        },
        "Project",
    ),
    (
        "x",
        403,
        {
            "title": "Forbidden",
            "detail": "Your client app is not configured with the appropriate oauth1 app"
            " permissions for this endpoint.",
            "type": "https://api.twitter.com/2/problems/oauth1-permissions",
        },
        "Read and write",
    ),
    ("x", 401, {"title": "Unauthorized", "detail": "Unauthorized", "status": 401}, "credentials"),
    (
        "linkedin",
        426,
        {
            "status": 426,
            "code": "NONEXISTENT_VERSION",
            "message": "Requested version 202511 is not active",
        },
        "accounts.a.linkedin_version",
    ),
    (
        "linkedin",
        403,
        {
            "status": 403,
            "serviceErrorCode": 100,
            "code": "ACCESS_DENIED",
            "message": "Not enough permissions to access: partnerApiPostsExternal.CREATE",
        },
        "w_organization_social",
    ),
    ("linkedin", 401, {"status": 401, "code": "EXPIRED_ACCESS_TOKEN", "message": "expired"}, ""),
    ("telegram", 401, _telegram_error(401, "Unauthorized"), "bot_token"),
    (
        "telegram",
        403,
        _telegram_error(403, "Forbidden: bot was kicked from the channel chat"),
        "administrator",
    ),
    (
        "telegram",
        403,
        _telegram_error(403, "Forbidden: bot is not a member of the channel chat"),
        "administrator",
    ),
    ("telegram", 400, _telegram_error(400, "Bad Request: chat not found"), "chat_id"),
    (
        "telegram",
        400,
        _telegram_error(400, "Bad Request: not enough rights to send text messages to the chat"),
        "administrator",
    ),
    (
        "telegram",
        400,
        _telegram_error(400, "Bad Request: need administrator rights in the channel chat"),
        "administrator",
    ),
    ("telegram", 400, _telegram_error(400, "Bad Request: CHAT_WRITE_FORBIDDEN"), "administrator"),
    (
        "telegram",
        400,
        _telegram_error(400, "Bad Request: group chat was upgraded to a supergroup chat"),
        "chat_id",
    ),
    ("webhook", 401, {"message": "401: Unauthorized"}, "secret"),
    ("webhook", 403, {"message": "Missing Access"}, "secret"),
    ("webhook", 410, {"message": "Gone"}, "no longer exists"),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ApiServer]]:
    started = {name: network.server().start() for name, network in NETWORKS.items()}
    yield started
    for server in started.values():
        server.stop()


@pytest.mark.parametrize(
    ("network", "status", "body", "words"),
    REFUSALS,
    ids=[f"{r[0]}-{r[1]}-{i}" for i, r in enumerate(REFUSALS)],
)
def test_an_account_level_refusal_pauses_the_account_and_loses_nothing(
    tmp_path: Path,
    servers: dict[str, ApiServer],
    network: str,
    status: int,
    body: Any,
    words: str,
) -> None:
    server = servers[network]
    reset = getattr(server, "reset", None)
    if reset is not None:
        reset()
    spec = NETWORKS[network]
    client = spec.client(server)
    client.attach_networks(LOOPBACK)
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock, alerts = Clock(), Alerts()
    with Storage.open(f"sqlite:///{tmp_path}/autoposter.db") as storage:
        queue(storage, config, clock, 1)
        server.fail(spec.method, spec.route, Fault(status=status, body=body))
        try:
            result = dispatch(config, storage, clock, {"a": client}, alerts)
            assert result.sent == 0
            assert states(storage) == ["pending"], "an account-level refusal fails no post"
            reason = storage.paused_accounts().get("a")
            assert reason, "the account is paused"
            assert words in reason, reason
            for secret in ("fake", "Fake", "FAKE"):
                assert not any(secret in word and len(word) > 12 for word in reason.split()), (
                    "no token in the reason"
                )
            clock.advance(hours=1)
            dispatch(config, storage, clock, {"a": client}, alerts)
            assert alerts.kinds() == ["account-paused"], "one alert, not one per attempt"
            assert states(storage) == ["pending"]

            storage.resume_account("a", clock())
            assert dispatch(config, storage, clock, {"a": client}, alerts).sent == 1
            assert states(storage) == ["sent"]
        finally:
            client.close()
