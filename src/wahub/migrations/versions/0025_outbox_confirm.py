"""outbox confirm: a send job whose lost answer is confirmed by the message's status before it is sent again

Revision ID: 0025
Revises: 0021
Create Date: 2026-12-01 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_jobs", sa.Column("confirm", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch_op:
        batch_op.drop_column("confirm")
