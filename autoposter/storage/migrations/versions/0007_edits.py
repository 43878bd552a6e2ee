"""Corrections at the source: the edit decided for a sent post, and its progress.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoposter.storage.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("edit_requested_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("edit_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("edit_reason", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("edit_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("edit_next_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("editing_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("edited_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        for column in (
            "edited_at",
            "editing_at",
            "edit_next_at",
            "edit_attempts",
            "edit_reason",
            "edit_text",
            "edit_requested_at",
        ):
            batch.drop_column(column)
