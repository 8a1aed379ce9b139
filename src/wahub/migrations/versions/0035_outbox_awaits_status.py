"""outbox_jobs.awaits_status: a send whose answer was lost waits for its status until the webhooks received
before its grace ended are processed

Revision ID: 0035
Revises: 0032
Create Date: 2026-12-01 18:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_jobs", sa.Column("awaits_status", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_column("awaits_status")
