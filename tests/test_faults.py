"""Exactly once under faults: 200 items x 5 accounts, networks that fail in every way,
and the daemon killed with SIGKILL again and again, some kills while a network holds
a post it has already made (between the network call and the database write).

Networks that can say whether a post exists (Mastodon by its idempotency key and the
account's statuses, Bluesky by the record key fixed before the first attempt, Facebook
by its feed, X by its duplicate answer and timeline) must end with every item exactly
once. Telegram cannot be asked: every item there is posted once, or reported unknown;
never twice, never missing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoposter.storage import Storage
from autoposter.types import DeliveryState
from tests.clitools import ROOT, autoposter, write_config
from tests.fakes import bluesky as fb_sky, facebook as ff, mastodon as fm, telegram as ft, x as fx
from tests.fakes.apiserver import ApiServer, Fault
from tests.feedserver import FeedServer
from tests.test_pipeline import rss

ITEMS = 200
MIN_KILLS = 5
DEADLINE = 300.0  # seconds for the whole run; the loop below is bounded by it

POST_ROUTES = {
    "mastodon": ("POST", r"/api/v1/statuses"),
    "bluesky": ("POST", r"/xrpc/com\.atproto\.repo\.createRecord"),
    "facebook": ("POST", r"/v\d+\.0/\d+/feed"),
    "x": ("POST", r"/2/tweets"),
    "telegram": ("POST", r"/bot[^/]+/sendMessage"),
}


@pytest.fixture
def networks() -> Iterator[dict[str, ApiServer]]:
    servers: dict[str, ApiServer] = {
        "mastodon": fm.FakeMastodon(),
        "bluesky": fb_sky.FakeBluesky(),
        "facebook": ff.FakeFacebook(),
        "x": fx.FakeX(),
        "telegram": ft.FakeTelegram(),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def posts_of(networks: dict[str, ApiServer]) -> dict[str, Counter[str]]:
    """For each network, how many times each item's link was posted."""

    def link_in(text: str) -> str:
        return next((w for w in text.split() if "/actu/" in w), text)

    masto: fm.FakeMastodon = networks["mastodon"]  # type: ignore[assignment]
    sky: fb_sky.FakeBluesky = networks["bluesky"]  # type: ignore[assignment]
    fb: ff.FakeFacebook = networks["facebook"]  # type: ignore[assignment]
    x: fx.FakeX = networks["x"]  # type: ignore[assignment]
    tg: ft.FakeTelegram = networks["telegram"]  # type: ignore[assignment]
    return {
        "mastodon": Counter(link_in(status.text) for status in list(masto.statuses)),
        "bluesky": Counter(link_in(r.value["text"]) for r in list(sky.records.values())),
        "facebook": Counter(p["link"] for p in list(fb.posts)),
        "x": Counter(link_in(t["text"]) for t in list(x.tweets)),
        "telegram": Counter(
            link_in(m["body"].get("link_preview_options", {}).get("url", m["visible"]))
            for m in list(tg.messages)
        ),
    }


class Daemon:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.parent / "daemon.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autoposter", "run", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


