"""What an agent may reach, as SQL: the conversations assigned to them or to nobody, the messages and files of
those conversations, and the contacts they may write to. ``api/visibility.py`` turns a miss into 404 for reads;
``sending/service.py`` checks a send against the same rule before it is queued. Keys and admins are not limited,
so nothing here is asked for them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.domain import ContactRef
from wahub.store.models import Contact, Conversation, Message, MessageWamid


def sees_conversation(user_id: int) -> sa.ColumnElement[bool]:
    """Where an agent may look: conversations assigned to them or to nobody."""
    return sa.or_(Conversation.assignee_user_id.is_(None), Conversation.assignee_user_id == user_id)


def sees_contact(user_id: int) -> sa.ColumnElement[bool]:
    """The contacts an agent may see and write to: those without a conversation hidden from them (theirs, an
    unassigned one, or none yet, which the agent may start)."""
    hidden = sa.select(Conversation.id).where(
        Conversation.contact_id == Contact.id, sa.not_(sees_conversation(user_id))
    )
    return sa.not_(hidden.exists())


def _hidden_messages(user_id: int) -> sa.Select[tuple[int]]:
    return (
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(sa.not_(sees_conversation(user_id)))
    )


async def _any(session: AsyncSession, stmt: sa.Select[tuple[int]]) -> bool:
    return (await session.scalars(stmt.limit(1))).first() is not None


async def hides_media(session: AsyncSession, user_id: int, media_id: int) -> bool:
    """Whether a message of a conversation hidden from the agent carries the file ``media_id``."""
    return await _any(session, _hidden_messages(user_id).where(Message.media_id == media_id))


async def hides_message(session: AsyncSession, user_id: int, account_id: int, wamid: str) -> bool:
    """Whether the message ``wamid`` of the account (or a second copy's wamid) is in a conversation hidden from
    the agent. A wamid wahub does not know hides nothing."""
    copies = sa.select(MessageWamid.message_id).where(
        MessageWamid.account_id == account_id, MessageWamid.wamid == wamid
    )
    named = sa.or_(sa.and_(Message.account_id == account_id, Message.wamid == wamid), Message.id.in_(copies))
    return await _any(session, _hidden_messages(user_id).where(named))


async def hides_contact(session: AsyncSession, user_id: int, account_id: int, ref: ContactRef) -> bool:
    """Whether the account's contact ``ref`` (matched as ``contacts.Resolved.get`` matches it: by ``wa_id``, else
    by ``user_id``) has a conversation hidden from the agent. An unknown contact hides nothing."""
    column, value = (Contact.wa_id, ref.wa_id) if ref.wa_id else (Contact.user_id, ref.user_id)
    stmt = sa.select(Contact.id).where(
        Contact.account_id == account_id, column == value, sa.not_(sees_contact(user_id))
    )
    return await _any(session, stmt)
