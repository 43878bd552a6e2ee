"""What every storage module shares: the engine, transactions, errors and the schema version.

A database's errors become ``StorageError`` here and nowhere else; an error of
autoposter's own making (a bad statement, a wrong argument) is let through as
it is, so that a bug crashes loudly instead of passing for a database outage.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from autoposter.errors import StorageError
from autoposter.types import Image, Item

__all__ = ["SCHEMA_HEAD", "StorageBase", "transaction", "wrap_exceptions"]

# The newest migration (storage/migrations/versions); a test checks they agree. A database
# already there is opened without importing Alembic, which costs the daemon 11 MB.
SCHEMA_HEAD = "0007"

_SQLITE_BUSY_MS = 10_000
# Owner reads and writes, autoposter's group reads (backups, the web console), others nothing.
_SQLITE_MODE = 0o640
_OTHERS = 0o007
_READ_ONLY = "autoposter_read_only"

# What a correct program meets when the database is down, locked, full or refuses a
# statement; every other SQLAlchemy error (a bad statement or argument) is a bug.
_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.DBAPIError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,
)


@contextmanager
def wrap_exceptions(where: str, *extra: type[Exception]) -> Iterator[None]:
    """Turn the database's errors into a StorageError that begins with ``where``.

    ``extra``: more classes to translate, such as the DB-API module's own ``Error``
    where a raw DB-API connection is used (SQLAlchemy does not wrap those).
    """
    try:
        yield
    except (*_DATABASE_ERRORS, *extra) as e:
        raise StorageError(f"{where}: {e.__class__.__name__}: {e}") from e


@contextmanager
def transaction(engine: Engine, where: str, *, read_only: bool = False) -> Iterator[Connection]:
    """One transaction; a database error becomes a StorageError that begins with ``where``.

    ``read_only``: on SQLite, a deferred BEGIN (see ``_configure_sqlite``); never write in it.
    """
    with wrap_exceptions(where), engine.connect() as conn:
        if read_only:
            conn.execution_options(**{_READ_ONLY: True})
        with conn.begin():
            yield conn


def create_engine(url: str) -> Engine:
    """The engine for ``url``, SQLite configured for a daemon and a CLI side by side."""
    try:
        # A local SQLite file needs no liveness ping: it would be one more statement
        # on every checkout, that is, on every transaction.
        ping = sa.engine.make_url(url).get_backend_name() != "sqlite"
        engine = sa.create_engine(url, pool_pre_ping=ping)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise StorageError(f"cannot use database {safe_url(url)}: {e}") from e
    if engine.dialect.name == "sqlite":
        protect_sqlite_files(engine.url.database)
        _configure_sqlite(engine)
    return engine


def protect_sqlite_files(database: str | None) -> None:
    """Keep a SQLite database and its -wal and -shm files from other users.

    A missing database file is created empty (a valid empty database) with mode
    0640 before SQLite opens it, so the umask of whoever starts autoposter does
    not decide; SQLite gives the -wal and -shm files it makes the database's own
    mode. Existing files lose any right of others. A file of another user is left
    as it is (only its owner may change its mode).
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SQLITE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # a missing folder, say: SQLite's own error will name it
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & _OTHERS:
                file.chmod(mode & ~_OTHERS)
        except OSError:
            continue


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


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable database URL)"


def alembic_config(connection: Connection) -> Any:
    """Alembic's configuration for the migrations beside this module, on ``connection``."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise StorageError(f"unsupported database {conn.dialect.name}: use SQLite or PostgreSQL")


def item_from_row(row: Any) -> Item:
    """The Item stored in a row that selects the ``items`` columns."""
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


class StorageBase:
    """The connection to one database and its schema; the domain mixins build on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.safe_url = safe_url(url)
        self._engine = create_engine(url)

    @classmethod
    def open(cls, url: str) -> Self:
        """Connect and bring the schema up to date."""
        storage = cls(url)
        storage.migrate()
        return storage

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine, f"database {self.safe_url}")

    def _read(self) -> AbstractContextManager[Connection]:
        """A transaction that only reads (on SQLite, a deferred BEGIN); never write in it."""
        return transaction(self._engine, f"database {self.safe_url}", read_only=True)

    def migrate(self) -> None:
        """Apply every migration not yet applied (idempotent)."""
        if self._current_revision() == SCHEMA_HEAD:
            return
        from alembic import command

        with self._tx() as conn:
            command.upgrade(alembic_config(conn), "head")

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
            head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
        return current, head or ""

    def ping(self) -> None:
        """Raise StorageError unless the database answers a read of its schema version.

        On a DB-API connection outside any transaction: a health check never
        waits for SQLite's write lock.
        """
        dbapi_error = self._engine.dialect.loaded_dbapi.Error
        with wrap_exceptions(f"database {self.safe_url}", dbapi_error):
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT version_num FROM alembic_version")
                cursor.fetchall()
                cursor.close()
            finally:
                raw.close()
