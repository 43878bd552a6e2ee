"""`autoposter run --once` on N feeds served on 127.0.0.1: wall time and CPU of the process.

Three cycles on one database: cold (every feed baselined), steady (every feed
answers 304), and 10% of the feeds with one new item (posted to the console).

    python -m bench.run_once [--feeds 100]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.feeds import rss_feed
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent


def run_once(config: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one `run --once`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "autoposter", "run", "--once", "--config", str(config)],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    args = parser.parse_args()
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        feeds = {}
        sizes = []
        for i in range(args.feeds):
            body = rss_feed(i)
            sizes.append(len(body))
            server.set(f"/c{i}/feed", body)
            feeds[f"commune{i}"] = {"url": server.url(f"/c{i}/feed"), "accounts": ["console"]}
        config = Path(tmp) / "autoposter.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": "sqlite:///autoposter.db",
                    "accounts": {"console": {"type": "console"}},
                    "feeds": feeds,
                }
            )
        )
        sizes.sort()
        print(f"{args.feeds} feeds, 15 entries each, median {sizes[len(sizes) // 2] // 1024} KB")
        print(f"{'cycle':<28}{'wall s':>8}{'CPU s':>8}{'CPU ms/feed':>13}")
        for label in ("cold (baseline)", "steady (304)", "10% with a new item"):
            if label.startswith("10%"):
                for i in range(0, args.feeds, 10):
                    server.set(f"/c{i}/feed", rss_feed(i, first=1))
            wall, cpu, code = run_once(config)
            assert code == 0, f"run --once exited {code}"
            print(f"{label:<28}{wall:>8.2f}{cpu:>8.2f}{cpu * 1000 / args.feeds:>13.1f}")


if __name__ == "__main__":
    main()
