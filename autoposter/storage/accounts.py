"""Accounts: pauses, the digest of the credentials last used, and each account's own state."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from autoposter.storage.base import StorageBase
from autoposter.storage.schema import account_state, accounts

__all__ = ["AccountState", "AccountsMixin"]


class AccountState:
    """One account's small key-value store, handed to a publisher that asks for it.

    Thread-safe through the database; values are opaque text.
    """

    def __init__(self, storage: AccountsMixin, account: str) -> None:
        self._storage = storage
        self.account = account

    def get(self, key: str) -> str | None:
        return self._storage.get_account_state(self.account, key)

    def set(self, key: str, value: str | None) -> None:
        """Store ``value``; None deletes the key."""
        self._storage.set_account_state(self.account, key, value)


class AccountsMixin(StorageBase):
    """What storage knows of each account beyond its deliveries."""

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

    def token_expiries(self) -> dict[str, str]:
        """Account -> the expiry its publisher stored with a refreshed token (the
        ``expires`` of its ``token`` state). Only that date is read: the token itself
        never leaves the database, so the web console can show it."""
        with self._tx() as conn:
            # SQLite reads JSON from text as it is; PostgreSQL needs the text cast to json.
            value = (
                sa.type_coerce(account_state.c.value, sa.JSON)
                if conn.dialect.name == "sqlite"
                else sa.cast(account_state.c.value, sa.JSON)
            )
            expires = value["expires"].as_string()
            rows = conn.execute(
                sa.select(account_state.c.account, expires.label("expires")).where(
                    account_state.c.key == "token"
                )
            ).all()
        return {row.account: str(row.expires) for row in rows if row.expires}

    def account_state(self, account: str) -> AccountState:
        return AccountState(self, account)
