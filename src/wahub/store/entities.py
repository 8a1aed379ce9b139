"""Links between messages or conversations and the things of other systems they concern (an ERP's invoice
``("invoice", "INV-123")``, a CRM's deal), so that a program finds everything said about its entity.

A link is unique per (entity, message) and per (entity, conversation): linking again changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import upsert
from wahub.store.models import EntityLink, utcnow

Entity = tuple[str, str]  # (entity_type, entity_id)


async def link(
    session: AsyncSession, entity: Entity, *, message_id: int | None = None, conversation_id: int | None = None
) -> bool:
    """Link one message or conversation to ``entity``; False when it was linked already."""
    row = _row(entity, message_id, conversation_id)
    table: sa.Table = EntityLink.__table__  # type: ignore[assignment]
    return bool(await upsert.insert_ignore_many(session, table, [row]))


async def link_messages(session: AsyncSession, links: Iterable[tuple[int, Entity]]) -> None:
    """Link messages to entities in one statement: (message id, entity) pairs."""
    table: sa.Table = EntityLink.__table__  # type: ignore[assignment]
    await upsert.insert_ignore_rows(session, table, [_row(entity, message_id, None) for message_id, entity in links])


async def unlink(
    session: AsyncSession, entity: Entity, *, message_id: int | None = None, conversation_id: int | None = None
) -> bool:
    """Remove one link; False when there was none."""
    if message_id is not None:
        target = EntityLink.message_id == message_id
    else:
        target = EntityLink.conversation_id == conversation_id
    stmt = sa.delete(EntityLink).where(EntityLink.entity_type == entity[0], EntityLink.entity_id == entity[1], target)
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def of_messages(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Entity]]:
    """The entities of each of these messages, in the order they were linked."""
    return await _of(session, EntityLink.message_id, ids)


async def of_conversations(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Entity]]:
    """The entities of each of these conversations, in the order they were linked."""
    return await _of(session, EntityLink.conversation_id, ids)


def linked_messages(entity: Entity) -> sa.Select[tuple[int | None]]:
    """The ids of the messages linked to ``entity``, for ``WHERE id IN (…)``."""
    return sa.select(EntityLink.message_id).where(
        EntityLink.entity_type == entity[0], EntityLink.entity_id == entity[1], EntityLink.message_id.is_not(None)
    )


def linked_conversations(entity: Entity) -> sa.Select[tuple[int | None]]:
    """The ids of the conversations linked to ``entity``, for ``WHERE id IN (…)``."""
    return sa.select(EntityLink.conversation_id).where(
        EntityLink.entity_type == entity[0],
        EntityLink.entity_id == entity[1],
        EntityLink.conversation_id.is_not(None),
    )


async def _of(session: AsyncSession, column: Any, ids: Sequence[int]) -> dict[int, list[Entity]]:
    found: dict[int, list[Entity]] = defaultdict(list)
    if not ids:
        return found
    stmt = (
        sa.select(column, EntityLink.entity_type, EntityLink.entity_id)
        .where(column.in_(set(ids)))
        .order_by(EntityLink.id)
    )
    for owner, entity_type, entity_id in await session.execute(stmt):
        found[int(owner)].append((entity_type, entity_id))
    return found


def _row(entity: Entity, message_id: int | None, conversation_id: int | None) -> dict[str, Any]:
    return {
        "entity_type": entity[0],
        "entity_id": entity[1],
        "message_id": message_id,
        "conversation_id": conversation_id,
        "created_at": utcnow(),
    }
