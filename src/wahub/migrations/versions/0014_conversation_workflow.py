"""conversation workflow: conversations.state, canned_replies, who sent each outbound message

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 03:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
        sa.UniqueConstraint("code", name=op.f("uq_canned_replies_code")),
    )
    # Every conversation there is starts open (the server default fills the existing rows).
    op.add_column("conversations", sa.Column("state", sa.String(length=16), server_default="open", nullable=False))
    op.create_index(op.f("ix_conversations_state_id"), "conversations", ["state", "id"], unique=False)
    # Who sent a message: plain ALTER TABLE ADD COLUMN on both databases, never a copy of the messages table.
    # (SQLite's batch mode would copy it: dropping the old table fires the ON DELETE CASCADE of every table that
    # refers to messages, and drops its triggers, the search index's.) SQLite takes a foreign key in ADD COLUMN
    # only inline, where SQLAlchemy reads back no ON DELETE: so these have none, on both databases (users and API
    # keys are disabled or revoked, never deleted, and the record of who sent what stays).
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column, table in (("sent_by_user_id", "users"), ("sent_by_api_key_id", "api_keys")):
        fk = sa.ForeignKey(f"{table}.id", name=op.f(f"fk_messages_{column}_{table}"))
        op.add_column("messages", sa.Column(column, sa.Integer(), fk, nullable=True), inline_references=sqlite)


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35 and later), never a table copy (see upgrade).
    op.drop_column("messages", "sent_by_api_key_id")
    op.drop_column("messages", "sent_by_user_id")
    op.drop_index(op.f("ix_conversations_state_id"), table_name="conversations")
    op.drop_column("conversations", "state")
    op.drop_table("canned_replies")
