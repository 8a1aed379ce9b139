"""A name that must be unique (a user's email, a report's name, a canned reply's code) given twice at once, on
PostgreSQL where both transactions look before either has written: the second is a Conflict (the API's 409),
not the unique constraint's IntegrityError (a 500)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.store import canned_replies, db, reports, users

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
Write = Callable[[AsyncSession], Awaitable[object]]
WRITES: dict[str, Write] = {
    "user": lambda s: users.add(s, "ada@example.com", "Ada", "agent", "a long enough password"),
    "report": lambda s: reports.create(s, "daily", {"query": "messages_per_day"}),
    "canned reply": lambda s: canned_replies.create(s, "hi", "Hello!"),
}


@pytest.mark.parametrize("what", list(WRITES))
async def test_the_second_of_two_at_once_is_a_conflict(sessions: async_sessionmaker[AsyncSession], what: str) -> None:
    write = WRITES[what]

    async def second() -> None:
        async with db.transaction(sessions) as session:
            await write(session)

    async with db.transaction(sessions) as first:
        await write(first)
        other = asyncio.create_task(second())
        await asyncio.sleep(0.5)  # the second has looked and found none by now, and waits on the first's row
    with pytest.raises(errors.Conflict):
        await other
