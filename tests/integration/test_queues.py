"""The one claim/lease path of wahub's queues (``store/queues.py``), on a queue defined here as a new one
would be: over the subscriber webhook deliveries' table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import db, queues
from wahub.store.models import WebhookDelivery, WebhookSubscription, utcnow

TABLE: sa.Table = WebhookDelivery.__table__  # type: ignore[assignment]
QUEUE = queues.Queue(
    TABLE,
    due=lambda now: sa.and_(
        TABLE.c.state == "pending",
        TABLE.c.run_at <= now,
        sa.or_(TABLE.c.claimed_until.is_(None), TABLE.c.claimed_until < now),
    ),
    lease="claimed_until",
    count_attempt=True,
)


async def _queue(sessions: async_sessionmaker[AsyncSession], n: int) -> list[int]:
    now = utcnow()
    async with db.transaction(sessions) as session:
        sub = WebhookSubscription(url="http://127.0.0.1:9/", events=[], description=None, secret="x")
        session.add(sub)
        await session.flush()
        rows = [
            {
                "subscription_id": sub.id,
                "event": "e",
                "payload": {},
                "state": "pending",
                "attempts": 0,
                "run_at": now - timedelta(seconds=n - i),
                "created_at": now,
            }
            for i in range(n)
        ]
        await session.execute(sa.insert(WebhookDelivery), rows)
        ids = (await session.scalars(sa.select(WebhookDelivery.id).order_by(WebhookDelivery.run_at))).all()
    return list(ids)


async def test_a_claim_leases_due_rows_in_order_until_the_lease_runs_out(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _queue(sessions, 3)
    async with db.transaction(sessions) as session:
        first = await QUEUE.claim(session, 2, lease=timedelta(seconds=60), columns=("attempts",))
    assert [row.id for row in first] == ids[:2] and [row.attempts for row in first] == [0, 0]
    async with db.transaction(sessions) as session:
        assert [row.id for row in await QUEUE.claim(session, 5, lease=timedelta(seconds=60))] == ids[2:]
        assert await QUEUE.claim(session, 5, lease=timedelta(seconds=60)) == []
    later = utcnow() + timedelta(seconds=61)
    async with db.transaction(sessions) as session:
        again = await QUEUE.claim(session, 5, lease=timedelta(seconds=60), now=later)
        assert [row.id for row in again] == ids  # every lease ran out
        attempts = (await session.scalars(sa.select(WebhookDelivery.attempts).order_by(WebhookDelivery.id))).all()
    assert list(attempts) == [2, 2, 2]


async def test_settle_writes_each_outcome_and_clears_the_lease(sessions: async_sessionmaker[AsyncSession]) -> None:
    ids = await _queue(sessions, 2)
    async with db.transaction(sessions) as session:
        await QUEUE.claim(session, 2, lease=timedelta(seconds=60))
        await QUEUE.settle(
            session, [{"b_id": ids[0], "s": "delivered"}, {"b_id": ids[1], "s": "failed"}], {"state": sa.bindparam("s")}
        )
    async with sessions() as session:
        rows = (await session.execute(sa.select(WebhookDelivery.state, WebhookDelivery.claimed_until))).all()
    assert sorted(rows) == [("delivered", None), ("failed", None)]


async def test_settling_rows_by_their_ids_alone_writes_those_in_one_statement(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _queue(sessions, 4)
    engine = db.engine_of(sessions)
    seen: list[bool] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("UPDATE webhook_deliveries"):
            seen.append(executemany)

    async with db.transaction(sessions) as session:
        await QUEUE.claim(session, 4, lease=timedelta(seconds=60))
    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction(sessions) as session:
            await QUEUE.settle(session, [{"b_id": ids[2]}, {"b_id": ids[0]}, {"b_id": ids[3]}], {"state": "delivered"})
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
    async with sessions() as session:
        rows = (await session.execute(sa.select(WebhookDelivery.state, WebhookDelivery.claimed_until))).all()
        states = (await session.scalars(sa.select(WebhookDelivery.state).order_by(WebhookDelivery.id))).all()
    assert list(states) == ["delivered", "pending", "delivered", "delivered"]
    assert sum(1 for row in rows if row.claimed_until is None) == 3  # the one left alone keeps its lease
    assert seen == [False]


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_claim_skips_rows_locked_by_another_worker(sessions: async_sessionmaker[AsyncSession]) -> None:
    ids = await _queue(sessions, 3)
    async with sessions() as one, one.begin(), sessions() as two, two.begin():
        mine = await QUEUE.claim(one, 1)
        theirs = await QUEUE.claim(two, 5)
    assert [row.id for row in mine] == ids[:1]
    assert [row.id for row in theirs] == ids[1:]
