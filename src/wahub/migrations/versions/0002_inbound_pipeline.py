"""inbound pipeline

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:47:34.520551
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wahub.store.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("waba_id", sa.String(length=64), nullable=False),
        sa.Column("provider_template_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("quality", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "components", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("updated_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("waba_id", "name", "language", name=op.f("uq_templates_waba_id_name_language")),
    )
    op.create_table(
        "account_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("waba_id", sa.String(length=64), nullable=True),
        sa.Column("phone_number_id", sa.String(length=64), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_events_account_id_accounts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_account_events_dedupe_key")),
    )
    with op.batch_alter_table("account_events", schema=None) as batch_op:
        batch_op.create_index("ix_account_events_field_id", ["field", "id"], unique=False)

    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider_media_id", sa.String(length=128), nullable=False),
        sa.Column("mime_type", sa.String(length=128), nullable=True),
        sa.Column("sha256", sa.String(length=128), nullable=True),
        sa.Column("filename", sa.String(length=512), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_media_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("account_id", "provider_media_id", name=op.f("uq_media_account_id_provider_media_id")),
    )
    op.create_table(
        "message_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("timestamp", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.Text(), nullable=True),
        sa.Column("error_details", sa.Text(), nullable=True),
        sa.Column(
            "pricing", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "conversation", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("raw", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_message_statuses_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_statuses_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_statuses")),
        sa.UniqueConstraint(
            "account_id",
            "wamid",
            "status",
            "recipient",
            name=op.f("uq_message_statuses_account_id_wamid_status_recipient"),
        ),
    )
    with op.batch_alter_table("message_statuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_statuses_message_id"), ["message_id"], unique=False)

    # Statuses kept aside by 0001 move to message_statuses, where unattached statuses now wait.
    op.execute(
        "INSERT INTO message_statuses (account_id, wamid, status, recipient, timestamp, error_code, error_title,"
        " error_details, raw, created_at) SELECT account_id, wamid, status, '', timestamp, error_code, error_title,"
        " error_details, '{}', created_at FROM pending_statuses"
    )
    with op.batch_alter_table("pending_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_statuses_account_id_wamid"))

    op.drop_table("pending_statuses")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_rating", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("messaging_limit", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status_event", sa.String(length=64), nullable=True))

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "previous_wa_ids",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("marketing_preference", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("marketing_preference_at", wahub.store.models.UTCDateTime(), nullable=True))

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_wamid", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("group_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("media_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reactions",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "history", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("edited_at", wahub.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", wahub.store.models.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_media_id_media"), "media", ["media_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_media_id_media"), type_="foreignkey")
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("edited_at")
        batch_op.drop_column("history")
        batch_op.drop_column("reactions")
        batch_op.drop_column("media_id")
        batch_op.drop_column("group_id")
        batch_op.drop_column("target_wamid")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("marketing_preference_at")
        batch_op.drop_column("marketing_preference")
        batch_op.drop_column("previous_wa_ids")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("status_event")
        batch_op.drop_column("messaging_limit")
        batch_op.drop_column("quality_rating")

    op.create_table(
        "pending_statuses",
        sa.Column("id", sa.INTEGER(), nullable=False),
        sa.Column("account_id", sa.INTEGER(), nullable=False),
        sa.Column("wamid", sa.VARCHAR(length=256), nullable=False),
        sa.Column("status", sa.VARCHAR(length=16), nullable=False),
        sa.Column("timestamp", sa.DATETIME(), nullable=False),
        sa.Column("error_code", sa.INTEGER(), nullable=True),
        sa.Column("error_title", sa.TEXT(), nullable=True),
        sa.Column("error_details", sa.TEXT(), nullable=True),
        sa.Column("created_at", sa.DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_pending_statuses_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_statuses")),
    )
    with op.batch_alter_table("pending_statuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_statuses_account_id_wamid"), ["account_id", "wamid"], unique=False)

    with op.batch_alter_table("message_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_statuses_message_id"))

    op.drop_table("message_statuses")
    op.drop_table("media")
    with op.batch_alter_table("account_events", schema=None) as batch_op:
        batch_op.drop_index("ix_account_events_field_id")

    op.drop_table("account_events")
    op.drop_table("templates")
