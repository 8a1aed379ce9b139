"""template syncs: when each WhatsApp Business Account's templates are next read from Meta

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 11:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "template_syncs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("waba_id", sa.String(length=64), nullable=False),
        sa.Column("run_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("locked_until", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("synced_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("synced", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_syncs")),
        sa.UniqueConstraint("waba_id", name=op.f("uq_template_syncs_waba_id")),
    )
    op.create_index(op.f("ix_template_syncs_run_at"), "template_syncs", ["run_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_template_syncs_run_at"), table_name="template_syncs")
    op.drop_table("template_syncs")
