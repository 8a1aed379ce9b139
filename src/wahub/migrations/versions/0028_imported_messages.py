"""imported messages: messages read from a chat export, marked so and keyed once per account

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 14:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: a batch may rebuild ``messages`` on SQLite, which drops the FTS5 triggers
    # that keep the search index (``store/search.py``) in step.
    op.add_column("messages", sa.Column("imported", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("messages", sa.Column("import_key", sa.String(length=64), nullable=True))
    op.create_index("ix_messages_account_id_import_key", "messages", ["account_id", "import_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_messages_account_id_import_key", table_name="messages")
    # SQLite (3.35+) drops a column in place when no index or constraint names it.
    op.drop_column("messages", "import_key")
    op.drop_column("messages", "imported")
