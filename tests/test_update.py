"""Items corrected at the source, under each ``on_update``: through the real fetcher,
parser and clients, against the network doubles (which answer the edit endpoints)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from autoposter.config import Config, parse_config
from autoposter.fetch import Fetcher
from autoposter.parsepool import ParserPool
from autoposter.pipeline import is_material
from autoposter.runtime import Runtime, build_publishers
from autoposter.storage import Storage
from autoposter.storage.schema import delivery_events
from autoposter.types import DeliveryState
from tests.fakes import (
    bluesky as fb_sky,
    facebook as ff,
    linkedin as fl,
    mastodon as fm,
    telegram as ft,
    x as fx,
)
from tests.fakes.apiserver import ApiServer, Fault
from tests.feedserver import FeedServer
from tests.test_dispatch import Alerts, Clock
from tests.test_retract import ACCOUNTS, accounts_block

EDITABLE = ("mastodon", "facebook", "linkedin", "telegram")
CANNOT = ("bluesky", "x")


@pytest.fixture(scope="module")
def shared() -> Iterator[dict[str, ApiServer]]:
    servers: dict[str, ApiServer] = {
        "mastodon": fm.FakeMastodon(),
        "bluesky": fb_sky.FakeBluesky(),
        "facebook": ff.FakeFacebook(),
        "x": fx.FakeX(),
        "linkedin": fl.FakeLinkedIn(),
        "telegram": ft.FakeTelegram(),
    }
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


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def rss(site: FeedServer, entries: dict[int, str]) -> bytes:
    """An RSS feed of the numbered entries with these titles, newest first."""
    body = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>Actualités</title><link>{site.url('/')}</link><description>x</description>",
    ]
    for n, title in sorted(entries.items(), reverse=True):
        body.append(
            f"<item><guid>urn:ville:actu:{n}</guid><title>{title}</title>"
            f"<link>{site.url(f'/actu/{n}')}</link>"
            f"<description>Le résumé de l'article {n}.</description>"
            f"<pubDate>Mon, {n:02d} Nov 2026 09:00:00 GMT</pubDate></item>"
        )
    body.append("</channel></rss>")
    return "".join(body).encode("utf-8")


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


def daemon(tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer, **feed: Any) -> Daemon:
    # The blocks of the networks not under test are built on a stand-in, then dropped.
    absent = SimpleNamespace(url="http://127.0.0.1:9", hook_url="http://127.0.0.1:9/hook")
    every = {name: networks.get(name, absent) for name in ACCOUNTS}
    accounts = {k: v for k, v in accounts_block(every).items() if k in networks}  # type: ignore[arg-type]
    config = parse_config(
        {
            "database": f"sqlite:///{tmp_path}/autoposter.db",
            "http": {"allow_networks": ["127.0.0.0/8"]},
            "delivery": {"min_interval": 0, "retry_delay": "1s"},
            "accounts": accounts,
            "feeds": {
                "actu": {
                    "url": site.url("/feed.rss"),
                    "accounts": list(accounts),
                    "poll_interval": "1m",
                    **feed,
                }
            },
        },
        base_dir=tmp_path,
        environ={},
    )
    return Daemon(config)


def posted(d: Daemon, site: FeedServer, title: str = "Conseil municipal le 12 mai") -> None:
    """Baseline with entry 1, then entry 2 posted to every account."""
    site.set("/feed.rss", rss(site, {1: "Ancien"}), content_type="application/rss+xml")
    d.cycle()
    site.set("/feed.rss", rss(site, {1: "Ancien", 2: title}), content_type="application/rss+xml")
    d.cycle()


def correct(d: Daemon, site: FeedServer, title: str) -> None:
    site.set("/feed.rss", rss(site, {1: "Ancien", 2: title}), content_type="application/rss+xml")
    d.clock.advance(minutes=2)
    d.cycle()


def edits(networks: dict[str, ApiServer]) -> dict[str, list[Any]]:
    return {name: list(networks[name].edited) for name in EDITABLE}  # type: ignore[attr-defined]


def events(d: Daemon) -> list[tuple[str, str | None]]:
    with Storage.open(d.config.database) as storage, storage._tx() as conn:
        rows = conn.execute(delivery_events.select().order_by(delivery_events.c.id)).all()
    return [(r.actor, r.detail) for r in rows]


def test_a_corrected_title_edits_where_the_network_can_and_alerts_once_for_the_rest(
    tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer
) -> None:
    d = daemon(tmp_path, networks, site, on_update="edit")
    posted(d, site)
    assert edits(networks) == {name: [] for name in EDITABLE}
    correct(d, site, "Conseil municipal le 19 mai")
    done = edits(networks)
    assert all(len(done[name]) == 1 for name in EDITABLE), done
    masto: fm.FakeMastodon = networks["mastodon"]  # type: ignore[assignment]
    assert "19 mai" in masto.statuses[0].text
    fb: ff.FakeFacebook = networks["facebook"]  # type: ignore[assignment]
    assert "19 mai" in fb.posts[0]["message"]
    li: fl.FakeLinkedIn = networks["linkedin"]  # type: ignore[assignment]
    assert "19 mai" in li.posts[0]["commentary"]
    tg: ft.FakeTelegram = networks["telegram"]  # type: ignore[assignment]
    assert "19 mai" in tg.messages[0]["html"]
    impossible = [a for a in d.alerts.sent if a.kind == "edit-impossible"]
    assert len(impossible) == 1
    assert "bluesky:" in impossible[0].body
    assert "x:" in impossible[0].body
    assert "12 mai -> Conseil municipal le 19 mai" in impossible[0].body
    audit = events(d)
    assert sum(1 for actor, detail in audit if (detail or "").startswith("edited: ")) == 4
    assert all(actor == "daemon" for actor, detail in audit if "corrected" in (detail or ""))
    # The same feed again: nothing new to edit, nothing new to say.
    d.clock.advance(minutes=2)
    d.cycle()
    assert edits(networks) == done
    assert [a.kind for a in d.alerts.sent].count("edit-impossible") == 1


def test_alert_mode_alerts_once_and_edits_nothing(
    tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer
) -> None:
    d = daemon(tmp_path, networks, site)  # on_update: alert is the default
    posted(d, site)
    correct(d, site, "Conseil municipal le 19 mai")
    d.clock.advance(minutes=2)
    d.cycle()
    assert edits(networks) == {name: [] for name in EDITABLE}
    corrected = [a for a in d.alerts.sent if a.kind == "item-corrected"]
    assert len(corrected) == 1
    assert (
        "the article changed on the site: conseil municipal le 12 mai -> "
        "conseil municipal le 19 mai; the posts were not changed"
    ) in corrected[0].body.lower()


def test_a_cosmetic_change_does_nothing(
    tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer
) -> None:
    d = daemon(tmp_path, networks, site, on_update="edit")
    posted(d, site)
    correct(d, site, "  Conseil Municipal   le 12 mai. ")
    assert edits(networks) == {name: [] for name in EDITABLE}
    assert not [a for a in d.alerts.sent if a.kind.startswith(("edit", "item-corrected"))]


def test_ignore_looks_for_nothing(
    tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer
) -> None:
    d = daemon(tmp_path, networks, site, on_update="ignore")
    posted(d, site)
    correct(d, site, "Conseil municipal le 19 mai")
    assert edits(networks) == {name: [] for name in EDITABLE}
    assert not [a for a in d.alerts.sent if a.kind.startswith(("edit", "item-corrected"))]


def test_an_edit_that_meets_a_503_is_retried_and_done_once(
    tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer
) -> None:
    masto: fm.FakeMastodon = networks["mastodon"]  # type: ignore[assignment]
    only = {"mastodon": masto}
    d = daemon(tmp_path, only, site, on_update="edit")
    posted(d, site)
    masto.fail("PUT", r"/api/v1/statuses/\d+", Fault(status=503))
    correct(d, site, "Conseil municipal le 19 mai")
    assert masto.edited == []
    assert len(masto.requests_to("PUT", r"/api/v1/statuses/\d+")) == 1
    d.clock.advance(minutes=5)
    d.cycle()
    assert [text for _id, text in masto.edited if "19 mai" in text] == [masto.edited[0][1]]
    assert len(masto.edited) == 1
    d.clock.advance(minutes=5)
    d.cycle()
    assert len(masto.edited) == 1  # done once: never sent again
    details = [detail or "" for _actor, detail in events(d)]
    assert any(x.startswith("edit delayed: ") for x in details)
    assert sum(1 for x in details if x.startswith("edited: ")) == 1


def test_an_edit_interrupted_by_a_crash_is_done_again(
    tmp_path: Path, networks: dict[str, ApiServer], site: FeedServer
) -> None:
    masto: fm.FakeMastodon = networks["mastodon"]  # type: ignore[assignment]
    d = daemon(tmp_path, {"mastodon": masto}, site, on_update="edit")
    posted(d, site)
    correct(d, site, "Conseil municipal le 19 mai")
    assert len(masto.edited) == 1
    with Storage.open(d.config.database) as storage:
        (delivery,) = storage.deliveries_in(DeliveryState.SENT)
        # A process that died during its call: the claim is there, the answer never came.
        storage.correct_item(
            delivery.item_id,
            d.clock(),
            title="Conseil municipal le 26 mai",
            summary="",
            actor="daemon",
            reason="again",
            edit=True,
        )
        (edit,) = storage.due_edits(d.clock(), stale=d.clock())
        at = d.clock()
        assert storage.claim_edit(edit, at, text="Texte corrigé", stale=at, detail="claimed")
    d.cycle()
    assert len(masto.edited) == 1  # still under way: not before reconcile_after
    d.clock.advance(seconds=d.config.reconcile_after + 1)
    d.cycle()
    assert masto.edited[-1] == (masto.edited[0][0], "Texte corrigé")
    assert any((x or "") == "interrupted; edited again" for _a, x in events(d))


@pytest.mark.parametrize(
    ("old", "new", "material"),
    [
        ("Conseil municipal", "Conseil municipal", False),
        ("Conseil municipal", "  Conseil\u00a0 municipal ", False),
        ("Conseil municipal", "CONSEIL MUNICIPAL", False),
        ("Conseil municipal", "Conseil municipal.", False),
        ("L'école ouvre", "L\u2019école ouvre", False),
        ("Fête – 14 juillet", "Fête - 14 juillet", False),
        ("Réunion à 14 h", "Réunion à 15 h", True),
        ("Conseil municipal", "Conseil communautaire", True),
        ("Travaux rue Jean-Jaurès", "Travaux rue Jean Jaurès", True),
        ("Budget 1,5 M€", "Budget 15 M€", True),
        ("Fermé", "Fermé ?", False),
    ],
)
def test_what_is_material(old: str, new: str, material: bool) -> None:
    assert is_material(old, "", new, "") is material
    assert is_material("Même titre", old, "Même titre", new) is material
