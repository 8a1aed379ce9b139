"""Conversations: one per contact and account, carrying the 24-hour window and the unread count."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import stream, upsert
from wahub.store.models import Conversation, utcnow

WINDOW = timedelta(hours=24)


async def get_or_create(session: AsyncSession, account_id: int, contact_id: int) -> Conversation:
    stmt = sa.select(Conversation).where(Conversation.account_id == account_id, Conversation.contact_id == contact_id)
    conversation = (await session.scalars(stmt)).first()
    if conversation is not None:
        return conversation
    insert = upsert.insert_ignore(
        session,
        Conversation.__table__,  # type: ignore[arg-type]
        {"account_id": account_id, "contact_id": contact_id, "unread_count": 0, "created_at": utcnow()},
    )
    await session.execute(insert)
    conversation = (await session.scalars(stmt)).first()
    if conversation is None:  # pragma: no cover
        raise errors.Conflict("conversation could not be created")
    return conversation


async def resolve_many(session: AsyncSession, account_id: int, contact_ids: set[int]) -> dict[int, Conversation]:
    """The conversation of each contact (created if new), by contact id."""
    if not contact_ids:
        return {}
    stmt = sa.select(Conversation).where(
        Conversation.account_id == account_id, Conversation.contact_id.in_(contact_ids)
    )
    found = {c.contact_id: c for c in await session.scalars(stmt)}
    missing = contact_ids - found.keys()
    if missing:
        now = utcnow()
        rows = [{"account_id": account_id, "contact_id": cid, "unread_count": 0, "created_at": now} for cid in missing]
        await upsert.insert_ignore_many(session, Conversation.__table__, rows)  # type: ignore[arg-type]
        found = {c.contact_id: c for c in await session.scalars(stmt)}
    return found


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When the 24-hour customer-service window closes (free-form messages need an open window)."""
    if conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + WINDOW


async def mark_read(session: AsyncSession, conversation_id: int | None) -> None:
    """The business has read the conversation: nothing in it is unread any more."""
    if conversation_id is not None:
        await session.execute(sa.update(Conversation).where(Conversation.id == conversation_id).values(unread_count=0))
        stream.publish(
            session, [stream.Change(stream.CONVERSATION_UPDATED, conversation_id=conversation_id, why="read")]
        )


def window_open(conversation: Conversation, now: datetime) -> bool:
    closes = window_closes_at(conversation)
    return closes is not None and closes > now


def record_inbound(conversation: Conversation, at: datetime) -> None:
    """An inbound message opens (or extends) the 24-hour window and counts as unread."""
    if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
        conversation.last_inbound_at = at
    record_activity(conversation, at)
    conversation.unread_count += 1


def record_activity(conversation: Conversation, at: datetime) -> None:
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
