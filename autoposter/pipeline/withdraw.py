"""Items withdrawn at the source: found after each poll, then retracted or alerted on.

An item is withdrawn when its feed carries an RFC 6721 tombstone for it, or
when, having left the feed while newer items remain, its page answers 410
(or 404 on two checks ``SECOND_CHECK_AFTER`` apart: a page being moved is
not a page withdrawn). Pages are checked only for items posted within the
feed's ``withdraw_window``, at most ``CHECKS_PER_POLL`` per poll and
``CHECKS_PER_HOST`` per host, with the fetcher's limits and its rule for
addresses taken from content.

What is found is decided once per item (the feed's ``on_withdraw``):
``retract`` records a retraction by the daemon, which dispatch carries out;
``alert`` sends one alert; ``ignore`` looks for nothing at all. The items
still under watch (left the feed, page not yet settled) are kept in the
``withdrawals`` state, so a later poll checks them again even when the feed
has not changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from autoposter import logs
from autoposter.alerts import Alert, Notifier
from autoposter.config import FeedConfig
from autoposter.errors import FetchError
from autoposter.pipeline.common import FeedFetcher
from autoposter.storage import PostedItem, Storage
from autoposter.storage.items import storage_key
from autoposter.types import ParsedFeed
from autoposter.urls import canonical_link

REASON = "withdrawn from the site"
CHECKS_PER_POLL = 3
CHECKS_PER_HOST = 2
SECOND_CHECK_AFTER = timedelta(hours=3)
PAGE_MAX_BYTES = 2 * 1024 * 1024
_SCOPE = "withdrawals"


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """One item found withdrawn, and what the feed's ``on_withdraw`` made of it."""

    item: int
    link: str
    why: str
    action: str


def check_withdrawals(
    feed: FeedConfig,
    parsed: ParsedFeed | None,
    *,
    storage: Storage,
    fetcher: FeedFetcher,
    alerts: Notifier,
    now: datetime,
) -> list[Withdrawn]:
    """After a successful poll (``parsed`` is None when the feed had not changed): find
    the feed's withdrawn items and act on them. Never raises for a page's faults."""
    if feed.on_withdraw == "ignore":
        return []
    found: list[Withdrawn] = []
    watched = _watched(storage, feed.name)
    if parsed is not None:
        tombstoned = (
            storage.posted_items(feed.name, keys=parsed.withdrawn) if parsed.withdrawn else []
        )
        for marked in tombstoned:
            found.append(_decide(feed, marked, "the feed marks it deleted", storage, alerts, now))
            watched.pop(str(marked.id), None)
        since = now - timedelta(seconds=feed.withdraw_window)
        for left in _left_the_feed(storage.posted_items(feed.name, sent_since=since), parsed):
            watched.setdefault(str(left.id), "")
    candidates = {str(i.id): i for i in storage.posted_items(feed.name)}
    checked: dict[str, int] = {}
    for item_id, first_404 in list(watched.items()):
        posted = candidates.get(item_id)
        if posted is None or posted.first_seen_at < now - timedelta(seconds=feed.withdraw_window):
            del watched[item_id]  # retracted meanwhile, or too old to matter
            continue
        host = urlsplit(posted.link).hostname or ""
        if sum(checked.values()) >= CHECKS_PER_POLL or checked.get(host, 0) >= CHECKS_PER_HOST:
            continue
        if first_404 and now - datetime.fromisoformat(first_404) < SECOND_CHECK_AFTER:
            continue
        checked[host] = checked.get(host, 0) + 1
        status = _page_status(fetcher, posted.link, feed.timeout)
        if status == 410 or (status == 404 and first_404):
            found.append(
                _decide(feed, posted, f"its page answers HTTP {status}", storage, alerts, now)
            )
            del watched[item_id]
        elif status == 404:
            watched[item_id] = now.isoformat()
        elif status is not None and status < 400:
            del watched[item_id]  # the page is there: it only left the feed
    storage.set_account_state(_SCOPE, feed.name, json.dumps(watched) if watched else None)
    return found


def _left_the_feed(posted: Sequence[PostedItem], parsed: ParsedFeed) -> list[PostedItem]:
    """The posted items the feed no longer lists although it lists newer ones."""
    keys = {storage_key(i.key) for i in parsed.items}
    links = {canonical_link(i.link) for i in parsed.items}
    dates = [i.published for i in parsed.items if i.published is not None]
    newest = max(dates) if dates else None
    gone = []
    for item in posted:
        if item.key in keys or (item.canonical_link and item.canonical_link in links):
            continue
        newer = (
            bool(parsed.items)
            if item.published is None or newest is None
            else (newest > item.published)
        )
        if newer:
            gone.append(item)
    return gone


def _page_status(fetcher: FeedFetcher, url: str, timeout: float) -> int | None:
    """The page's HTTP status: 200 for a page there, None when it could not be told."""
    try:
        fetcher.fetch(url, timeout=timeout, max_bytes=PAGE_MAX_BYTES, trust="content")
    except FetchError as e:
        return e.status
    return 200


def _decide(
    feed: FeedConfig,
    item: PostedItem,
    why: str,
    storage: Storage,
    alerts: Notifier,
    now: datetime,
) -> Withdrawn:
    alerted = f"alerted:{item.id}"
    if feed.on_withdraw == "alert" and storage.get_account_state(_SCOPE, alerted) is not None:
        return Withdrawn(item.id, item.link, why, "alerted before")
    logs.event(
        "item-withdrawn",
        level=logging.WARNING,
        feed=feed.name,
        item=item.id,
        link=item.link,
        why=why,
        action=feed.on_withdraw,
    )
    if feed.on_withdraw == "retract":
        storage.request_retraction([item.id], now, actor="daemon", reason=REASON)
    else:
        storage.set_account_state(_SCOPE, alerted, now.isoformat())
        alerts.notify(
            Alert(
                "item-withdrawn",
                f"withdrawn from the site: {item.title[:60]}",
                f"The item {item.title}\n  {item.link}\nwas posted by autoposter and is no "
                f"longer on the site: {why}.\n\nIts posts are still online. To take them "
                f"back:\n  autoposter retract {item.id} --reason '{REASON}'\n\n"
                f"(on_withdraw: retract in the feed {feed.name} does this by itself.)",
            )
        )
    return Withdrawn(item.id, item.link, why, feed.on_withdraw)


def _watched(storage: Storage, feed: str) -> dict[str, str]:
    """Item id -> when its page first answered 404 ("" when not yet)."""
    try:
        watched = json.loads(storage.get_account_state(_SCOPE, feed) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in watched.items()} if isinstance(watched, dict) else {}
