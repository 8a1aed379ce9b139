"""The ORM models of campaigns (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, JSONType, utcnow


class Campaign(Base):
    """One template sent to an audience, a chunk at a time (``store/campaigns.py``). A job queue: due while
    running, or scheduled and ``start_at`` has come; the runner's claim leases it until ``locked_until``."""

    __tablename__ = "campaigns"
    __table_args__ = (sa.Index("ix_campaigns_state_start_at", "state", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    template_name: Mapped[str] = mapped_column(sa.String(512))
    template_language: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16))  # draft | scheduled | running | paused | completed | cancelled
    start_at: Mapped[datetime | None]
    # Who it was for, as given (labels, an entity, numbers; a CSV upload is kept as its row count).
    audience: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Where each template parameter comes from (literal text, a contact attribute, the name, a CSV column).
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    recipients: Mapped[int] = mapped_column(default=0)  # resolved when it was created; never changes
    stopped_reason: Mapped[str | None] = mapped_column(sa.Text)  # why it paused by itself, or was cancelled
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CampaignRecipient(Base):
    """A contact a campaign sends to, once (the unique constraint): ``pending`` until its chunk is queued, then
    ``queued`` with its message (written in the transaction that queued the message), or ``skipped`` with the
    reason. What became of the message (sent, delivered, read, failed) is the message's, read by a join."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "contact_id"),
        sa.Index("ix_campaign_recipients_campaign_id_result_id", "campaign_id", "result", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    # The template's components with this recipient's parameters, as a send's ``template.components``.
    parameters: Mapped[list[Any] | None] = mapped_column(JSONType)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    result: Mapped[str] = mapped_column(sa.String(16))  # pending | queued | skipped
    reason: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
