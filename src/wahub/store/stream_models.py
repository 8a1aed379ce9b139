"""The ORM models of the live event stream (re-exported by ``store/models.py``, where code finds the schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, JSONType, utcnow


class StreamEvent(Base):
    """One event of ``GET /api/v1/stream``. Its id comes from ``StreamCounter``, taken under the counter row's
    lock at the end of the transaction that writes it, so ids become visible in commit order (see
    ``store/stream.py``)."""

    __tablename__ = "stream_events"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(32))
    conversation_id: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class StreamCounter(Base):
    """The one row that hands out stream event ids: ``last`` is the last id given."""

    __tablename__ = "stream_counter"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(sa.BigInteger, default=0)
