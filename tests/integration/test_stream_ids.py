"""The live stream's ids at commit: on PostgreSQL the ids, the events' row and the readers' NOTIFY are one
statement; a database without the counter row (built from the models, not the migrations) gets one."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wahub.store import db, stream, stream_events
from wahub.store.models import StreamCounter


def ticks(*message_ids: int) -> list[stream.Change]:
    """Status ticks that carry their conversation: the stream writes them without reading anything back."""
    return [stream.status_tick(mid, 7, f"wamid.{mid}", "sent", "2026-12-02T17:00:00Z") for mid in message_ids]


async def test_ids_follow_on_when_the_counter_row_is_missing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with db.transaction(sessions) as session:
        await session.execute(sa.delete(StreamCounter))
    for batch in ((1, 2), (3,)):
        async with db.transaction(sessions) as session:
            stream.publish(session, ticks(*batch))
    async with db.transaction(sessions) as session:
        written = await stream_events.read(session, 0)
        assert await stream_events.last_id(session) == 3
    assert [(e.id, e.payload["message_id"], e.conversation_id) for e in written] == [(1, 1, 7), (2, 2, 7), (3, 3, 7)]


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_on_postgresql_the_ids_the_row_and_the_notify_are_one_statement(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with db.transaction(sessions) as session:
        before = await stream_events.last_id(session)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with psycopg.connect(db.sync_url(database_url).replace("+psycopg", ""), autocommit=True) as listener:
        listener.execute(f"LISTEN {stream.CHANNEL}")
        sa.event.listen(engine.sync_engine, "before_cursor_execute", seen)
        try:
            async with db.transaction(sessions) as session:
                stream.publish(session, ticks(11, 12, 13))
        finally:
            sa.event.remove(engine.sync_engine, "before_cursor_execute", seen)
        notified = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert len(statements) == 1, statements
    assert "stream_counter" in statements[0] and "stream_batches" in statements[0] and "pg_notify" in statements[0]
    assert notified == [str(before + 3)]
    async with db.transaction(sessions) as session:
        written = await stream_events.read(session, before)
    assert [(e.id, e.payload["message_id"]) for e in written] == [(before + 1, 11), (before + 2, 12), (before + 3, 13)]