def test_exactly_once_under_faults_and_kill_9(
    tmp_path: Path, networks: dict[str, ApiServer]
) -> None:
    rng = random.Random(20261124)
    feed = FeedServer().start()
    entries = [
        (f"guid-{n}", f"/actu/{n}", f"Actualité {n} du conseil") for n in range(ITEMS, -1, -1)
    ]
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
                "mastodon": {
                    "type": "mastodon",
                    "api_url": networks["mastodon"].url,
                    "access_token": fm.TOKEN,
                    "timeout": "1s",
                },
                "bluesky": {
                    "type": "bluesky",
                    "api_url": networks["bluesky"].url,
                    "handle": fb_sky.HANDLE,
                    "app_password": fb_sky.APP_PASSWORD,
                    "timeout": "1s",
                },
                "facebook": {
                    "type": "facebook",
                    "api_url": networks["facebook"].url,
                    "page_id": ff.PAGE_ID,
                    "access_token": ff.PAGE_TOKEN,
                    "timeout": "1s",
                },
                "x": {
                    "type": "x",
                    "api_url": networks["x"].url,
                    "consumer_key": fx.CONSUMER_KEY,
                    "consumer_secret": fx.CONSUMER_SECRET,
                    "access_token": fx.ACCESS_TOKEN,
                    "access_token_secret": fx.ACCESS_TOKEN_SECRET,
                    "timeout": "1s",
                },
                "telegram": {
                    "type": "telegram",
                    "api_url": networks["telegram"].url,
                    "bot_token": ft.TOKEN,
                    "chat_id": ft.CHANNEL,
                    "timeout": "1s",
                },
            },
            "feeds": {
                "actu": {
                    "url": feed.url("/feed"),
                    "accounts": list(POST_ROUTES),
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
        # The first poll is the baseline; then the site publishes 200 items.
        assert _wait(lambda: _baselined(database), 30), "no baseline"
        feed.set("/feed", rss(*entries))
        for name, (method, route) in POST_ROUTES.items():
            faults = [
                rng.choice(
                    [
                        Fault(status=500),
                        Fault(status=503),
                        Fault(status=429, headers={"Retry-After": "1"}),
                        Fault(delay=1.5),  # times out before the post is made
                        Fault(after=True),  # posted, then the connection drops
                        Fault(hold=1.5),  # posted, answered after the client gave up
                    ]
                )
                for _ in range(25)
            ]
            if name == "x":
                faults.insert(10, Fault(status=401, body={"title": "Unauthorized", "status": 401}))
            rng.shuffle(faults)
            # Spread among the 200 posts: a fault every few requests.
            for fault in faults:
                networks[name].fail(method, route, Fault(), Fault(), fault)
        while time.monotonic() - started < DEADLINE:
            time.sleep(rng.uniform(0.5, 2.5))
            if _resume_paused(database, config):
                continue
            if _settled(database):
                break
            if kills < MIN_KILLS + 3:
                if kills % 2 == 0:
                    # Kill while a network holds a post it already made: the crash falls
                    # between the network call and the database write.
                    name = rng.choice(list(POST_ROUTES))
                    method, route = POST_ROUTES[name]
                    network = networks[name]
                    before = len(network.requests_to(method, route))
                    network._faults[(method, route)].insert(0, Fault(hold=5))

                    def arrived(
                        n: ApiServer = network, m: str = method, r: str = route, b: int = before
                    ) -> bool:
                        return len(n.requests_to(m, r)) > b

                    if _wait(arrived, 10):
                        time.sleep(0.2)
                        holds += 1
                daemon.kill()
                kills += 1
                daemon.start()
        else:
            pytest.fail(f"not settled after {DEADLINE:.0f} s; see {daemon.log}")
    finally:
        code = daemon.stop()
        feed.stop()
    assert code == 0, daemon.log.read_text()[-3000:]

    counts = posts_of(networks)
    with Storage.open(database) as storage:
        items = storage.items_for_backfill("actu")
        states = storage.delivery_states()
    new_items = [s for s in items if not s.baseline]
    assert len(new_items) == ITEMS
    links = [s.item.link for s in new_items]
    state_of = {
        (s.item.link, account): states[(s.id, account)]
        for s in new_items
        for account in POST_ROUTES
    }
    report = {}
    for name in POST_ROUTES:
        twice = [link for link in links if counts[name][link] > 1]
        missing = [
            link
            for link in links
            if counts[name][link] == 0 and state_of[(link, name)] != DeliveryState.UNKNOWN
        ]
        unknown = sum(1 for link in links if state_of[(link, name)] == DeliveryState.UNKNOWN)
        once = sum(1 for link in links if counts[name][link] == 1)
        report[name] = (once, len(twice), len(missing), unknown)
    print(
        f"\nfault injection: {ITEMS} items x {len(POST_ROUTES)} accounts, {kills} kill -9 "
        f"({holds} while a network held a post it had made), {time.monotonic() - started:.0f} s"
    )
    for name, (once, twice, missing, unknown) in report.items():
        print(f"  {name:<9} posted once {once:>3}  twice {twice}  missing {missing}", end="")
        print(f"  unknown {unknown}")
    assert kills >= MIN_KILLS
    for name in ("mastodon", "bluesky", "facebook", "x"):
        once, twice, missing, unknown = report[name]
        assert (once, twice, missing, unknown) == (ITEMS, 0, 0, 0), name
    once, twice, missing, _unknown = report["telegram"]
    assert (twice, missing) == (0, 0)


def _wait(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _baselined(database: str) -> bool:
    if not Path(database.removeprefix("sqlite:///")).exists():
        return False
    with Storage.open(database) as storage:
        state = storage.feed_state("actu")
    return state is not None and state.baseline_url is not None


def _settled(database: str) -> bool:
    with Storage.open(database) as storage:
        states = storage.delivery_states()
    return len(states) == len(POST_ROUTES) * ITEMS and all(
        s in (DeliveryState.SENT, DeliveryState.UNKNOWN) for s in states.values()
    )


def _resume_paused(database: str, config: Path) -> bool:
    with Storage.open(database) as storage:
        paused = list(storage.paused_accounts())
    for name in paused:
        assert autoposter("account", "resume", name, "--config", str(config)).returncode == 0
    return bool(paused)
