"""Retractions exactly once under kill -9: 20 items posted to every kind of account,
10 of them retracted while the daemon is killed again and again, some kills while a
network holds a deletion it has already made (between the network call and the
database write). Each of the 10 must be gone from every network, deleted once; the
other 10 untouched; nothing posted afterwards."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoposter.storage import Storage
from autoposter.types import DeliveryState
from tests.clitools import autoposter, write_config
from tests.fakes import webhook as fw
from tests.fakes.apiserver import ApiServer, Fault
from tests.feedserver import FeedServer
from tests.test_faults import Daemon, _baselined, _wait
from tests.test_pipeline import rss
from tests.test_retract import ACCOUNTS, accounts_block, networks_for

ITEMS = 20
RETRACTED = 10
MIN_KILLS = 3
DEADLINE = 240.0  # seconds for the whole run; every loop below is bounded by it

DELETE_ROUTES = {
    "mastodon": ("DELETE", r"/api/v1/statuses/\d+"),
    "bluesky": ("POST", r"/xrpc/com\.atproto\.repo\.deleteRecord"),
    "facebook": ("DELETE", r"/v\d+\.0/\d+_\d+"),
    "x": ("DELETE", r"/2/tweets/\d+"),
    "linkedin": ("DELETE", r"/rest/posts/.+"),
    "telegram": ("POST", r"/bot[^/]+/deleteMessage"),
    "webhook": ("POST", r"/hooks/.+"),
}


@pytest.fixture
def networks() -> Iterator[dict[str, ApiServer]]:
    servers = networks_for()
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def states(database: str) -> dict[tuple[int, str], str]:
    with Storage.open(database) as storage:
        return storage.delivery_states()


def test_retractions_exactly_once_under_kill_9(
    tmp_path: Path, networks: dict[str, ApiServer]
) -> None:
    rng = random.Random(20261125)
    feed = FeedServer().start()
    entries = [(f"guid-{n}", f"/actu/{n}", f"Actualité {n}") for n in range(ITEMS, -1, -1)]
    feed.set("/feed", rss(*entries[-1:]))
    config = write_config(
        tmp_path,
        {
            "database": "sqlite:///autoposter.db",
            "dispatch_interval": "1s",
            "delivery": {
                "min_interval": 0,
                "retry_delay": "1s",
                "reconcile_after": "2s",
                "max_attempts": 1000,
                "give_up_after": "1h",
            },
            "accounts": {
                name: {**block, "timeout": "1s"} for name, block in accounts_block(networks).items()
            },
            "feeds": {
                "actu": {
                    "url": feed.url("/feed"),
                    "accounts": list(ACCOUNTS),
                    "poll_interval": "10s",
                    "burst_limit": 10_000,
                    "template": "{title}\n\n{link}",
                }
            },
        },
    )
    database = f"sqlite:///{tmp_path}/autoposter.db"
    daemon = Daemon(config)
    daemon.start()
    kills = holds = 0
    started = time.monotonic()
    try:
        assert _wait(lambda: _baselined(database), 30), "no baseline"
        feed.set("/feed", rss(*entries))
        posted = len(ACCOUNTS) * ITEMS
        assert _wait(lambda: list(states(database).values()).count("sent") == posted, 120), (
            "not all posted"
        )
        with Storage.open(database) as storage:
            stored = [s for s in storage.items_for_backfill("actu") if not s.baseline]
        chosen = rng.sample(stored, RETRACTED)
        gone_ids = {s.id for s in chosen}
        creates = {name: len(server.requests) for name, server in networks.items()}
        for name, (method, route) in DELETE_ROUTES.items():
            faults = [rng.choice([Fault(status=503), Fault(status=429), Fault(after=True)])]
            networks[name].fail(method, route, Fault(), *faults)
        done = autoposter(
            "retract",
            *[s.item.link for s in chosen],
            "--reason",
            "published by mistake",
            "--record-only",
            "--config",
            str(config),
        )
        assert done.returncode == 0, done.stderr

        def settled() -> bool:
            now = states(database)
            return all(
                state == ("retracted" if item in gone_ids else "sent")
                for (item, _account), state in now.items()
            )

        while time.monotonic() - started < DEADLINE:
            if settled():
                break
            if kills < MIN_KILLS + 2:
                # Kill while a network holds a deletion it already made.
                name = rng.choice(list(DELETE_ROUTES))
                method, route = DELETE_ROUTES[name]
                network = networks[name]
                before = len(network.requests_to(method, route))
                network._faults.setdefault((method, route), []).insert(0, Fault(hold=5))

                def arrived(
                    n: ApiServer = network, m: str = method, r: str = route, b: int = before
                ) -> bool:
                    return len(n.requests_to(m, r)) > b

                if _wait(arrived, 8):
                    time.sleep(0.2)
                    holds += 1
                daemon.kill()
                kills += 1
                daemon.start()
            else:
                time.sleep(0.5)
        else:
            pytest.fail(f"not settled after {DEADLINE:.0f} s; see {daemon.log}")
    finally:
        code = daemon.stop()
        feed.stop()
    assert code == 0, daemon.log.read_text()[-3000:]

    final = states(database)
    hook: fw.FakeWebhook = networks["webhook"]  # type: ignore[assignment]
    with Storage.open(database) as storage:
        remote = {
            (d.item_id, d.account): d.remote_id
            for d in storage.deliveries_in(DeliveryState.RETRACTED)
            + storage.deliveries_in(DeliveryState.SENT)
        }
    print(
        f"\nretraction under faults: {ITEMS} items x {len(ACCOUNTS)} accounts, {RETRACTED} "
        f"retracted, {kills} kill -9 ({holds} while a network held a deletion it had made), "
        f"{time.monotonic() - started:.0f} s"
    )
    for name in ACCOUNTS:
        if name == "webhook":
            events = [r for r in hook.received if r["data"].get("event") == "retracted"]
            deleted = [r["data"]["id"] for r in events]
            present = [
                r["data"]["link"] for r in hook.received if r["data"].get("event") != "retracted"
            ]
            present = [link for link in present if link not in {r["data"]["link"] for r in events}]
        else:
            deleted = [str(i) for i in networks[name].deleted]  # type: ignore[attr-defined]
            present = []
        gone_remote = [str(remote[(i, name)]) for i in gone_ids]
        once = sum(1 for r in gone_remote if _count(deleted, r) == 1)
        twice = sum(1 for r in gone_remote if _count(deleted, r) > 1)
        untouched_deleted = len(deleted) - once - twice
        retracted_states = sum(1 for i in gone_ids if final[(i, name)] == "retracted")
        server = networks[name]
        posted_after = sum(1 for r in server.requests[creates[name] :] if _creates(name, r.path, r))
        print(
            f"  {name:<9} deleted once {once:>2}  twice {twice}  others deleted "
            f"{untouched_deleted}  retracted {retracted_states}/{RETRACTED}  "
            f"posted afterwards {posted_after}"
        )
        assert posted_after == 0, name  # nothing posted after the retraction
        assert (once, twice, untouched_deleted) == (RETRACTED, 0, 0), name
        assert retracted_states == RETRACTED, name
        if name == "webhook":
            assert len(present) == ITEMS - RETRACTED
    assert kills >= MIN_KILLS
    assert sum(1 for s in final.values() if s == "sent") == (ITEMS - RETRACTED) * len(ACCOUNTS)


def _count(deleted: list[str], remote_id: str) -> int:
    # Bluesky records deletions by record key, the others by the id we stored.
    return sum(1 for d in deleted if d == remote_id or remote_id.endswith("/" + d))


def _creates(name: str, path: str, request: object) -> bool:
    method = getattr(request, "method", "")
    if name == "webhook":
        body = getattr(request, "body", b"")
        return b'"retracted"' not in body
    return method == "POST" and path.rstrip("/").endswith(
        (
            "/statuses",
            "createRecord",
            "/feed",
            "/2/tweets",
            "/rest/posts",
            "sendMessage",
            "threads_publish",
        )
    )
