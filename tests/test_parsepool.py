"""ParserPool: parse_feed in worker processes, with time and memory limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoposter.errors import ParseError
from autoposter.parse import parse_feed
from autoposter.parsepool import ParserPool
from autoposter.types import ParsedFeed

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://www.saint-exemple.fr/actualites/rss.xml"
HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8"}
MUNICIPAL = (FEEDS / "rss20_municipal_fr.xml").read_bytes()


def pool_parse(pool: ParserPool, body: bytes = MUNICIPAL) -> ParsedFeed:
    return pool.parse(body, url=URL, headers=HEADERS, default_language="fr")


def expected() -> ParsedFeed:
    return parse_feed(MUNICIPAL, url=URL, headers=HEADERS, default_language="fr")


def worker_pids(pool: ParserPool) -> set[int]:
    return {w.process.pid for w in pool._all if w.process.pid is not None}


def assert_gone(pids: set[int]) -> None:
    """No process left, not even a zombie (the forkserver reaps its children)."""
    deadline = time.monotonic() + 5
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        while status.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not status.exists(), f"worker {pid} still exists"


def slow_feed() -> bytes:
    # One element with 20,000 attributes: about 100 KB that takes feedparser
    # seconds (its attribute handling is quadratic).
    attributes = " ".join(f'a{i}="x"' for i in range(20_000))
    return (
        f'<rss version="2.0"><channel><title>t</title><item {attributes}>'
        "<title>x</title></item></channel></rss>"
    ).encode()


@pytest.fixture
def pool() -> Iterator[ParserPool]:
    with ParserPool(workers=2, timeout=10) as p:
        yield p


def test_pool_result_equals_parse_feed(pool: ParserPool) -> None:
    assert pool_parse(pool) == expected()


def test_parse_error_comes_back_as_parse_error(pool: ParserPool) -> None:
    with pytest.raises(ParseError) as excinfo:
        pool_parse(pool, (FEEDS / "hostile_billion_laughs.xml").read_bytes())
    assert excinfo.value.url == URL
    assert excinfo.value.message == "entity declarations are refused"
    assert pool_parse(pool) == expected()


def test_concurrent_parses_from_8_threads(pool: ParserPool) -> None:
    want = expected()
    results: list[ParsedFeed] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(5):
                got = pool_parse(pool)
                with lock:
                    results.append(got)
        except BaseException as e:
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == 40
    assert all(r == want for r in results)
    assert len(pool._all) == 2


def test_timeout_kills_the_worker_and_the_pool_goes_on() -> None:
    with ParserPool(workers=1, timeout=0.5) as pool:
        assert pool_parse(pool) == expected()  # the worker is up
        (before,) = worker_pids(pool)
        start = time.monotonic()
        with pytest.raises(ParseError) as excinfo:
            pool_parse(pool, slow_feed())
        assert time.monotonic() - start < 3
        assert excinfo.value.message == "parsing took longer than 0.5 s; the feed was skipped"
        assert_gone({before})
        (after,) = worker_pids(pool)
        assert after != before
        assert pool_parse(pool) == expected()


def test_memory_limit_gives_parse_error_and_the_pool_recovers() -> None:
    # About 12 MB of text: parsing it needs several copies, beyond 96 MB of address space.
    huge = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>x</title><description><![CDATA["
        + b"word " * 2_500_000
        + b"]]></description></item></channel></rss>"
    )
    with ParserPool(workers=1, timeout=10, memory_limit=96 * 1024 * 1024) as pool:
        assert pool_parse(pool) == expected()
        (before,) = worker_pids(pool)
        with pytest.raises(ParseError) as excinfo:
            pool_parse(pool, huge)
        assert excinfo.value.message == "the parser ran out of memory / crashed"
        assert_gone({before})
        assert pool_parse(pool) == expected()


def test_a_worker_that_died_while_idle_is_replaced() -> None:
    with ParserPool(workers=1, timeout=10) as pool:
        assert pool_parse(pool) == expected()
        (worker,) = pool._all
        worker.process.kill()
        worker.process.join(5)
        with pytest.raises(ParseError, match="crashed"):
            pool_parse(pool)
        assert pool_parse(pool) == expected()


def test_workers_start_lazily_and_close_is_idempotent() -> None:
    pool = ParserPool(workers=2, timeout=10)
    assert pool._all == set()
    assert pool_parse(pool) == expected()
    assert pool_parse(pool) == expected()
    pids = worker_pids(pool)
    assert len(pids) == 1  # one at a time was enough: no second worker started
    pool.close()
    pool.close()
    assert_gone(pids)
    with pytest.raises(ParseError, match="closed"):
        pool_parse(pool)


def test_close_while_a_parse_is_running() -> None:
    pool = ParserPool(workers=1, timeout=30)
    assert pool_parse(pool) == expected()
    pids = worker_pids(pool)
    errors: list[ParseError] = []

    def work() -> None:
        try:
            pool_parse(pool, slow_feed())
        except ParseError as e:
            errors.append(e)

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.2)
    pool.close()
    thread.join(5)
    assert not thread.is_alive()
    assert [e.message for e in errors] == ["the parser pool was closed"]
    assert_gone(pids)


def test_in_process_mode() -> None:
    with ParserPool(workers=0) as pool:
        assert pool_parse(pool) == expected()
        assert pool._all == set()
        with pytest.raises(ParseError, match="empty body"):
            pool_parse(pool, b"")
