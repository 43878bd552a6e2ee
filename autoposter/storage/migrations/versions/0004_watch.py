"""Reputation watch: the matches found by each watch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoposter.storage.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch", sa.String(64), nullable=False),
        sa.Column("canonical_url", sa.String(2048), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("published", UTCDateTime(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("alerted_at", UTCDateTime(), nullable=True),
        sa.Column("digested_at", UTCDateTime(), nullable=True),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_watch_matches"),
        sa.UniqueConstraint("watch", "canonical_url", name="uq_watch_matches_watch_canonical_url"),
    )
    op.create_index(
        "ix_watch_matches_watch_first_seen_at", "watch_matches", ["watch", "first_seen_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_watch_matches_watch_first_seen_at", table_name="watch_matches")
    op.drop_table("watch_matches")
