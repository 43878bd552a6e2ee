"""Operations that look and change nothing: check, probe, status, queue, preview, export."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from autoposter.app._common import (
    RenderedPost,
    _close,
    _require_feed,
    _writer_render,
)
from autoposter.config import Config
from autoposter.errors import AutoposterError
from autoposter.ops import describe_expiry
from autoposter.pipeline import oldest_first, spec_for
from autoposter.routing import accepts
from autoposter.storage import (
    AccountSummary,
    DueDelivery,
    EventRecord,
    FeedSummary,
    PostedRecord,
    RecentDelivery,
    Storage,
)
from autoposter.types import (
    AccountInfo,
    DeliveryState,
    Item,
    NotModified,
    Publisher,
)

# --- inspecting ---------------------------------------------------------------------------


def database_label(config: Config) -> str:
    """The database's address with any password masked, for people to read."""
    return Storage(config.database).safe_url


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """What ``check --online`` learned about one account; ``text`` says it for people."""

    account: str
    ok: bool
    text: str


def describe_account(info: AccountInfo) -> tuple[str, bool]:
    """Words for an account that answered a check, and whether all is well.

    A publisher reports its token's expiry date as ``details["expires"]``
    (ISO 8601); an expired token is a failure, one expiring soon a warning.
    """
    words = [info.name]
    fine = True
    for key, value in info.details.items():
        if key == "expires" and value:
            expiry = describe_expiry(str(value))
            fine = not expiry.expired
            warn = expiry.soon and not expiry.expired
            words.append(("WARNING: token " if warn else "token ") + expiry.text)
        else:
            words.append(f"{key}={value}")
    return " ".join(words), fine


def check_accounts(config: Config, *, online: bool) -> dict[str, AccountCheck]:
    """Build every account's publisher (raises ConfigError or PluginError naming the one at
    fault); with ``online``, also ask each network whether its credentials work."""
    from autoposter.runtime import build_publishers

    publishers = build_publishers(config)
    checks: dict[str, AccountCheck] = {}
    try:
        if online:
            for name, publisher in publishers.items():
                try:
                    text, fine = describe_account(publisher.check())
                except AutoposterError as e:
                    text, fine = str(e), False
                checks[name] = AccountCheck(name, fine, text)
    finally:
        _close(publishers)
    return checks


@dataclass(frozen=True, slots=True)
class Probe:
    """A feed fetched and read now, stored nowhere; ``items`` in the document's order.
    ``not_modified``: the server answered 304 (to no validator: its own oddity)."""

    feed: str
    items: tuple[Item, ...]
    not_modified: bool = False


def probe_feed(config: Config, feed: str) -> Probe:
    """Fetch and parse one feed without validators; raises FeedError when it cannot."""
    _require_feed(config, feed)
    feed_config = config.feeds[feed]
    from autoposter.fetch import Fetcher
    from autoposter.parse import parse_feed

    with Fetcher(user_agent=config.user_agent, allow_networks=config.allow_networks) as fetcher:
        fetched = fetcher.fetch(
            feed_config.url, timeout=feed_config.timeout, max_bytes=feed_config.max_bytes
        )
    if isinstance(fetched, NotModified):
        return Probe(feed, (), not_modified=True)
    parsed = parse_feed(
        fetched.body,
        url=fetched.url,
        headers=fetched.headers,
        default_language=feed_config.language,
    )
    return Probe(feed, parsed.items)


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot: feeds, accounts' counts per state, the latest deliveries, and what
    waits for a person and why (held and unknown deliveries, paused accounts)."""

    feeds: tuple[FeedSummary, ...]
    accounts: tuple[AccountSummary, ...]
    recent: tuple[RecentDelivery, ...]
    held: tuple[RecentDelivery, ...]
    unknown: tuple[RecentDelivery, ...]
    paused: Mapping[str, str]


def status(config: Config, *, last: int = 10) -> Status:
    """The present state, read from the database; ``last`` latest deliveries."""
    with Storage.open(config.database) as storage:
        return Status(
            feeds=tuple(storage.feed_summaries()),
            accounts=tuple(storage.account_summaries()),
            recent=tuple(storage.recent_deliveries(last)),
            held=tuple(storage.recent_deliveries(1000, state=DeliveryState.HELD.value)),
            unknown=tuple(storage.recent_deliveries(1000, state=DeliveryState.UNKNOWN.value)),
            paused=storage.paused_accounts(),
        )


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One delivery waiting for a decision, and the text it would post.

    ``text`` is None when the account is no longer in the configuration.
    """

    delivery: DueDelivery
    text: str | None


@dataclass(frozen=True, slots=True)
class QueueListing:
    paused: Mapping[str, str]
    entries: tuple[QueueEntry, ...]


def queue(config: Config, states: Sequence[DeliveryState]) -> QueueListing:
    """Paused accounts, and the deliveries in ``states`` with the text each would post."""
    built: dict[str, Publisher] = {}
    entries: list[QueueEntry] = []
    try:
        with Storage.open(config.database) as storage:
            paused = storage.paused_accounts()
            for state in states:
                for delivery in storage.deliveries_in(state):
                    entries.append(QueueEntry(delivery, _queued_text(config, delivery, built)))
    finally:
        _close(built)
    return QueueListing(paused, tuple(entries))


def _queued_text(config: Config, delivery: DueDelivery, built: dict[str, Publisher]) -> str | None:
    if delivery.account not in config.accounts:
        return None
    spec = spec_for(config, delivery.feed, delivery.account, delivery.item)
    try:
        return _writer_render(config, delivery.account, delivery.item, spec, built).text
    except ValueError as e:
        return f"(cannot render: {e})"


@dataclass(frozen=True, slots=True)
class PreviewEntry:
    """One item of a feed; ``posts`` is empty when include/exclude filters it out."""

    item: Item
    routed: bool
    posts: tuple[RenderedPost, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    feed: str
    entries: tuple[PreviewEntry, ...]


def preview(config: Config, feed: str, *, limit: int = 3) -> Preview:
    """The feed's ``limit`` latest items as each of its accounts would receive them.
    Fetches the feed now; stores nothing."""
    probe = probe_feed(config, feed)
    feed_config = config.feeds[feed]
    latest = list(reversed(oldest_first(list(probe.items))))[:limit]
    built: dict[str, Publisher] = {}
    entries: list[PreviewEntry] = []
    try:
        for item in latest:
            if not accepts(feed_config, item):
                entries.append(PreviewEntry(item, False, ()))
                continue
            posts = tuple(
                RenderedPost(
                    account,
                    _writer_render(
                        config, account, item, spec_for(config, feed, account, item), built
                    ),
                )
                for account in feed_config.accounts
            )
            entries.append(PreviewEntry(item, True, posts))
    finally:
        _close(built)
    return Preview(feed, tuple(entries))


def export_posted(config: Config, *, since: datetime | None = None) -> tuple[PostedRecord, ...]:
    """The public record: what was posted where and when, oldest first."""
    with Storage.open(config.database) as storage:
        return tuple(storage.posted(since))


def export_events(config: Config, *, since: datetime | None = None) -> tuple[EventRecord, ...]:
    """The audit trail: every state change of every delivery, with who made it."""
    with Storage.open(config.database) as storage:
        return tuple(storage.events(since))
