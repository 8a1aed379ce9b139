"""``/api/v1/stats``: what happened over the last days, for a reporting stack or a dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from wahub.api import schemas
from wahub.api.deps import Overseer, ReadSession
from wahub.store import stats
from wahub.store.models import utcnow

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])
MAX_DAYS = 366


@router.get("", response_model=schemas.StatsOut)
async def get_stats(
    session: ReadSession,
    _key: Overseer,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="the period: this many days up to now")] = 30,
) -> schemas.StatsOut:
    """Totals, messages by direction and type, unique conversations and contacts, what became of the messages
    sent (accepted, delivered, read, failed; delivery and read rates) and failures by error code. For admins
    and API keys: an agent gets 403 (the figures span every conversation)."""
    until = utcnow()
    found = await stats.summary(session, until - timedelta(days=days), until)
    return schemas.StatsOut.of(found, days)
