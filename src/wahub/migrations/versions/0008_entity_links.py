"""messages and conversations linked to other systems' entities

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 17:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entity_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(message_id IS NULL) <> (conversation_id IS NULL)", name=op.f("ck_entity_links_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_entity_links_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_entity_links_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_links")),
        sa.UniqueConstraint(
            "entity_type",
            "entity_id",
            "conversation_id",
            name=op.f("uq_entity_links_entity_type_entity_id_conversation_id"),
        ),
        sa.UniqueConstraint(
            "entity_type", "entity_id", "message_id", name=op.f("uq_entity_links_entity_type_entity_id_message_id")
        ),
    )
    with op.batch_alter_table("entity_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entity_links_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_entity_links_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entity_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entity_links_message_id"))
        batch_op.drop_index(batch_op.f("ix_entity_links_conversation_id"))
    op.drop_table("entity_links")
