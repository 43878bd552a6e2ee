"""Items withdrawn at the source: tombstones in the feed and pages gone, under each
``on_withdraw``, through the real fetcher, parser and Mastodon client against doubles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoposter.config import Config, parse_config
from autoposter.fetch import Fetcher
from autoposter.parse import MAX_TOMBSTONES, tombstones
from autoposter.parsepool import ParserPool
from autoposter.runtime import Runtime, build_publishers
from autoposter.storage import Storage
from tests.fakes import mastodon as fm
from tests.feedserver import FeedServer
from tests.test_dispatch import Alerts, Clock

NS = "http://purl.org/atompub/tombstones/1.0"


def atom(server: FeedServer, entries: list[int], deleted: tuple[int, ...] = ()) -> bytes:
    """An Atom feed of the numbered entries (entry n published on day n), with tombstones."""
    body = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:at="{NS}">',
        "<title>Actualités</title><id>urn:ville:actu</id><updated>2026-11-20T00:00:00Z</updated>",
    ]
    for n in deleted:
        body.append(
            f'<at:deleted-entry ref="urn:ville:actu:{n}" when="2026-11-21T08:00:00Z">'
            "<at:comment>Publié par erreur</at:comment></at:deleted-entry>"
        )
    for n in entries:
        body.append(
            f"<entry><id>urn:ville:actu:{n}</id><title>Actualité n°{n}</title>"
            f'<link href="{server.url(f"/actu/{n}")}"/>'
            f"<published>2026-11-{n:02d}T09:00:00Z</published>"
            f"<updated>2026-11-{n:02d}T09:00:00Z</updated></entry>"
        )
    body.append("</feed>")
    return "\n".join(body).encode("utf-8")


@pytest.fixture(scope="module")
def masto() -> Iterator[fm.FakeMastodon]:
    with fm.FakeMastodon() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


class Daemon:
    """The daemon's passes (poll, then dispatch) on one database, with a clock and alerts."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.clock = Clock(datetime.now(UTC))
        self.alerts = Alerts()

    def cycle(self) -> Any:
        runtime = Runtime(
            config=self.config,
            storage=Storage.open(self.config.database),
            fetcher=Fetcher(allow_networks=self.config.allow_networks),
            parser=ParserPool(workers=0),
            publishers=build_publishers(self.config),
            alerts=self.alerts,
            now=self.clock,
        )
        try:
            (result,) = runtime.poll_all()
            runtime.dispatch()
            return result
        finally:
            runtime.close()


def daemon(tmp_path: Path, masto: fm.FakeMastodon, site: FeedServer, **feed: Any) -> Daemon:
    masto.reset()
    config = parse_config(
        {
            "database": f"sqlite:///{tmp_path}/autoposter.db",
            "http": {"allow_networks": ["127.0.0.0/8"]},
            "delivery": {"min_interval": 0},
            "accounts": {
                "masto": {"type": "mastodon", "api_url": masto.url, "access_token": fm.TOKEN}
            },
            "feeds": {
                "actu": {
                    "url": site.url("/feed.atom"),
                    "accounts": ["masto"],
                    "poll_interval": "1m",
                    **feed,
                }
            },
        },
        base_dir=tmp_path,
        environ={},
    )
    return Daemon(config)


def posted_then(d: Daemon, site: FeedServer, masto: fm.FakeMastodon) -> None:
    """Baseline with entry 1, then entries 2 and 3 posted; every page answers."""
    for n in (1, 2, 3, 4):
        site.set(f"/actu/{n}", b"<html>page</html>", content_type="text/html")
    site.set("/feed.atom", atom(site, [1]), content_type="application/atom+xml")
    d.cycle()
    site.set("/feed.atom", atom(site, [3, 2, 1]), content_type="application/atom+xml")
    d.cycle()
    assert len(masto.statuses) == 2


def states(d: Daemon) -> dict[str, str]:
    with Storage.open(d.config.database) as storage:
        return {
            item.item.link.rsplit("/", 1)[1]: state
            for item in storage.items_for_backfill("actu")
            for (item_id, _a), state in storage.delivery_states().items()
            if item_id == item.id
        }


def test_a_tombstone_retracts_under_retract(
    tmp_path: Path, masto: fm.FakeMastodon, site: FeedServer
) -> None:
    d = daemon(tmp_path, masto, site, on_withdraw="retract")
    posted_then(d, site, masto)
    site.set("/feed.atom", atom(site, [3, 1], deleted=(2,)), content_type="application/atom+xml")
    result = d.cycle()
    assert result.withdrawn == 1
    assert states(d) == {"2": "retracted", "3": "sent"}
    assert len(masto.statuses) == 1
    assert len(masto.deleted) == 1
    with Storage.open(d.config.database) as storage:
        (event,) = [e for e in storage.events() if e.to_state == "retracting"]
    assert (event.actor, event.detail) == ("daemon", "withdrawn from the site")
    d.cycle()  # the tombstone stays in the feed: nothing more happens
    assert len(masto.deleted) == 1
    assert d.alerts.sent == []


