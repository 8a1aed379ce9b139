"""twilio accounts: the Account SID and Messaging Service SID of a Twilio sender

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases (no table copy). A Twilio account's sender
    # (whatsapp:+E164) is its phone_number_id; its secrets stay in the encrypted credentials.
    op.add_column("accounts", sa.Column("twilio_account_sid", sa.String(length=64), nullable=True))
    op.add_column("accounts", sa.Column("messaging_service_sid", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "messaging_service_sid")
    op.drop_column("accounts", "twilio_account_sid")
