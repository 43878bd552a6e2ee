"""Items: each feed entry stored once.

Deduplication is the unique constraint on (feed, key), with a second look at
the canonical link so a feed whose ids churn does not look new. A poll's new
items and their deliveries are written in one transaction: an item is never
stored without the deliveries it was routed to, so a crash cannot lose one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autoposter.storage.base import insert, item_from_row
from autoposter.storage.deliveries import insert_delivery, insert_new_deliveries
from autoposter.storage.feeds import FeedsMixin, ensure_feed
from autoposter.storage.records import NewItem, StoredItem
from autoposter.storage.schema import feeds, items
from autoposter.types import Item
from autoposter.urls import canonical_link

_MAX_KEY = 512


def storage_key(key: str) -> str:
    """The key as stored: long ids are hashed so they fit the unique index on every database."""
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class ItemsMixin(FeedsMixin):
    """New items found by polls or given by an operator, and the stored ones for backfill."""

    def unseen(self, name: str, candidates: Sequence[Item]) -> list[Item]:
        """The candidates this feed has never stored, by key or by canonical link, in order."""
        with self._read() as conn:
            feed_id = conn.execute(sa.select(feeds.c.id).where(feeds.c.name == name)).scalar()
            known_keys: set[str] = set()
            known_links: set[str] = set()
            if feed_id is not None and candidates:
                keys = [storage_key(c.key) for c in candidates]
                links = [link for c in candidates if (link := canonical_link(c.link))]
                # One round trip; each half uses its own index ((feed_id, key) and
                # (feed_id, canonical_link)), which an OR of the two would not.
                columns = (items.c.key, items.c.canonical_link)
                query: sa.Select[Any] | sa.CompoundSelect[Any] = sa.select(*columns).where(
                    items.c.feed_id == feed_id, items.c.key.in_(keys)
                )
                if links:
                    query = sa.union_all(
                        query,
                        sa.select(*columns).where(
                            items.c.feed_id == feed_id, items.c.canonical_link.in_(links)
                        ),
                    )
                wanted_keys, wanted_links = set(keys), set(links)
                for row_key, row_link in conn.execute(query):
                    if row_key in wanted_keys:
                        known_keys.add(row_key)
                    if row_link in wanted_links:
                        known_links.add(row_link)
        fresh: list[Item] = []
        for item in candidates:
            key = storage_key(item.key)
            link = canonical_link(item.link)
            if key in known_keys or (link and link in known_links):
                continue
            known_keys.add(key)
            if link:
                known_links.add(link)
            fresh.append(item)
        return fresh

    def record_poll(
        self,
        name: str,
        url: str,
        at: datetime,
        new: Sequence[NewItem],
        *,
        baseline: bool,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
    ) -> list[int]:
        """Store a successful poll: its new items, their deliveries and the feed's validators.

        All or nothing. An item another process stored meanwhile is skipped with its
        deliveries (the unique constraint decides). Returns the ids of the stored items.
        """
        stored: list[int] = []
        self._forget(name)
        with self._tx() as conn:
            feed_id = ensure_feed(conn, name, url, at)
            for entry in new:
                item_id = self._insert_item(conn, feed_id, entry.item, baseline=baseline, at=at)
                if item_id is None:
                    continue
                stored.append(item_id)
                insert_new_deliveries(conn, item_id, entry.deliveries, at, actor="daemon")
            values: dict[str, Any] = {
                "url": url,
                "etag": etag,
                "last_modified": last_modified,
                "body_hash": body_hash,
                "last_polled_at": at,
                "last_success_at": at,
                "last_error": None,
                "failures": 0,
            }
            if baseline:
                values["baseline_url"] = url
            conn.execute(feeds.update().where(feeds.c.id == feed_id).values(**values))
        return stored

    def add_items(
        self, name: str, url: str, at: datetime, new: Sequence[NewItem], *, actor: str
    ) -> list[int]:
        """Store items that did not come from a poll (``autoposter post``), with their
        deliveries; the feed's fetch state is left alone."""
        stored: list[int] = []
        with self._tx() as conn:
            feed_id = ensure_feed(conn, name, url, at)
            for entry in new:
                item_id = self._insert_item(conn, feed_id, entry.item, baseline=False, at=at)
                if item_id is None:
                    continue
                stored.append(item_id)
                for planned in entry.deliveries:
                    insert_delivery(conn, item_id, planned, at, actor=actor)
        return stored

    def _insert_item(
        self, conn: Connection, feed_id: int, item: Item, *, baseline: bool, at: datetime
    ) -> int | None:
        values = {
            "feed_id": feed_id,
            "key": storage_key(item.key),
            "canonical_link": canonical_link(item.link)[:2048],
            "link": item.link,
            "title": item.title,
            "summary": item.summary,
            "published": item.published,
            "updated": item.updated,
            "language": item.language[:35] if item.language else None,
            "categories": list(item.categories),
            "image_url": item.image.url if item.image else None,
            "image_alt": item.image.alt if item.image else None,
            "author": item.author,
            "baseline": baseline,
            "first_seen_at": at,
        }
        stmt = (
            insert(conn, items)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["feed_id", "key"])
        )
        item_id = conn.execute(stmt.returning(items.c.id)).scalar()
        return None if item_id is None else int(item_id)

    def items_for_backfill(
        self, name: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[StoredItem]:
        """The feed's stored items, newest first, optionally published since a date."""
        query = (
            sa.select(items, feeds.c.name.label("feed_name"))
            .join(feeds, items.c.feed_id == feeds.c.id)
            .where(feeds.c.name == name)
        )
        when = sa.func.coalesce(items.c.published, items.c.first_seen_at)
        if since is not None:
            query = query.where(when >= since)
        query = query.order_by(when.desc(), items.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            StoredItem(
                id=row.id,
                feed=row.feed_name,
                item=item_from_row(row),
                baseline=row.baseline,
                first_seen_at=row.first_seen_at,
            )
            for row in rows
        ]
