"""The ORM models of recurring schedules (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, JSONType, utcnow


class Schedule(Base):
    """A message sent again and again at the times a cron expression names in a time zone. A job queue
    (``store/schedules.py``): due when active and ``next_run_at`` has come; a claim leases it until
    ``locked_until``."""

    __tablename__ = "schedules"
    __table_args__ = (sa.Index("ix_schedules_state_next_run_at", "state", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    cron: Mapped[str] = mapped_column(sa.String(120))
    tz: Mapped[str] = mapped_column(sa.String(64))
    # What to send, as ``sending.request.SendRequest``'s fields (checked by the API's send schema when written).
    message: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(sa.String(16))  # active | paused
    next_run_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleFiring(Base):
    """One firing of a schedule: the time it was due, when it fired, the message it queued or why none was.
    One row per due time (the unique constraint), so a time fires once whoever claims it."""

    __tablename__ = "schedule_firings"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(sa.Text)
