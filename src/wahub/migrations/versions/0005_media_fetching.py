"""media fetching and uploads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column(
                "run_at",
                wahub.store.models.UTCDateTime(),
                server_default=sa.func.current_timestamp(),
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("locked_until", wahub.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("upload_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("uploaded_at", wahub.store.models.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_media_state_run_at", ["state", "run_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_state_run_at")
        batch_op.drop_column("uploaded_at")
        batch_op.drop_column("upload_id")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("run_at")
        batch_op.drop_column("attempts")
