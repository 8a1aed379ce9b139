"""token expiry: what Meta's debug_token said of each account's access token, and the expiry warned about

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: nullable columns. Accounts stored before are checked by
    # the worker's next daily token check (token_checked_at NULL: never asked).
    op.add_column("accounts", sa.Column("token_type", sa.String(length=32), nullable=True))
    op.add_column("accounts", sa.Column("token_expires_at", sa.DateTime(), nullable=True))
    op.add_column("accounts", sa.Column("token_checked_at", sa.DateTime(), nullable=True))
    op.add_column("accounts", sa.Column("token_warned_for", sa.DateTime(), nullable=True))


def downgrade() -> None:
    for column in ("token_warned_for", "token_checked_at", "token_expires_at", "token_type"):
        op.drop_column("accounts", column)
