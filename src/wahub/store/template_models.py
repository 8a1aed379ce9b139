"""The ORM model of template syncs (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class TemplateSync(Base):
    """When the templates of one WhatsApp Business Account are next read from Meta, and how the last read went.
    One row per WABA, a job queue of its own (``store/template_syncs.py``): due at ``run_at``, claimed until
    ``locked_until``; a claim puts ``run_at`` a day ahead, a request or a template webhook brings it back to
    now (also while a sync runs: it then runs again once that one ends)."""

    __tablename__ = "template_syncs"

    id: Mapped[int] = mapped_column(primary_key=True)
    waba_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    run_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(sa.String(64))  # why the next sync is due: start, daily, webhook...
    synced_at: Mapped[datetime | None]  # when a sync last finished
    synced: Mapped[int | None]  # how many templates it read
    last_error: Mapped[str | None] = mapped_column(sa.Text)
