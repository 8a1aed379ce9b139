"""live event stream: stream_events and the counter that hands out their ids in commit order

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 03:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("payload", wahub.store.models.JSONType, nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_events")),
    )
    with op.batch_alter_table("stream_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stream_events_created_at"), ["created_at"], unique=False)
    counter = op.create_table(
        "stream_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "last": 0}])


def downgrade() -> None:
    op.drop_table("stream_counter")
    with op.batch_alter_table("stream_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stream_events_created_at"))
    op.drop_table("stream_events")
