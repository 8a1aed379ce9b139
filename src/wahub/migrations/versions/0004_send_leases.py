"""send leases, possible duplicates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("possible_duplicate", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("outbox_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_by", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_outbox_jobs_account_id_state_run_at", ["account_id", "state", "run_at"], unique=False)
    op.create_table(
        "send_leases",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_send_leases_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_send_leases")),
    )


def downgrade() -> None:
    op.drop_table("send_leases")
    with op.batch_alter_table("outbox_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_jobs_account_id_state_run_at")
        batch_op.drop_column("locked_by")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("possible_duplicate")
