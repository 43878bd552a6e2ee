"""Looking after a running installation: config file permissions, database
backups, token expiry dates.

Each function is small and says what went wrong in the words of the person
who runs the server; none ever quotes a secret.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from autoposter.config import Config, DatabaseURL
from autoposter.errors import AutoposterError, ConfigError, StorageError

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "Backup",
    "Expiry",
    "backup_sqlite",
    "check_config_file",
    "describe_expiry",
    "is_folder_path",
    "is_sqlite",
]

EXPIRY_WARNING_DAYS = 14
_GROUP = 0o070
_OTHERS = 0o007


def check_config_file(config: Config) -> list[str]:
    """Refuse a configuration file that holds secrets others can read; warn about
    ``*_file`` secrets others can read. Returns the warnings, one line each.

    Raises ConfigError when the file itself holds secrets (written in it, not
    read from a ``_file`` or the environment) and other users may read or
    change it: any permission for others, or for a group other than the one
    autoposter runs as (``root:autoposter 0640`` is the usual service set-up).
    """
    warnings: list[str] = []
    if config.path is not None and config.inline_secrets:
        mode = _exposed_mode(config.path)
        if mode is not None:
            count = len(config.inline_secrets)
            raise ConfigError(
                "",
                f"{config.path} holds {count} secret{'s' if count > 1 else ''} written in the "
                f"file and its permissions ({mode:04o}) let other users read it. "
                f"Run `chmod 600 {config.path}` (or 640 with autoposter's group), or better, "
                "move each secret to its own file and name it with `<key>_file:` "
                "(e.g. access_token_file: /etc/autoposter/credentials/mastodon_token), "
                "or take it from the environment with ${VAR}",
            )
    for secret_file in config.secret_files:
        mode = _exposed_mode(secret_file)
        if mode is not None:
            warnings.append(
                f"secret file {secret_file} can be read by other users (mode {mode:04o}); "
                f"run `chmod 600 {secret_file}` (or 640 with autoposter's group)"
            )
    return warnings


def _exposed_mode(path: Path) -> int | None:
    """The file's mode if users other than its owner and autoposter's own group
    may read or change it, else None."""
    try:
        info = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    exposed = mode & _OTHERS or (mode & _GROUP and info.st_gid != os.getegid())
    return mode if exposed else None


# --- database backups -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    size: int
    revision: str | None


def is_sqlite(url: str) -> bool:
    try:
        return DatabaseURL.parse(url).is_sqlite
    except ValueError:
        return False


def backup_sqlite(url: str, destination: str | Path) -> Backup:
    """Copy a live SQLite database to ``destination`` with SQLite's online backup API.

    Safe while the daemon runs: the copy is one consistent snapshot. The copy is
    a single self-contained file (rollback journal, not WAL), checked with
    ``PRAGMA quick_check``, readable by its owner only, and appears at
    ``destination`` only once complete.

    ``destination`` is a folder when it ends with ``/``, is an existing folder,
    or does not exist and has no file suffix (``backups``, not ``copy.db``): a
    missing folder is created (mode 0700) and the copy is named
    ``autoposter-YYYYMMDD-HHMMSS.db`` (UTC) in it. Otherwise it is the new file,
    in a folder that must exist. Nothing is ever overwritten, and a path meant
    as a folder never becomes a file. Raises StorageError.
    """
    database = DatabaseURL.parse(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StorageError(f"cannot back up this SQLite database: {database or '(none)'}")
    source_path = Path(database)
    if not source_path.is_file():
        raise StorageError(f"database file not found: {source_path}")
    destination = _backup_file(destination)
    if destination.resolve() == source_path.resolve():
        raise StorageError("the backup must not overwrite the database itself")
    partial = destination.with_name(destination.name + ".partial")
    try:
        # Not read-only: a read-only connection cannot remove the -wal and -shm files
        # it creates when the daemon is stopped, and files left by another user (root)
        # would stop the daemon from writing. mode=rw never creates a database.
        source = sqlite3.connect(f"{source_path.as_uri()}?mode=rw", uri=True)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            target = sqlite3.connect(partial)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")
                check = target.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    raise StorageError(f"the copy failed its integrity check: {check}")
                revision = _revision(target)
            finally:
                target.close()
        finally:
            source.close()
        with open(partial, "rb") as copy:
            os.fsync(copy.fileno())
        partial.replace(destination)
    except (sqlite3.Error, OSError) as e:
        partial.unlink(missing_ok=True)
        raise StorageError(f"backup to {destination} failed: {e}") from e
    except AutoposterError:
        partial.unlink(missing_ok=True)
        raise
    return Backup(destination, destination.stat().st_size, revision)


def is_folder_path(path: str | Path) -> bool:
    """Whether ``db backup`` reads ``path`` as a folder (see ``backup_sqlite``)."""
    text = str(path)
    candidate = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or candidate.is_dir():
        return True
    return not candidate.exists() and not candidate.suffix


def _backup_file(destination: str | Path) -> Path:
    """The file a backup is written to; makes the folder when ``destination`` names one."""
    path = Path(destination).expanduser().absolute()
    if not is_folder_path(destination):
        if not path.parent.is_dir():
            raise StorageError(
                f"folder {path.parent} does not exist; create it, or give a folder "
                "ending with / to have it made"
            )
        if path.exists():
            raise StorageError(f"{path} already exists; give a new file name")
        return path
    if path.exists() and not path.is_dir():
        raise StorageError(f"{path} is a file, not a folder; give a folder or a new file name")
    try:
        # 0700 whatever the umask: it will hold copies of the whole history.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the backup folder {path}: {e}") from e
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    made = path / f"autoposter-{stamp}.db"
    if made.exists():
        raise StorageError(f"{made} already exists; wait a second and back up again")
    return made


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


# --- token expiry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expiry:
    """What ``check --online`` says about a token's expiry date."""

    text: str
    expired: bool
    soon: bool


def describe_expiry(value: str, now: datetime | None = None) -> Expiry:
    """Read an expiry date a publisher reported (ISO 8601 date or date-time).

    ``soon`` is within EXPIRY_WARNING_DAYS days. A value that is not a date is
    shown as given, neither expired nor soon.
    """
    now = now or datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(value.strip()), time(), UTC)
        except ValueError:
            return Expiry(f"expires {value}", expired=False, soon=False)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    days = (when - now).total_seconds() / 86400
    shown = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        return Expiry(
            f"EXPIRED since {shown}: renew the token, then reload", expired=True, soon=True
        )
    if days < EXPIRY_WARNING_DAYS:
        left = f"{days:.0f} days" if days >= 1.5 else f"{days * 24:.0f} hours"
        return Expiry(f"expires {shown}, in {left}: renew the token soon", expired=False, soon=True)
    return Expiry(f"expires {shown} (in {days:.0f} days)", expired=False, soon=False)
