"""senders: each running sender and until when it counts as alive, so send leases are shared out among them

Revision ID: 0033
Revises: 0035
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wahub.store.models

revision: str = "0033"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "senders",
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("seen_until", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_senders")),
    )


def downgrade() -> None:
    op.drop_table("senders")
