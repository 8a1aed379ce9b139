"""live event stream: one row per writing transaction (stream_batches) instead of one per event (stream_events)

A processor batch writes about a thousand stream events; a row each cost the processor more than the rest of the
stream's work (bench/process.py, callgrind). Stream events are kept for a day and a client that misses some is
told to resync, so the old rows are dropped rather than copied: a client resuming across this upgrade resyncs.
The counter (stream_counter) keeps handing out ids where it stood.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_stream_events_created_at"), table_name="stream_events")
    op.drop_table("stream_events")
    op.create_table(
        "stream_batches",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_batches")),
    )
    op.create_index(op.f("ix_stream_batches_last_id"), "stream_batches", ["last_id"], unique=False)
    op.create_index(op.f("ix_stream_batches_created_at"), "stream_batches", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_stream_batches_created_at"), table_name="stream_batches")
    op.drop_index(op.f("ix_stream_batches_last_id"), table_name="stream_batches")
    op.drop_table("stream_batches")
    op.create_table(
        "stream_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("payload", wahub.store.models.JSONType, nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_events")),
    )
    op.create_index(op.f("ix_stream_events_created_at"), "stream_events", ["created_at"], unique=False)
