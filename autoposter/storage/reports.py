"""Reports: read-only queries for ``status``, the public record's export, and the
selections operators' decisions are about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from autoposter.storage.base import StorageBase
from autoposter.storage.records import (
    AccountSummary,
    EventRecord,
    FeedSummary,
    PostedRecord,
    RecentDelivery,
)
from autoposter.storage.schema import deliveries, delivery_events, feeds, items
from autoposter.types import DeliveryState


class ReportsMixin(StorageBase):
    """What was posted, what changed, and how each feed and account stands."""

    def delivery_ids(
        self,
        *,
        item_ids: Sequence[int] | None = None,
        feed: str | None = None,
        states: Sequence[DeliveryState] | None = None,
    ) -> list[int]:
        """Ids of the deliveries of these items, of this feed, in these states (each filter
        optional, all of them combined), oldest first: what an operator's decision is about."""
        query = (
            sa.select(deliveries.c.id)
            .join(items, deliveries.c.item_id == items.c.id)
            .join(feeds, items.c.feed_id == feeds.c.id)
        )
        if item_ids is not None:
            query = query.where(deliveries.c.item_id.in_(list(item_ids)))
        if feed is not None:
            query = query.where(feeds.c.name == feed)
        if states is not None:
            query = query.where(deliveries.c.state.in_([s.value for s in states]))
        query = query.order_by(deliveries.c.created_at, deliveries.c.id)
        with self._read() as conn:
            return [row.id for row in conn.execute(query).all()]

    def posted(self, since: datetime | None = None) -> list[PostedRecord]:
        """Every sent delivery, oldest first."""
        query = (
            sa.select(
                deliveries.c.id,
                deliveries.c.sent_at,
                deliveries.c.account,
                deliveries.c.remote_id,
                deliveries.c.remote_url,
                items.c.title,
                items.c.link,
                feeds.c.name.label("feed_name"),
            )
            .join(items, deliveries.c.item_id == items.c.id)
            .join(feeds, items.c.feed_id == feeds.c.id)
            .where(deliveries.c.state == DeliveryState.SENT.value)
            .order_by(deliveries.c.sent_at, deliveries.c.id)
        )
        if since is not None:
            query = query.where(deliveries.c.sent_at >= since)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            PostedRecord(
                delivery=row.id,
                sent_at=row.sent_at,
                account=row.account,
                feed=row.feed_name,
                title=row.title,
                link=row.link,
                remote_id=row.remote_id,
                remote_url=row.remote_url,
            )
            for row in rows
        ]

    def events(self, since: datetime | None = None) -> list[EventRecord]:
        """The audit trail: every state change of every delivery, oldest first."""
        query = (
            sa.select(delivery_events, deliveries.c.account, items.c.link)
            .join(deliveries, delivery_events.c.delivery_id == deliveries.c.id)
            .join(items, deliveries.c.item_id == items.c.id)
            .order_by(delivery_events.c.id)
        )
        if since is not None:
            query = query.where(delivery_events.c.at >= since)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            EventRecord(
                delivery=row.delivery_id,
                at=row.at,
                account=row.account,
                link=row.link,
                from_state=row.from_state,
                to_state=row.to_state,
                actor=row.actor,
                detail=row.detail,
            )
            for row in rows
        ]

    def feed_summaries(self) -> list[FeedSummary]:
        counts = (
            sa.select(items.c.feed_id, sa.func.count().label("n"))
            .group_by(items.c.feed_id)
            .subquery()
        )
        query = (
            sa.select(feeds, sa.func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.feed_id == feeds.c.id)
            .order_by(feeds.c.name)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            FeedSummary(
                name=row.name,
                url=row.url,
                items=int(row.n),
                last_polled_at=row.last_polled_at,
                last_success_at=row.last_success_at,
                last_error=row.last_error,
                failures=row.failures,
            )
            for row in rows
        ]

    def account_summaries(self) -> list[AccountSummary]:
        query = sa.select(
            deliveries.c.account, deliveries.c.state, sa.func.count().label("n")
        ).group_by(deliveries.c.account, deliveries.c.state)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        by_account: dict[str, dict[str, int]] = {}
        for row in rows:
            by_account.setdefault(row.account, {})[row.state] = int(row.n)
        return [AccountSummary(account=a, counts=c) for a, c in sorted(by_account.items())]

    def recent_deliveries(
        self,
        limit: int = 10,
        *,
        state: str | None = None,
        account: str | None = None,
        feed: str | None = None,
        since: datetime | None = None,
        item: int | None = None,
    ) -> list[RecentDelivery]:
        """The latest deliveries to change, optionally only those in one state, of one
        account, feed or item, changed since a moment."""
        query = (
            sa.select(
                deliveries.c.id,
                deliveries.c.item_id,
                deliveries.c.account,
                deliveries.c.state,
                deliveries.c.remote_url,
                deliveries.c.last_error,
                deliveries.c.updated_at,
                items.c.title,
                items.c.link,
                feeds.c.name.label("feed_name"),
            )
            .join(items, deliveries.c.item_id == items.c.id)
            .join(feeds, items.c.feed_id == feeds.c.id)
            .order_by(deliveries.c.updated_at.desc(), deliveries.c.id.desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(deliveries.c.state == state)
        if account is not None:
            query = query.where(deliveries.c.account == account)
        if feed is not None:
            query = query.where(feeds.c.name == feed)
        if since is not None:
            query = query.where(deliveries.c.updated_at >= since)
        if item is not None:
            query = query.where(deliveries.c.item_id == item)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            RecentDelivery(
                id=row.id,
                account=row.account,
                feed=row.feed_name,
                title=row.title,
                link=row.link,
                state=row.state,
                remote_url=row.remote_url,
                last_error=row.last_error,
                updated_at=row.updated_at,
                item_id=row.item_id,
            )
            for row in rows
        ]

    def delivery_states(self) -> dict[tuple[int, str], str]:
        """(item id, account) -> state for every delivery; for reports and tests."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.item_id, deliveries.c.account, deliveries.c.state)
            ).all()
        return {(row.item_id, row.account): row.state for row in rows}
