"""Queueing one message to many recipients at once (campaigns): every message gets its outbox job, in the
recipients' order, and the 24-hour window is checked for free-form broadcasts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from wahub import domain, errors
from wahub.store import db, outbound
from wahub.store.models import Account, Contact, Message, OutboxJob

TEMPLATE = {"template": {"name": "hello_world", "language": {"code": "en_US"}}}


def refs(*numbers: str) -> list[domain.ContactRef]:
    return [domain.ContactRef(wa_id=n) for n in numbers]


async def test_each_recipient_gets_a_queued_message_and_its_job_in_order(
    sessions: async_sessionmaker[AsyncSession], account: Account, open_window: OpenWindow
) -> None:
    await open_window("14155550101")  # a contact that exists already is reused
    numbers = ["14155550101", *(f"1555{n:07d}" for n in range(2_500))]  # more than one chunk
    async with db.transaction(sessions) as session:
        ids = await outbound.queue_broadcast(session, account, refs(*numbers), domain.MessageType.TEMPLATE, TEMPLATE)
    assert len(ids) == len(set(ids)) == len(numbers)
    async with db.transaction(sessions) as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Message.status, Message.content, Contact.wa_id, OutboxJob.state)
                .join(Contact, Contact.id == Message.contact_id)
                .join(OutboxJob, OutboxJob.message_id == Message.id)
            )
        ).all()
        contacts = await session.scalar(sa.select(sa.func.count()).select_from(Contact))
    by_id = {r.id: r for r in rows}
    assert [by_id[i].wa_id for i in ids] == numbers
    assert {(r.status, r.state) for r in rows} == {("queued", "pending")}
    assert all(r.content == TEMPLATE for r in rows)
    assert contacts == len(numbers)


async def test_a_free_form_broadcast_is_refused_whole_when_a_window_is_closed(
    sessions: async_sessionmaker[AsyncSession], account: Account, open_window: OpenWindow
) -> None:
    await open_window("14155550101")
    text = {"text": {"body": "Hello"}}
    with pytest.raises(errors.WindowClosed, match=r"1 of the recipients.*14155550102.*template"):
        async with db.transaction(sessions) as session:
            await outbound.queue_broadcast(
                session, account, refs("14155550101", "14155550102"), domain.MessageType.TEXT, text, free_form=True
            )
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
        ids = await outbound.queue_broadcast(
            session, account, refs("14155550101"), domain.MessageType.TEXT, text, free_form=True
        )
    assert len(ids) == 1
