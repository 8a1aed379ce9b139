"""The ORM models of the live event stream (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class StreamBatch(Base):
    """The events of ``GET /api/v1/stream`` that one transaction wrote, as one row: ids ``id`` to ``last_id``
    (taken from ``StreamCounter`` under the counter row's lock at the end of that transaction, so ids become
    visible in commit order; see ``store/stream.py``), and ``events``, a JSON array of ``[kind,
    conversation_id, payload]``, one per id in order. One row per transaction, not per event: a processor batch
    writes a thousand events, and a row each cost it more than the rest of the stream's work."""

    __tablename__ = "stream_batches"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    events: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class StreamCounter(Base):
    """The one row that hands out stream event ids: ``last`` is the last id given."""

    __tablename__ = "stream_counter"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(sa.BigInteger, default=0)
