"""The web console's people and their sessions: add, change, disable, list; log in and out.

Passwords are hashed with Argon2id (argon2-cffi) here and only here; storage
keeps the hash. A session is a random token given to the browser as a cookie;
the database keeps its SHA-256, so a copy of the database opens no session.
Changing a password or disabling a user ends every session of theirs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from autoposter import logs
from autoposter.app._common import _now
from autoposter.config import Config
from autoposter.errors import RefusedError
from autoposter.storage import SessionRecord, Storage

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "Login",
    "UserInfo",
    "add_user",
    "disable_user",
    "list_users",
    "log_in",
    "log_out",
    "session_for",
    "set_password",
    "trusted_login",
]

ROLES = ("viewer", "editor", "admin")
MIN_PASSWORD_LENGTH = 10
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")

# Argon2id with OWASP's parameters (19 MiB, 2 passes): each login costs this much memory
# for a moment, and the console must stay small.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA"
    "$MWrk5N8VvZbDrZl2vD4tvlYcMCjhAixQ5dSVOaP6wPo"
)


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    role: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class Login:
    """A new session: ``token`` goes to the browser, never to a log."""

    token: str
    user: str
    role: str
    csrf: str


def _session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise RefusedError(
            f"a user name is 1 to 64 lowercase letters, digits and . _ - @, got {name[:70]!r}"
        )
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RefusedError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise RefusedError(f"a role is one of {', '.join(ROLES)}, got {role!r}")
    return role


def add_user(config: Config, name: str, password: str, role: str, *, actor: str) -> UserInfo:
    """A new user of the console; RefusedError when the name is taken or a value wrong."""
    name, role = _check_name(name), _check_role(role)
    digest = _hasher.hash(_check_password(password))
    with Storage.open(config.database) as storage:
        if not storage.add_user(name, digest, role, _now()):
            raise RefusedError(f"there is already a user named {name!r}")
    logs.event("user-added", user=name, role=role, actor=actor)
    return UserInfo(name, role, False)


def set_password(config: Config, name: str, password: str, *, actor: str) -> None:
    """A new password (and the user enabled again); every session of theirs ends."""
    name = _check_name(name)
    digest = _hasher.hash(_check_password(password))
    with Storage.open(config.database) as storage:
        if not storage.update_user(name, _now(), password_hash=digest, disabled=False):
            raise RefusedError(f"there is no user named {name!r}")
    logs.event("user-password-changed", user=name, actor=actor)


def disable_user(config: Config, name: str, *, actor: str) -> None:
    """The user can no longer log in; every session of theirs ends."""
    name = _check_name(name)
    with Storage.open(config.database) as storage:
        if not storage.update_user(name, _now(), disabled=True):
            raise RefusedError(f"there is no user named {name!r}")
    logs.event("user-disabled", user=name, actor=actor)


def list_users(config: Config) -> tuple[UserInfo, ...]:
    with Storage.open(config.database) as storage:
        return tuple(UserInfo(u.name, u.role, u.disabled) for u in storage.users())


def _open(storage: Storage, user_id: int, name: str, role: str) -> Login:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    storage.open_session(_session_hash(token), user_id, csrf, _now())
    return Login(token, name, role, csrf)


def log_in(config: Config, name: str, password: str, *, address: str) -> Login | None:
    """A session for the user when the password is theirs; None otherwise (the
    caller throttles). The event names the user and the address, never the password."""
    try:
        name = _check_name(name)
    except RefusedError:
        name = ""
    with Storage.open(config.database) as storage:
        user = storage.user(name) if name else None
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
            good = user is not None and not user.disabled
        except (VerificationError, InvalidHashError):
            good = False
        if not good or user is None:
            logs.event("login-failed", user=name or "?", address=address)
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            storage.update_user(name, _now(), password_hash=_hasher.hash(password))
        login = _open(storage, user.id, user.name, user.role)
    logs.event("login", user=name, address=address)
    return login


def trusted_login(config: Config, name: str, *, address: str) -> Login | None:
    """A session for a user a trusted reverse proxy vouches for (single sign-on); None
    when there is no such enabled user."""
    try:
        name = _check_name(name)
    except RefusedError:
        return None
    with Storage.open(config.database) as storage:
        user = storage.user(name)
        if user is None or user.disabled:
            logs.event("login-failed", user=name, address=address, via="trusted_header")
            return None
        login = _open(storage, user.id, user.name, user.role)
    logs.event("login", user=name, address=address, via="trusted_header")
    return login


def session_for(config: Config, token: str) -> SessionRecord | None:
    """The live session of this cookie value, or None (unknown, expired, user disabled)."""
    now = _now()
    with Storage.open(config.database) as storage:
        return storage.session(
            _session_hash(token),
            now,
            idle_since=now - timedelta(seconds=config.web.idle_timeout),
            created_since=now - timedelta(seconds=config.web.session_lifetime),
        )


def log_out(config: Config, token: str) -> None:
    with Storage.open(config.database) as storage:
        storage.close_session(_session_hash(token))
