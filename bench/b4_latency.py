"""B4 latency: from an item appearing in a local feed to a local Mastodon double receiving
the post, through ``autoposter run`` (the daemon), at the shortest poll interval (10 s)
and at 60 s, in one daemon. Items appear at random moments of a 60 s window.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from bench.b5_memory import _daemon_command
from bench.common import header
from bench.feeds import rss_feed
from tests.fakes.mastodon import TOKEN, FakeMastodon
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent
GROUPS = {"short": 10, "minute": 60}


def run(quick: bool = False, per_group: int = 6) -> dict[str, float]:
    if quick:
        per_group = 3
    header(
        "B4 latency: item in a local feed -> post received by a Mastodon double "
        f"(daemon, dispatch_interval 1s, {per_group} items per interval)"
    )
    out: dict[str, float] = {}
    rng = random.Random(7)
    with FeedServer() as server, FakeMastodon() as mastodon, tempfile.TemporaryDirectory() as tmp:
        feeds = {}
        for group, interval in GROUPS.items():
            for k in range(per_group):
                site = 1000 * interval + k
                server.set(f"/{site}/feed", rss_feed(site, 5, paragraphs=1))
                feeds[f"{group}{k}"] = {
                    "url": server.url(f"/{site}/feed"),
                    "accounts": ["masto"],
                    "poll_interval": f"{interval}s",
                }
        config = {
            "database": f"sqlite:///{Path(tmp) / 'autoposter.db'}",
            "dispatch_interval": "1s",
            "delivery": {"min_interval": 0, "quiet_hours": None},
            "accounts": {
                "masto": {"type": "mastodon", "api_url": mastodon.url, "access_token": TOKEN}
            },
            "feeds": feeds,
        }
        path = Path(tmp) / "autoposter.yaml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)  # it holds the (fake) token
        log = open(Path(tmp) / "daemon.log", "wb")  # noqa: SIM115
        daemon = subprocess.Popen(
            [*_daemon_command(), "run", "--config", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            time.sleep(3 if quick else 15)  # every feed baselined (first polls spread over 10 s)
            plan = sorted(
                (rng.uniform(0, 10 if quick else 60), group, k)
                for group in GROUPS
                for k in range(per_group)
            )
            started = time.monotonic()
            appeared: dict[str, float] = {}
            group_of: dict[str, str] = {}
            for at, group, k in plan:
                time.sleep(max(0.0, started + at - time.monotonic()))
                site = 1000 * GROUPS[group] + k
                server.set(f"/{site}/feed", rss_feed(site, 5, first=1, paragraphs=1))
                link = f"https://commune{site}.example/actu/5"
                appeared[link] = time.time()
                group_of[link] = group
            deadline = time.monotonic() + 60 + 15
            received: dict[str, float] = {}
            while len(received) < len(appeared) and time.monotonic() < deadline:
                for status in list(mastodon.statuses):
                    for link in appeared:
                        if link in status.text and link not in received:
                            received[link] = status.created
                time.sleep(0.2)
        finally:
            daemon.terminate()
            daemon.wait(20)
            log.close()
            if not received:
                print((Path(tmp) / "daemon.log").read_text(errors="replace")[-3000:])
        print(
            f"{'interval':<10}{'items':>6}{'received':>9}{'mean s':>8}{'max s':>7}{'target s':>9}"
        )
        for group, interval in GROUPS.items():
            lat = [received[link] - appeared[link] for link in received if group_of[link] == group]
            got = len(lat)
            worst = max(lat) if lat else float("nan")
            mean = sum(lat) / got if got else float("nan")
            out[f"{group}_max"] = worst
            met = got == per_group and worst <= interval + 2
            print(
                f"{interval:>7} s {per_group:>6}{got:>9}{mean:>8.1f}{worst:>7.1f}{interval + 2:>9}"
                f"   {'MET' if met else 'NOT MET'}"
            )
    return out


if __name__ == "__main__":
    run()
