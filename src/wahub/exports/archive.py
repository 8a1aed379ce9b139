"""A conversation read for export: its header (account, contact, conversation) once, then its messages page by
page, oldest first, each with what it shows besides itself (its file, the message it answers, its author, and
for JSON its statuses). One page is in memory at a time, whatever the conversation's length."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.store import media as media_store
from wahub.store.models import Account, Contact, Conversation, Media, Message, StatusRecord

PAGE = 1000  # messages per read


@dataclass(frozen=True, slots=True)
class Header:
    account: Account
    contact: Contact
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class Item:
    """One message with what it shows: ``author`` as a chat export names people, ``media`` its stored file (or
    None), ``quoted`` the message of this conversation it answers, ``statuses`` (JSON only) every status Meta
    reported for it."""

    message: Message
    author: str
    contact: Contact
    media: Media | None
    quoted: Message | None
    statuses: Sequence[StatusRecord] = ()


def at(message: Message) -> datetime:
    """When the message was written: the provider's time, else when wahub stored it."""
    return message.provider_timestamp or message.created_at


def person(contact: Contact) -> str:
    """How a chat export names a contact: by number when there is one (so an import finds the same contact
    again), else by the name they are known by."""
    if contact.wa_id:
        return f"+{contact.wa_id}"
    return contact.saved_name or contact.profile_name or contact.user_id or f"contact {contact.id}"


def business(account: Account) -> str:
    """How a chat export names the business side: its number (an import finds the account by it), else its
    name in wahub."""
    return account.display_phone_number or account.name


async def header(session: AsyncSession, conversation_id: int) -> Header:
    """NotFound unless the conversation exists."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise errors.NotFound(f"conversation {conversation_id} does not exist")
    contact = await session.get(Contact, conversation.contact_id)
    account = await session.get(Account, conversation.account_id)
    assert contact is not None and account is not None  # foreign keys
    return Header(account, contact, conversation)


async def has_media(session: AsyncSession, conversation_id: int) -> bool:
    """Whether any message of the conversation carries a file wahub has stored (the export is then a zip)."""
    stmt = (
        sa.select(Message.id)
        .join(Media, Media.id == Message.media_id)
        .where(Message.conversation_id == conversation_id, Media.state == media_store.STORED)
        .limit(1)
    )
    return (await session.scalars(stmt)).first() is not None


async def count(session: AsyncSession, conversation_id: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
    return int((await session.scalar(stmt)) or 0)


_written_at = sa.func.coalesce(Message.provider_timestamp, Message.created_at)


async def pages(
    sessions: async_sessionmaker[AsyncSession], head: Header, *, statuses: bool = False, size: int = PAGE
) -> AsyncIterator[list[Item]]:
    """The conversation's messages, oldest first, ``size`` at a time. Time order, not id order: history and
    imported messages are stored after newer live ones. Keyset paging on (time, id), each page in a session of
    its own that is closed before the next, so nothing read stays in memory."""
    after: tuple[datetime, int] | None = None
    people = {head.contact.id: head.contact}
    while True:
        async with sessions() as session:
            stmt = sa.select(Message.id).where(Message.conversation_id == head.conversation.id)
            if after is not None:
                stmt = stmt.where(
                    sa.or_(_written_at > after[0], sa.and_(_written_at == after[0], Message.id > after[1]))
                )
            # Sort ids only, then read their rows: the sort of every page stays narrow, whatever the JSON holds.
            ids = list(await session.scalars(stmt.order_by(_written_at, Message.id).limit(size)))
            rows = {m.id: m for m in await session.scalars(sa.select(Message).where(Message.id.in_(ids)))}
            found = [rows[i] for i in ids]
            if not found:
                return
            items = await _items(session, head, found, people, statuses)
        yield items
        if len(found) < size:
            return
        after = (at(found[-1]), found[-1].id)


async def _items(
    session: AsyncSession,
    head: Header,
    found: list[Message],
    people: dict[int, Contact],
    with_statuses: bool,
) -> list[Item]:
    media_ids = {m.media_id for m in found if m.media_id is not None}
    files = {m.id: m for m in await session.scalars(sa.select(Media).where(Media.id.in_(media_ids)))}
    wamids = {m.reply_to_wamid for m in found if m.reply_to_wamid}
    quoted = {
        m.wamid: m
        for m in await session.scalars(
            sa.select(Message).where(Message.conversation_id == head.conversation.id, Message.wamid.in_(wamids))
        )
    }
    # A group's messages come from several contacts; they are few, and kept for the whole export.
    if missing := {m.contact_id for m in found} - people.keys():
        people.update({c.id: c for c in await session.scalars(sa.select(Contact).where(Contact.id.in_(missing)))})
    reported: dict[int, list[StatusRecord]] = {}
    if with_statuses:
        stmt = sa.select(StatusRecord).where(StatusRecord.message_id.in_([m.id for m in found]))
        for record in await session.scalars(stmt.order_by(StatusRecord.timestamp, StatusRecord.id)):
            reported.setdefault(record.message_id or 0, []).append(record)
    items = []
    for message in found:
        contact = people[message.contact_id]
        author = business(head.account) if message.direction == "outbound" else person(contact)
        item = files.get(message.media_id) if message.media_id is not None else None
        items.append(
            Item(
                message=message,
                author=author,
                contact=contact,
                media=item,
                quoted=quoted.get(message.reply_to_wamid) if message.reply_to_wamid else None,
                statuses=reported.get(message.id, ()),
            )
        )
    return items
