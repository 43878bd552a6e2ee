"""B3 dedupe: storing 100,000 items, then "which of these 50 are new" at 1,000,000 stored."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autoposter.storage import NewItem, Storage
from autoposter.types import Item
from bench.common import header

AT = datetime(2026, 11, 1, tzinfo=UTC)
SUMMARY = "conseil municipal travaux rue école " * 12  # ~430 characters, as a normalized summary


def _item(feed: int, n: int) -> Item:
    return Item(
        key=f"c{feed}-{n}",
        link=f"https://commune{feed}.example/actu/{n}",
        title=f"Conseil municipal du {n}",
        summary=SUMMARY,
        published=AT + timedelta(hours=n),
        language="fr",
        categories=("Vie locale",),
    )


def _fill(db: Path, feed_id: int, upto: int) -> None:
    """Bulk rows with plain SQL (the setup, not what is measured), up to ``upto`` in total."""
    with sqlite3.connect(db) as conn:
        have = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO items (feed_id, key, canonical_link, link, title, summary, published,
                               language, categories, baseline, first_seen_at)
            SELECT ?, 'bulk-' || i, 'https://bulk.example/actu/' || i,
                   'https://bulk.example/actu/' || i, 'Titre ' || i, ?, ?, 'fr', '[]', 1, ?
            FROM n
            """,
            (have, upto - 1, feed_id, SUMMARY, AT.isoformat(), AT.isoformat()),
        )


def run(quick: bool = False) -> dict[str, float]:
    total = 20_000 if quick else 100_000
    stored = 200_000 if quick else 1_000_000
    header(f"B3 dedupe: SQLite, {total:,} items stored by polls, unseen() at {stored:,} items")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "b3.db"
        storage = Storage.open(f"sqlite:///{db}")
        try:
            per_poll = 15
            feeds = 100
            started = time.perf_counter()
            cpu = time.process_time()
            for poll in range(total // per_poll // feeds + 1):
                for feed in range(feeds):
                    first = poll * per_poll
                    batch = [NewItem(_item(feed, first + n)) for n in range(per_poll)]
                    storage.record_poll(
                        f"commune{feed}",
                        f"https://commune{feed}.example/feed",
                        AT,
                        batch,
                        baseline=True,
                        etag=None,
                        last_modified=None,
                        body_hash=None,
                    )
            n_items = (total // per_poll // feeds + 1) * per_poll * feeds
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            out["insert_us"] = wall * 1e6 / n_items
            print(
                f"insert: {n_items:,} items in polls of {per_poll} over {feeds} feeds: "
                f"{wall * 1e6 / n_items:.0f} µs/item wall, {cpu * 1e6 / n_items:.0f} µs CPU"
            )
            with sqlite3.connect(db) as conn:
                feed_id = conn.execute("SELECT id FROM feeds WHERE name='commune0'").fetchone()[0]
            _fill(db, feed_id, stored)
            # 50 candidates: 45 already stored in commune0 (15 recent), 5 new.
            candidates = [_item(0, n) for n in range(45)] + [_item(0, 10**7 + n) for n in range(5)]
            for _ in range(3):
                storage.unseen("commune0", candidates)
            rounds = 200
            started = time.perf_counter()
            for _ in range(rounds):
                fresh = storage.unseen("commune0", candidates)
            ms = (time.perf_counter() - started) * 1000 / rounds
            assert len(fresh) == 5, len(fresh)
            with sqlite3.connect(db) as conn:
                count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            out["unseen_ms"] = ms
            print(
                f"unseen(50 candidates) with {count:,} items stored: {ms:.3f} ms "
                f"(5 new found; mean of {rounds})"
            )
        finally:
            storage.close()
    return out


if __name__ == "__main__":
    run()
