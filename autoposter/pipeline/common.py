"""What the pipeline's stages share: the clock, and the fetcher they download with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from autoposter.types import Fetched, NotModified

if TYPE_CHECKING:
    # For the type only: the web console reaches the pipeline's rules, and must not
    # load an HTTP client for it.
    from autoposter.fetch import Trust

Clock = Callable[[], datetime]


class FeedFetcher(Protocol):
    """``fetch.Fetcher``: feeds (``trust="config"``) and pages named by feeds
    (``trust="content"``)."""

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float = ...,
        max_bytes: int = ...,
        trust: Trust = ...,
    ) -> Fetched | NotModified: ...


def utcnow() -> datetime:
    return datetime.now(UTC)
