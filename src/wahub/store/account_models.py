"""The accounts table: the WhatsApp senders wahub sends from and receives for."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class Account(Base):
    """A WhatsApp sender: a Meta phone number or a Twilio sender (``provider``). Credentials are stored encrypted."""

    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("provider", "phone_number_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    provider: Mapped[str] = mapped_column(sa.String(16))
    sandbox: Mapped[bool] = mapped_column(default=False)
    phone_number_id: Mapped[str | None] = mapped_column(sa.String(64))
    waba_id: Mapped[str | None] = mapped_column(sa.String(64))
    display_phone_number: Mapped[str | None] = mapped_column(sa.String(32))
    credentials: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # Twilio's: the Account SID and the Messaging Service sent through (its sender is its phone_number_id).
    twilio_account_sid: Mapped[str | None] = mapped_column(sa.String(64))
    messaging_service_sid: Mapped[str | None] = mapped_column(sa.String(64))
    # ``signature.key_id`` of its app secret (Twilio: its auth token): webhook events verified by that secret
    # may change this account, and no other secret's may.
    webhook_key_id: Mapped[str | None] = mapped_column(sa.String(16))
    send_rate: Mapped[int | None]
    # Kept up to date from phone_number_quality_update / account_update webhooks.
    quality_rating: Mapped[str | None] = mapped_column(sa.String(32))
    messaging_limit: Mapped[str | None] = mapped_column(sa.String(32))
    status_event: Mapped[str | None] = mapped_column(sa.String(64))
    # Why sending from this account is paused (Meta's 190: the access token expired or was revoked), or None.
    sending_paused: Mapped[str | None] = mapped_column(sa.Text)
    sending_paused_at: Mapped[datetime | None]  # since when (None: not paused, or paused before wahub kept it)
    # What Meta's debug_token last said of the access token (``store/tokens.py``): its kind (USER, SYSTEM_USER...),
    # when it expires (None: never, or not known yet), when that was asked (None: never, or the token changed
    # since), and the expiry that was last warned about, seven days before it (one warning per token).
    token_type: Mapped[str | None] = mapped_column(sa.String(32))
    token_expires_at: Mapped[datetime | None]
    token_checked_at: Mapped[datetime | None]
    token_warned_for: Mapped[datetime | None]
    # An inbound text that is exactly this word (trimmed, any case) opts its sender out of marketing; None: off.
    opt_out_keyword: Mapped[str | None] = mapped_column(sa.String(32), default="STOP", server_default="STOP")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
