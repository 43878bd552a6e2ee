"""What the operations share: the clock, name checks, and rendering for people to read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from autoposter import publishers as registry
from autoposter.config import Config
from autoposter.errors import NotFoundError
from autoposter.types import Item, Post, PostSpec, Writer


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
    writers: dict[str, Writer],
) -> Post:
    """The one place where app writes a post for a person to read (preview, queue,
    backfill's dry run, the web console). Raises ValueError when the item cannot be
    written.

    Through the accounts' pure writers: no client, no SDK, no secret. ``writers``
    starts empty and is filled once per operation. A limit that a network tells its
    client (a Mastodon instance's own) is not known here: the configured one counts.
    """
    if not writers:
        writers.update(registry.writers_for(config))
    return writers[account_name].render(item, spec)


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """One account's post as it would be made."""

    account: str
    post: Post
