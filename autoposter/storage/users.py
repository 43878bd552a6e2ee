"""The web console's users, their sessions, and texts a person edited before posting.

Passwords arrive here already hashed (``app.users`` hashes them); a session is
known by the SHA-256 of its cookie, never by the cookie itself.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from autoposter.storage.base import StorageBase
from autoposter.storage.records import SessionRecord, UserRecord
from autoposter.storage.schema import delivery_texts, users, web_sessions

__all__ = ["UsersMixin"]


def _user(row: sa.Row[tuple[object, ...]]) -> UserRecord:
    return UserRecord(
        id=int(row.id),
        name=str(row.name),
        role=str(row.role),
        password_hash=str(row.password_hash),
        disabled=bool(row.disabled),
        created_at=row.created_at,
    )


class UsersMixin(StorageBase):
    """Users, sessions, edited texts."""

    def add_user(self, name: str, password_hash: str, role: str, at: datetime) -> bool:
        """False when a user of that name exists already."""
        with self._tx() as conn:
            found = conn.execute(sa.select(users.c.id).where(users.c.name == name)).first()
            if found is not None:
                return False
            conn.execute(
                users.insert().values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    disabled=False,
                    created_at=at,
                    updated_at=at,
                )
            )
        return True

    def user(self, name: str) -> UserRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        return None if row is None else _user(row)

    def users(self) -> list[UserRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [_user(row) for row in rows]

    def update_user(
        self,
        name: str,
        at: datetime,
        *,
        password_hash: str | None = None,
        disabled: bool | None = None,
        role: str | None = None,
    ) -> bool:
        """Change a user; every session of theirs ends. False when there is no such user."""
        values: dict[str, object] = {"updated_at": at}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled"] = disabled
        if role is not None:
            values["role"] = role
        with self._tx() as conn:
            user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
            if user_id is None:
                return False
            conn.execute(users.update().where(users.c.id == user_id).values(**values))
            conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))
        return True

    def open_session(self, session_hash: str, user_id: int, csrf: str, at: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                web_sessions.insert().values(
                    id=session_hash, user_id=user_id, csrf=csrf, created_at=at, seen_at=at
                )
            )

    def session(
        self, session_hash: str, at: datetime, *, idle_since: datetime, created_since: datetime
    ) -> SessionRecord | None:
        """The live session with this hash, of an enabled user, marked seen at ``at``;
        an expired one is deleted and None returned."""
        query = (
            sa.select(web_sessions, users.c.name, users.c.role, users.c.disabled)
            .join(users, web_sessions.c.user_id == users.c.id)
            .where(web_sessions.c.id == session_hash)
        )
        with self._tx() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            if row.disabled or row.seen_at < idle_since or row.created_at < created_since:
                conn.execute(web_sessions.delete().where(web_sessions.c.id == session_hash))
                return None
            conn.execute(
                web_sessions.update().where(web_sessions.c.id == session_hash).values(seen_at=at)
            )
        return SessionRecord(
            user=str(row.name), role=str(row.role), csrf=str(row.csrf), created_at=row.created_at
        )

    def close_session(self, session_hash: str) -> None:
        with self._tx() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.id == session_hash))

    def forget_sessions(self, older_than: datetime) -> int:
        """Delete sessions not seen since ``older_than``; how many."""
        with self._tx() as conn:
            result = conn.execute(web_sessions.delete().where(web_sessions.c.seen_at < older_than))
        return int(result.rowcount)

    def set_text(self, delivery_id: int, text: str, at: datetime, *, actor: str) -> None:
        """What this delivery will post, written by ``actor`` (replacing any earlier edit)."""
        with self._tx() as conn:
            conn.execute(delivery_texts.delete().where(delivery_texts.c.delivery_id == delivery_id))
            conn.execute(
                delivery_texts.insert().values(
                    delivery_id=delivery_id, text=text, actor=actor, at=at
                )
            )

    def edited_texts(self, delivery_ids: list[int]) -> dict[int, str]:
        """Delivery id -> the text a person wrote for it, for those that have one."""
        if not delivery_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                sa.select(delivery_texts.c.delivery_id, delivery_texts.c.text).where(
                    delivery_texts.c.delivery_id.in_(delivery_ids)
                )
            ).all()
        return {int(row.delivery_id): str(row.text) for row in rows}
