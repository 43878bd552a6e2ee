"""Operations on the database itself: upgrade its schema, back it up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autoposter.config import Config
from autoposter.ops import Backup, backup_sqlite, is_sqlite
from autoposter.storage import (
    Storage,
)

# --- the database -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaUpgrade:
    """``before`` None: an empty database. ``unknown``: the database's revision is newer
    than this autoposter knows, and nothing was done."""

    database: str
    before: str | None
    after: str | None
    head: str
    unknown: bool = False


def upgrade_database(config: Config) -> SchemaUpgrade:
    """Bring the database schema up to date (the daemon does the same at start)."""
    from alembic.util.exc import CommandError

    storage = Storage(config.database)
    try:
        before, head = storage.schema_revision()
        if before == head:
            return SchemaUpgrade(storage.safe_url, before, before, head)
        try:
            storage.migrate()
        except CommandError:
            return SchemaUpgrade(storage.safe_url, before, before, head, unknown=True)
        after, _ = storage.schema_revision()
        return SchemaUpgrade(storage.safe_url, before, after, head)
    finally:
        storage.close()


@dataclass(frozen=True, slots=True)
class BackupResult:
    """``made`` is None when the database is not SQLite (back it up with its own tool)."""

    database: str
    made: Backup | None


def backup_database(config: Config, path: str | Path) -> BackupResult:
    """A consistent, checked copy of the SQLite database at ``path`` (a file, or a folder
    made if missing: see ``ops.backup_sqlite``), readable by its owner only; safe while
    the daemon runs."""
    safe = Storage(config.database).safe_url
    if not is_sqlite(config.database):
        return BackupResult(safe, None)
    return BackupResult(safe, backup_sqlite(config.database, path))
