"""Conversations: one per contact and account, carrying the 24-hour window and the unread count."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import upsert
from wahub.store.models import Conversation, utcnow


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


def record_inbound(conversation: Conversation, at: datetime) -> None:
    """An inbound message opens (or extends) the 24-hour window and counts as unread."""
    if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
        conversation.last_inbound_at = at
    record_activity(conversation, at)
    conversation.unread_count += 1


def record_activity(conversation: Conversation, at: datetime) -> None:
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
