"""Retractions end to end: ``app.retract`` and ``autoposter retract`` over every kind of
account, against the network doubles, through our real clients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from autoposter import app
from autoposter.config import Config, load_config
from autoposter.runtime import Runtime
from autoposter.storage import Storage
from autoposter.types import DeliveryState
from tests.clitools import autoposter, write_config
from tests.fakes import (
    bluesky as fb_sky,
    facebook as ff,
    linkedin as fl,
    mastodon as fm,
    telegram as ft,
    threads as fth,
    webhook as fw,
    x as fx,
)
from tests.fakes.apiserver import ApiServer, Fault

ACCOUNTS = (
    "mastodon",
    "bluesky",
    "facebook",
    "x",
    "linkedin",
    "telegram",
    "threads",
    "webhook",
)


def networks_for() -> dict[str, ApiServer]:
    """One double of each network, not started."""
    return {
        "mastodon": fm.FakeMastodon(),
        "bluesky": fb_sky.FakeBluesky(),
        "facebook": ff.FakeFacebook(),
        "x": fx.FakeX(),
        "linkedin": fl.FakeLinkedIn(),
        "telegram": ft.FakeTelegram(),
        "threads": fth.FakeThreads(),
        "webhook": fw.FakeWebhook(),
    }


@pytest.fixture(scope="module")
def shared() -> Iterator[dict[str, ApiServer]]:
    servers = networks_for()
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def networks(shared: dict[str, ApiServer]) -> dict[str, ApiServer]:
    for server in shared.values():
        server.reset()  # type: ignore[attr-defined]
    return shared


def accounts_block(networks: dict[str, ApiServer]) -> dict[str, Any]:
    hook: fw.FakeWebhook = networks["webhook"]  # type: ignore[assignment]
    return {
        "mastodon": {
            "type": "mastodon",
            "api_url": networks["mastodon"].url,
            "access_token": fm.TOKEN,
            "timeout": "5s",
        },
        "bluesky": {
            "type": "bluesky",
            "api_url": networks["bluesky"].url,
            "handle": fb_sky.HANDLE,
            "app_password": fb_sky.APP_PASSWORD,
            "timeout": "5s",
        },
        "facebook": {
            "type": "facebook",
            "api_url": networks["facebook"].url,
            "page_id": ff.PAGE_ID,
            "access_token": ff.PAGE_TOKEN,
            "timeout": "5s",
        },
        "x": {
            "type": "x",
            "api_url": networks["x"].url,
            "consumer_key": fx.CONSUMER_KEY,
            "consumer_secret": fx.CONSUMER_SECRET,
            "access_token": fx.ACCESS_TOKEN,
            "access_token_secret": fx.ACCESS_TOKEN_SECRET,
            "timeout": "5s",
        },
        "linkedin": {
            "type": "linkedin",
            "api_url": networks["linkedin"].url,
            "organization_id": fl.ORGANIZATION_ID,
            "access_token": fl.TOKEN,
            "timeout": "5s",
        },
        "telegram": {
            "type": "telegram",
            "api_url": networks["telegram"].url,
            "bot_token": ft.TOKEN,
            "chat_id": ft.CHANNEL,
            "timeout": "5s",
        },
        "threads": {
            "type": "threads",
            "api_url": networks["threads"].url,
            "user_id": fth.USER_ID,
            "access_token": fth.TOKEN,
            "timeout": "5s",
        },
        "webhook": {"type": "webhook", "url": hook.hook_url, "secret": fw.SECRET, "timeout": "5s"},
    }


@pytest.fixture
def config(tmp_path: Path, networks: dict[str, ApiServer]) -> Config:
    path = write_config(
        tmp_path,
        {
            "database": f"sqlite:///{tmp_path}/autoposter.db",
            "delivery": {"min_interval": 0, "retry_delay": "1s"},
            "accounts": accounts_block(networks),
            "feeds": {
                "actu": {
                    "url": "http://127.0.0.1:9/feed",
                    "accounts": list(ACCOUNTS),
                    "template": "{title}\n\n{link}",
                }
            },
        },
    )
    return load_config(path)


def post(config: Config, n: int) -> app.Posted:
    posted = app.post_now(
        config,
        app.PostRequest(
            feed="actu",
            title=f"Conseil municipal n°{n} : ordre du jour",
            link=f"https://www.exempleville.fr/actu/{n}",
        ),
        actor="cli:test",
    )
    assert posted.sent == len(ACCOUNTS), posted
    return posted


def present(networks: dict[str, ApiServer]) -> dict[str, int]:
    """How many posts each double still shows (a hook: posts not followed by their
    ``retracted`` event)."""
    hook: fw.FakeWebhook = networks["webhook"]  # type: ignore[assignment]
    taken_back = {r["data"]["key"] for r in retracted_events(networks)}
    return {
        "mastodon": len(networks["mastodon"].statuses),  # type: ignore[attr-defined]
        "bluesky": len(networks["bluesky"].records),  # type: ignore[attr-defined]
        "facebook": len(networks["facebook"].posts),  # type: ignore[attr-defined]
        "x": len(networks["x"].tweets),  # type: ignore[attr-defined]
        "linkedin": len(networks["linkedin"].posts),  # type: ignore[attr-defined]
        "telegram": len(networks["telegram"].messages),  # type: ignore[attr-defined]
        "threads": len(networks["threads"].posts),  # type: ignore[attr-defined]
        "webhook": sum(
            1
            for r in hook.received
            if r["data"].get("event") != "retracted" and r["key"] not in taken_back
        ),
    }


def retracted_events(networks: dict[str, ApiServer]) -> list[dict[str, Any]]:
    hook: fw.FakeWebhook = networks["webhook"]  # type: ignore[assignment]
    return [r for r in hook.received if r["data"].get("event") == "retracted"]


def test_retract_deletes_every_copy_once_and_leaves_the_others(
    config: Config, networks: dict[str, ApiServer]
) -> None:
    wrong, right = post(config, 1), post(config, 2)
    report = app.retract(
        config,
        app.RetractRequest(items=("https://www.exempleville.fr/actu/1",), reason="wrong date"),
        actor="cli:marie",
    )
    assert report.ok, report
    assert {c.account: c.outcome for c in report.copies} == dict.fromkeys(ACCOUNTS, "deleted")
    assert {c.item for c in report.copies} == {wrong.item}
    assert present(networks) == dict.fromkeys(ACCOUNTS, 1)
    for name in ACCOUNTS[:-1]:
        assert len(networks[name].deleted) == 1, name  # type: ignore[attr-defined]
    (event,) = retracted_events(networks)
    assert event["data"]["link"] == "https://www.exempleville.fr/actu/1"
    assert event["data"]["reason"] == "wrong date"
    assert event["key"].endswith(":retracted")

    # Again: nothing more is deleted, the copies say they are retracted.
    again = app.retract(config, app.RetractRequest(items=(str(wrong.item),)), actor="cli:marie")
    assert {c.outcome for c in again.copies} == {"retracted"}
    assert present(networks) == dict.fromkeys(ACCOUNTS, 1)
    assert len(retracted_events(networks)) == 1

    with Storage.open(config.database) as storage:
        states = storage.delivery_states()
        events = [e for e in storage.events() if e.to_state == DeliveryState.RETRACTING.value]
    assert {s for (item, _a), s in states.items() if item == wrong.item} == {"retracted"}
    assert {s for (item, _a), s in states.items() if item == right.item} == {"sent"}
    assert {e.actor for e in events if e.from_state == "sent"} == {"cli:marie"}
    assert {e.detail for e in events if e.from_state == "sent"} == {"wrong date"}


def test_a_retraction_already_gone_and_one_account_only(
    config: Config, networks: dict[str, ApiServer]
) -> None:
    posted = post(config, 3)
    masto: fm.FakeMastodon = networks["mastodon"]  # type: ignore[assignment]
    masto.statuses.clear()  # a person deleted it by hand
    report = app.retract(
        config,
        app.RetractRequest(items=(str(posted.item),), accounts=("mastodon", "facebook")),
        actor="cli:marie",
    )
    assert {c.account: c.outcome for c in report.copies} == {
        "mastodon": "gone",
        "facebook": "deleted",
    }
    assert present(networks)["x"] == 1


def test_retryable_errors_wait_and_the_daemon_finishes(
    config: Config, networks: dict[str, ApiServer]
) -> None:
    posted = post(config, 4)
    networks["mastodon"].fail("DELETE", r"/api/v1/statuses/\d+", Fault(status=503))
    networks["linkedin"].fail("DELETE", r"/rest/posts/.+", Fault(after=True))
    networks["x"].fail(
        "DELETE", r"/2/tweets/\d+", Fault(status=401, body={"title": "Unauthorized"})
    )
    report = app.retract(config, app.RetractRequest(items=(str(posted.item),)), actor="cli:a")
    outcomes = {c.account: c.outcome for c in report.copies}
    assert outcomes["mastodon"] == outcomes["linkedin"] == outcomes["x"] == "waiting"
    assert report.ok
    with Storage.open(config.database) as storage:
        assert "x" in storage.paused_accounts()
        assert storage.resume_account("x", storage_now())
        due = storage.due_retractions(storage_now() + timedelta(hours=2))
    assert {d.account for d in due} == {"mastodon", "linkedin", "x"}
    # The daemon's pass, once the backoff is over.
    runtime = Runtime.start(config, parse_workers=0)
    runtime.now = lambda: storage_now() + timedelta(hours=2)
    try:
        runtime.dispatch()
    finally:
        runtime.close()
    assert present(networks) == dict.fromkeys(ACCOUNTS, 0)
    with Storage.open(config.database) as storage:
        assert set(storage.delivery_states().values()) == {"retracted"}


def test_a_delivery_not_yet_sent_is_never_sent(
    config: Config, networks: dict[str, ApiServer]
) -> None:
    Runtime.start(config, parse_workers=0).close()  # the database, created
    # Queue an item for every account while the accounts wait (paused).
    with Storage.open(config.database) as storage:
        for name in ACCOUNTS:
            storage.pause_account(name, "maintenance", storage_now())
    posted = app.post_now(
        config,
        app.PostRequest(feed="actu", title="Fête", link="https://www.exempleville.fr/actu/9"),
        actor="cli:test",
    )
    assert posted.sent == 0
    report = app.retract(config, app.RetractRequest(items=(str(posted.item),)), actor="cli:a")
    assert {c.outcome for c in report.copies} == {"skipped"}
    with Storage.open(config.database) as storage:
        for name in ACCOUNTS:
            storage.resume_account(name, storage_now())
    runtime = Runtime.start(config, parse_workers=0)
    try:
        runtime.dispatch()
    finally:
        runtime.close()
    assert present(networks) == dict.fromkeys(ACCOUNTS, 0)


def test_telegram_past_48_hours_says_withdrawn(
    config: Config, networks: dict[str, ApiServer]
) -> None:
    posted = post(config, 5)
    tg: ft.FakeTelegram = networks["telegram"]  # type: ignore[assignment]
    tg.clock = lambda: __import__("time").time() + 3 * 86400
    report = app.retract(
        config,
        app.RetractRequest(items=(str(posted.item),), accounts=("telegram",), reason="annulé"),
        actor="cli:a",
    )
    assert [c.outcome for c in report.copies] == ["withdrawn"]
    (message,) = tg.messages
    assert message["visible"].startswith("Withdrawn: Conseil municipal n°5")
    assert "annulé" in message["visible"]
    assert tg.edited == [message["message_id"]]
    assert tg.deleted == []


def test_the_command_prints_each_account(
    config: Config, networks: dict[str, ApiServer], tmp_path: Path
) -> None:
    posted = post(config, 6)
    done = autoposter(
        "retract",
        "https://www.exempleville.fr/actu/6",
        "https://www.exempleville.fr/nowhere",
        "--reason",
        "published by mistake",
        "--config",
        str(tmp_path / "autoposter.yaml"),
    )
    assert done.returncode == 1, done.stderr  # one reference names no item
    assert "https://www.exempleville.fr/nowhere: no such item" in done.stderr
    for name in ACCOUNTS:
        assert f"item {posted.item} on {name}: deleted" in done.stdout
    assert present(networks) == dict.fromkeys(ACCOUNTS, 0)
    for secret in (fm.TOKEN, ft.TOKEN, ff.PAGE_TOKEN, fl.TOKEN, fth.TOKEN):
        assert secret not in done.stdout + done.stderr


def storage_now() -> Any:
    from autoposter.pipeline import utcnow

    return utcnow()
