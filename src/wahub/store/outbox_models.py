"""The ORM models of sending: outbox jobs, send leases, senders and idempotency keys (re-exported by
``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class OutboxJob(Base):
    """A send waiting for, or done by, the sender; written in the same transaction as its message."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        sa.Index("ix_outbox_jobs_state_run_at", "state", "run_at"),
        # A sender claims one account's due jobs in due order.
        sa.Index("ix_outbox_jobs_account_id_state_run_at", "account_id", "state", "run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    # "send" the message; or, for an inbound message, mark it "read" ("read_typing": and show typing).
    kind: Mapped[str] = mapped_column(sa.String(16), default="send", server_default="send")
    # A send whose answer was lost (its worker died, its call timed out) waits for the message's status, which
    # names it by ``domain.send_reference``, before it is sent again: at most once where the provider echoes it.
    confirm: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Such a send, put back to wait for its status: it goes again only once the grace has passed and every webhook
    # received before then is processed (a status stuck in the processor's backlog is not a status that never came).
    awaits_status: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    # The sender that claimed it (``SendLease.holder``); only that sender may record its result.
    locked_by: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendLease(Base):
    """Which sender sends for an account (one phone number) until when: one holder at a time, so the number's
    rate limit is kept by one token bucket however many workers run."""

    __tablename__ = "send_leases"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime]


class Sender(Base):
    """A running sender (``SendLease.holder``) and until when it counts as alive: it renews this with its leases,
    and the leases of the numbers with work are shared out among the senders alive (``leases.fair_share``)."""

    __tablename__ = "senders"

    holder: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seen_until: Mapped[datetime]


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` on a send: the first request's hash and the message it queued."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
