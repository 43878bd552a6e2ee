"""The operations of ``autoposter.app``, called directly on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoposter import app
from autoposter.config import Config, load_config
from autoposter.errors import NotFoundError
from autoposter.storage import Storage
from autoposter.types import DeliveryState
from tests.clitools import write_config
from tests.feedserver import FeedServer
from tests.test_pipeline import entries, rss

ALICE = "cli:alice"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def make_config(tmp_path: Path, server: FeedServer, **extra: Any) -> Config:
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path / 'autoposter.db'}",
        "timezone": "Europe/Paris",
        "delivery": {"min_interval": 0, "max_attempts": 1},
        "defaults": {"language": "fr", "timeout": "2s"},
        "accounts": {"console": {"type": "console"}, "ville_mastodon": {"type": "console"}},
        "feeds": {
            "actualites": {
                "url": server.url("/feed"),
                "accounts": ["console", "ville_mastodon"],
                "burst_limit": 1,
            },
        },
    }
    data.update(extra)
    return load_config(write_config(tmp_path, data))


def states(config: Config) -> dict[tuple[int, str], str]:
    with Storage.open(config.database) as storage:
        return storage.delivery_states()


def burst_held(config: Config, server: FeedServer) -> None:
    """Item 1 is the baseline; items 2 and 3 come in one poll and are held, both accounts."""
    server.set("/feed", rss(*entries(1)))
    app.run_cycle(config, parse_workers=0)
    server.set("/feed", rss(*entries(3, 2, 1)))
    app.run_cycle(config, parse_workers=0)
    assert set(states(config).values()) == {"held"}


def test_approve_by_item_then_reject_by_feed(tmp_path: Path, server: FeedServer) -> None:
    config = make_config(tmp_path, server)
    burst_held(config, server)
    approved = app.approve(config, app.Selection(item=2), actor=ALICE)
    assert approved.ok
    assert len(approved.decided) == 2
    assert states(config) == {
        (2, "console"): "pending",
        (2, "ville_mastodon"): "pending",
        (3, "console"): "held",
        (3, "ville_mastodon"): "held",
    }
    rejected = app.reject(config, app.Selection(feed="actualites"), actor=ALICE)
    assert len(rejected.decided) == 2  # the pending ones are not held: not selected
    assert {s for (item, _), s in states(config).items() if item == 3} == {"skipped"}
    assert app.approve(config, app.Selection(held_only=True), actor=ALICE).decided == ()
    trail = app.export_events(config)
    assert {e.actor for e in trail if e.to_state in ("pending", "skipped") and e.from_state} == {
        ALICE
    }


def test_approve_every_held_and_refusals_by_id(tmp_path: Path, server: FeedServer) -> None:
    config = make_config(tmp_path, server)
    burst_held(config, server)
    assert len(app.status(config).held) == 4
    everything = app.approve(config, app.Selection(held_only=True), actor=ALICE)
    assert everything.ok
    assert len(everything.decided) == 4
    again = app.approve(
        config, app.Selection(ids=(everything.decided[0].delivery, 999)), actor=ALICE
    )
    assert not again.ok
    assert [(d.done, d.state) for d in again.decided] == [(False, "pending"), (False, None)]
    assert app.status(config).held == ()
    with pytest.raises(NotFoundError, match="no feed named 'nope'"):
        app.approve(config, app.Selection(feed="nope"), actor=ALICE)


def test_retry_by_item_and_by_feed(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    # Nothing listens on port 9 of this machine: every post to the hook fails at once.
    config = make_config(
        tmp_path,
        server,
        accounts={
            "console": {"type": "console"},
            "hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
        },
        feeds={
            "actualites": {"url": server.url("/feed"), "accounts": ["console", "hook"]},
            "agenda": {"url": server.url("/feed"), "accounts": ["hook"], "enabled": False},
        },
    )

    def post(feed: str, n: int) -> int:
        request = app.PostRequest(feed, f"Titre {n}", f"https://www.ville.example/{n}")
        posted = app.post_now(config, request, actor=ALICE)
        assert posted.failed == 1
        return posted.item

    first, second, third = post("actualites", 1), post("actualites", 2), post("agenda", 3)
    broken = [key for key, state in states(config).items() if state in ("failed", "unknown")]
    assert sorted(broken) == [(first, "hook"), (second, "hook"), (third, "hook")]

    by_item = app.retry(config, app.Selection(item=first), actor=ALICE)
    assert by_item.ok
    assert len(by_item.decided) == 1
    assert states(config)[(first, "hook")] == "pending"
    assert states(config)[(second, "hook")] != "pending"

    by_feed = app.retry(config, app.Selection(feed="agenda"), actor=ALICE)
    assert by_feed.ok
    assert len(by_feed.decided) == 1
    assert states(config)[(third, "hook")] == "pending"
    assert states(config)[(second, "hook")] != "pending"
    assert states(config)[(first, "console")] == "sent"  # sent is never retried


def test_post_sends_its_own_deliveries_only(tmp_path: Path, server: FeedServer) -> None:
    config = make_config(tmp_path, server)
    burst_held(config, server)
    app.approve(config, app.Selection(held_only=True), actor=ALICE)  # four due deliveries
    request = app.PostRequest("actualites", "Fête", "https://www.ville.example/fete")
    posted = app.post_now(config, request, actor=ALICE)
    assert (posted.sent, posted.waiting, posted.failed) == (2, 0, 0)
    now = states(config)
    assert [now[(posted.item, a)] for a in ("console", "ville_mastodon")] == ["sent", "sent"]
    assert sorted(s for (item, _), s in now.items() if item != posted.item) == ["pending"] * 4
    with Storage.open(config.database) as storage:
        assert len(storage.deliveries_in(DeliveryState.PENDING)) == 4


def test_pause_and_resume_are_told_apart(tmp_path: Path, server: FeedServer) -> None:
    config = make_config(tmp_path, server)
    assert app.pause_account(config, "console", reason="vacances", actor=ALICE).changed
    assert not app.pause_account(config, "console", reason="again", actor=ALICE).changed
    assert app.status(config).paused == {"console": f"vacances ({ALICE})"}
    assert app.resume_account(config, "console", actor=ALICE).changed
    assert not app.resume_account(config, "console", actor=ALICE).changed
    with pytest.raises(NotFoundError, match="no account named 'nope'"):
        app.pause_account(config, "nope", reason="x", actor=ALICE)


def test_every_operation_named_by_app_is_found_in_its_module() -> None:
    import importlib

    import autoposter.app as app

    for name, module in app._WHERE.items():
        assert hasattr(importlib.import_module(f"autoposter.app.{module}"), name), name
        assert getattr(app, name) is getattr(
            importlib.import_module(f"autoposter.app.{module}"), name
        )
