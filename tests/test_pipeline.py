"""The pipeline end to end: a feed server on 127.0.0.1, a real SQLite file, the real
fetcher, parser and console publisher. Only the clock is ours to move."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from autoposter.config import Config, parse_config
from autoposter.errors import RejectedError, UnavailableError
from autoposter.fetch import Fetcher
from autoposter.parsepool import ParserPool
from autoposter.pipeline import Backoff, dispatch_due, poll_feed
from autoposter.runtime import Runtime, build_publishers
from autoposter.storage import Storage
from autoposter.types import AccountInfo, Item, Post, PostSpec, Receipt
from tests.feedserver import FeedServer

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def rss(*entries: tuple[str, str, str], extra: str = "") -> bytes:
    """An RSS 2.0 document; entries are (guid, link path, title), newest first."""
    items = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid>"
        f"<link>https://www.ville.example{path}</link><title>{title}</title>"
        f"<pubDate>Tue, 24 Nov 2026 0{8 - min(i, 8)}:00:00 +0000</pubDate>{extra}</item>"
        for i, (guid, path, title) in enumerate(entries)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Ville</title><link>https://www.ville.example/</link>{items}</channel></rss>"
    ).encode()


def entries(*numbers: int, prefix: str = "guid") -> tuple[tuple[str, str, str], ...]:
    return tuple((f"{prefix}-{n}", f"/actu/{n}", f"Actualité numéro {n}") for n in numbers)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def make_config(tmp_path: Path, feeds: dict[str, Any], **top: Any) -> Config:
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path}/autoposter.db",
        "defaults": {"language": "fr", "timeout": "2s"},
        "accounts": {"console": {"type": "console"}, "second": {"type": "console"}},
        "feeds": feeds,
    }
    data.update(top)
    return parse_config(data, base_dir=tmp_path, environ={})


class Harness:
    """One 'process lifetime' of autoposter: runtime opened on the shared database."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    def cycle(self) -> dict[str, str]:
        runtime = Runtime(
            config=self.config,
            storage=Storage.open(self.config.database),
            fetcher=Fetcher(),
            parser=ParserPool(workers=0),
            publishers=build_publishers(self.config),
            now=self.clock,
        )
        try:
            results = {r.feed: r.status for r in runtime.poll_all()}
            runtime.dispatch()
            return results
        finally:
            runtime.close()


def posted_links(output: str) -> list[str]:
    return re.findall(r"│ (https://www\.ville\.example/\S+)", output)


