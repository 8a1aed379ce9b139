"""``/api/v1/events``: account events (templates, quality, account updates, preferences, calls, unknown)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from wahub.api import schemas
from wahub.api.deps import Overseer, ReadSession
from wahub.store import account_events, paging
from wahub.store.models import AccountEvent

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("", response_model=schemas.EventPage)
async def list_events(
    session: ReadSession,
    _key: Overseer,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    field: Annotated[str | None, Query(max_length=64, description="webhook field, e.g. account_update")] = None,
    account_id: schemas.Id | None = None,
) -> schemas.EventPage:
    """Account events, newest first (for admins and API keys: an agent gets 403)."""
    stmt = sa.select(AccountEvent)
    if field:
        stmt = stmt.where(AccountEvent.field == field)
    if account_id is not None:
        stmt = stmt.where(AccountEvent.account_id == account_id)
    page = await paging.page(session, stmt, AccountEvent.id, kind="e", limit=limit, cursor=cursor)
    return schemas.EventPage(items=[schemas.EventOut.of(row[0]) for row in page.items], next_cursor=page.next_cursor)


@router.get("/{event_id}", response_model=schemas.EventOut)
async def get_event(event_id: schemas.Id, session: ReadSession, _key: Overseer) -> schemas.EventOut:
    """One account event (for admins and API keys: an agent gets 403)."""
    return schemas.EventOut.of(await account_events.get(session, event_id))
