"""Polling one feed: fetch, parse, find what is new, and store it with its deliveries."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from autoposter import logs
from autoposter.alerts import Alert, LogOnly, Notifier
from autoposter.config import Config, FeedConfig
from autoposter.errors import FeedError
from autoposter.pipeline.common import Clock, FeedFetcher, utcnow
from autoposter.pipeline.update import check_updates
from autoposter.pipeline.withdraw import check_withdrawals
from autoposter.routing import accepts, matches
from autoposter.storage import FeedState, NewItem, PlannedDelivery, Storage
from autoposter.types import DeliveryState, Item, NotModified, ParsedFeed, PollStatus

_NO_ALERTS = LogOnly()
_FAILING_SCOPE = "feeds"


class FeedParser(Protocol):
    def parse(
        self, body: bytes, *, url: str, headers: Mapping[str, str], default_language: str
    ) -> ParsedFeed: ...


# --- polling ------------------------------------------------------------------------------

MAX_FEED_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of one feed did.

    ``burst``: the burst guard held this poll's new items. ``withdrawn``: items found
    withdrawn at the source. ``seconds``: how long the poll took (None when the feed
    was not polled, waiting out its backoff).
    """

    feed: str
    status: PollStatus
    items: int = 0
    new: int = 0
    held: int = 0
    error: str | None = None
    burst: bool = False
    withdrawn: int = 0
    seconds: float | None = None


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
    config: Config,
    storage: Storage,
    fetcher: FeedFetcher,
    parser: FeedParser,
    alerts: Notifier = _NO_ALERTS,
    now: Clock = utcnow,
    force: bool = False,
) -> PollResult:
    """Poll one feed once and store what is new. Never raises for a feed's own faults."""
    started = time.monotonic()
    state = storage.feed_state(feed.name)
    if not force and not feed_due(state, feed, now()):
        return PollResult(feed.name, PollStatus.BACKOFF)
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
            gone = _withdrawals(feed, None, storage, fetcher, alerts, now, baseline)
            return _logged(PollResult(feed.name, PollStatus.NOT_MODIFIED, withdrawn=gone), started)
        if not baseline and state is not None and fetched.body_hash == state.body_hash:
            storage.record_unchanged(
                feed.name,
                feed.url,
                now(),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
            gone = _withdrawals(feed, None, storage, fetcher, alerts, now, baseline)
            return _logged(PollResult(feed.name, PollStatus.UNCHANGED, withdrawn=gone), started)
        parsed = parser.parse(
            fetched.body, url=fetched.url, headers=fetched.headers, default_language=feed.language
        )
    except FeedError as e:
        failures = storage.record_failure(feed.name, feed.url, e.message, now())
        _alert_if_failing_long(feed, e.message, config, storage, alerts, now())
        error = f"{e.message} (failure {failures} in a row)"
        result = PollResult(feed.name, PollStatus.ERROR, error=error)
        return _logged(result, started, level=logging.WARNING)
    if state is not None and state.failures:
        storage.set_account_state(_FAILING_SCOPE, f"since:{feed.name}", None)

    fresh = oldest_first(storage.unseen(feed.name, parsed.items))
    new = [
        NewItem(item, () if baseline else plan(feed, item, burst=len(fresh), config=config))
        for item in fresh
    ]
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
    if not baseline:  # a baseline has posted nothing to correct
        check_updates(feed, parsed, storage=storage, alerts=alerts, now=now())
    gone = _withdrawals(feed, parsed, storage, fetcher, alerts, now, baseline)
    held = sum(1 for entry in new for d in entry.deliveries if d.state is DeliveryState.HELD)
    burst = len(fresh) > feed.burst_limit and not baseline
    if baseline:
        result = PollResult(feed.name, PollStatus.BASELINE, items=len(parsed.items), new=len(fresh))
    else:
        result = PollResult(
            feed.name,
            PollStatus.NEW,
            items=len(parsed.items),
            new=len(fresh),
            held=held,
            burst=burst,
            withdrawn=gone,
        )
    if burst:
        logs.event(
            "burst-held",
            level=logging.WARNING,
            feed=feed.name,
            new=len(fresh),
            limit=feed.burst_limit,
            hint="autoposter queue lists them; approve or reject them",
        )
        alerts.notify(
            Alert(
                "burst-held",
                f"{len(fresh)} new items at once in {feed.name}: held",
                f"One poll of feed {feed.name} ({feed.url}) brought {len(fresh)} new items "
                f"(burst_limit {feed.burst_limit}). This often means the website was migrated "
                f"and old items look new, so none was posted.\n\n"
                f"  autoposter queue            lists them\n"
                f"  autoposter approve ID...    posts some\n"
                f"  autoposter reject ID...     drops them",
            )
        )
    return _logged(result, started)


def _withdrawals(
    feed: FeedConfig,
    parsed: ParsedFeed | None,
    storage: Storage,
    fetcher: FeedFetcher,
    alerts: Notifier,
    now: Clock,
    baseline: bool,
) -> int:
    if baseline:
        return 0  # a feed's first poll (or new URL's) has posted nothing to take back
    found = check_withdrawals(
        feed, parsed, storage=storage, fetcher=fetcher, alerts=alerts, now=now()
    )
    return len(found)


def _alert_if_failing_long(
    feed: FeedConfig,
    error: str,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: datetime,
) -> None:
    """One alert per failing streak, once it has lasted ``feed_failing_after``."""
    key = f"since:{feed.name}"
    since_text = storage.get_account_state(_FAILING_SCOPE, key)
    if since_text is None:
        storage.set_account_state(_FAILING_SCOPE, key, now.isoformat())
        return
    if since_text.startswith("alerted:"):
        return
    since = datetime.fromisoformat(since_text)
    if now - since < timedelta(seconds=config.alerts.feed_failing_after):
        return
    storage.set_account_state(_FAILING_SCOPE, key, "alerted:" + since_text)
    local = since.astimezone(config.tz()).strftime("%Y-%m-%d %H:%M")
    alerts.notify(
        Alert(
            "feed-failing",
            f"feed {feed.name} failing since {local}",
            f"autoposter has not been able to read the feed {feed.name} since {local}:\n"
            f"  {feed.url}\n  {error}\n\nNew items on the website are not being posted. "
            f"`autoposter status` shows every feed's last error.",
        )
    )


def oldest_first(items: list[Item]) -> list[Item]:
    """Feeds list newest first; posts go out in the order things happened."""
    epoch = datetime.min.replace(tzinfo=UTC)
    indexed = list(enumerate(items))
    indexed.sort(key=lambda pair: (pair[1].published or pair[1].updated or epoch, -pair[0]))
    return [item for _, item in indexed]


APPROVAL_REQUIRED = "approval required"


def needs_approval(config: Config, feed: FeedConfig, account: str) -> bool:
    """Whether the feed's items wait for a person's approval before going out on
    ``account`` (``approval: required`` on the feed or the account): polled, backfilled
    or posted by hand alike."""
    return feed.approval or config.policy(account).approval


def plan(
    feed: FeedConfig, item: Item, *, burst: int, config: Config
) -> tuple[PlannedDelivery, ...]:
    """The deliveries of one new item: its feed's accounts, held for an operator when
    the poll is a burst or approval is required, urgent when the feed's rule says so."""
    if not accepts(feed, item):
        return ()
    urgent = not feed.urgent.is_empty() and matches(item, feed.urgent)
    planned = []
    for account in feed.accounts:
        reason = None
        if burst > feed.burst_limit:
            reason = (
                f"burst guard: {burst} new items in one poll of {feed.name} "
                f"(burst_limit {feed.burst_limit})"
            )
        elif needs_approval(config, feed, account):
            reason = APPROVAL_REQUIRED
        state = DeliveryState.HELD if reason else DeliveryState.PENDING
        planned.append(PlannedDelivery(account, state, reason, urgent=urgent))
    return tuple(planned)


def _logged(result: PollResult, started: float, *, level: int | None = None) -> PollResult:
    if level is None:
        # A feed that did not change is most polls of a long-running daemon: one line each
        # would be hundreds of thousands a day in the journal. They are there with DEBUG.
        quiet = result.status in (PollStatus.NOT_MODIFIED, PollStatus.UNCHANGED)
        level = logging.DEBUG if quiet else logging.INFO
    seconds = time.monotonic() - started
    logs.event(
        "poll",
        level=level,
        feed=result.feed,
        status=str(result.status),
        items=result.items if result.items else None,
        new=result.new if result.status in (PollStatus.NEW, PollStatus.BASELINE) else None,
        held=result.held or None,
        withdrawn=result.withdrawn or None,
        error=result.error,
        ms=round(seconds * 1000, 1),
    )
    return dataclasses.replace(result, seconds=seconds)
