"""more than one wamid for a message sent twice

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_wamids",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=256), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_message_wamids_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_wamids_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "wamid", name=op.f("pk_message_wamids")),
    )
    with op.batch_alter_table("message_wamids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_wamids_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message_wamids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_wamids_message_id"))
    op.drop_table("message_wamids")
