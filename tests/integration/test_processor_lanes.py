"""Batches in flight together on PostgreSQL (``processor.LANES_POSTGRESQL``): the worker runs that many processor
loops, ``FOR UPDATE SKIP LOCKED`` hands them disjoint batches, and a backlog comes out as if one loop had worked
it: every event applied once, duplicates stored once, a message's statuses at the furthest one whatever batch
each landed in. SQLite, one writer, keeps one batch at a time."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.integration.test_statuses import queued
from tests.integration.test_webhooks import signed
from tests.support import eventually, payload
from wahub.api.context import AppContext
from wahub.store.models import Account, Message, WebhookEvent
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker

POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_batches_in_flight_are_two_on_postgresql_and_one_on_sqlite(
    database_url: str, sessions: async_sessionmaker[AsyncSession], event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    postgres = database_url.startswith("postgresql")
    assert Processor(sessions, event_sessions).lanes == (2 if postgres else 1)


def inbound_text(n: int) -> bytes:
    body = copy.deepcopy(payload("message", "text"))
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0]["id"] = f"wamid.lanes{n}"
    value["messages"][0]["from"] = value["contacts"][0]["wa_id"] = f"1415555{n % 12:04d}"
    value["messages"][0]["text"]["body"] = f"text {n}"
    return json.dumps(body).encode()


def status_of(wamid: str, status: str, timestamp: int) -> bytes:
    body = copy.deepcopy(payload("message_status", "sent"))
    update: dict[str, Any] = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    update.update(id=wamid, status=status, timestamp=str(timestamp), recipient_id="14155550101")
    return json.dumps(body).encode()


class ClaimsInFlight:
    """Watches the engine (SQLAlchemy's events: nothing of wahub's is replaced) for connections that claimed
    webhook events and have not yet ended their transaction; keeps the most seen at once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.holding: set[int] = set()
        self.most = 0
        sync = engine.sync_engine
        sa.event.listen(sync, "before_cursor_execute", self._executed)
        sa.event.listen(sync, "commit", self._ended)
        sa.event.listen(sync, "rollback", self._ended)

    def _executed(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM webhook_events" in statement and "SKIP LOCKED" in statement:
            self.holding.add(id(conn.connection.dbapi_connection))
            self.most = max(self.most, len(self.holding))

    def _ended(self, conn: Any) -> None:
        self.holding.discard(id(conn.connection.dbapi_connection))


@POSTGRES_ONLY
async def test_two_loops_drain_a_backlog_with_batches_in_flight_together_and_apply_each_event_once(
    anon: httpx.AsyncClient,
    ctx: AppContext,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    outbound = [await queued(sessions, account, f"wamid.out{i}") for i in range(8)]
    bodies: list[bytes] = []
    for n in range(240):
        if n % 30 == 0:  # each message's statuses furthest first, so they land in different batches
            bodies.append(status_of(f"wamid.out{n // 30}", "read", 1700000003))
        bodies.append(inbound_text(n))
    bodies += [inbound_text(n) for n in range(0, 240, 12)]  # Meta's redeliveries, in later batches
    for i in range(8):
        bodies += [status_of(f"wamid.out{i}", "delivered", 1700000002), status_of(f"wamid.out{i}", "sent", 1700000001)]
    for body in bodies:
        assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200

    watch = ClaimsInFlight(engine)
    processor = Processor(sessions, event_sessions, batch_size=16)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(ctx.notifier, processor=processor).run(stop))

    async def drained() -> bool:
        async with event_sessions() as session:
            waiting = await session.scalar(sa.select(sa.func.count()).where(WebhookEvent.processed_at.is_(None)))
        return waiting == 0

    try:
        await eventually(drained, timeout=60)
    finally:
        stop.set()
        await task

    assert watch.most == 2, "two batches were never claimed at once"
    async with sessions() as session:
        results = (await session.scalars(sa.select(WebhookEvent.result))).all()
        assert len(results) == len(bodies) and all(r is not None and r.startswith("ok") for r in results)
        stored = (await session.scalars(sa.select(Message.wamid).where(Message.direction == "inbound"))).all()
        assert sorted(stored) == sorted(f"wamid.lanes{n}" for n in range(240))
        states = (await session.scalars(sa.select(Message.status).where(Message.id.in_(outbound)))).all()
        assert list(states) == ["read"] * 8
