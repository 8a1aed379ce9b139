"""audiences: labels, custom attributes, a saved name and the marketing opt-out of contacts; each account's
opt-out keyword

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wahub.store.models

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases: nullable columns, and one with a server default.
    op.add_column("contacts", sa.Column("saved_name", sa.String(length=256), nullable=True))
    op.add_column("contacts", sa.Column("attributes", JSON, nullable=True))
    op.add_column("contacts", sa.Column("opted_out_at", wahub.store.models.UTCDateTime(), nullable=True))
    op.add_column("contacts", sa.Column("opt_out_source", sa.String(length=16), nullable=True))
    op.add_column("contacts", sa.Column("opt_out_changed_at", wahub.store.models.UTCDateTime(), nullable=True))
    op.add_column("accounts", sa.Column("opt_out_keyword", sa.String(length=32), server_default="STOP", nullable=True))
    op.create_table(
        "contact_labels",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_labels_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", "key", name=op.f("pk_contact_labels")),
    )
    op.create_index("ix_contact_labels_key_contact_id", "contact_labels", ["key", "contact_id"])


def downgrade() -> None:
    op.drop_index("ix_contact_labels_key_contact_id", table_name="contact_labels")
    op.drop_table("contact_labels")
    op.drop_column("accounts", "opt_out_keyword")
    for column in ("opt_out_changed_at", "opt_out_source", "opted_out_at", "attributes", "saved_name"):
        op.drop_column("contacts", column)
