"""Writers of one group at once on PostgreSQL.

A group asked for through the API (``groups.create_pending``, the row the API answers with) and Meta's
``group_create`` webhook naming it (``groups.apply_events``, in the processor) are two transactions that may run at
once on PostgreSQL: Meta sends the webhook as soon as it answers the request. Whichever commits first, there is one
row for the request id, and it ends active with Meta's id. (SQLite takes one writer at a time: they cannot
overlap there.) CI failed on this once: the API's row stayed ``creating`` beside a second row the webhook made.

Two processors applying participant webhooks of one group (or the API answering its join requests meanwhile)
each write the members whole: each must add to what the other committed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import PHONE_NUMBER_ID
from wahub import domain
from wahub.store import db, groups
from wahub.store.models import Account, Group

PG_ONLY = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
REQUEST, GROUP_ID = "REQ-4711", "Y2FwaV9ncm91cDo5"


def event(field: str, kind: str, **values: Any) -> domain.GroupEvent:
    """An item of a group webhook about GROUP_ID."""
    at = datetime(2026, 12, 3, tzinfo=UTC)
    return domain.GroupEvent(field, kind, PHONE_NUMBER_ID, GROUP_ID, at, {}, **values)


NAMED = event(
    "group_lifecycle_update",
    "group_create",
    request_id=REQUEST,
    subject="Night shift",
    invite_link="https://chat.whatsapp.com/AbCdEf",
)


async def pending(sessions: async_sessionmaker[AsyncSession], account: Account) -> int:
    async with db.transaction(sessions) as session:
        row = await groups.create_pending(session, account.id, REQUEST, "Night shift", None, "auto_approve")
        return row.id


async def webhook(sessions: async_sessionmaker[AsyncSession], account: Account) -> None:
    async with db.transaction(sessions) as session:
        await groups.apply_events(session, account.id, [NAMED])


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, str | None, str]]:
    async with sessions() as session:
        rows = await session.execute(sa.select(Group.id, Group.group_id, Group.state).order_by(Group.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


@PG_ONLY
async def test_the_webhook_processed_while_the_apis_row_is_uncommitted_names_that_row(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as api:
        row = await groups.create_pending(api, account.id, REQUEST, "Night shift", None, "auto_approve")
        processor = asyncio.create_task(webhook(sessions, account))
        await asyncio.sleep(0.5)  # the processor's transaction has looked for the request and found nothing yet
    await processor
    assert await stored(sessions) == [(row.id, GROUP_ID, groups.ACTIVE)]


@PG_ONLY
async def test_the_apis_row_written_while_the_webhooks_is_uncommitted_is_the_webhooks_row(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as processor:
        await groups.apply_events(processor, account.id, [NAMED])
        api = asyncio.create_task(pending(sessions, account))
        await asyncio.sleep(0.5)
    row_id = await api
    assert await stored(sessions) == [(row_id, GROUP_ID, groups.ACTIVE)]


async def test_either_order_one_after_the_other_makes_one_active_row(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    first = await pending(sessions, account)
    await webhook(sessions, account)
    await webhook(sessions, account)  # Meta delivers a webhook again
    assert await stored(sessions) == [(first, GROUP_ID, groups.ACTIVE)]
    assert await pending(sessions, account) == first


@PG_ONLY
async def test_two_processors_adding_participants_to_one_group_at_once_keep_both(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    await pending(sessions, account)
    await webhook(sessions, account)

    def joined(wa_id: str) -> domain.GroupEvent:
        return event("group_participants_update", "group_participants_add", added=(domain.ContactRef(wa_id=wa_id),))

    async def second() -> None:
        async with db.transaction(sessions) as session:
            await groups.apply_events(session, account.id, [joined("14155550102")])

    async with db.transaction(sessions) as first:
        await groups.apply_events(first, account.id, [joined("14155550101")])
        other = asyncio.create_task(second())
        await asyncio.sleep(0.5)
    await other
    async with sessions() as session:
        group = await groups.find(session, account.id, GROUP_ID)
    assert group is not None and sorted(group.participants) == ["14155550101", "14155550102"]  # before: one
