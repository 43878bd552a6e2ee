"""The stages in order. Only this module knows the order; no stage calls the next.

``poll_feed``: feed state -> conditional fetch -> parse -> which items are
new -> baseline, burst guard, routing -> one transaction storing the items
with their deliveries.

``dispatch_due``: due deliveries -> render -> claim (``sending`` committed
before the network call) -> publish -> ``sent`` | retry later | ``failed``.

Expected failures (a feed down, a network refusing a post) are values in the
results and lines in the log; the other feeds and accounts go on.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from autoposter import logs
from autoposter.config import Config, FeedConfig
from autoposter.errors import AuthError, FeedError, PublishError
from autoposter.routing import accepts
from autoposter.storage import DueDelivery, FeedState, NewItem, PlannedDelivery, Storage
from autoposter.types import (
    DeliveryState,
    Fetched,
    Item,
    NotModified,
    ParsedFeed,
    PostSpec,
    Publisher,
)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class FeedFetcher(Protocol):
    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float = ...,
        max_bytes: int = ...,
    ) -> Fetched | NotModified: ...


class FeedParser(Protocol):
    def parse(
        self, body: bytes, *, url: str, headers: Mapping[str, str], default_language: str
    ) -> ParsedFeed: ...


# --- polling ------------------------------------------------------------------------------

MAX_FEED_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of one feed did. ``status`` is one of: new, baseline, unchanged,
    not-modified, backoff, error."""

    feed: str
    status: str
    items: int = 0
    new: int = 0
    held: int = 0
    error: str | None = None


def feed_due(state: FeedState | None, feed: FeedConfig, now: datetime) -> bool:
    """False while a failing feed waits out its backoff: its interval, doubled per failure."""
    if state is None or state.failures == 0 or state.last_polled_at is None:
        return True
    interval = timedelta(seconds=feed.poll_interval)
    delay = min(interval * (1 << min(state.failures - 1, 16)), max(interval, MAX_FEED_BACKOFF))
    return now >= state.last_polled_at + delay - timedelta(seconds=1)


