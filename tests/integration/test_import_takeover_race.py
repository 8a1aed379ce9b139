"""Two processors storing history messages that are the same imported message (same conversation, minute and
text) at once, on PostgreSQL: the one that takes the imported row over holds it; the other stores its message as a
row of its own, instead of overwriting the first one's wamid after it commits (which lost the first's message)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.domain import ContactRef
from wahub.store import contacts, conversations, db, imported
from wahub.store.models import Account, Message

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
TEXT = {"text": {"body": "See you at nine"}}


async def test_an_imported_message_taken_over_by_one_processor_is_skipped_by_the_other(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id="14155550101"))
        chat = await conversations.get_or_create(session, account.id, contact.id)
        session.add(
            Message(
                account_id=account.id,
                conversation_id=chat.id,
                contact_id=contact.id,
                direction="inbound",
                type="text",
                status="received",
                content=TEXT,
                imported=True,
                provider_timestamp=AT,
            )
        )
    arriving = [imported.Arriving(chat.id, "inbound", AT.replace(second=41), "text", TEXT)]

    async def second() -> list[Message | None]:
        async with db.transaction(sessions) as session:
            return await imported.matching(session, arriving)

    async with db.transaction(sessions) as first:
        (row,) = await imported.matching(first, arriving)
        assert row is not None
        row.wamid = "wamid.FIRST"
        await first.flush()
        assert await asyncio.wait_for(second(), 5) == [None]  # before: the same row, overwritten after this commits
