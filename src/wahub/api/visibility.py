"""What a principal may see: API keys and admins every conversation; an agent only the conversations assigned
to them or to nobody (others answer 404, as if they did not exist), and only those conversations' messages."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api.deps import Principal
from wahub.store import users
from wahub.store.models import Conversation, Message


def agent_id(principal: Principal) -> int | None:
    """The user id whose view is restricted, or None when the principal sees everything."""
    return None if principal.sees_every_conversation else principal.id


def conversation_filter(principal: Principal) -> sa.ColumnElement[bool] | None:
    """The condition on ``Conversation`` a list applies for ``principal``, or None."""
    user_id = agent_id(principal)
    return None if user_id is None else users.sees_conversation(user_id)


async def check_conversation(session: AsyncSession, principal: Principal, conversation_id: int) -> None:
    """404 unless ``principal`` may see the conversation."""
    if (user_id := agent_id(principal)) is None:
        return
    stmt = sa.select(Conversation.id).where(Conversation.id == conversation_id, users.sees_conversation(user_id))
    if (await session.scalars(stmt)).first() is None:
        raise errors.NotFound(f"conversation {conversation_id} does not exist")


async def check_message(session: AsyncSession, principal: Principal, message_id: int) -> None:
    """404 unless ``principal`` may see the message's conversation."""
    if (user_id := agent_id(principal)) is None:
        return
    stmt = (
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, users.sees_conversation(user_id))
    )
    if (await session.scalars(stmt)).first() is None:
        raise errors.NotFound(f"message {message_id} does not exist")


async def check_media(session: AsyncSession, principal: Principal, media_id: int) -> None:
    """404 unless ``principal`` may see the media: a file no message of a hidden conversation carries."""
    if (user_id := agent_id(principal)) is None:
        return
    hidden = (
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.media_id == media_id, sa.not_(users.sees_conversation(user_id)))
    )
    if (await session.scalars(hidden.limit(1))).first() is not None:
        raise errors.NotFound(f"media {media_id} does not exist")
