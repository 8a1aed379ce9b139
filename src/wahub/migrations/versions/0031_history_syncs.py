"""history syncs: per account, the coexistence history/contacts requests made and the progress reported

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "history_syncs",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("history_requested_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("history_request_id", sa.String(length=128), nullable=True),
        sa.Column("contacts_requested_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("contacts_request_id", sa.String(length=128), nullable=True),
        sa.Column("phase", sa.Integer(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("chunks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_history_syncs_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_history_syncs")),
    )


def downgrade() -> None:
    op.drop_table("history_syncs")
