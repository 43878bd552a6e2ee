"""The only package that speaks SQL: one module per domain, composed into ``Storage``.

- ``base``: the engine, transactions, the translation of database errors into
  ``StorageError``, the schema version and migrations.
- ``feeds``, ``items``, ``deliveries``, ``retractions``, ``edits``, ``accounts``: one
  mixin each, with the queries and writes of that domain; ``reports``:
  read-only queries for ``status`` and export; ``watch``: the reputation
  watch's own store; ``users``: the web console's users, sessions and edited
  texts.
- ``records``: the frozen records they take and return; ``schema``: the tables.

A new query goes in the mixin of the table it is about (a read-only query
that joins several tables for a report goes in ``reports``), and a record it
returns goes in ``records``; nothing outside this package sees the engine or
writes SQL. A delivery changes state only through ``DeliveriesMixin._transition``,
along ``autoposter.types.DELIVERY_TRANSITIONS``.

Every schema change is an Alembic migration in ``storage/migrations/versions/``
(and ``SCHEMA_HEAD`` moves with it), tested by upgrading a database filled by
the previous revision, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from autoposter.storage.accounts import AccountsMixin, AccountState
from autoposter.storage.base import SCHEMA_HEAD, transaction
from autoposter.storage.deliveries import DeliveriesMixin
from autoposter.storage.edits import EditsMixin
from autoposter.storage.items import ItemsMixin, storage_key
from autoposter.storage.records import (
    AccountSummary,
    DueDelivery,
    DueEdit,
    EventRecord,
    FeedState,
    FeedSummary,
    KnownText,
    NewItem,
    PlannedDelivery,
    PostedItem,
    PostedRecord,
    RecentDelivery,
    SessionRecord,
    StoredItem,
    UserRecord,
)
from autoposter.storage.reports import ReportsMixin
from autoposter.storage.retractions import RetractionsMixin
from autoposter.storage.users import UsersMixin
from autoposter.storage.watch import WatchStore

__all__ = [
    "SCHEMA_HEAD",
    "AccountState",
    "AccountSummary",
    "DueDelivery",
    "DueEdit",
    "EventRecord",
    "FeedState",
    "FeedSummary",
    "KnownText",
    "NewItem",
    "PlannedDelivery",
    "PostedItem",
    "PostedRecord",
    "RecentDelivery",
    "SessionRecord",
    "Storage",
    "StoredItem",
    "UserRecord",
    "storage_key",
    "transaction",
]


class Storage(
    UsersMixin,
    ReportsMixin,
    AccountsMixin,
    EditsMixin,
    RetractionsMixin,
    DeliveriesMixin,
    ItemsMixin,
):
    """Feeds, items, deliveries and accounts in one SQLAlchemy database (SQLite or PostgreSQL)."""

    def watch_store(self) -> WatchStore:
        """The reputation watch's tables, on this database."""
        return WatchStore(self._engine)
