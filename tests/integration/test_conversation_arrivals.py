"""What a batch's new messages do to their conversations (``conversations.Arrivals``, written by the processor with
``record_arrivals``): unread counts, the 24-hour window and the last activity move relative to what the row holds
when the batch commits, so a second writer of the same conversation meanwhile (an agent marking it read, a second
processor) loses nothing. One conversation and several take the two forms of the statement."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.domain import ContactRef
from wahub.store import contacts, conversations, db
from wahub.store.models import Account, Conversation, utcnow

PG_ONLY = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


async def seeded(sessions: async_sessionmaker[AsyncSession], account: Account, n: int) -> list[int]:
    """``n`` contacts, each with a conversation holding three unread messages and resolved; their contact ids."""
    ids = []
    async with db.transaction(sessions) as session:
        for i in range(n):
            contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=f"1415555{i:04d}"))
            conversation = await conversations.get_or_create(session, account.id, contact.id)
            for _ in range(3):
                await conversations.record_inbound(session, conversation, utcnow() - timedelta(hours=30))
            conversation.state = conversations.State.RESOLVED.value
            ids.append(contact.id)
    return ids


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[Conversation]:
    async with sessions() as session:
        return list(await session.scalars(sa.select(Conversation).order_by(Conversation.id)))


@pytest.mark.parametrize("n", [1, 3])
async def test_inbound_messages_count_unread_open_the_window_and_reopen_and_an_echo_moves_only_the_activity(
    sessions: async_sessionmaker[AsyncSession], account: Account, n: int
) -> None:
    contact_ids = await seeded(sessions, account, n)
    now = utcnow()
    async with db.transaction(sessions) as session:
        chats = await conversations.resolve_rows(session, account.id, set(contact_ids))
        arrivals = conversations.Arrivals()
        for chat in chats.values():
            arrivals.inbound(chat, now - timedelta(seconds=5))
            arrivals.inbound(chat, now - timedelta(seconds=9))  # out of order: the later time stands
            arrivals.activity(chat, now)  # an echo: the business wrote last
        await conversations.record_arrivals(session, arrivals)
    stored = await rows(sessions)
    assert [(c.unread_count, c.state) for c in stored] == [(5, "open")] * n
    assert [(c.last_inbound_at, c.last_message_at) for c in stored] == [(now - timedelta(seconds=5), now)] * n
    # The rows the stream shows are what was written.
    assert [(c.unread_count, c.last_message_at, c.state) for c in chats.values()] == [(5, now, "open")] * n

    async with db.transaction(sessions) as session:  # an echo alone: no unread, the window and the state stay
        await session.execute(sa.update(Conversation).values(state="resolved"))
        arrivals = conversations.Arrivals()
        for chat in (await conversations.resolve_rows(session, account.id, set(contact_ids))).values():
            arrivals.activity(chat, now - timedelta(hours=1))  # older than the last activity: it stays
        await conversations.record_arrivals(session, arrivals)
    assert [(c.unread_count, c.state, c.last_message_at) for c in await rows(sessions)] == [(5, "resolved", now)] * n


@PG_ONLY
@pytest.mark.parametrize("n", [1, 3])
async def test_a_conversation_read_while_a_batch_is_applied_keeps_the_read_and_counts_only_the_new_message(
    sessions: async_sessionmaker[AsyncSession], account: Account, n: int
) -> None:
    contact_ids = await seeded(sessions, account, n)
    async with db.transaction(sessions) as batch:
        chats = await conversations.resolve_rows(batch, account.id, set(contact_ids))  # read: 3 unread each
        async with db.transaction(sessions) as agent:  # meanwhile an agent reads every one of them
            for chat in chats.values():
                await conversations.mark_read(agent, chat.id)
        arrivals = conversations.Arrivals()
        for chat in chats.values():
            arrivals.inbound(chat, utcnow())
        await conversations.record_arrivals(batch, arrivals)
    assert [c.unread_count for c in await rows(sessions)] == [1] * n


@PG_ONLY
async def test_two_processors_counting_into_one_conversation_at_once_lose_no_message(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    contact_ids = await seeded(sessions, account, 2)
    read = [asyncio.Event(), asyncio.Event()]

    async def processor(me: int, count: int) -> None:
        async with db.transaction(sessions) as session:
            chats = await conversations.resolve_rows(session, account.id, set(contact_ids))
            read[me].set()
            await read[1 - me].wait()  # both have read the rows (3 unread each) before either writes
            arrivals = conversations.Arrivals()
            for chat in chats.values():
                for _ in range(count):
                    arrivals.inbound(chat, utcnow())
            await conversations.record_arrivals(session, arrivals)

    await asyncio.gather(processor(0, 2), processor(1, 4))
    assert [c.unread_count for c in await rows(sessions)] == [3 + 2 + 4] * 2
