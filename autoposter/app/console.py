"""What the web console shows and the decisions only it makes: the dashboard, the items
waiting for approval with each network's exact post, an edited text, an urgent mark,
and a post queued for the daemon to send.

Everything here renders through the publishers' pure writers
(``publishers.writer_for``): no client is built, no SDK imported, no token read,
so the console's process never holds a network token. Nothing here sends: the
daemon carries out what is decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from autoposter import logs
from autoposter.app._common import _now, _require_account, _require_feed
from autoposter.app.inspect import Waiting, waiting_now
from autoposter.app.posting import PostRequest
from autoposter.config import Config
from autoposter.errors import AutoposterError, RefusedError
from autoposter.pipeline import spec_for
from autoposter.publishers import writer_for
from autoposter.publishers._base import Writer as BaseWriter
from autoposter.storage import (
    DueDelivery,
    FeedSummary,
    NewItem,
    PlannedDelivery,
    PostedRecord,
    RecentDelivery,
    Storage,
)
from autoposter.types import DeliveryState, Image, Item, PostSpec, Writer

__all__ = [
    "Dashboard",
    "HeldItem",
    "PostPreview",
    "Queued",
    "dashboard",
    "edit_text",
    "mark_urgent",
    "preview_post",
    "queue_post",
    "to_approve",
]


@dataclass(frozen=True, slots=True)
class PostPreview:
    """One network's post as it will be made: the exact ``text`` with its ``length``
    counted the network's way against ``limit`` (None: no limit), and the card.
    ``problem`` says why it cannot be written (then ``text`` is empty)."""

    account: str
    network: str
    text: str
    length: int
    limit: int | None
    link: str
    title: str
    image: Image | None
    delivery: int | None = None
    edited: bool = False
    problem: str | None = None

    @property
    def too_long(self) -> bool:
        return self.limit is not None and self.length > self.limit


@dataclass(frozen=True, slots=True)
class HeldItem:
    """An item with deliveries held for approval; ``reason`` why they were held."""

    item_id: int
    feed: str
    item: Item
    reason: str | None
    urgent: bool
    posts: tuple[PostPreview, ...]


class _Writers:
    """Each account's writer, built once per operation from its block, with no secret."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._built: dict[str, Writer] = {}

    def get(self, account: str) -> Writer:
        if account not in self._built:
            block = self._config.accounts[account]
            self._built[account] = writer_for(account, block.type, block.options)
        return self._built[account]

    def counter(self, account: str, item: Item, spec: PostSpec) -> Callable[[str], int]:
        writer = self.get(account)
        return writer.counter(item, spec) if isinstance(writer, BaseWriter) else len

    def limit(self, account: str) -> int | None:
        writer = self.get(account)
        return writer.limit if isinstance(writer, BaseWriter) else None


def _preview(
    config: Config,
    writers: _Writers,
    feed: str,
    account: str,
    item: Item,
    *,
    delivery: int | None = None,
    edited: str | None = None,
) -> PostPreview:
    network = config.accounts[account].type if account in config.accounts else "?"
    blank = PostPreview(account, network, "", 0, None, item.link, item.title, item.image, delivery)
    if account not in config.accounts:
        return replace(blank, problem="this account is no longer in the configuration")
    spec = spec_for(config, feed, account, item)
    try:
        post = writers.get(account).render(item, spec)
        count = writers.counter(account, item, spec)
    except (ValueError, AutoposterError) as e:
        return replace(blank, problem=str(e))
    text = post.text if edited is None else edited
    return PostPreview(
        account=account,
        network=network,
        text=text,
        length=count(text),
        limit=writers.limit(account),
        link=post.link,
        title=post.title,
        image=post.image,
        delivery=delivery,
        edited=edited is not None,
    )


def to_approve(config: Config) -> tuple[HeldItem, ...]:
    """The held deliveries grouped by item, oldest first, each with its exact post."""
    with Storage.open(config.database) as storage:
        held = storage.deliveries_in(DeliveryState.HELD)
    writers = _Writers(config)
    grouped: dict[int, list[DueDelivery]] = {}
    for delivery in held:
        grouped.setdefault(delivery.item_id or 0, []).append(delivery)
    found: list[HeldItem] = []
    for item_id, group in grouped.items():
        first = group[0]
        posts = tuple(
            _preview(config, writers, d.feed, d.account, d.item, delivery=d.id, edited=d.text)
            for d in group
        )
        found.append(
            HeldItem(
                item_id=item_id,
                feed=first.feed,
                item=first.item,
                reason=first.hold_reason,
                urgent=any(d.urgent for d in group),
                posts=posts,
            )
        )
    return tuple(found)


