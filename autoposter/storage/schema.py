"""The tables. Alembic migrations under ``migrations/`` create them; a test checks both agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, so SQLite and PostgreSQL behave alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    # The URL whose items were recorded as the baseline; a different URL means a new baseline.
    Column("baseline_url", Text, nullable=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("body_hash", String(64), nullable=True),
    Column("last_polled_at", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", UTCDateTime, nullable=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(512), nullable=False),
    Column("canonical_link", String(2048), nullable=False),
    Column("link", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("published", UTCDateTime, nullable=True),
    Column("updated", UTCDateTime, nullable=True),
    Column("language", String(35), nullable=True),
    Column("categories", JSON, nullable=False),
    Column("image_url", Text, nullable=True),
    Column("image_alt", Text, nullable=True),
    Column("author", Text, nullable=True),
    Column("baseline", Boolean, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    # Deduplication is this constraint, not a Python set.
    UniqueConstraint("feed_id", "key"),
    Index(None, "feed_id", "canonical_link"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("account", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    # Fixed at creation and reused on every attempt, so a network can recognize a retry.
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("hold_reason", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("remote_id", Text, nullable=True),
    Column("remote_url", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    # Urgent deliveries (a flood alert) are not held by quiet hours, blackouts or pacing.
    Column("urgent", Boolean, nullable=False, default=False),
    # The last attempt may have been posted after all (a timeout): until it is settled,
    # the account posts nothing else, so a lookup can still find it among the latest posts.
    Column("in_doubt", Boolean, nullable=False, default=False),
    # A retraction decided (by whom, why, when): a sent post is deleted, a post not yet
    # sent never goes out. Set once, before any network call, and kept as the record.
    Column("retract_requested_at", UTCDateTime, nullable=True),
    Column("retracted_by", String(64), nullable=True),
    Column("retract_reason", Text, nullable=True),
    # An edit decided (the item was corrected at the source): the text to put on the
    # post and why, committed before any network call; cleared once the network took
    # it. ``editing_at``: a call under way since then (older than ``reconcile_after``:
    # its process died, and editing again is harmless).
    Column("edit_requested_at", UTCDateTime, nullable=True),
    Column("edit_text", Text, nullable=True),
    Column("edit_reason", Text, nullable=True),
    Column("edit_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("edit_next_at", UTCDateTime, nullable=True),
    Column("editing_at", UTCDateTime, nullable=True),
    Column("edited_at", UTCDateTime, nullable=True),
    UniqueConstraint("item_id", "account"),
    Index(None, "state", "next_attempt_at"),
)

delivery_events = Table(
    "delivery_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("delivery_id", Integer, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("detail", Text, nullable=True),
    Index(None, "delivery_id"),
)

# Small per-account values a publisher keeps across restarts (a Bluesky session,
# a month's post count). Values may be credentials: never logged, never exported.
account_state = Table(
    "account_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# An account paused after an auth failure (or by an operator) keeps its deliveries
# waiting; `credentials` is a digest of its options, so new credentials resume it.
accounts = Table(
    "accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("pause_reason", Text, nullable=True),
    Column("paused_at", UTCDateTime, nullable=True),
    # A pause with an end (a monthly budget spent) lifts itself then.
    Column("resume_at", UTCDateTime, nullable=True),
    Column("credentials", String(64), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Reputation watch: what was said, found once per watch whatever the source.
# `author`, `text` and `title` are personal data, emptied after the retention period
# (`purged_at`); the URL stays, so an old article is still recognized, not new again.
watch_matches = Table(
    "watch_matches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("watch", String(64), nullable=False),
    Column("canonical_url", String(2048), nullable=False),
    Column("url", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("title", Text, nullable=True),
    Column("author", Text, nullable=True),
    Column("text", Text, nullable=True),
    Column("published", UTCDateTime, nullable=True),
    Column("keywords", JSON, nullable=False),
    Column("alert", Boolean, nullable=False, default=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("alerted_at", UTCDateTime, nullable=True),
    Column("digested_at", UTCDateTime, nullable=True),
    Column("purged_at", UTCDateTime, nullable=True),
    # Deduplication across sources is this constraint.
    UniqueConstraint("watch", "canonical_url"),
    Index(None, "watch", "first_seen_at"),
)

# The web console's people. `password_hash` is Argon2id (argon2-cffi's encoded form);
# `role` is admin, editor or viewer.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A signed-in browser. `id` is the SHA-256 of the cookie's value, so that a copy of
# the database lets no one in; deleting a user's rows ends their sessions.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Index(None, "user_id"),
)

# A person's own words for one delivery, posted instead of the rendered text.
delivery_texts = Table(
    "delivery_texts",
    metadata,
    Column(
        "delivery_id",
        Integer,
        ForeignKey("deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("text", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
