"""The ORM models of the inbox's workflow (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class CannedReply(Base):
    """A text agents insert into a conversation by its short ``code``; its ``{{contact.name}}``-style fields are
    filled from the conversation (``store/canned_replies.py`` names them)."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
