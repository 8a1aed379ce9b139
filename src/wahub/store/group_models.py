"""The ORM model of WhatsApp groups (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class Group(Base):
    """A group of one account's number (Meta's Groups API), as the API's answers and the group webhooks last
    described it. ``group_id`` is Meta's id, empty while the group is ``creating``: Meta answers a creation with
    a request id (``request_id``) and names the new group in the ``group_lifecycle_update`` webhook.

    ``participants`` maps each member's wa_id to ``{"user_id", "joined_at"}``; ``join_requests`` maps each open
    join request's id to ``{"wa_id", "at"}``. A group has at most 8 participants, so JSON is enough."""

    __tablename__ = "groups"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "group_id"),
        sa.Index("ix_groups_account_id_request_id", "account_id", "request_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    group_id: Mapped[str | None] = mapped_column(sa.String(256))
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    subject: Mapped[str] = mapped_column(sa.String(256))
    description: Mapped[str | None] = mapped_column(sa.Text)
    join_approval_mode: Mapped[str] = mapped_column(sa.String(32), default="auto_approve")
    invite_link: Mapped[str | None] = mapped_column(sa.String(512))
    # creating, active, suspended, deleted, or failed (Meta could not create it: ``error``)
    state: Mapped[str] = mapped_column(sa.String(16), default="creating")
    participants: Mapped[dict[str, Any]] = mapped_column(default=dict)
    join_requests: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
