"""which app secret verified each webhook event, and which one each account holds

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Accounts stored before this get their key id when wahub next starts (``accounts.fill_key_ids``): the
    # secret is encrypted under WAHUB_SECRET_KEY, which a migration does not have.
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_key_id", sa.String(length=16), nullable=True))
    # On SQLite the journal is a file of its own (``db.events_url``), altered by ``migrate``; this table in the
    # main file is the one an earlier wahub used, kept in step with the model.
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_by", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("signed_by")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("webhook_key_id")
