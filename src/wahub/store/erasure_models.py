"""The ORM models of erasure (re-exported by ``store/models.py``, where code finds the schema): the audit log,
and what statistics still count of the messages of erased people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class AuditRecord(Base):
    """Who did what to whom and when, for things that must be answerable later (``contact.erase``). It never
    holds the person's data: ``subject_hash`` is a keyed one-way hash of their number (``erasure.number_hash``),
    so the record can confirm a number was erased without telling it."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_action_subject_id", "action", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(200))  # "user 3 (ada@example.com)", "api key 2", "cli"
    subject_id: Mapped[int | None]
    subject_hash: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErasedMessage(Base):
    """What ``GET /api/v1/stats`` counts of an erased message, and nothing else: when, which way, its type and
    status, how far it got, its error code. The conversation and contact ids are bare numbers (their rows are
    gone) that keep the distinct counts of conversations and contacts true."""

    __tablename__ = "erased_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(16))
    happened_at: Mapped[datetime] = mapped_column(index=True)
    direction: Mapped[str] = mapped_column(sa.String(8))
    type: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(16))
    accepted: Mapped[bool]  # it had the provider's id
    delivered: Mapped[bool]
    read: Mapped[bool]
    possible_duplicate: Mapped[bool]
    error_code: Mapped[int | None]
    error_title: Mapped[str | None] = mapped_column(sa.Text)
    conversation_id: Mapped[int]
    contact_id: Mapped[int]
