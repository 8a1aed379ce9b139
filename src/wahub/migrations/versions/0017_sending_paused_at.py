"""sending paused at: since when an account's sending is paused (shown on the admin pages)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases. An account paused before this migration shows no time.
    op.add_column("accounts", sa.Column("sending_paused_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "sending_paused_at")
