"""What the web console shows beyond today: the history of deliveries with their audit
trail, the tables it exports, and the accounts with their state.

Read-only, from the database and the configuration: no client is built and no token
is read (a token's expiry date is read alone, without the token).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoposter.app._common import _now
from autoposter.config import Config
from autoposter.ops import Expiry, describe_expiry
from autoposter.storage import EventRecord, PostedRecord, RecentDelivery, Storage

__all__ = [
    "AccountRow",
    "ExportTable",
    "History",
    "HistoryFilter",
    "accounts_overview",
    "event_row",
    "export_table",
    "history",
    "posted_row",
]

# At most this many deliveries on the history page, and events in its audit trail.
HISTORY_LIMIT = 200
EVENTS_LIMIT = 300


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Which deliveries: of one ``account``, ``feed``, ``state`` or ``item`` (None: any),
    changed in the last ``days`` days (None: ever)."""

    account: str | None = None
    feed: str | None = None
    state: str | None = None
    days: int | None = 30
    item: int | None = None

    def since(self, now: datetime) -> datetime | None:
        return None if self.days is None else now - timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class History:
    """The latest deliveries the filter keeps (at most ``HISTORY_LIMIT``, newest first)
    and the audit trail of those deliveries (newest first)."""

    deliveries: tuple[RecentDelivery, ...]
    events: tuple[EventRecord, ...]


def history(config: Config, selected: HistoryFilter) -> History:
    since = selected.since(_now())
    with Storage.open(config.database) as storage:
        found = storage.recent_deliveries(
            HISTORY_LIMIT,
            state=selected.state,
            account=selected.account,
            feed=selected.feed,
            since=since,
            item=selected.item,
        )
        shown = {d.id for d in found}
        events = [e for e in storage.events(since) if e.delivery in shown]
    return History(tuple(found), tuple(reversed(events[-EVENTS_LIMIT:])))


@dataclass(frozen=True, slots=True)
class ExportTable:
    """Rows to download: ``fields`` in order, each row a mapping of them."""

    fields: tuple[str, ...]
    rows: tuple[Mapping[str, str | int], ...]


POSTED_FIELDS = ("sent_at", "account", "feed", "title", "link", "post_url", "post_id", "delivery")
EVENT_FIELDS = ("time", "delivery", "account", "link", "from", "to", "actor", "detail")


def export_table(config: Config, selected: HistoryFilter, *, events: bool) -> ExportTable:
    """The public record (what was posted where and when), or with ``events`` the audit
    trail, narrowed to the filter's account and period (and feed, for the record)."""
    since = selected.since(_now())
    with Storage.open(config.database) as storage:
        if events:
            rows = tuple(
                event_row(e) for e in storage.events(since) if selected.account in (None, e.account)
            )
            return ExportTable(EVENT_FIELDS, rows)
        posted = tuple(
            posted_row(p)
            for p in storage.posted(since)
            if selected.account in (None, p.account) and selected.feed in (None, p.feed)
        )
        return ExportTable(POSTED_FIELDS, posted)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def event_row(e: EventRecord, when: Callable[[datetime], str] = _iso) -> dict[str, str | int]:
    """One line of the audit trail as exported (CSV and JSON alike); ``when`` writes its
    time (ISO 8601 by default)."""
    return {
        "time": when(e.at),
        "delivery": e.delivery,
        "account": e.account,
        "link": e.link,
        "from": e.from_state or "",
        "to": e.to_state,
        "actor": e.actor,
        "detail": e.detail or "",
    }


def posted_row(p: PostedRecord, when: Callable[[datetime], str] = _iso) -> dict[str, str | int]:
    """One line of the public record as exported (CSV and JSON alike); ``when`` writes
    its time (ISO 8601 by default)."""
    return {
        "sent_at": when(p.sent_at),
        "account": p.account,
        "feed": p.feed,
        "title": p.title,
        "link": p.link,
        "post_url": p.remote_url or "",
        "post_id": p.remote_id or "",
        "delivery": p.delivery,
    }


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One configured account: its network, whether it is paused and why, its
    deliveries counted by state, and its token's expiry when its network reports one."""

    name: str
    network: str
    paused: bool
    pause_reason: str | None
    counts: Mapping[str, int]
    expiry: Expiry | None


def accounts_overview(config: Config) -> tuple[AccountRow, ...]:
    with Storage.open(config.database) as storage:
        paused = storage.paused_accounts()
        counts = {s.account: s.counts for s in storage.account_summaries()}
        expiries = storage.token_expiries()
    now = _now()
    return tuple(
        AccountRow(
            name=name,
            network=block.type,
            paused=name in paused,
            pause_reason=paused.get(name),
            counts=counts.get(name, {}),
            expiry=describe_expiry(expiries[name], now) if name in expiries else None,
        )
        for name, block in config.accounts.items()
    )