def poll_feed(
    feed: FeedConfig,
    *,
    storage: Storage,
    fetcher: FeedFetcher,
    parser: FeedParser,
    now: Clock = utcnow,
    force: bool = False,
) -> PollResult:
    """Poll one feed once and store what is new. Never raises for a feed's own faults."""
    started = time.monotonic()
    state = storage.feed_state(feed.name)
    if not force and not feed_due(state, feed, now()):
        return PollResult(feed.name, "backoff")
    # A feed seen for the first time, or moved to a new URL, is recorded without
    # posting: its back catalogue is history, not news.
    baseline = state is None or state.baseline_url != feed.url
    same_url = state is not None and state.url == feed.url
    try:
        fetched = fetcher.fetch(
            feed.url,
            etag=state.etag if same_url and state else None,
            last_modified=state.last_modified if same_url and state else None,
            timeout=feed.timeout,
            max_bytes=feed.max_bytes,
        )
        if isinstance(fetched, NotModified):
            storage.record_unchanged(feed.name, feed.url, now())
            return _logged(PollResult(feed.name, "not-modified"), started)
        if not baseline and state is not None and fetched.body_hash == state.body_hash:
            storage.record_unchanged(
                feed.name,
                feed.url,
                now(),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
            return _logged(PollResult(feed.name, "unchanged"), started)
        parsed = parser.parse(
            fetched.body, url=fetched.url, headers=fetched.headers, default_language=feed.language
        )
    except FeedError as e:
        failures = storage.record_failure(feed.name, feed.url, e.message, now())
        result = PollResult(feed.name, "error", error=f"{e.message} (failure {failures} in a row)")
        return _logged(result, started, level=logging.WARNING)

    fresh = oldest_first(storage.unseen(feed.name, parsed.items))
    new = [NewItem(item, () if baseline else plan(feed, item, burst=len(fresh))) for item in fresh]
    storage.record_poll(
        feed.name,
        feed.url,
        now(),
        new,
        baseline=baseline,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body_hash=fetched.body_hash,
    )
    held = sum(1 for entry in new for d in entry.deliveries if d.state is DeliveryState.HELD)
    if baseline:
        result = PollResult(feed.name, "baseline", items=len(parsed.items), new=len(fresh))
    else:
        result = PollResult(feed.name, "new", items=len(parsed.items), new=len(fresh), held=held)
    if held:
        logs.event(
            "burst-held",
            level=logging.WARNING,
            feed=feed.name,
            new=len(fresh),
            limit=feed.burst_limit,
            hint="autoposter status shows them; approve or reject them, or backfill on purpose",
        )
    return _logged(result, started)


def oldest_first(items: list[Item]) -> list[Item]:
    """Feeds list newest first; posts go out in the order things happened."""
    epoch = datetime.min.replace(tzinfo=UTC)
    indexed = list(enumerate(items))
    indexed.sort(key=lambda pair: (pair[1].published or pair[1].updated or epoch, -pair[0]))
    return [item for _, item in indexed]


def plan(feed: FeedConfig, item: Item, *, burst: int) -> tuple[PlannedDelivery, ...]:
    """The deliveries of one new item: its feed's accounts, held when the poll is a burst."""
    if not accepts(feed, item):
        return ()
    if burst > feed.burst_limit:
        reason = (
            f"burst guard: {burst} new items in one poll of {feed.name} "
            f"(burst_limit {feed.burst_limit})"
        )
        return tuple(PlannedDelivery(a, DeliveryState.HELD, reason) for a in feed.accounts)
    return tuple(PlannedDelivery(a) for a in feed.accounts)


def _logged(result: PollResult, started: float, *, level: int = logging.INFO) -> PollResult:
    logs.event(
        "poll",
        level=level,
        feed=result.feed,
        status=result.status,
        items=result.items if result.items else None,
        new=result.new if result.status in ("new", "baseline") else None,
        held=result.held or None,
        error=result.error,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return result


# --- dispatch -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a delivery keeps trying after retryable errors."""

    first_delay: float = 60.0
    max_delay: float = 3600.0
    max_attempts: int = 12
    max_age: timedelta = timedelta(hours=24)
    auth_delay: float = 3600.0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        base = min(self.first_delay * (1 << min(max(attempts - 1, 0), 30)), self.max_delay)
        jittered = base * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not security
        return max(jittered, retry_after or 0.0)


@dataclass(slots=True)
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0
    errors: dict[int, str] = field(default_factory=dict)


def spec_for(config: Config, feed_name: str, account: str, item: Item) -> PostSpec:
    """How the feed wants its items written; a feed since removed from the config
    falls back to the defaults so its queued items still go out."""
    feed = config.feeds.get(feed_name)
    if feed is None:
        return PostSpec(
            feed=feed_name,
            account=account,
            template=config.default_template,
            language=item.language or config.default_language,
        )
    return PostSpec(
        feed=feed_name,
        account=account,
        template=feed.template,
        language=item.language or feed.language,
        hashtags=feed.hashtags,
    )


def dispatch_due(
    *,
    config: Config,
    storage: Storage,
    publishers: Mapping[str, Publisher],
    now: Clock = utcnow,
    policy: RetryPolicy = RetryPolicy(),
    limit: int = 100,
    ids: list[int] | None = None,
    on_done: Callable[[DueDelivery, str], None] | None = None,
) -> DispatchResult:
    """Send every delivery that is due, one at a time, oldest first."""
    result = DispatchResult()
    blocked: set[str] = set()
    for delivery in storage.due_deliveries(now(), limit=limit, ids=ids):
        publisher = publishers.get(delivery.account)
        if publisher is None or delivery.account in blocked:
            # The account left the config, or failed in this pass: its deliveries wait.
            result.waiting += 1
            continue
        outcome = _deliver(delivery, publisher, config, storage, now, policy)
        if outcome == "sent":
            result.sent += 1
        elif outcome == "retry":
            result.retried += 1
            blocked.add(delivery.account)
        else:
            result.failed += 1
        if on_done is not None:
            on_done(delivery, outcome)
    return result


def _deliver(
    delivery: DueDelivery,
    publisher: Publisher,
    config: Config,
    storage: Storage,
    now: Clock,
    policy: RetryPolicy,
) -> str:
    started = time.monotonic()
    fields: dict[str, Any] = {
        "account": delivery.account,
        "feed": delivery.feed,
        "delivery": delivery.id,
    }
    try:
        spec = spec_for(config, delivery.feed, delivery.account, delivery.item)
        post = publisher.render(delivery.item, spec)
    except (PublishError, ValueError) as e:
        storage.mark_failed(delivery.id, now(), error=f"cannot render: {e}")
        logs.event("failed", level=logging.ERROR, **fields, error=f"cannot render: {e}")
        return "failed"
    if not storage.mark_sending(delivery.id, now()):
        return "retry"  # another dispatcher claimed it first
    try:
        receipt = publisher.publish(post, key=delivery.idempotency_key)
    except PublishError as e:
        return _after_error(delivery, e, storage, now, policy, fields)
    storage.mark_sent(delivery.id, now(), remote_id=receipt.remote_id, remote_url=receipt.url)
    logs.event(
        "published",
        **fields,
        url=receipt.url or receipt.remote_id,
        link=delivery.item.link,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return "sent"


def _after_error(
    delivery: DueDelivery,
    error: PublishError,
    storage: Storage,
    now: Clock,
    policy: RetryPolicy,
    fields: dict[str, Any],
) -> str:
    at = now()
    attempts = delivery.attempts + 1
    if isinstance(error, AuthError):
        # The account's credentials need an operator; nothing is dropped meanwhile.
        next_at = at + timedelta(seconds=policy.auth_delay)
        storage.mark_retry(delivery.id, at, error=error.message, next_attempt_at=next_at)
        logs.event("auth-failed", level=logging.ERROR, **fields, error=error.message)
        return "retry"
    too_old = at - delivery.created_at > policy.max_age
    if error.retryable and attempts < policy.max_attempts and not too_old:
        retry_after = getattr(error, "retry_after", None)
        next_at = at + timedelta(seconds=policy.delay(attempts, retry_after))
        storage.mark_retry(delivery.id, at, error=error.message, next_attempt_at=next_at)
        logs.event(
            "retry",
            level=logging.WARNING,
            **fields,
            attempt=attempts,
            next=next_at.isoformat(timespec="seconds"),
            error=error.message,
        )
        return "retry"
    storage.mark_failed(delivery.id, at, error=error.message)
    logs.event("failed", level=logging.ERROR, **fields, attempt=attempts, error=error.message)
    return "failed"


def recover_interrupted(storage: Storage, now: Clock = utcnow) -> int:
    """Deliveries left in ``sending`` by a crash become ``unknown`` for an operator:
    the post may or may not have been made, and a blind retry could post it twice."""
    count = storage.mark_interrupted(now())
    if count:
        logs.event(
            "interrupted",
            level=logging.WARNING,
            deliveries=count,
            hint="autoposter status lists them as unknown; check the accounts, then retry or skip",
        )
    return count
