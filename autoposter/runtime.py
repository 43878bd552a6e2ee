"""The long-lived pieces a running autoposter holds, built once from the configuration."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from autoposter import publishers as registry
from autoposter.config import Config
from autoposter.fetch import Fetcher
from autoposter.parsepool import ParserPool
from autoposter.pipeline import (
    Clock,
    DispatchResult,
    FeedFetcher,
    FeedParser,
    PollResult,
    dispatch_due,
    poll_feed,
    utcnow,
)
from autoposter.storage import Storage
from autoposter.types import Publisher

DISPATCH_BATCH = 100
MAX_DISPATCH_PASSES = 1000


def build_publishers(config: Config, storage: Storage | None = None) -> dict[str, Publisher]:
    """One publisher per account block; raises ConfigError naming the key at fault.

    A publisher with an ``attach_state(AccountState)`` method gets its account's
    key-value store when ``storage`` is given (a session kept across restarts).
    """
    available = registry.available()
    built: dict[str, Publisher] = {}
    try:
        for name, account in config.accounts.items():
            publisher = registry.build(name, account.type, account.options, available)
            built[name] = publisher
            attach = getattr(publisher, "attach_state", None)
            if storage is not None and attach is not None:
                attach(storage.account_state(name))
    except BaseException:
        for publisher in built.values():
            publisher.close()
        raise
    return built


@dataclass
class Runtime:
    """Storage, fetcher, parser pool and publishers, and the two jobs that use them."""

    config: Config
    storage: Storage
    fetcher: FeedFetcher
    parser: FeedParser
    publishers: Mapping[str, Publisher]
    now: Clock = utcnow
    stopping: threading.Event = field(default_factory=threading.Event)
    _dispatch_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, config: Config, *, parse_workers: int = 2) -> Runtime:
        storage = Storage.open(config.database)
        try:
            publishers = build_publishers(config, storage)
        except BaseException:
            storage.close()
            raise
        return cls(
            config=config,
            storage=storage,
            fetcher=Fetcher(user_agent=config.user_agent),
            parser=ParserPool(workers=parse_workers),
            publishers=publishers,
        )

    def poll(self, feed_name: str, *, force: bool = False) -> PollResult | None:
        """Poll one feed unless the process is stopping."""
        if self.stopping.is_set():
            return None
        return poll_feed(
            self.config.feeds[feed_name],
            storage=self.storage,
            fetcher=self.fetcher,
            parser=self.parser,
            now=self.now,
            force=force,
        )

    def poll_all(self, *, workers: int = 8) -> list[PollResult]:
        """Poll every enabled feed once, several at a time."""
        names = [name for name, feed in self.config.feeds.items() if feed.enabled]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names) or 1))) as pool:
            results = pool.map(lambda name: self.poll(name, force=True), names)
            return [r for r in results if r is not None]

    def dispatch(self) -> DispatchResult:
        """Send what is due, in passes of DISPATCH_BATCH, until nothing more is due."""
        total = DispatchResult()
        with self._dispatch_lock:
            for _ in range(MAX_DISPATCH_PASSES):
                if self.stopping.is_set():
                    break
                result = dispatch_due(
                    config=self.config,
                    storage=self.storage,
                    publishers=self.publishers,
                    now=self.now,
                    limit=DISPATCH_BATCH,
                )
                total.sent += result.sent
                total.retried += result.retried
                total.failed += result.failed
                total.waiting = result.waiting
                total.errors.update(result.errors)
                if result.sent + result.failed + result.retried + result.waiting < DISPATCH_BATCH:
                    break
        return total

    def close(self) -> None:
        for publisher in self.publishers.values():
            publisher.close()
        close_parser = getattr(self.parser, "close", None)
        if close_parser is not None:
            close_parser()
        close_fetcher = getattr(self.fetcher, "close", None)
        if close_fetcher is not None:
            close_fetcher()
        self.storage.close()
