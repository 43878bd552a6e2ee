"""Reputation watch storage: each match once per watch, whatever the source.

Deduplication is the unique constraint on (watch, canonical URL). Personal data
(author, text, title) is emptied after the retention period; the row itself
stays so that an old article seen again is not news.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from autoposter.storage.base import insert, transaction
from autoposter.storage.schema import watch_matches

__all__ = ["Match", "StoredMatch", "WatchStore"]


@dataclass(frozen=True, slots=True)
class Match:
    """Something said about the institution, as a source found it.

    ``canonical_url`` is the dedup key: the real article's URL (redirectors
    unwrapped) in canonical form.
    """

    watch: str
    source: str
    url: str
    canonical_url: str
    title: str = ""
    author: str | None = None
    text: str = ""
    published: datetime | None = None
    keywords: tuple[str, ...] = ()
    alert: bool = False


@dataclass(frozen=True, slots=True)
class StoredMatch:
    id: int
    match: Match
    first_seen_at: datetime
    alerted_at: datetime | None
    digested_at: datetime | None
    purged: bool


class WatchStore:
    """The watch tables, over the engine of an opened (migrated) ``Storage``: see
    ``Storage.watch_store``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine, "watch storage")

    def add(self, matches: Sequence[Match], now: datetime | None = None) -> list[StoredMatch]:
        """Store ``matches``; return only the ones this watch had never seen."""
        now = now or datetime.now(UTC)
        new: list[StoredMatch] = []
        with self._tx() as conn:
            for match in matches:
                statement = insert(conn, watch_matches).values(
                    watch=match.watch,
                    canonical_url=match.canonical_url[:2048],
                    url=match.url,
                    source=match.source,
                    title=match.title,
                    author=match.author,
                    text=match.text,
                    published=match.published,
                    keywords=list(match.keywords),
                    alert=match.alert,
                    first_seen_at=now,
                )
                result = conn.execute(
                    statement.on_conflict_do_nothing(
                        index_elements=["watch", "canonical_url"]
                    ).returning(watch_matches.c.id)
                )
                row = result.one_or_none()
                if row is not None:
                    new.append(StoredMatch(row.id, match, now, None, None, False))
        return new

    def undigested(self, watch: str) -> list[StoredMatch]:
        """Matches not yet in a sent digest, oldest first."""
        return self._select(
            (watch_matches.c.watch == watch)
            & watch_matches.c.digested_at.is_(None)
            & watch_matches.c.purged_at.is_(None)
        )

    def since(self, when: datetime, watch: str | None = None) -> list[StoredMatch]:
        condition = watch_matches.c.first_seen_at >= when
        if watch is not None:
            condition = condition & (watch_matches.c.watch == watch)
        return self._select(condition)

    def mark_digested(self, ids: Sequence[int], now: datetime | None = None) -> None:
        self._stamp(ids, "digested_at", now)

    def alerts_sent_since(self, watch: str, when: datetime) -> int:
        """How many alerts this watch sent since ``when``: the rate limit's count."""
        with self._tx() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(watch_matches)
                .where((watch_matches.c.watch == watch) & (watch_matches.c.alerted_at >= when))
            ).scalar_one()
        return int(count)

    def mark_alerted(self, ids: Sequence[int], now: datetime | None = None) -> None:
        self._stamp(ids, "alerted_at", now)

    def _stamp(self, ids: Sequence[int], column: str, now: datetime | None) -> None:
        if not ids:
            return
        with self._tx() as conn:
            conn.execute(
                sa.update(watch_matches)
                .where(watch_matches.c.id.in_(list(ids)))
                .values({column: now or datetime.now(UTC)})
            )

    def purge(self, retention: float, now: datetime | None = None) -> int:
        """Empty author, text and title of matches older than ``retention`` seconds.

        Returns how many were purged. The URL is kept for deduplication.
        """
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(seconds=retention)
        with self._tx() as conn:
            result = conn.execute(
                sa.update(watch_matches)
                .where(
                    (watch_matches.c.first_seen_at < cutoff) & watch_matches.c.purged_at.is_(None)
                )
                .values(author=None, text=None, title=None, purged_at=now)
            )
        return int(result.rowcount or 0)

    def _select(self, condition: Any) -> list[StoredMatch]:
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(watch_matches)
                .where(condition)
                .order_by(watch_matches.c.first_seen_at, watch_matches.c.id)
            ).all()
        return [_stored(row) for row in rows]


def _stored(row: Any) -> StoredMatch:
    return StoredMatch(
        id=row.id,
        match=Match(
            watch=row.watch,
            source=row.source,
            url=row.url,
            canonical_url=row.canonical_url,
            title=row.title or "",
            author=row.author,
            text=row.text or "",
            published=row.published,
            keywords=tuple(row.keywords or ()),
            alert=row.alert,
        ),
        first_seen_at=row.first_seen_at,
        alerted_at=row.alerted_at,
        digested_at=row.digested_at,
        purged=row.purged_at is not None,
    )
