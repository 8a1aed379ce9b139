"""On PostgreSQL every writer of several messages at once takes their rows in the order of their ids
(``messages.lock_in_order``): the sender's results, the processor's statuses; and so does every writer of several
conversations (the processor's arrivals, a broadcast's queueing). Seen before: with two workers and a
web process on one database, a results batch and a statuses batch each held a row the other waited for
(``deadlock detected``), in ``tests/acceptance/test_campaign_crash.py``.

Each test holds the lower message locked from another transaction and starts a writer that names the higher one
first: the writer must wait for the lower one before it takes the higher, so the higher one stays free meanwhile.
A writer that took them in the order it was given would hold the higher one while it waits."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_statuses import load, queued, status
from wahub import domain
from wahub.store import contacts, conversations, db, messages, outbound
from wahub.store.models import Account, Conversation, Message, utcnow
from wahub.worker import apply_notices
from wahub.worker.recorder import Done, Recorder

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def free(sessions: async_sessionmaker[AsyncSession], message_id: int) -> bool:
    """Whether another transaction could lock this message right now."""
    async with sessions() as session, session.begin():
        try:
            await session.execute(sa.select(Message.id).where(Message.id == message_id).with_for_update(nowait=True))
        except OperationalError as exc:  # lock_not_available
            assert "could not obtain lock" in str(exc)
            return False
        return True


async def while_lower_is_held(
    sessions: async_sessionmaker[AsyncSession], lower: int, higher: int, write: Callable[[], Awaitable[None]]
) -> None:
    async with sessions() as holder, holder.begin():
        await holder.execute(sa.select(Message.id).where(Message.id == lower).with_for_update())
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.5)  # the writer is waiting for the lower message by now
        assert not writer.done()
        assert await free(sessions, higher), "the writer took the higher message before the lower one"
    await asyncio.wait_for(writer, 10)


async def test_the_senders_results_lock_their_messages_in_id_order(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    lower, higher = await queued(sessions, account, None), await queued(sessions, account, None)
    assert lower < higher

    async def write() -> None:
        recorder = Recorder(sessions, "test-holder")
        recorder.put(Done(job_id=1, message_id=higher, wamid="wamid.HIGH"))  # the higher one first
        recorder.put(Done(job_id=2, message_id=lower, wamid="wamid.LOW"))
        await recorder.close()

    await while_lower_is_held(sessions, lower, higher, write)
    assert (await load(sessions, lower)).wamid == "wamid.LOW"
    assert (await load(sessions, higher)).wamid == "wamid.HIGH"


async def test_the_processors_statuses_lock_their_messages_in_id_order(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    lower, higher = await queued(sessions, account, "wamid.LOW"), await queued(sessions, account, "wamid.HIGH")
    # The higher message's status comes first, and moves other columns (written by a statement of their own).
    parsed = domain.ParsedWebhook(statuses=[status("wamid.HIGH", "read", 1), status("wamid.LOW", "delivered", 2)])

    async def write() -> None:
        counts: apply_notices.Counts = defaultdict(Counter)
        async with db.transaction(sessions) as session:
            await apply_notices.record_statuses(session, apply_notices.Accounts([account]), [(0, parsed)], counts, None)

    await while_lower_is_held(sessions, lower, higher, write)
    assert (await load(sessions, lower)).status == "delivered"
    assert (await load(sessions, higher)).status == "read"


async def test_two_processors_applying_reactions_to_one_message_at_once_keep_both(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    """Reactions (and edits, revokes) are written whole: the processor reads its targets locked and afresh."""
    target = await queued(sessions, account, "wamid.TARGET")
    key = (account.id, "wamid.TARGET")

    async def react(session: AsyncSession, who: str) -> None:
        found = await messages.by_wamids(session, {key}, lock=True)
        messages.apply_reaction(found[key], who, "👍")

    async def second() -> None:
        async with db.transaction(sessions) as session:
            await react(session, "14155550102")

    async with db.transaction(sessions) as first:
        await react(first, "14155550101")
        other = asyncio.create_task(second())
        await asyncio.sleep(0.5)  # the second has read the message by now, or waits for it
    await other
    assert sorted((await load(sessions, target)).reactions) == ["14155550101", "14155550102"]  # before: one


async def test_a_broadcasts_queueing_locks_its_conversations_in_id_order(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    """Queueing moves each recipient's conversation (its last activity) as the processor's arrivals do, in the order
    of their ids. The lower conversation's row is written again first, so it lies after the higher one in the
    table: a scan in the table's order would take the higher one first."""
    async with db.transaction(sessions) as session:
        rows = []
        for wa_id in ("14155550171", "14155550172"):
            contact = await contacts.upsert_contact(session, account.id, domain.ContactRef(wa_id=wa_id))
            rows.append(await conversations.get_or_create(session, account.id, contact.id))
        await session.flush()
        lower, higher = (c.id for c in rows)
    assert lower < higher
    async with db.transaction(sessions) as session:  # both windows open, so a text may be queued
        await conversations.record_inbound(session, await session.get(Conversation, lower), utcnow())
        await conversations.record_inbound(session, await session.get(Conversation, higher), utcnow())
    async with db.transaction(sessions) as session:
        await session.execute(sa.update(Conversation).where(Conversation.id == lower).values(unread_count=0))
    async with db.transaction(sessions) as session:
        physical = (await session.execute(sa.text("SELECT id FROM conversations ORDER BY ctid"))).scalars().all()
    assert physical.index(lower) > physical.index(higher), physical

    def take(session: AsyncSession, conversation_id: int, nowait: bool = False) -> Awaitable[Any]:
        """The lock an UPDATE of the row takes (a message's foreign key holds it FOR KEY SHARE: no conflict)."""
        stmt = sa.select(Conversation.id).where(Conversation.id == conversation_id)
        return session.execute(stmt.with_for_update(key_share=True, nowait=nowait))

    async def write() -> None:
        async with db.transaction(sessions) as session:
            await session.execute(sa.text("SET LOCAL enable_indexscan = off"))  # the table's order, as on a big batch
            await session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
            refs = [domain.ContactRef(wa_id="14155550172"), domain.ContactRef(wa_id="14155550171")]
            await outbound.queue_broadcast(session, account, refs, domain.MessageType.TEXT, {"text": {"body": "hi"}})

    async with sessions() as holder, holder.begin():
        await take(holder, lower)
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not writer.done()
        free_higher = True
        async with sessions() as probe, probe.begin():
            try:
                await take(probe, higher, nowait=True)
            except OperationalError as exc:
                assert "could not obtain lock" in str(exc)
                free_higher = False
        assert free_higher, "the broadcast took the higher conversation before the lower one"
    await asyncio.wait_for(writer, 10)
