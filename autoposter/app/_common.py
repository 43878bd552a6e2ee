"""What the operations share: the clock, name checks, and rendering for people to read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from autoposter.config import Config
from autoposter.errors import NotFoundError
from autoposter.types import (
    Item,
    Post,
    PostSpec,
    Publisher,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _require_feed(config: Config, name: str) -> None:
    if name not in config.feeds:
        raise NotFoundError("feed", name, tuple(config.feeds))


def _require_account(config: Config, name: str) -> None:
    if name not in config.accounts:
        raise NotFoundError("account", name, tuple(config.accounts))


# --- rendering for people to read -------------------------------------------------------


def _writer_render(
    config: Config,
    account_name: str,
    item: Item,
    spec: PostSpec,
    built: dict[str, Publisher],
) -> Post:
    """The one place where app writes a post for a person to read (preview, queue,
    backfill's dry run). Raises ValueError when the item cannot be written.

    For now through the account's publisher, built the way ``check`` builds
    them, once per operation: ``built`` starts empty and the caller closes what
    it holds (``_close``). The networks' pure writers will take this place.
    """
    if not built:
        from autoposter.runtime import build_publishers

        built.update(build_publishers(config))
    return built[account_name].render(item, spec)


def _close(built: Mapping[str, Publisher]) -> None:
    for publisher in built.values():
        publisher.close()


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """One account's post as it would be made."""

    account: str
    post: Post