def edit_text(config: Config, delivery_id: int, text: str, *, actor: str) -> PostPreview:
    """Post ``text`` instead of the rendered one on this held delivery. Refused
    (RefusedError) when the delivery is not held, the text is empty, longer than the
    network's limit, or no longer holds the item's link."""
    text = text.replace("\r\n", "\n").strip()
    with Storage.open(config.database) as storage:
        delivery = storage.delivery(delivery_id)
        if delivery is None or delivery.state != DeliveryState.HELD.value:
            raise RefusedError("only a post waiting for approval can be edited")
        if not text:
            raise RefusedError("the text is empty")
        preview = _preview(
            config, _Writers(config), delivery.feed, delivery.account, delivery.item, edited=text
        )
        if preview.problem is not None:
            raise RefusedError(preview.problem)
        if preview.too_long:
            raise RefusedError(f"the text is {preview.length} long; the limit is {preview.limit}")
        if preview.link and preview.link not in text and delivery.item.link not in text:
            raise RefusedError(f"the text must still hold the link {delivery.item.link}")
        storage.set_text(delivery_id, text, _now(), actor=actor)
    logs.event("text-edited", delivery=delivery_id, account=delivery.account, actor=actor)
    return replace(preview, delivery=delivery_id)


def mark_urgent(config: Config, delivery_ids: Sequence[int], *, actor: str) -> int:
    """Mark waiting deliveries urgent: not held back by quiet hours, blackouts or pacing
    once approved. How many were marked."""
    with Storage.open(config.database) as storage:
        marked = storage.mark_urgent(delivery_ids, _now())
    logs.event("marked-urgent", deliveries=",".join(map(str, delivery_ids)), actor=actor)
    return marked


@dataclass(frozen=True, slots=True)
class Queued:
    """A post stored for the daemon to send: its item and deliveries."""

    item: int
    deliveries: tuple[int, ...]


def _manual_item(config: Config, request: PostRequest) -> Item:
    return Item(
        key=f"manual:{uuid.uuid4().hex}",
        link=request.link.strip(),
        title=request.title.strip(),
        summary=request.summary.strip(),
        published=_now(),
        language=config.feeds[request.feed].language,
    )


def _targets(config: Config, request: PostRequest) -> list[str]:
    _require_feed(config, request.feed)
    targets = list(request.accounts) or list(config.feeds[request.feed].accounts)
    for name in targets:
        _require_account(config, name)
    return targets


def preview_post(config: Config, request: PostRequest) -> tuple[PostPreview, ...]:
    """Each account's post for a message written now, as ``queue_post`` would store it."""
    targets = _targets(config, request)
    item = _manual_item(config, request)
    writers = _Writers(config)
    return tuple(_preview(config, writers, request.feed, a, item) for a in targets)


def queue_post(config: Config, request: PostRequest, *, actor: str) -> Queued:
    """Store a message on the request's feed for its accounts, written with the feed's
    template; the daemon sends it at its next pass. An urgent one is not held by quiet
    hours, blackouts or pacing, as with ``autoposter post --urgent``."""
    targets = _targets(config, request)
    if not request.link.strip().startswith(("https://", "http://")):
        raise RefusedError("the link must be an http(s) address")
    if not request.title.strip():
        raise RefusedError("the title is empty")
    item = _manual_item(config, request)
    planned = [NewItem(item, tuple(PlannedDelivery(a, urgent=request.urgent) for a in targets))]
    feed = config.feeds[request.feed]
    with Storage.open(config.database) as storage:
        (item_id,) = storage.add_items(request.feed, feed.url, _now(), planned, actor=actor)
        ids = storage.delivery_ids(item_ids=[item_id])
    logs.event(
        "queued", item=item_id, accounts=",".join(targets), urgent=request.urgent, actor=actor
    )
    return Queued(item_id, tuple(ids))


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Today at a glance: what went out (with each post's address), what waits and
    why, what failed, which feeds fail, which accounts are paused and why."""

    sent_today: tuple[PostedRecord, ...]
    waiting: tuple[Waiting, ...]
    held: int
    failed: tuple[RecentDelivery, ...]
    failing_feeds: tuple[FeedSummary, ...]
    paused: Mapping[str, str]


def dashboard(config: Config) -> Dashboard:
    now = _now()
    local = now.astimezone(config.tz())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    with Storage.open(config.database) as storage:
        sent = storage.posted(midnight.astimezone(now.tzinfo))
        paused = storage.paused_accounts()
        waiting = waiting_now(config, storage, paused, now)
        since = now - timedelta(days=7)
        failed = [
            d
            for d in storage.recent_deliveries(50, state=DeliveryState.FAILED.value)
            if d.updated_at >= since
        ]
        feeds = [f for f in storage.feed_summaries() if f.failures > 0]
    return Dashboard(
        sent_today=tuple(reversed(sent)),
        waiting=tuple(w for w in waiting if w.delivery.state != DeliveryState.HELD),
        held=sum(1 for w in waiting if w.delivery.state == DeliveryState.HELD),
        failed=tuple(failed),
        failing_feeds=tuple(feeds),
        paused=paused,
    )
