"""The event journal does not grow without end: processed webhook bodies are deleted ``WAHUB_RAW_EVENT_DAYS``
after processing (0: kept forever), in bounded chunks, in the loop that already forgets old subscriber webhook
deliveries; events not processed yet are never deleted, and messages keep their own raw JSON."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_read_api import deliver, text_from
from tests.support import eventually
from wahub.api.context import AppContext
from wahub.store import db, events
from wahub.store.models import Message, WebhookEvent, utcnow
from wahub.worker.deliverer import Deliverer
from wahub.worker.pruning import Pruner
from wahub.worker.runner import Worker

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def journal(
    event_sessions: async_sessionmaker[AsyncSession], *rows: tuple[str, datetime | None, int]
) -> list[int]:
    """Write events as (result, processed_at, body size), received a day before processing (or 100 days ago)."""
    async with db.transaction(event_sessions) as session:
        made = [
            WebhookEvent(
                provider="meta",
                body=b"{" + b" " * (size - 2) + b"}",
                received_at=(done or NOW - 100 * DAY) - DAY,
                processed_at=done,
                attempts=1,
                result=result,
            )
            for result, done, size in rows
        ]
        session.add_all(made)
        await session.flush()
        return [e.id for e in made]


async def kept(event_sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str | None, bool]]:
    """(result, processed) of the events left, in id order."""
    async with event_sessions() as session:
        rows = await session.execute(
            sa.select(WebhookEvent.result, WebhookEvent.processed_at).order_by(WebhookEvent.id)
        )
        return [(result, done is not None) for result, done in rows]


async def test_processed_events_are_deleted_after_the_kept_days_and_waiting_ones_never(
    sessions: async_sessionmaker[AsyncSession], event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await journal(
        event_sessions,
        ("ok", NOW - 31 * DAY, 3_000),
        ("rejected", NOW - 45 * DAY, 500),
        ("failed after 5 attempts: boom", NOW - 31 * DAY, 500),
        ("ok", NOW - 29 * DAY, 3_000),
        ("error: boom", None, 500),  # waiting for another try: received 101 days ago, never deleted
        (None, None, 500),  # never claimed yet
    )
    pruned = await Pruner(sessions, event_sessions, raw_event_days=30).prune(NOW)
    assert pruned.events == 3
    assert await kept(event_sessions) == [("ok", True), ("error: boom", False), (None, False)]
    # Nothing more to do the same day; a day later the next one goes.
    assert (await Pruner(sessions, event_sessions, raw_event_days=30).prune(NOW)).events == 0
    assert (await Pruner(sessions, event_sessions, raw_event_days=30).prune(NOW + 2 * DAY)).events == 1
    assert await kept(event_sessions) == [("error: boom", False), (None, False)]


async def test_zero_days_keeps_processed_events_forever(
    sessions: async_sessionmaker[AsyncSession], event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await journal(event_sessions, ("ok", NOW - 3_000 * DAY, 500), ("ok", NOW - DAY, 500))
    assert (await Pruner(sessions, event_sessions, raw_event_days=0).prune(NOW)).events == 0
    assert await kept(event_sessions) == [("ok", True), ("ok", True)]


async def test_one_step_deletes_a_bounded_chunk_by_rows_and_by_bytes(
    sessions: async_sessionmaker[AsyncSession], event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Each chunk is one short write transaction: SQLite has one writer per file, and the webhook path writes
    to the same file."""
    await journal(event_sessions, *[("ok", NOW - 40 * DAY, 200)] * 2_500)
    await journal(event_sessions, *[("ok", NOW - 40 * DAY, 10_000)] * 10)
    for _ in range(2):
        async with db.transaction(event_sessions) as session:
            assert await events.prune(session, NOW - 30 * DAY) == events.PRUNE_ROWS == 1_000
    async with db.transaction(event_sessions) as session:
        # In id order among events processed at the same time: the last 500 small ones (100,000 bytes), and
        # not the next, large one, which would go past the bytes allowed.
        assert await events.prune(session, NOW - 30 * DAY, max_bytes=105_000) == 500
    async with db.transaction(event_sessions) as session:
        assert await events.prune(session, NOW - 30 * DAY, max_bytes=35_000) == 3
    async with db.transaction(event_sessions) as session:
        assert await events.prune(session, NOW - 30 * DAY, max_bytes=1) == 1  # one at least, whatever its size
    pruned = await Pruner(sessions, event_sessions, raw_event_days=30).prune(NOW)
    assert pruned.events == 6 and await kept(event_sessions) == []


async def test_messages_keep_their_raw_json_when_their_webhook_is_deleted(
    anon: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await deliver(anon, ctx, text_from("wamid.prune1", wa_id="14155550101", user_id=None, name="Ada"))
    assert [processed for _, processed in await kept(event_sessions)] == [True]
    pruned = await Pruner(sessions, event_sessions, raw_event_days=30).prune(utcnow() + 31 * DAY)
    assert pruned.events == 1 and await kept(event_sessions) == []
    async with sessions() as session:
        raw = await session.scalar(sa.select(Message.raw).where(Message.wamid == "wamid.prune1"))
    assert raw is not None and raw["id"] == "wamid.prune1"


async def test_the_worker_prunes_in_the_loop_of_the_deliverer(
    ctx: AppContext, sessions: async_sessionmaker[AsyncSession], event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = utcnow()
    await journal(event_sessions, ("ok", now - 31 * DAY, 500), ("ok", now - DAY, 500), (None, None, 500))
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        deliverer = Deliverer(sessions, http, ctx.vault)
        pruner = Pruner(sessions, event_sessions, raw_event_days=30)
        task = asyncio.create_task(Worker(ctx.notifier, deliverer=deliverer, pruner=pruner).run(stop))
        try:

            async def pruned() -> bool:
                return await kept(event_sessions) == [("ok", True), (None, False)]

            await eventually(pruned, timeout=10)
        finally:
            stop.set()
            await task