def test_each_item_is_posted_once_per_account_across_restarts(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set("/feed", rss(*entries(2, 1)))
    config = make_config(
        tmp_path, {"actu": {"url": server.url("/feed"), "accounts": ["console", "second"]}}
    )
    clock = Clock()
    h = Harness(config, clock)

    assert h.cycle() == {"actu": "baseline"}
    assert posted_links(capsys.readouterr().out) == []

    server.set("/feed", rss(*entries(3, 2, 1)))
    for _ in range(3):  # three restarts, the same feed each time
        clock.advance(minutes=10)
        h.cycle()
    out = capsys.readouterr().out
    assert posted_links(out) == ["https://www.ville.example/actu/3"] * 2

    server.set("/feed", rss(*entries(5, 4, 3, 2, 1)))
    for _ in range(3):
        clock.advance(minutes=10)
        h.cycle()
    out = capsys.readouterr().out
    # Oldest first, once per account.
    assert posted_links(out) == [f"https://www.ville.example/actu/{n}" for n in (4, 4, 5, 5)]
    with Storage.open(config.database) as s:
        states = s.delivery_states()
    assert sorted(states.values()) == ["sent"] * 6


def test_unchanged_feeds_are_not_parsed_again(tmp_path: Path, server: FeedServer) -> None:
    server.set("/etag", rss(*entries(1)))
    server.set("/no-validators", rss(*entries(1)), etag=False)
    config = make_config(
        tmp_path,
        {
            "etag": {"url": server.url("/etag"), "accounts": ["console"]},
            "plain": {"url": server.url("/no-validators"), "accounts": ["console"]},
        },
    )
    h = Harness(config, Clock())
    assert h.cycle() == {"etag": "baseline", "plain": "baseline"}
    assert h.cycle() == {"etag": "not-modified", "plain": "unchanged"}
    assert server.requests_to("/etag")[-1].headers.get("if-none-match")


def test_a_burst_is_held_not_posted(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set("/feed", rss(*entries(1)))
    config = make_config(
        tmp_path, {"actu": {"url": server.url("/feed"), "accounts": ["console"], "burst_limit": 5}}
    )
    h = Harness(config, Clock())
    h.cycle()
    # The CMS migrated: six items at once look new.
    server.set("/feed", rss(*entries(7, 6, 5, 4, 3, 2, 1)))
    h.cycle()
    assert posted_links(capsys.readouterr().out) == []
    with Storage.open(config.database) as s:
        held = s.recent_deliveries(100, state="held")
        assert len(held) == 6
        assert "burst" in (s.recent_deliveries(1, state="held")[0].last_error or "burst")
        s.release(held[0].id, T0, actor="cli:test", approve=True)
    h.cycle()
    assert len(posted_links(capsys.readouterr().out)) == 1


def test_new_guids_on_the_same_links_are_not_new(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(3, 2, 1)))
    config = make_config(tmp_path, {"actu": {"url": server.url("/feed"), "accounts": ["console"]}})
    h = Harness(config, Clock())
    h.cycle()
    server.set("/feed", rss(*entries(3, 2, 1, prefix="new-cms-id")))
    h.cycle()
    with Storage.open(config.database) as s:
        assert s.delivery_states() == {}
        assert len(s.items_for_backfill("actu")) == 3


def test_a_moved_feed_is_baselined_again(tmp_path: Path, server: FeedServer) -> None:
    server.set("/old", rss(*entries(1)))
    server.set("/new", rss(*entries(9, 8, 1)))
    clock = Clock()
    Harness(
        make_config(tmp_path, {"actu": {"url": server.url("/old"), "accounts": ["console"]}}), clock
    ).cycle()
    moved = make_config(tmp_path, {"actu": {"url": server.url("/new"), "accounts": ["console"]}})
    assert Harness(moved, clock).cycle() == {"actu": "baseline"}
    with Storage.open(moved.database) as s:
        assert s.delivery_states() == {}


def test_broken_feeds_are_recorded_and_the_others_still_post(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set("/good", rss(*entries(1)))
    server.set("/slow", rss(*entries(1)), delay=3.0)
    server.set("/error", b"oops", status=500, content_type="text/plain")
    server.set("/huge", size=50 * 1024 * 1024)
    server.set("/garbage", b"\x00\xff\xfe not a feed at all <<<", content_type="text/html")
    feeds = {
        name: {
            "url": server.url(f"/{name}"),
            "accounts": ["console"],
            "timeout": "1s",
            "max_bytes": "1MB",
        }
        for name in ("good", "slow", "error", "huge", "garbage")
    }
    config = make_config(tmp_path, feeds)
    clock = Clock()
    h = Harness(config, clock)
    first = h.cycle()
    assert first["good"] == "baseline"
    assert {first[n] for n in ("slow", "error", "huge", "garbage")} == {"error"}
    server.set("/good", rss(*entries(2, 1)))
    clock.advance(minutes=10)
    h.cycle()
    assert posted_links(capsys.readouterr().out) == ["https://www.ville.example/actu/2"]
    with Storage.open(config.database) as s:
        errors = {f.name: (f.last_error, f.failures) for f in s.feed_summaries()}
    assert errors["good"] == (None, 0)
    assert "timed out" in (errors["slow"][0] or "")
    assert "500" in (errors["error"][0] or "")
    assert "1 MB" in (errors["huge"][0] or "") or "limit" in (errors["huge"][0] or "")
    assert errors["garbage"][0]
    assert all(errors[n][1] == 2 for n in ("slow", "error", "huge", "garbage"))
    # The 50 MB body was not read to the end.
    assert server.bytes_sent("/huge") < 20 * 1024 * 1024


def test_a_failing_feed_backs_off(tmp_path: Path, server: FeedServer) -> None:
    server.set("/error", b"", status=503)
    config = make_config(
        tmp_path,
        {"down": {"url": server.url("/error"), "accounts": ["console"], "poll_interval": "1m"}},
    )
    clock = Clock()
    feed = config.feeds["down"]
    with Storage.open(config.database) as storage, Fetcher() as fetcher:
        parser = ParserPool(workers=0)
        statuses = []
        for _ in range(6):
            statuses.append(
                poll_feed(
                    feed, config=config, storage=storage, fetcher=fetcher, parser=parser, now=clock
                ).status
            )
            clock.advance(minutes=1)
    # Intervals after failures: 1, 2, 4 minutes...
    assert statuses == ["error", "error", "backoff", "error", "backoff", "backoff"]


def test_filters_route_items(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set("/feed", rss(*entries(1)))
    config = make_config(
        tmp_path,
        {
            "actu": {
                "url": server.url("/feed"),
                "accounts": ["console"],
                "exclude": {"keywords": ["annulé"]},
            }
        },
    )
    h = Harness(config, Clock())
    h.cycle()
    server.set(
        "/feed",
        rss(
            ("g3", "/actu/3", "Concert annulé"), ("g2", "/actu/2", "Concert maintenu"), *entries(1)
        ),
    )
    h.cycle()
    assert posted_links(capsys.readouterr().out) == ["https://www.ville.example/actu/2"]


class FlakyPublisher:
    """A network that refuses some posts: a fake, recording what it received."""

    kind: ClassVar[str] = "flaky"
    can_find: ClassVar[bool] = True

    def __init__(self, name: str, error: Exception | None) -> None:
        self.name = name
        self.error = error
        self.received: list[tuple[str, str]] = []

    def render(self, item: Item, spec: PostSpec) -> Post:
        return Post(account=self.name, text=item.title, link=item.link, language=spec.language)

    def publish(self, post: Post, *, key: str) -> Receipt:
        self.received.append((post.link, key))
        if self.error is not None:
            raise self.error
        return Receipt(
            remote_id=str(len(self.received)), url=f"https://social.example/{len(self.received)}"
        )

    def find(self, post: Post, *, key: str) -> Receipt | None:
        return None

    def check(self) -> AccountInfo:
        return AccountInfo(name=self.name)

    def close(self) -> None:
        pass


def test_dispatch_retries_keeps_the_key_and_isolates_accounts(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", rss(*entries(1)))
    config = make_config(
        tmp_path,
        {"actu": {"url": server.url("/feed"), "accounts": ["down", "refuses", "fine"]}},
        accounts={
            "down": {"type": "console"},
            "refuses": {"type": "console"},
            "fine": {"type": "console"},
        },
        delivery={"min_interval": 0, "max_attempts": 3},
    )
    clock = Clock()
    Harness(config, clock).cycle()
    server.set("/feed", rss(*entries(3, 2, 1)))
    with Storage.open(config.database) as storage, Fetcher() as fetcher:
        poll_feed(
            config.feeds["actu"],
            config=config,
            storage=storage,
            fetcher=fetcher,
            parser=ParserPool(workers=0),
            now=clock,
        )
        down = FlakyPublisher("down", UnavailableError("down", "HTTP 503"))
        refuses = FlakyPublisher("refuses", RejectedError("refuses", "text too long"))
        fine = FlakyPublisher("fine", None)
        publishers = {"down": down, "refuses": refuses, "fine": fine}
        policy = Backoff()
        result = dispatch_due(
            config=config, storage=storage, publishers=publishers, now=clock, backoff=policy
        )
        assert (result.sent, result.failed, result.retried) == (2, 2, 1)
        # The unavailable account was tried once in this pass; its other item waits.
        assert len(down.received) == 1
        assert (
            dispatch_due(
                config=config, storage=storage, publishers=publishers, now=clock, backoff=policy
            ).sent
            == 0
        )
        # The account in doubt tries its first item to the end before its second.
        for _ in range(6):
            clock.advance(hours=1)
            dispatch_due(
                config=config, storage=storage, publishers=publishers, now=clock, backoff=policy
            )
        keys_by_link: dict[str, set[str]] = {}
        for link, key in down.received:
            keys_by_link.setdefault(link, set()).add(key)
        assert all(len(keys) == 1 for keys in keys_by_link.values()), (
            "one key per delivery, on every retry"
        )
        by_state: dict[str, list[str]] = {}
        for (_item, account), state in storage.delivery_states().items():
            by_state.setdefault(state, []).append(account)
    assert sorted(by_state["sent"]) == ["fine", "fine"]
    assert sorted(by_state["failed"]) == ["down", "down", "refuses", "refuses"]
    assert len(down.received) == 6  # 3 attempts for each of 2 items, then failed
