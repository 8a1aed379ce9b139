"""Reading the live stream (``store/stream.py`` writes it): events after an id, in id order, with each
conversation's assignee now (the visibility filter); the last id given; whether a client's id was pruned
already; pruning old events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store.models import Conversation, StreamBatch, StreamCounter


@dataclass(frozen=True, slots=True)
class Event:
    """A stream event as read, with the conversation's assignee now (for the visibility filter)."""

    id: int
    kind: str
    conversation_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    assignee_user_id: int | None


async def read(session: AsyncSession, after: int, limit: int = 500) -> list[Event]:
    """Events after id ``after``, in id order, at most ``limit``."""
    rows: list[tuple[int, list[Any], datetime]] = []
    found, cursor = 0, after
    while found < limit:  # a few rows at a time: one can hold a whole processor batch
        stmt = (
            sa.select(StreamBatch.id, StreamBatch.last_id, StreamBatch.events, StreamBatch.created_at)
            .where(StreamBatch.last_id > cursor)
            .order_by(StreamBatch.id)
            .limit(_ROWS)
        )
        chunk = (await session.execute(stmt)).all()
        for first, last, text, created_at in chunk:
            rows.append((first, json.loads(text), created_at))
            found += last - max(first - 1, after)
            cursor = last
        if len(chunk) < _ROWS:
            break
    picked: list[tuple[int, list[Any], datetime]] = []
    for first, events, created_at in rows:
        for offset, item in enumerate(events):
            if first + offset > after and len(picked) < limit:
                picked.append((first + offset, item, created_at))
    conversation_ids = {event[1] for _, event, _ in picked if event[1] is not None}
    assignees: dict[int, int | None] = {}
    if conversation_ids:
        stmt_a = sa.select(Conversation.id, Conversation.assignee_user_id).where(Conversation.id.in_(conversation_ids))
        assignees = {cid: uid for cid, uid in await session.execute(stmt_a)}
    return [
        Event(eid, kind, cid, payload, created_at, assignees.get(cid) if cid is not None else None)
        for eid, (kind, cid, payload), created_at in picked
    ]


_ROWS = 16  # rows read at a time: one can hold a whole processor batch (a thousand events)


async def last_id(session: AsyncSession) -> int:
    """The last id given so far (0 before the first event)."""
    return int(await session.scalar(sa.select(StreamCounter.last).where(StreamCounter.id == 1)) or 0)


async def missed(session: AsyncSession, after: int) -> bool:
    """Whether events after ``after`` were pruned already (the client must resync): ids have no gaps, so the
    oldest kept must be ``after + 1`` or lower, or there must be none after ``after``."""
    last = await last_id(session)
    if after > last:  # an id this database never gave (another database's, or made up)
        return True
    oldest = await session.scalar(sa.select(sa.func.min(StreamBatch.id)))
    if oldest is None:
        return after < last
    return int(oldest) > after + 1


async def prune(session: AsyncSession, before: datetime, *, limit: int = 1_000) -> int:
    """Forget one chunk (at most ``limit`` transactions' rows) of the events written before ``before``; returns
    how many events."""
    rows = (
        await session.execute(
            sa.select(StreamBatch.id, StreamBatch.last_id)
            .where(StreamBatch.created_at < before)
            .order_by(StreamBatch.id)
            .limit(limit)
        )
    ).all()
    if rows:
        await session.execute(sa.delete(StreamBatch).where(StreamBatch.id.in_([first for first, _ in rows])))
    return sum(last - first + 1 for first, last in rows)
