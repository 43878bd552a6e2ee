"""Feeds: what the last polls of each feed left behind, for the next conditional GET."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autoposter.storage.base import StorageBase, insert
from autoposter.storage.records import FeedState
from autoposter.storage.schema import feeds

_FEED_CACHE_SECONDS = 600.0

# Built once: building an UPDATE costs more than running it on SQLite.
_RECORD_UNCHANGED = (
    feeds.update()
    .where(feeds.c.name == sa.bindparam("p_name"))
    .values(
        url=sa.bindparam("p_url"),
        last_polled_at=sa.bindparam("p_at"),
        last_success_at=sa.bindparam("p_at"),
        last_error=None,
        failures=0,
        # A 304 brings no validators: the stored ones stay.
        etag=sa.func.coalesce(sa.bindparam("p_etag", type_=sa.String), feeds.c.etag),
        last_modified=sa.func.coalesce(
            sa.bindparam("p_lm", type_=sa.String), feeds.c.last_modified
        ),
    )
)


def ensure_feed(conn: Connection, name: str, url: str, at: datetime) -> int:
    """The id of feed ``name``, created on first sight."""
    query = sa.select(feeds.c.id).where(feeds.c.name == name)
    feed_id = conn.execute(query).scalar()
    if feed_id is None:
        # Two pollers may meet here; the unique name decides and both read the winner.
        conn.execute(
            insert(conn, feeds)
            .values(name=name, url=url, failures=0, created_at=at)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        feed_id = conn.execute(query).scalar_one()
    return int(feed_id)


class FeedsMixin(StorageBase):
    """Each feed's validators, failures and poll times."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        # The feeds' states as this process last wrote or read them: an unchanged poll
        # then costs one UPDATE, not a SELECT as well. Another process's writes (a CLI
        # command) are seen when an entry expires; a stale validator costs one full GET,
        # and what is new is always decided by the items table, never by this cache.
        self._feed_cache: dict[str, tuple[float, FeedState]] = {}
        self._feed_cache_lock = threading.Lock()

    def feed_state(self, name: str) -> FeedState | None:
        with self._feed_cache_lock:
            cached = self._feed_cache.get(name)
        if cached is not None and time.monotonic() - cached[0] < _FEED_CACHE_SECONDS:
            return cached[1]
        with self._read() as conn:
            row = conn.execute(sa.select(feeds).where(feeds.c.name == name)).one_or_none()
        if row is None:
            return None
        state = FeedState(
            name=row.name,
            url=row.url,
            baseline_url=row.baseline_url,
            etag=row.etag,
            last_modified=row.last_modified,
            body_hash=row.body_hash,
            failures=row.failures,
            last_polled_at=row.last_polled_at,
            last_success_at=row.last_success_at,
        )
        self._remember(state)
        return state

    def _remember(self, state: FeedState) -> None:
        with self._feed_cache_lock:
            self._feed_cache[state.name] = (time.monotonic(), state)

    def _forget(self, name: str) -> None:
        with self._feed_cache_lock:
            self._feed_cache.pop(name, None)

    def record_unchanged(
        self,
        name: str,
        url: str,
        at: datetime,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """A successful poll that brought nothing to parse (304, or the same body)."""
        params = {"p_name": name, "p_url": url, "p_at": at, "p_etag": etag, "p_lm": last_modified}
        with self._feed_cache_lock:
            cached = self._feed_cache.pop(name, None)
        with self._tx() as conn:
            # One prepared statement for a known feed: this is every unchanged poll.
            done = conn.execute(_RECORD_UNCHANGED, params)
            if done.rowcount == 0:
                ensure_feed(conn, name, url, at)
                conn.execute(_RECORD_UNCHANGED, params)
        if cached is not None and done.rowcount == 1:
            # Kept with its original age, so it still expires on time.
            old = cached[1]
            state = dataclasses.replace(
                old,
                url=url,
                etag=etag if etag is not None else old.etag,
                last_modified=last_modified if last_modified is not None else old.last_modified,
                failures=0,
                last_polled_at=at,
                last_success_at=at,
            )
            with self._feed_cache_lock:
                self._feed_cache.setdefault(name, (cached[0], state))

    def record_failure(self, name: str, url: str, error: str, at: datetime) -> int:
        """Record a failed poll; returns the number of failures in a row."""
        self._forget(name)
        with self._tx() as conn:
            feed_id = ensure_feed(conn, name, url, at)
            conn.execute(
                feeds.update()
                .where(feeds.c.id == feed_id)
                .values(
                    last_polled_at=at,
                    last_error=error,
                    last_error_at=at,
                    failures=feeds.c.failures + 1,
                )
            )
            return int(
                conn.execute(sa.select(feeds.c.failures).where(feeds.c.id == feed_id)).scalar_one()
            )
