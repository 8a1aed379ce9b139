"""The ORM models of reports (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, JSONType, utcnow


class Report(Base):
    """A report defined through the API (``POST /api/v1/reports``); the ones in ``wahub.toml`` are not stored.
    ``definition`` holds ``automations/report_definition.Definition``'s fields."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportRun(Base):
    """One run of a report: built, stored, its sends queued. A job queue (``store/reports.py``) while queued:
    due at ``run_at``; a claim leases it until ``locked_until`` and counts an attempt."""

    __tablename__ = "report_runs"
    __table_args__ = (
        sa.Index("ix_report_runs_state_run_at", "state", "run_at"),
        sa.Index("ix_report_runs_report_id", "report", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(sa.String(64))
    trigger: Mapped[str] = mapped_column(sa.String(16))  # cli | api | schedule
    state: Mapped[str] = mapped_column(sa.String(16))  # queued | running | done | failed
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    storage_key: Mapped[str | None] = mapped_column(sa.String(512))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The messages the run queued (the document, and the chart image when asked), by id.
    message_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    # Why the run failed; or, for a run that is done, the recipients it could not send to and why.
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
