"""Any RSS/Atom feed as a watch source: Google Alerts, Google News searches, Talkwalker."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from autoposter.config import WatchSourceConfig
from autoposter.parse import parse_feed
from autoposter.types import NotModified
from autoposter.watch.links import unwrap
from autoposter.watch.sources import Found, SourceDeps

if TYPE_CHECKING:
    from autoposter.config.watch import SourceOptions
    from autoposter.fetch import Fetcher

__all__ = ["FeedSource"]


class FeedSource:
    """Fetched with the feeds' ``Fetcher`` (timeouts, size cap, conditional GET)."""

    kind: ClassVar[str] = "feed"

    @staticmethod
    def configure(options: SourceOptions, *, url: object = None) -> WatchSourceConfig:
        """``url``: the RSS/Atom feed, http(s) or file:."""
        if url is None:
            raise options.error("url", "missing; the address of the RSS/Atom feed")
        return WatchSourceConfig(
            name=options.name, type=FeedSource.kind, url=options.feed_url(url, "url")
        )

    @classmethod
    def from_config(cls, config: WatchSourceConfig, deps: SourceDeps) -> FeedSource:
        return cls(config, deps.fetcher)

    def __init__(self, config: WatchSourceConfig, fetcher: Fetcher) -> None:
        assert config.url is not None
        self.name = config.name
        self._config = config
        self._fetcher = fetcher
        self._etag: str | None = None
        self._last_modified: str | None = None

    def fetch(self) -> list[Found]:
        url = self._config.url
        assert url is not None
        fetched = self._fetcher.fetch(
            url,
            etag=self._etag,
            last_modified=self._last_modified,
            timeout=self._config.timeout,
            max_bytes=self._config.max_bytes,
        )
        if isinstance(fetched, NotModified):
            return []
        self._etag, self._last_modified = fetched.etag, fetched.last_modified
        parsed = parse_feed(
            fetched.body, url=fetched.url, headers=fetched.headers, default_language="en"
        )
        return [
            Found(
                url=unwrap(item.link),
                title=item.title,
                author=item.author,
                text=item.summary,
                published=item.published or item.updated,
            )
            for item in parsed.items
            if item.link
        ]
