"""``autoposter db upgrade|backup``: for the person who looks after the server."""

from __future__ import annotations

import sys

import click

from autoposter import app
from autoposter.cli.common import common_options, load


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
    done = app.upgrade_database(config)
    if done.unknown:
        click.echo(
            f"{done.database}: its schema revision {done.before} is unknown to autoposter "
            f"(newest known: {done.head}); it was written by a newer autoposter. Install that "
            "version again, or restore the backup made before the upgrade.",
            err=True,
        )
        sys.exit(1)
    if done.before == done.head:
        click.echo(f"{done.database}: schema {done.head}, up to date.")
        return
    click.echo(f"{done.database}: schema {done.before or '(empty)'} -> {done.after}")


@db.command()
@common_options
@click.argument("path", type=click.Path())
def backup(config_path: str | None, log_format: str, path: str) -> None:
    """Copy the SQLite database to PATH (a new file, or a folder), while the daemon runs.

    PATH is a folder when it ends with /, is a folder, or does not exist and has
    no suffix like .db: a missing one is created (mode 0700) and the copy gets a
    dated name in it. The copy is consistent, checked, and readable by you only.
    For PostgreSQL, use pg_dump.
    """
    config = load(config_path, log_format)
    result = app.backup_database(config, path)
    made = result.made
    if made is None:
        click.echo(
            f"{result.database} is not SQLite: back it up with PostgreSQL's own tool, e.g.\n"
            "  pg_dump --format=custom --file=autoposter.dump DBNAME\n"
            "and restore with pg_restore --clean --dbname=DBNAME autoposter.dump",
            err=True,
        )
        sys.exit(1)
    size = f"{made.size / 1024 / 1024:.1f} MB" if made.size >= 1024 * 1024 else f"{made.size} bytes"
    click.echo(
        f"backed up {result.database} to {made.path} ({size}, schema {made.revision or 'unknown'})"
    )


COMMANDS: dict[str, click.Command] = {
    "db": db,
}
