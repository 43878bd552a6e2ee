"""Alembic environment: migrations run on the connection autoposter hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from autoposter.storage.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("autoposter migrations run through autoposter.storage, not the alembic CLI")
run_migrations(connection)
