"""The ORM model of coexistence history sync (re-exported by ``store/models.py``): per account, when wahub asked
Meta for the WhatsApp Business app's history and contacts (``POST /{phone_number_id}/smb_app_data``, allowed once
per onboarding), and how far the ``history`` webhooks that followed have got."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base


class HistorySync(Base):
    """One account's history sync: the requests made (when, Meta's request id) and the progress reported."""

    __tablename__ = "history_syncs"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    history_requested_at: Mapped[datetime | None]
    history_request_id: Mapped[str | None] = mapped_column(sa.String(128))
    contacts_requested_at: Mapped[datetime | None]
    contacts_request_id: Mapped[str | None] = mapped_column(sa.String(128))
    # From the history webhooks: Meta's phase (0: day 0-1, 1: day 1-90, 2: day 90-180), the highest progress
    # (0-100; chunks arrive out of order, so it only moves forward), how many chunks came, and when the last did.
    phase: Mapped[int | None]
    progress: Mapped[int | None]
    chunks: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[datetime | None]
    # Why no history comes (the business declined to share it: Meta's error 2593109), or None.
    error: Mapped[str | None] = mapped_column(sa.Text)
