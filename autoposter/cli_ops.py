"""Commands for the person who looks after the server: ``autoposter db upgrade|backup``,
and what ``check --online`` says about an account's token."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from autoposter.cli_common import common_options, load
from autoposter.ops import backup_sqlite, describe_expiry, is_sqlite
from autoposter.storage import Storage
from autoposter.types import AccountInfo

__all__ = ["COMMANDS", "describe_account"]


@click.group()
def db() -> None:
    """Upgrade or back up the database."""


@db.command()
@common_options
def upgrade(config_path: str | None, log_format: str) -> None:
    """Bring the database schema up to date, and say from which revision to which.

    The daemon does the same at start; this lets you do it (after a backup)
    before starting a new version.
    """
    config = load(config_path, log_format)
    storage = Storage(config.database)
    try:
        before, head = storage.schema_revision()
        if before == head:
            click.echo(f"{storage.safe_url}: schema {head}, up to date.")
            return
        from alembic.util.exc import CommandError

        try:
            storage.migrate()
        except CommandError:
            click.echo(
                f"{storage.safe_url}: its schema revision {before} is unknown to autoposter "
                f"(newest known: {head}); it was written by a newer autoposter. Install that "
                "version again, or restore the backup made before the upgrade.",
                err=True,
            )
            sys.exit(1)
        after, _ = storage.schema_revision()
        click.echo(f"{storage.safe_url}: schema {before or '(empty)'} -> {after}")
    finally:
        storage.close()


@db.command()
@common_options
@click.argument("path", type=click.Path(path_type=Path))
def backup(config_path: str | None, log_format: str, path: Path) -> None:
    """Copy the SQLite database to PATH (a new file, or a folder), while the daemon runs.

    The copy is consistent, checked, and readable by you only. For PostgreSQL,
    use pg_dump.
    """
    config = load(config_path, log_format)
    safe = Storage(config.database).safe_url
    if not is_sqlite(config.database):
        click.echo(
            f"{safe} is not SQLite: back it up with PostgreSQL's own tool, e.g.\n"
            "  pg_dump --format=custom --file=autoposter.dump DBNAME\n"
            "and restore with pg_restore --clean --dbname=DBNAME autoposter.dump",
            err=True,
        )
        sys.exit(1)
    made = backup_sqlite(config.database, path)
    size = f"{made.size / 1024 / 1024:.1f} MB" if made.size >= 1024 * 1024 else f"{made.size} bytes"
    click.echo(f"backed up {safe} to {made.path} ({size}, schema {made.revision or 'unknown'})")


def describe_account(info: AccountInfo) -> tuple[str, bool]:
    """``check --online``'s words for an account that answered, and whether all is well.

    A publisher reports its token's expiry date as ``details["expires"]``
    (ISO 8601); an expired token is a failure, one expiring soon a warning.
    """
    words = [info.name]
    fine = True
    for key, value in info.details.items():
        if key == "expires" and value:
            expiry = describe_expiry(str(value))
            fine = not expiry.expired
            warn = expiry.soon and not expiry.expired
            words.append(("WARNING: token " if warn else "token ") + expiry.text)
        else:
            words.append(f"{key}={value}")
    return " ".join(words), fine


COMMANDS = (db,)
