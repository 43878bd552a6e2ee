"""Retractions: who decided to take a delivery's post back, why and when.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoposter.storage.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("retract_requested_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retracted_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("retract_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("retract_reason")
        batch.drop_column("retracted_by")
        batch.drop_column("retract_requested_at")
