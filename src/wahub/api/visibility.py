"""What a principal may see: API keys and admins every conversation; an agent only the conversations assigned
to them or to nobody (others answer 404, as if they did not exist), those conversations' messages and files,
and the contacts they may write to (``store/reach.py`` has the rule as SQL; a send is checked against it by
``sending/service.py``). What spans every conversation (account events, statistics) is for keys and admins:
``deps.Overseer``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api.deps import Principal
from wahub.store import reach
from wahub.store.models import Contact, Conversation, Message


def agent_id(principal: Principal) -> int | None:
    """The user id whose view is restricted, or None when the principal sees everything."""
    return None if principal.sees_every_conversation else principal.id


def conversation_filter(principal: Principal) -> sa.ColumnElement[bool] | None:
    """The condition on ``Conversation`` a list applies for ``principal``, or None."""
    user_id = agent_id(principal)
    return None if user_id is None else reach.sees_conversation(user_id)


def contact_filter(principal: Principal) -> sa.ColumnElement[bool] | None:
    """The condition on ``Contact`` a list applies for ``principal``, or None."""
    user_id = agent_id(principal)
    return None if user_id is None else reach.sees_contact(user_id)


async def check_conversation(session: AsyncSession, principal: Principal, conversation_id: int) -> None:
    """404 unless ``principal`` may see the conversation."""
    if (user_id := agent_id(principal)) is None:
        return
    stmt = sa.select(Conversation.id).where(Conversation.id == conversation_id, reach.sees_conversation(user_id))
    if (await session.scalars(stmt)).first() is None:
        raise errors.NotFound(f"conversation {conversation_id} does not exist")


async def check_contact(session: AsyncSession, principal: Principal, contact_id: int) -> None:
    """404 unless ``principal`` may see the contact."""
    if (user_id := agent_id(principal)) is None:
        return
    stmt = sa.select(Contact.id).where(Contact.id == contact_id, reach.sees_contact(user_id))
    if (await session.scalars(stmt)).first() is None:
        raise errors.NotFound(f"contact {contact_id} does not exist")


async def check_message(session: AsyncSession, principal: Principal, message_id: int) -> None:
    """404 unless ``principal`` may see the message's conversation."""
    if (user_id := agent_id(principal)) is None:
        return
    stmt = (
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, reach.sees_conversation(user_id))
    )
    if (await session.scalars(stmt)).first() is None:
        raise errors.NotFound(f"message {message_id} does not exist")


async def check_media(session: AsyncSession, principal: Principal, media_id: int) -> None:
    """404 unless ``principal`` may see the media: a file no message of a hidden conversation carries."""
    if (user_id := agent_id(principal)) is not None and await reach.hides_media(session, user_id, media_id):
        raise errors.NotFound(f"media {media_id} does not exist")