def test_a_tombstone_alerts_once_under_alert(
    tmp_path: Path, masto: fm.FakeMastodon, site: FeedServer
) -> None:
    d = daemon(tmp_path, masto, site)  # on_withdraw: alert, the default
    posted_then(d, site, masto)
    site.set("/feed.atom", atom(site, [3, 1], deleted=(2,)), content_type="application/atom+xml")
    d.cycle()
    site.set("/feed.atom", atom(site, [4, 3, 1], deleted=(2,)), content_type="application/atom+xml")
    d.cycle()
    assert [a.kind for a in d.alerts.sent] == ["item-withdrawn"]
    assert "Actualité n°2" in d.alerts.sent[0].subject
    assert "autoposter retract" in d.alerts.sent[0].body
    assert masto.deleted == []
    assert states(d)["2"] == "sent"


def test_a_page_gone_410_is_withdrawn_one_still_there_is_not(
    tmp_path: Path, masto: fm.FakeMastodon, site: FeedServer
) -> None:
    d = daemon(tmp_path, masto, site, on_withdraw="retract")
    posted_then(d, site, masto)
    site.set("/actu/2", b"Gone", status=410, content_type="text/plain")
    # Entries 2 and 3 leave the feed, newer ones remain; 3's page is still there.
    site.set("/feed.atom", atom(site, [5, 4, 1]), content_type="application/atom+xml")
    d.cycle()
    assert states(d)["2"] == "retracted"
    assert states(d)["3"] == "sent"
    assert len(site.requests_to("/actu/2")) == 1
    assert len(site.requests_to("/actu/3")) == 1
    d.cycle()
    assert len(site.requests_to("/actu/3")) == 1  # its page answered: no longer watched


def test_a_page_404_twice_hours_apart_is_withdrawn(
    tmp_path: Path, masto: fm.FakeMastodon, site: FeedServer
) -> None:
    d = daemon(tmp_path, masto, site)
    posted_then(d, site, masto)
    site.set("/actu/2", b"Not found", status=404, content_type="text/plain")
    site.set("/feed.atom", atom(site, [3, 1]), content_type="application/atom+xml")
    d.cycle()
    d.clock.advance(hours=1)
    d.cycle()  # too soon for the second check
    assert d.alerts.sent == []
    assert len(site.requests_to("/actu/2")) == 1
    d.clock.advance(hours=3)
    d.cycle()  # the feed has not changed; the page is checked again all the same
    assert [a.kind for a in d.alerts.sent] == ["item-withdrawn"]
    assert "HTTP 404" in d.alerts.sent[0].body
    assert masto.deleted == []


def test_ignore_checks_nothing(tmp_path: Path, masto: fm.FakeMastodon, site: FeedServer) -> None:
    d = daemon(tmp_path, masto, site, on_withdraw="ignore")
    posted_then(d, site, masto)
    site.set("/actu/2", b"Gone", status=410, content_type="text/plain")
    site.set("/feed.atom", atom(site, [3, 1], deleted=(2,)), content_type="application/atom+xml")
    d.cycle()
    assert site.requests_to("/actu/2") == []
    assert d.alerts.sent == []
    assert states(d)["2"] == "sent"


def test_tombstones_are_read_by_namespace_not_by_name() -> None:
    body = (
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:t="{NS}" xmlns:o="urn:other">'
        '<t:deleted-entry ref="urn:a&amp;1" when="2026-11-21T08:00:00Z"/>'
        '<o:deleted-entry ref="urn:not-a-tombstone" when="2026-11-21T08:00:00Z"/>'
        f"<deleted-entry xmlns='{NS}' when='2026-11-21T08:00:00Z' ref='urn:b'></deleted-entry>"
        "</feed>"
    ).encode()
    assert tombstones(body) == ("urn:a&1", "urn:b")
    assert tombstones(b"<feed><deleted-entry ref='x'/></feed>") == ()
    many = f'<feed xmlns:at="{NS}">'.encode() + b"".join(
        f'<at:deleted-entry ref="urn:{i}" when="x"/>'.encode() for i in range(MAX_TOMBSTONES + 9)
    )
    assert len(tombstones(many)) == MAX_TOMBSTONES


def test_the_settings_are_checked_and_default_to_alert(tmp_path: Path) -> None:
    from autoposter.errors import ConfigError

    def feed(**keys: Any) -> Any:
        data = {
            "accounts": {"c": {"type": "console"}},
            "feeds": {"actu": {"url": "https://www.ville.example/feed", "accounts": ["c"], **keys}},
        }
        return parse_config(data, base_dir=tmp_path, environ={}).feeds["actu"]

    plain = feed()
    assert (plain.on_withdraw, plain.withdraw_window) == ("alert", 7 * 86400.0)
    chosen = feed(on_withdraw="retract", withdraw_window="2d")
    assert (chosen.on_withdraw, chosen.withdraw_window) == ("retract", 2 * 86400.0)
    with pytest.raises(ConfigError, match=r"feeds\.actu\.on_withdraw"):
        feed(on_withdraw="delete")
