"""The only module that speaks SQL.

Deduplication is the unique constraint on (feed, key), with a second look at
the canonical link so a feed whose ids churn does not look new. A poll's new
items and their deliveries are written in one transaction: an item is never
stored without the deliveries it was routed to, so a crash cannot lose one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from autoposter.errors import StorageError
from autoposter.storage.schema import (
    account_state,
    accounts,
    deliveries,
    delivery_events,
    feeds,
    items,
)
from autoposter.types import DeliveryState, Image, Item
from autoposter.urls import canonical_link

__all__ = [
    "AccountState",
    "AccountSummary",
    "DueDelivery",
    "FeedState",
    "FeedSummary",
    "NewItem",
    "PlannedDelivery",
    "RecentDelivery",
    "Storage",
    "StoredItem",
]

_MAX_KEY = 512
_SQLITE_BUSY_MS = 10_000


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the last polls of a feed left behind, for the next conditional GET."""

    name: str
    url: str
    baseline_url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    failures: int
    last_polled_at: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One account an item is routed to, and whether it waits for an operator."""

    account: str
    state: DeliveryState = DeliveryState.PENDING
    hold_reason: str | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class NewItem:
    item: Item
    deliveries: tuple[PlannedDelivery, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    feed: str
    item: Item
    baseline: bool
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: int
    account: str
    feed: str
    idempotency_key: str
    attempts: int
    created_at: datetime
    item: Item
    urgent: bool = False
    state: str = DeliveryState.PENDING.value
    hold_reason: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class PostedRecord:
    """One line of the public record: what was posted where, when."""

    delivery: int
    sent_at: datetime
    account: str
    feed: str
    title: str
    link: str
    remote_id: str | None
    remote_url: str | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    delivery: int
    at: datetime
    account: str
    link: str
    from_state: str | None
    to_state: str
    actor: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class FeedSummary:
    name: str
    url: str
    items: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: str
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class RecentDelivery:
    id: int
    account: str
    feed: str
    title: str
    link: str
    state: str
    remote_url: str | None
    last_error: str | None
    updated_at: datetime


class AccountState:
    """One account's small key-value store, handed to a publisher that asks for it.

    Thread-safe through the database; values are opaque text.
    """

    def __init__(self, storage: Storage, account: str) -> None:
        self._storage = storage
        self.account = account

    def get(self, key: str) -> str | None:
        return self._storage.get_account_state(self.account, key)

    def set(self, key: str, value: str | None) -> None:
        """Store ``value``; None deletes the key."""
        self._storage.set_account_state(self.account, key, value)


def storage_key(key: str) -> str:
    """The key as stored: long ids are hashed so they fit the unique index on every database."""
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _create_engine(url: str) -> Engine:
    try:
        # A local SQLite file needs no liveness ping: it would be one more statement
        # on every checkout, that is, on every transaction.
        ping = sa.engine.make_url(url).get_backend_name() != "sqlite"
        engine = sa.create_engine(url, pool_pre_ping=ping)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise StorageError(f"cannot use database {_safe_url(url)}: {e}") from e
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event own transactions (pysqlite's own are deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so the busy timeout applies instead of
        # a read transaction failing at once when it later tries to write. A transaction
        # opened by ``_read`` never writes: a deferred BEGIN lets it run beside a writer
        # (WAL) on its own snapshot instead of queueing for the write lock.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


_READ_ONLY = "autoposter_read_only"


@contextmanager
def transaction(engine: Engine, where: str, *, read_only: bool = False) -> Iterator[Connection]:
    """One transaction; a database error becomes a StorageError that begins with ``where``.

    ``read_only``: on SQLite, a deferred BEGIN (see ``_configure_sqlite``); never write in it.
    """
    try:
        with engine.connect() as conn:
            if read_only:
                conn.execution_options(**{_READ_ONLY: True})
            with conn.begin():
                yield conn
    except sa.exc.SQLAlchemyError as e:
        raise StorageError(f"{where}: {e.__class__.__name__}: {e}") from e


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


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable database URL)"


# The newest migration (storage/migrations/versions); a test checks they agree. A database
# already there is opened without importing Alembic, which costs the daemon 11 MB.
SCHEMA_HEAD = "0004"


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


class Storage:
    """Feeds, items and deliveries in one SQLAlchemy database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.safe_url = _safe_url(url)
        self._engine = _create_engine(url)
        # The feeds' states as this process last wrote or read them: an unchanged poll
        # then costs one UPDATE, not a SELECT as well. Another process's writes (a CLI
        # command) are seen when an entry expires; a stale validator costs one full GET,
        # and what is new is always decided by the items table, never by this cache.
        self._feed_cache: dict[str, tuple[float, FeedState]] = {}
        self._feed_cache_lock = threading.Lock()

    @classmethod
    def open(cls, url: str) -> Storage:
        """Connect and bring the schema up to date."""
        storage = cls(url)
        storage.migrate()
        return storage

    def close(self) -> None:
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """For the storage modules beside this one (``storage.watch``); no SQL elsewhere."""
        return self._engine

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine, f"database {self.safe_url}")

    def _read(self) -> AbstractContextManager[Connection]:
        """A transaction that only reads (on SQLite, a deferred BEGIN); never write in it."""
        return transaction(self._engine, f"database {self.safe_url}", read_only=True)

    # --- schema ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply every migration not yet applied (idempotent)."""
        if self._current_revision() == SCHEMA_HEAD:
            return
        from alembic import command

        with self._tx() as conn:
            command.upgrade(_alembic_config(conn), "head")

    def _current_revision(self) -> str | None:
        with self._tx() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def schema_revision(self) -> tuple[str | None, str]:
        """(current revision of the database, newest revision this version knows)."""
        from alembic.script import ScriptDirectory

        current = self._current_revision()
        with self._tx() as conn:
            head = ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()
        return current, head or ""

    # --- feeds ----------------------------------------------------------------------------

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

    def _feed_id(self, conn: Connection, name: str, url: str, at: datetime) -> int:
        query = sa.select(feeds.c.id).where(feeds.c.name == name)
        feed_id = conn.execute(query).scalar()
        if feed_id is None:
            # Two pollers may meet here; the unique name decides and both read the winner.
            conn.execute(
                _insert(conn, feeds)
                .values(name=name, url=url, failures=0, created_at=at)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            feed_id = conn.execute(query).scalar_one()
        return int(feed_id)

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
                self._feed_id(conn, name, url, at)
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
            feed_id = self._feed_id(conn, name, url, at)
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

    # --- items ----------------------------------------------------------------------------

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
            feed_id = self._feed_id(conn, name, url, at)
            for entry in new:
                item_id = self._insert_item(conn, feed_id, entry.item, baseline=baseline, at=at)
                if item_id is None:
                    continue
                stored.append(item_id)
                self._insert_new_deliveries(conn, item_id, entry.deliveries, at, actor="daemon")
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
            feed_id = self._feed_id(conn, name, url, at)
            for entry in new:
                item_id = self._insert_item(conn, feed_id, entry.item, baseline=False, at=at)
                if item_id is None:
                    continue
                stored.append(item_id)
                for planned in entry.deliveries:
                    self._insert_delivery(conn, item_id, planned, at, actor=actor)
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
            _insert(conn, items)
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
                item=_item_from_row(row),
                baseline=row.baseline,
                first_seen_at=row.first_seen_at,
            )
            for row in rows
        ]

    # --- deliveries -----------------------------------------------------------------------

    def _insert_delivery(
        self,
        conn: Connection,
        item_id: int,
        planned: PlannedDelivery,
        at: datetime,
        *,
        actor: str,
    ) -> int | None:
        stmt = (
            _insert(conn, deliveries)
            .values(
                item_id=item_id,
                account=planned.account,
                state=planned.state.value,
                idempotency_key=uuid.uuid4().hex,
                attempts=0,
                hold_reason=planned.hold_reason,
                urgent=planned.urgent,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing(index_elements=["item_id", "account"])
            .returning(deliveries.c.id)
        )
        delivery_id = conn.execute(stmt).scalar()
        if delivery_id is None:
            return None
        conn.execute(
            delivery_events.insert().values(
                delivery_id=delivery_id,
                at=at,
                from_state=None,
                to_state=planned.state.value,
                actor=actor,
                detail=planned.hold_reason,
            )
        )
        return int(delivery_id)

    def _insert_new_deliveries(
        self,
        conn: Connection,
        item_id: int,
        planned: Sequence[PlannedDelivery],
        at: datetime,
        *,
        actor: str,
    ) -> None:
        """The deliveries of an item inserted in this transaction (so none exists yet), with
        their events: two statements whatever the number of accounts."""
        unique = list({p.account: p for p in planned}.values())
        if not unique:
            return
        rows = [
            {
                "item_id": item_id,
                "account": p.account,
                "state": p.state.value,
                "idempotency_key": uuid.uuid4().hex,
                "attempts": 0,
                "hold_reason": p.hold_reason,
                "urgent": p.urgent,
                "created_at": at,
                "updated_at": at,
            }
            for p in unique
        ]
        ids = conn.execute(
            deliveries.insert().returning(deliveries.c.id, sort_by_parameter_order=True), rows
        ).scalars()
        conn.execute(
            delivery_events.insert(),
            [
                {
                    "delivery_id": delivery_id,
                    "at": at,
                    "from_state": None,
                    "to_state": p.state.value,
                    "actor": actor,
                    "detail": p.hold_reason,
                }
                for delivery_id, p in zip(ids, unique, strict=True)
            ],
        )

    def create_deliveries(
        self,
        item_ids: Sequence[int],
        planned: PlannedDelivery,
        at: datetime,
        *,
        actor: str,
    ) -> list[int]:
        """Queue items for one more account (backfill); pairs already queued are left alone."""
        created: list[int] = []
        with self._tx() as conn:
            for item_id in item_ids:
                delivery_id = self._insert_delivery(conn, item_id, planned, at, actor=actor)
                if delivery_id is not None:
                    created.append(delivery_id)
        return created

    def _deliveries_query(self) -> sa.Select[Any]:
        return (
            sa.select(
                deliveries.c.id.label("delivery_id"),
                deliveries.c.account,
                deliveries.c.idempotency_key,
                deliveries.c.attempts,
                deliveries.c.created_at.label("delivery_created_at"),
                deliveries.c.urgent,
                deliveries.c.state,
                deliveries.c.hold_reason,
                deliveries.c.last_error,
                feeds.c.name.label("feed_name"),
                items,
            )
            .join(items, deliveries.c.item_id == items.c.id)
            .join(feeds, items.c.feed_id == feeds.c.id)
        )

    def _fetch_deliveries(self, query: sa.Select[Any]) -> list[DueDelivery]:
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            DueDelivery(
                id=row.delivery_id,
                account=row.account,
                feed=row.feed_name,
                idempotency_key=row.idempotency_key,
                attempts=row.attempts,
                created_at=row.delivery_created_at,
                item=_item_from_row(row),
                urgent=bool(row.urgent),
                state=row.state,
                hold_reason=row.hold_reason,
                last_error=row.last_error,
            )
            for row in rows
        ]

    def due_deliveries(
        self,
        now: datetime,
        *,
        limit: int = 100,
        ids: Sequence[int] | None = None,
        accounts: Sequence[str] | None = None,
        only: Mapping[str, int | None] | None = None,
    ) -> list[DueDelivery]:
        """Pending deliveries whose time has come, oldest first (urgent ones first of all).

        ``accounts``: only these accounts (the configured, unpaused ones), so that a
        blocked account's backlog never fills the batch. ``only``: for these accounts,
        only this one delivery (None: none at all).
        """
        query = self._deliveries_query().where(
            deliveries.c.state == DeliveryState.PENDING.value,
            sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
        )
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        if accounts is not None:
            query = query.where(deliveries.c.account.in_(list(accounts)))
        for account, allowed in (only or {}).items():
            blocked = deliveries.c.account == account
            if allowed is not None:
                blocked = sa.and_(blocked, deliveries.c.id != allowed)
            query = query.where(sa.not_(blocked))
        query = query.order_by(
            deliveries.c.urgent.desc(), deliveries.c.created_at, items.c.published, deliveries.c.id
        )
        return self._fetch_deliveries(query.limit(limit))

    def deliveries_in(
        self, state: DeliveryState, *, updated_before: datetime | None = None
    ) -> list[DueDelivery]:
        """Every delivery in ``state``, oldest first (reconciliation, the operator's queue)."""
        query = self._deliveries_query().where(deliveries.c.state == state.value)
        if updated_before is not None:
            query = query.where(deliveries.c.updated_at < updated_before)
        return self._fetch_deliveries(query.order_by(deliveries.c.created_at, deliveries.c.id))

    def delivery(self, delivery_id: int) -> DueDelivery | None:
        found = self._fetch_deliveries(
            self._deliveries_query().where(deliveries.c.id == delivery_id)
        )
        return found[0] if found else None

    def defer_account(self, account: str, until: datetime) -> None:
        """Every due delivery of ``account`` waits until ``until``: an account whose network
        just failed is not tried again, delivery after delivery, at every pass."""
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.account == account,
                    deliveries.c.state == DeliveryState.PENDING.value,
                    sa.or_(
                        deliveries.c.next_attempt_at.is_(None),
                        deliveries.c.next_attempt_at < until,
                    ),
                )
                .values(next_attempt_at=until)
            )

    def waiting_accounts(self) -> set[str]:
        """Accounts with deliveries still to settle (pending, held, sending)."""
        waiting = (DeliveryState.PENDING, DeliveryState.HELD, DeliveryState.SENDING)
        with self._tx() as conn:
            return set(
                conn.execute(
                    sa.select(deliveries.c.account)
                    .where(deliveries.c.state.in_([s.value for s in waiting]))
                    .distinct()
                ).scalars()
            )

    def defer(self, delivery_id: int, until: datetime) -> None:
        """Not before ``until`` (quiet hours, pacing); no state change, so no event."""
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.state == DeliveryState.PENDING.value,
                )
                .values(next_attempt_at=until)
            )

    def sent_times(self, account: str, since: datetime) -> list[datetime]:
        """When the account's posts went out since ``since``: the history pacing needs."""
        with self._tx() as conn:
            return list(
                conn.execute(
                    sa.select(deliveries.c.sent_at).where(
                        deliveries.c.account == account,
                        deliveries.c.state == DeliveryState.SENT.value,
                        deliveries.c.sent_at >= since,
                    )
                ).scalars()
            )

    def _transition(
        self,
        delivery_id: int,
        from_states: Sequence[DeliveryState],
        to_state: DeliveryState,
        at: datetime,
        *,
        actor: str,
        detail: str | None = None,
        expect_attempts: int | None = None,
        **values: Any,
    ) -> bool:
        """Move one delivery between states, with its audit event; False if it was not in
        one of ``from_states`` (someone else moved it first), or, with ``expect_attempts``,
        if its attempt count moved since the caller read it."""
        with self._tx() as conn:
            current = conn.execute(
                sa.select(deliveries.c.state).where(deliveries.c.id == delivery_id)
            ).scalar()
            if current is None or current not in {s.value for s in from_states}:
                return False
            where = [deliveries.c.id == delivery_id, deliveries.c.state == current]
            if expect_attempts is not None:
                where.append(deliveries.c.attempts == expect_attempts)
            result = conn.execute(
                deliveries.update()
                .where(*where)
                .values(state=to_state.value, updated_at=at, **{"in_doubt": False, **values})
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                delivery_events.insert().values(
                    delivery_id=delivery_id,
                    at=at,
                    from_state=current,
                    to_state=to_state.value,
                    actor=actor,
                    detail=detail,
                )
            )
        return True

    def mark_sending(self, delivery_id: int, at: datetime, *, attempts: int) -> bool:
        """Claim a pending delivery before the network call; False if it is not pending, or
        if another dispatcher attempted it since the caller read it (``attempts``)."""
        return self._transition(
            delivery_id,
            [DeliveryState.PENDING],
            DeliveryState.SENDING,
            at,
            actor="daemon",
            expect_attempts=attempts,
            attempts=deliveries.c.attempts + 1,
        )

    def mark_sent(
        self, delivery_id: int, at: datetime, *, remote_id: str, remote_url: str | None
    ) -> bool:
        return self._transition(
            delivery_id,
            [DeliveryState.SENDING],
            DeliveryState.SENT,
            at,
            actor="daemon",
            detail=remote_url or remote_id,
            remote_id=remote_id,
            remote_url=remote_url,
            sent_at=at,
            last_error=None,
            next_attempt_at=None,
        )

    def mark_failed(self, delivery_id: int, at: datetime, *, error: str) -> bool:
        """A permanent failure: during the attempt, or before it (a post that cannot render)."""
        return self._transition(
            delivery_id,
            [DeliveryState.SENDING, DeliveryState.PENDING],
            DeliveryState.FAILED,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=None,
        )

    def mark_retry(
        self,
        delivery_id: int,
        at: datetime,
        *,
        error: str,
        next_attempt_at: datetime,
        in_doubt: bool = False,
    ) -> bool:
        """Back to pending after a retryable error; not due before ``next_attempt_at``.

        ``in_doubt``: the attempt may have been posted after all; the account's other
        deliveries wait until this one is settled.
        """
        return self._transition(
            delivery_id,
            [DeliveryState.SENDING],
            DeliveryState.PENDING,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=next_attempt_at,
            in_doubt=in_doubt,
        )

    def in_doubt(self) -> dict[str, int | None]:
        """Accounts with a delivery whose fate is not settled -> that delivery's id (None
        when it is still ``sending``, so nothing of the account may go)."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.account, deliveries.c.id, deliveries.c.state).where(
                    sa.or_(
                        deliveries.c.state == DeliveryState.SENDING.value,
                        sa.and_(
                            deliveries.c.state == DeliveryState.PENDING.value,
                            deliveries.c.in_doubt.is_(True),
                        ),
                    )
                )
            ).all()
        doubt: dict[str, int | None] = {}
        for row in rows:
            if row.state == DeliveryState.SENDING.value:
                doubt[row.account] = None
            elif doubt.get(row.account, 0) is not None:
                doubt[row.account] = min(row.id, doubt.get(row.account) or row.id)
        return doubt

    def mark_found(
        self,
        delivery_id: int,
        at: datetime,
        *,
        remote_id: str,
        remote_url: str | None,
        actor: str = "daemon",
    ) -> bool:
        """The network says the post exists (a lookup after a crash or before a retry)."""
        return self._transition(
            delivery_id,
            [DeliveryState.SENDING, DeliveryState.PENDING, DeliveryState.UNKNOWN],
            DeliveryState.SENT,
            at,
            actor=actor,
            detail=f"found already posted: {remote_url or remote_id}",
            remote_id=remote_id,
            remote_url=remote_url,
            sent_at=at,
            last_error=None,
            next_attempt_at=None,
        )

    def mark_unknown(self, delivery_id: int, at: datetime, *, error: str) -> bool:
        """Perhaps posted, perhaps not, and the network cannot tell: an operator decides."""
        return self._transition(
            delivery_id,
            [DeliveryState.SENDING, DeliveryState.PENDING],
            DeliveryState.UNKNOWN,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=None,
        )

    def requeue(self, delivery_id: int, at: datetime, *, detail: str) -> bool:
        """Back to pending, due at once: the network says an interrupted post does not exist,
        or the account was paused during the attempt."""
        return self._transition(
            delivery_id,
            [DeliveryState.SENDING],
            DeliveryState.PENDING,
            at,
            actor="daemon",
            detail=detail,
            next_attempt_at=None,
        )

    def retry(self, delivery_id: int, at: datetime, *, actor: str) -> bool:
        """An operator's retry of a failed or unknown delivery, with its same key."""
        return self._transition(
            delivery_id,
            [DeliveryState.FAILED, DeliveryState.UNKNOWN],
            DeliveryState.PENDING,
            at,
            actor=actor,
            attempts=0,
            next_attempt_at=None,
        )

    def skip(self, delivery_id: int, at: datetime, *, actor: str) -> bool:
        """An operator's decision that this delivery will never be sent."""
        return self._transition(
            delivery_id,
            [
                DeliveryState.PENDING,
                DeliveryState.HELD,
                DeliveryState.FAILED,
                DeliveryState.UNKNOWN,
            ],
            DeliveryState.SKIPPED,
            at,
            actor=actor,
            next_attempt_at=None,
        )

    # --- accounts -------------------------------------------------------------------------

    def pause_account(
        self, name: str, reason: str, at: datetime, *, until: datetime | None = None
    ) -> bool:
        """Pause an account (until an operator resumes it, or until ``until``); False if it
        was already paused, so that a pause is alerted once."""
        with self._tx() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).one_or_none()
            if row is not None and row.paused:
                return False
            values = {
                "paused": True,
                "pause_reason": reason,
                "paused_at": at,
                "resume_at": until,
                "updated_at": at,
            }
            if row is None:
                conn.execute(accounts.insert().values(name=name, **values))
            else:
                conn.execute(accounts.update().where(accounts.c.name == name).values(**values))
        return True

    def resume_account(self, name: str, at: datetime) -> bool:
        """Resume a paused account; False if it was not paused."""
        with self._tx() as conn:
            result = conn.execute(
                accounts.update()
                .where(accounts.c.name == name, accounts.c.paused.is_(True))
                .values(
                    paused=False, pause_reason=None, paused_at=None, resume_at=None, updated_at=at
                )
            )
        return bool(result.rowcount)

    def resume_due_accounts(self, now: datetime) -> list[str]:
        """Lift the pauses whose end has come; returns those accounts."""
        with self._tx() as conn:
            names = list(
                conn.execute(
                    sa.select(accounts.c.name).where(
                        accounts.c.paused.is_(True),
                        accounts.c.resume_at.is_not(None),
                        accounts.c.resume_at <= now,
                    )
                ).scalars()
            )
        return [name for name in names if self.resume_account(name, now)]

    def paused_accounts(self) -> dict[str, str]:
        """Paused account -> the reason it was paused."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(accounts.c.name, accounts.c.pause_reason).where(
                    accounts.c.paused.is_(True)
                )
            ).all()
        return {row.name: row.pause_reason or "" for row in rows}

    def swap_credentials(self, name: str, digest: str, at: datetime) -> str | None:
        """Record the digest of an account's credentials; returns the previous one."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(accounts.c.credentials).where(accounts.c.name == name)
            ).one_or_none()
            if row is None:
                conn.execute(
                    accounts.insert().values(
                        name=name, paused=False, credentials=digest, updated_at=at
                    )
                )
                return None
            conn.execute(
                accounts.update()
                .where(accounts.c.name == name)
                .values(credentials=digest, updated_at=at)
            )
        return None if row.credentials is None else str(row.credentials)

    # --- the public record ----------------------------------------------------------------

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

    def release(self, delivery_id: int, at: datetime, *, actor: str, approve: bool) -> bool:
        """An operator's decision on a held delivery: pending if approved, skipped if not."""
        return self._transition(
            delivery_id,
            [DeliveryState.HELD],
            DeliveryState.PENDING if approve else DeliveryState.SKIPPED,
            at,
            actor=actor,
            hold_reason=None,
        )

    # --- per-account state ----------------------------------------------------------------

    def get_account_state(self, account: str, key: str) -> str | None:
        with self._tx() as conn:
            value = conn.execute(
                sa.select(account_state.c.value).where(
                    account_state.c.account == account, account_state.c.key == key
                )
            ).scalar()
        return None if value is None else str(value)

    def set_account_state(self, account: str, key: str, value: str | None) -> None:
        where = (account_state.c.account == account) & (account_state.c.key == key)
        with self._tx() as conn:
            conn.execute(account_state.delete().where(where))
            if value is not None:
                conn.execute(
                    account_state.insert().values(
                        account=account, key=key, value=value, updated_at=datetime.now(UTC)
                    )
                )

    def account_state(self, account: str) -> AccountState:
        return AccountState(self, account)

    # --- reports --------------------------------------------------------------------------

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
        self, limit: int = 10, *, state: str | None = None
    ) -> list[RecentDelivery]:
        """The latest deliveries to change, optionally only those in one state."""
        query = (
            sa.select(
                deliveries.c.id,
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

    def ping(self) -> None:
        """Raise StorageError unless the database answers a read of its schema version.

        On a DB-API connection outside any transaction: a health check never
        waits for SQLite's write lock.
        """
        errors = (sa.exc.SQLAlchemyError, self._engine.dialect.loaded_dbapi.Error)
        try:
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT version_num FROM alembic_version")
                cursor.fetchall()
                cursor.close()
            finally:
                raw.close()
        except errors as e:
            raise StorageError(f"database {self.safe_url}: {e.__class__.__name__}: {e}") from e

    # --- queries for the application layer -------------------------------------------------

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


def _insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise StorageError(f"unsupported database {conn.dialect.name}: use SQLite or PostgreSQL")


def _item_from_row(row: Any) -> Item:
    return Item(
        key=row.key,
        link=row.link,
        title=row.title,
        summary=row.summary,
        published=row.published,
        updated=row.updated,
        language=row.language,
        categories=tuple(row.categories or ()),
        image=Image(url=row.image_url, alt=row.image_alt) if row.image_url else None,
        author=row.author,
    )
