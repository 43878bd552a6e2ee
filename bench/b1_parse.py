"""B1 parse: our parse+normalize against bare default ``feedparser.parse`` on the same bytes."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable

import feedparser

from autoposter.parse import parse_feed
from bench.common import header
from bench.feeds import MEDIAN, shape, site_feed

HEADERS = {"content-type": "application/rss+xml", "content-location": "https://x.example/f"}


def _ours(body: bytes) -> int:
    return len(
        parse_feed(body, url="https://x.example/f", headers=HEADERS, default_language="fr").items
    )


def _bare(body: bytes) -> int:
    return len(feedparser.parse(body, response_headers=HEADERS).entries)


def _time(fn: Callable[[bytes], int], bodies: list[bytes], rounds: int) -> tuple[float, int]:
    """Best-of-``rounds`` seconds to parse all ``bodies``, and the number of entries."""
    best = float("inf")
    entries = 0
    for _ in range(rounds):
        gc.collect()
        started = time.process_time()
        entries = sum(fn(body) for body in bodies)
        best = min(best, time.process_time() - started)
    return best, entries


def _peak(fn: Callable[[bytes], int], body: bytes) -> float:
    gc.collect()
    tracemalloc.start()
    fn(body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def run(quick: bool = False) -> dict[str, float]:
    header("B1 parse: parse_feed (parse + normalize) vs bare feedparser.parse, same bytes")
    sites = [site for site in range(20 if quick else 40) if shape(site) == MEDIAN]
    median = [site_feed(site) for site in sites]
    plain = [site_feed(site, rich=False) for site in sites]
    big = site_feed(99)
    rounds = 2 if quick else 3
    rows = [
        ("median feeds (15 entries)", median),
        ("same, bare <p> markup", plain),
        ("tail feed (60 entries)", [big]),
    ]
    print(
        f"{'set':<28}{'KB/feed':>8}{'ours ms':>9}{'bare ms':>9}{'ratio':>7}"
        f"{'ours ent/s':>11}{'bare ent/s':>11}"
    )
    out: dict[str, float] = {}
    for label, bodies in rows:
        ours, n = _time(_ours, bodies, rounds)
        bare, _ = _time(_bare, bodies, rounds)
        kb = sum(map(len, bodies)) / len(bodies) / 1024
        ratio = ours / bare
        print(
            f"{label:<28}{kb:>8.0f}{ours * 1000 / len(bodies):>9.1f}"
            f"{bare * 1000 / len(bodies):>9.1f}{ratio:>7.2f}{n / ours:>11.0f}{n / bare:>11.0f}"
        )
        out[label] = ratio
    print(
        f"peak memory (tracemalloc), median feed: ours {_peak(_ours, median[0]):.1f} MB,"
        f" bare {_peak(_bare, median[0]):.1f} MB; tail feed: ours {_peak(_ours, big):.1f} MB,"
        f" bare {_peak(_bare, big):.1f} MB"
    )
    met = out["median feeds (15 entries)"] <= 0.5
    print(
        f"target ours <= 0.5x bare: {'MET' if met else 'NOT MET'}"
        f" ({out['median feeds (15 entries)']:.2f}x)"
    )
    return out


if __name__ == "__main__":
    run()
