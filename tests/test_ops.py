"""Looking after an installation: config permissions, schema upgrades from the first
released schema, backups, token expiry, systemd notifications."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from autoposter import sdnotify
from autoposter.config import load_config
from autoposter.errors import ConfigError
from autoposter.ops import check_config_file, describe_expiry
from autoposter.storage import Storage
from autoposter.storage.base import SCHEMA_HEAD, alembic_config as _alembic_config
from tests.clitools import ROOT, autoposter, write_config
from tests.plugins import install_plugins

TOKEN = "FAKE-inline-token-0123456789"


def _config(folder: Path, **account: Any) -> dict[str, Any]:
    return {
        "database": "sqlite:///autoposter.db",
        "accounts": {"ville": {"type": "console", **account}},
        "feeds": {"actu": {"url": "https://www.ville.example/feed", "accounts": ["ville"]}},
    }


# --- config file permissions ----------------------------------------------------------------


def _with_token(folder: Path, mode: int) -> Path:
    # The console publisher takes no token; a plugin-free way to hold one is the database URL.
    data = _config(folder)
    data["database"] = f"postgresql+psycopg://autoposter:{TOKEN}@127.0.0.1:1/autoposter"
    path = write_config(folder, data)
    path.chmod(mode)
    return path


def test_a_config_holding_secrets_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = _with_token(tmp_path, 0o644)
    done = autoposter("check", "--config", str(path))
    assert done.returncode == 2
    assert "permissions (0644) let other users read it" in done.stderr
    assert f"chmod 600 {path}" in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    path.chmod(0o600)
    assert autoposter("check", "--config", str(path)).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file another group")
def test_group_read_is_allowed_only_for_autoposters_own_group(tmp_path: Path) -> None:
    path = _with_token(tmp_path, 0o640)
    config = load_config(path)
    assert check_config_file(config) == []  # the file's group is ours
    os.chown(path, -1, os.getegid() + 1)
    with pytest.raises(ConfigError, match="other users read it"):
        check_config_file(config)


def test_secrets_from_files_or_the_environment_leave_the_config_free(tmp_path: Path) -> None:
    secret = tmp_path / "db_url"
    secret.write_text(f"sqlite:///{tmp_path}/autoposter.db\n", encoding="utf-8")
    secret.chmod(0o644)
    data = _config(tmp_path)
    del data["database"]
    data["database_file"] = str(secret)
    data["user_agent"] = "${UA}"
    path = write_config(tmp_path, data)
    path.chmod(0o644)
    done = autoposter("check", "--config", str(path), env={"UA": "town/1.0"})
    assert done.returncode == 0, done.stderr
    assert f"secret file {secret} can be read by other users (mode 0644)" in done.stderr
    secret.chmod(0o600)
    done = autoposter("check", "--config", str(path), env={"UA": "town/1.0"})
    assert done.returncode == 0
    assert "config-permissions" not in done.stderr


def test_only_secrets_written_in_the_file_count_as_inline(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("FAKE-from-a-file\n", encoding="utf-8")
    data = {
        "database": "postgresql+psycopg://u:FAKE-in%2Fline@127.0.0.1/x",
        "accounts": {
            "a": {"type": "console", "access_token": "${TOKEN}", "password_file": "pw"},
            "b": {"type": "console", "api_key": "${OTHER:-FAKE-default-in-file}"},
        },
    }
    config = load_config(write_config(tmp_path, data), environ={"TOKEN": "FAKE-from-env"})
    assert config.secrets >= {"FAKE-from-env", "FAKE-from-a-file", "FAKE-in/line"}
    assert config.inline_secrets == {"FAKE-in/line", "FAKE-default-in-file"}
    assert config.secret_files == (tmp_path / "pw",)


def test_a_secret_from_the_environment_seen_elsewhere_in_the_file_is_not_written_in_it(
    tmp_path: Path,
) -> None:
    # The SMTP password happens to be a word of the database URL and of a comment:
    # the file does not hold it, so other users reading the file learn nothing.
    path = tmp_path / "autoposter.yaml"
    path.write_text(
        "# the mail password is exempleville-mail, kept in the environment\n"
        "database: postgresql+psycopg://exempleville-mail@127.0.0.1:1/exempleville-mail\n"
        "smtp:\n"
        "  host: smtp.exempleville.example\n"
        "  from: autoposter@exempleville.example\n"
        "  username: exempleville-mail\n"
        '  password: "${SMTP_PASSWORD}"\n'
        "accounts:\n"
        "  ville: {type: console}\n",
        encoding="utf-8",
    )
    path.chmod(0o644)
    done = autoposter("check", "--config", str(path), env={"SMTP_PASSWORD": "exempleville-mail"})
    assert done.returncode == 0, done.stderr
    assert "let other users read it" not in done.stderr


def test_a_token_written_under_its_key_is_written_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "autoposter.yaml"
    path.write_text(
        "accounts:\n"
        "  ville:\n"
        "    type: mastodon\n"
        "    api_url: https://social.exempleville.example\n"
        "    access_token: FAKE-written-here\n",
        encoding="utf-8",
    )
    path.chmod(0o644)
    done = autoposter("check", "--config", str(path))
    assert done.returncode == 2
    assert "permissions (0644) let other users read it" in done.stderr
    assert "FAKE-written-here" not in done.stderr + done.stdout


# --- schema upgrades ------------------------------------------------------------------------


def _database_at_first_schema(url: str) -> None:
    """A database as the first release left it: schema 0001, with rows in every table."""
    storage = Storage(url)
    try:
        with storage._tx() as conn:
            command.upgrade(_alembic_config(conn), "0001")
        now = datetime(2026, 11, 1, 8, 0)  # naive UTC, as the schema stores it
        with storage._tx() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO feeds (id, name, url, baseline_url, failures, created_at, "
                    "last_polled_at, last_success_at) VALUES (1, 'actu', "
                    "'https://www.ville.example/feed', 'https://www.ville.example/feed', 0, "
                    ":now, :now, :now)"
                ),
                {"now": now},
            )
            for n, baseline in ((1, True), (2, False)):
                conn.execute(
                    sa.text(
                        "INSERT INTO items (id, feed_id, key, canonical_link, link, title, "
                        "summary, categories, baseline, first_seen_at) VALUES (:n, 1, :key, "
                        ":canonical, :link, :title, '', '[]', :baseline, :now)"
                    ),
                    {
                        "n": n,
                        "key": f"guid-{n}",
                        "link": f"https://www.ville.example/actu/{n}",
                        "canonical": f"https://www.ville.example/actu/{n}",
                        "title": f"Actualité {n}",
                        "baseline": baseline,
                        "now": now,
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO deliveries (id, item_id, account, state, idempotency_key, "
                    "attempts, remote_id, remote_url, created_at, updated_at, sent_at) VALUES "
                    "(1, 2, 'ville', 'sent', 'k1', 1, '42', 'https://social.example/@ville/42', "
                    ":now, :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO delivery_events (delivery_id, at, from_state, to_state, actor) "
                    "VALUES (1, :now, 'sending', 'sent', 'daemon')"
                ),
                {"now": now},
            )
    finally:
        storage.close()


def test_the_first_schema_upgrades_with_its_data(database_url: str, tmp_path: Path) -> None:
    _database_at_first_schema(database_url)
    path = write_config(tmp_path, {**_config(tmp_path), "database": database_url})
    done = autoposter("db", "upgrade", "--config", str(path))
    assert done.returncode == 0, done.stderr
    with Storage(database_url) as storage:
        current, head = storage.schema_revision()
    assert current == head
    assert f"schema 0001 -> {head}" in done.stdout
    again = autoposter("db", "upgrade", "--config", str(path))
    assert f"schema {head}, up to date." in again.stdout
    with Storage.open(database_url) as storage:
        feeds = storage.feed_summaries()
        accounts = {a.account: a.counts for a in storage.account_summaries()}
        recent = storage.recent_deliveries(10)
    assert [(f.name, f.items) for f in feeds] == [("actu", 2)]
    assert accounts["ville"].get("sent") == 1
    assert recent[0].remote_url == "https://social.example/@ville/42"
    assert recent[0].title == "Actualité 2"


def test_the_daemon_upgrades_the_first_schema_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/autoposter.db"
    _database_at_first_schema(url)
    with Storage.open(url) as storage:  # what `autoposter run` does first
        current, head = storage.schema_revision()
        assert current == head
        assert storage.delivery_states() == {(2, "ville"): "sent"}


def test_db_upgrade_refuses_a_schema_from_a_newer_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/autoposter.db"
    Storage.open(url).close()
    with sqlite3.connect(tmp_path / "autoposter.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    path = write_config(tmp_path, _config(tmp_path))
    done = autoposter("db", "upgrade", "--config", str(path))
    assert done.returncode == 1
    assert "9999 is unknown" in done.stderr
    assert "Traceback" not in done.stderr


# --- backups ---------------------------------------------------------------------------------


def test_db_backup_copies_a_live_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/autoposter.db"
    _database_at_first_schema(url)
    live = Storage.open(url)  # the daemon holds the database open meanwhile
    try:
        live.set_account_state("ville", "session", "abc")
        path = write_config(tmp_path, _config(tmp_path))
        target = tmp_path / "backups" / "copy.db"
        target.parent.mkdir()
        done = autoposter("db", "backup", str(target), "--config", str(path))
        assert done.returncode == 0, done.stderr
        assert f"to {target}" in done.stdout
        again = autoposter("db", "backup", str(target), "--config", str(path))
        assert again.returncode == 1
        assert "already exists" in again.stderr
        dated = autoposter("db", "backup", str(target.parent), "--config", str(path))
        assert dated.returncode == 0, dated.stderr
    finally:
        live.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(list(target.parent.glob("autoposter-*.db"))) == 1
    assert not list(target.parent.glob("*.partial"))
    # The copy is a database of its own: restore it by putting it in place.
    with Storage.open(f"sqlite:///{target}") as restored:
        assert restored.get_account_state("ville", "session") == "abc"
        assert restored.delivery_states() == {(2, "ville"): "sent"}
    assert {p.name for p in tmp_path.glob("autoposter.db*")} == {"autoposter.db"}


def test_db_backup_into_a_folder_makes_it_and_never_turns_it_into_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/autoposter.db"
    Storage.open(url).close()
    path = write_config(tmp_path, _config(tmp_path))
    old_umask = os.umask(0o022)
    try:
        ending = autoposter("db", "backup", f"{tmp_path}/backups/", "--config", str(path))
        bare = autoposter("db", "backup", f"{tmp_path}/nightly", "--config", str(path))
    finally:
        os.umask(old_umask)
    assert ending.returncode == 0, ending.stderr
    assert bare.returncode == 0, bare.stderr
    for folder in (tmp_path / "backups", tmp_path / "nightly"):
        assert folder.is_dir()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        (copy,) = folder.glob("autoposter-*.db")
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert f"to {copy}" in (ending.stdout + bare.stdout)

    (tmp_path / "notes").write_text("not a folder", encoding="utf-8")
    on_a_file = autoposter("db", "backup", f"{tmp_path}/notes/", "--config", str(path))
    assert on_a_file.returncode == 1
    assert "is a file, not a folder" in on_a_file.stderr
    assert (tmp_path / "notes").read_text(encoding="utf-8") == "not a folder"

    in_a_missing_folder = autoposter(
        "db", "backup", f"{tmp_path}/elsewhere/copy.db", "--config", str(path)
    )
    assert in_a_missing_folder.returncode == 1
    assert f"folder {tmp_path}/elsewhere does not exist" in in_a_missing_folder.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_the_database_and_its_wal_are_kept_from_other_users(tmp_path: Path) -> None:
    database = tmp_path / "autoposter.db"
    path = write_config(tmp_path, _config(tmp_path))
    old_umask = os.umask(0)  # the worst an operator's shell may have
    try:
        created = autoposter("db", "upgrade", "--config", str(path))
    finally:
        os.umask(old_umask)
    assert created.returncode == 0, created.stderr
    assert stat.S_IMODE(database.stat().st_mode) == 0o640

    # Files an older version (or a careless copy) left open to everyone.
    database.chmod(0o666)
    live = Storage(f"sqlite:///{database}")  # the daemon holds the WAL open meanwhile
    try:
        live.set_account_state("ville", "session", "abc")
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists()
        assert shm.exists()
        wal.chmod(0o666)
        shm.chmod(0o666)
        status = autoposter("status", "--config", str(path))
        assert status.returncode == 0, status.stderr
        for file in (database, wal, shm):
            assert stat.S_IMODE(file.stat().st_mode) & 0o007 == 0, file.name
    finally:
        live.close()


def test_db_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    data = _config(tmp_path)
    data["database"] = "postgresql+psycopg://autoposter@127.0.0.1:1/autoposter"
    done = autoposter(
        "db", "backup", str(tmp_path / "x"), "--config", str(write_config(tmp_path, data))
    )
    assert done.returncode == 1
    assert "pg_dump" in done.stderr


# --- token expiry ---------------------------------------------------------------------------


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expired", "soon", "words"),
    [
        ("2027-06-01", False, False, "expires 2027-06-01 00:00 UTC (in 188 days)"),
        ((NOW + timedelta(days=5)).isoformat(), False, True, "in 5 days: renew the token soon"),
        ("2026-11-24T20:00:00+01:00", False, True, "in 7 hours"),
        ("2026-11-01T00:00:00Z", True, True, "EXPIRED since 2026-11-01 00:00 UTC"),
        ("next spring", False, False, "expires next spring"),
    ],
)
def test_describe_expiry(value: str, expired: bool, soon: bool, words: str) -> None:
    expiry = describe_expiry(value, NOW)
    assert (expiry.expired, expiry.soon) == (expired, soon)
    assert words in expiry.text


def test_check_online_reports_token_expiry(tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    data = {
        "accounts": {
            "fine": {
                "type": "leaky",
                "api_url": "http://127.0.0.1:9",
                "token": "FAKE-a",
                "mode": "ok",
                "expires": "2099-01-01",
            },
            "soon": {
                "type": "leaky",
                "api_url": "http://127.0.0.1:9",
                "token": "FAKE-b",
                "mode": "ok",
                "expires": soon,
            },
        },
        "feeds": {},
    }
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(install_plugins(tmp_path / "site"))])}
    path = write_config(tmp_path, data)
    done = autoposter("check", "--online", "--config", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert "ok: @fine token expires 2099-01-01 00:00 UTC" in done.stdout
    assert "ok: @soon WARNING: token expires" in done.stdout
    data["accounts"]["soon"]["expires"] = "2020-01-01"
    done = autoposter("check", "--online", "--config", str(write_config(tmp_path, data)), env=env)
    assert done.returncode == 1
    assert "FAILED: @soon token EXPIRED since 2020-01-01" in done.stdout


# --- systemd notifications -------------------------------------------------------------------


def test_notify_sends_datagrams_to_the_socket_systemd_names(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        assert sdnotify.notify("READY=1", "STATUS=running", environ={"NOTIFY_SOCKET": address})
        assert listener.recv(100) == b"READY=1\nSTATUS=running"
    assert not sdnotify.notify("READY=1", environ={})
    assert not sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": address})  # gone: no crash


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"autoposter-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        assert sdnotify.notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert listener.recv(100) == b"WATCHDOG=1"


def test_watchdog_interval() -> None:
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    own = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    assert sdnotify.watchdog_interval(own) == 1.0


def test_schema_0004_upgrades_to_retractions_with_its_data(database_url: str) -> None:
    _database_at_first_schema(database_url)
    storage = Storage(database_url)
    try:
        with storage._tx() as conn:
            command.upgrade(_alembic_config(conn), "0004")
    finally:
        storage.close()
    with Storage.open(database_url) as storage:  # upgrades to the head
        assert storage.schema_revision() == (SCHEMA_HEAD, SCHEMA_HEAD)
        sent = storage.delivery(1)
        assert sent is not None
        assert (sent.state, sent.remote_id, sent.retract_requested_at) == ("sent", "42", None)
        assert sent.remote_url == "https://social.example/@ville/42"
        at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        assert storage.request_retraction([2], at, actor="cli:test", reason="wrong") == [1]
        moved = storage.delivery(1)
    assert moved is not None
    assert moved.state == "retracting"
    assert moved.retract_reason == "wrong"


def test_schema_0005_upgrades_to_the_console_tables_with_its_data(database_url: str) -> None:
    _database_at_first_schema(database_url)
    storage = Storage(database_url)
    try:
        with storage._tx() as conn:
            command.upgrade(_alembic_config(conn), "0005")
        at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        assert storage.request_retraction([2], at, actor="cli:test", reason="wrong") == [1]
    finally:
        storage.close()
    with Storage.open(database_url) as storage:  # upgrades to the head
        assert storage.schema_revision() == (SCHEMA_HEAD, SCHEMA_HEAD)
        kept = storage.delivery(1)
        assert kept is not None
        assert (kept.state, kept.remote_id, kept.retract_reason) == ("retracting", "42", "wrong")
        assert kept.text is None
        assert storage.users() == []
        assert storage.add_user("marie", "argon2-hash-for-tests", "editor", at)
        assert [u.name for u in storage.users()] == ["marie"]


def test_schema_0006_upgrades_to_the_edit_columns_with_its_data(database_url: str) -> None:
    _database_at_first_schema(database_url)
    storage = Storage(database_url)
    try:
        with storage._tx() as conn:
            command.upgrade(_alembic_config(conn), "0006")
        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        assert storage.add_user("marie", "argon2-hash-for-tests", "editor", at)
    finally:
        storage.close()
    with Storage.open(database_url) as storage:  # upgrades to the head
        assert storage.schema_revision() == (SCHEMA_HEAD, SCHEMA_HEAD)
        kept = storage.delivery(1)
        assert kept is not None
        assert (kept.state, kept.remote_id) == ("sent", "42")
        assert [u.name for u in storage.users()] == ["marie"]
        since = datetime(2026, 1, 1, tzinfo=UTC)
        (known,) = storage.sent_texts("actu", sent_since=since)
        assert known.id == 2
        assert storage.due_edits(at, stale=at) == []  # nothing to edit in the old rows
        edits = storage.correct_item(
            2,
            at,
            title="Actualité 2 bis",
            summary="",
            actor="daemon",
            reason="corrected",
            edit=True,
        )
        assert edits == [1]
        (edit,) = storage.due_edits(at, stale=at)
        assert (edit.delivery.id, edit.attempts, edit.reason, edit.text) == (
            1,
            0,
            "corrected",
            None,
        )
        assert storage.claim_edit(edit, at, text="new", stale=at, detail="editing")
        assert storage.mark_edited(edit, at, detail="edited: corrected")
        assert storage.due_edits(at, stale=at) == []
        assert storage.delivery(1).state == "sent"  # type: ignore[union-attr]
