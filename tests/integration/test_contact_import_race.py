"""A contacts import (``imports/contact_importer.py``) and an agent's change of the same contact at once, on
PostgreSQL: the import reads the chunk's contacts locked, after the agent's change commits, and merges into it
(before: it merged into what it had read first and overwrote the agent's attribute)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.domain import ContactRef
from wahub.imports import contact_importer
from wahub.imports.contacts_csv import Row
from wahub.store import contacts, db
from wahub.store.models import Account, Contact

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
ADA = "14155550101"


async def test_an_import_merges_into_an_agents_change_committed_meanwhile(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        contact_id = (await contacts.upsert_contact(session, account.id, ContactRef(wa_id=ADA))).id
    summary = contact_importer.Summary()

    async def imported() -> None:
        async with db.transaction(sessions) as session:
            row = Row(line=2, wa_id=ADA, name=None, labels={}, attributes={"tier": "gold"})
            await contact_importer.store(session, account.id, [row], summary)

    async with db.transaction(sessions) as agent:  # PATCH /contacts/{id}: the row locked, an attribute set
        contact = await agent.get_one(Contact, contact_id, with_for_update=True)
        contact.attributes = {"city": "Lisbon"}
        await agent.flush()
        importing = asyncio.create_task(imported())
        await asyncio.sleep(0.5)  # the import has read its contacts by now, or waits for this one
    await importing
    async with sessions() as session:
        contact = await session.get_one(Contact, contact_id)
    assert contact.attributes == {"city": "Lisbon", "tier": "gold"}  # before: {"tier": "gold"}
    assert summary.updated == 1
