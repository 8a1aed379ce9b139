"""The typing indicator (Meta's read receipt with ``typing_indicator``) while someone types: after a plain read
receipt went, asking for the indicator sends the receipt again with it; asking again within 20 seconds sends
nothing more. On SQLite and PostgreSQL, through the real sender and fakegraph."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET
from tests.support import eventually, payload
from wahub.store import db, outbox
from wahub.store.models import OutboxJob
from wahub.webhook.signature import meta_signature


async def test_typing_resends_the_read_receipt_with_the_indicator_at_most_every_20_seconds(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    worker: None,
    graph_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    message = await received(client, anon)
    receipt = {"messaging_product": "whatsapp", "status": "read", "message_id": message["wamid"]}
    typing = {**receipt, "typing_indicator": {"type": "text"}}

    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def receipts(count: int) -> list[Any] | None:
            rows = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return [r["body"] for r in rows] if len(rows) >= count else None

        async def done() -> bool:
            async with sessions() as session:
                job = (await session.scalars(sa.select(OutboxJob))).one()
                return job.state == outbox.JobState.DONE.value

        read = await client.post(f"/api/v1/messages/{message['id']}/read")  # the page opened the conversation
        assert read.json()["typing_indicator"] is False
        assert await eventually(lambda: receipts(1), timeout=10) == [receipt]
        await eventually(done, timeout=10)

        first = await client.post(f"/api/v1/messages/{message['id']}/read", json={"typing_indicator": True})
        assert first.status_code == 202 and first.json()["typing_indicator"] is True
        assert await eventually(lambda: receipts(2), timeout=10) == [receipt, typing]
        await eventually(done, timeout=10)

        again = await client.post(f"/api/v1/messages/{message['id']}/read", json={"typing_indicator": True})
        assert again.status_code == 202  # within 20 s of the last indicator: nothing is sent
        async with db.transaction(sessions) as session:  # the test's clock: 21 s later
            job = (await session.scalars(sa.select(OutboxJob))).one()
            assert job.state == outbox.JobState.DONE.value
            job.run_at -= timedelta(seconds=21)
        later = await client.post(f"/api/v1/messages/{message['id']}/read", json={"typing_indicator": True})
        assert later.json()["typing_indicator"] is True
        # Exactly one more: the one asked 21 s later (the one asked too soon would have come before it).
        assert await eventually(lambda: receipts(3), timeout=10) == [receipt, typing, typing]
        await eventually(done, timeout=10)
        assert len(await receipts(0) or []) == 3


async def test_every_tab_marking_a_new_message_read_at_once_queues_one_receipt(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    worker: None,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    message = await received(client, anon)
    # Each tab showing the conversation gets the new message from the live stream and marks it read at once; on
    # PostgreSQL the requests' transactions overlap (before: the second insert of its receipt answered 500).
    tabs = [
        client.post(f"/api/v1/messages/{message['id']}/read", json={"typing_indicator": i % 2 == 1}) for i in range(6)
    ]
    answers = await asyncio.gather(*tabs)
    assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
    async with sessions() as session:
        jobs = list(await session.scalars(sa.select(OutboxJob)))
    assert len(jobs) == 1 and jobs[0].kind in (outbox.JobKind.READ.value, outbox.JobKind.READ_TYPING.value)


async def received(client: httpx.AsyncClient, anon: httpx.AsyncClient) -> dict[str, Any]:
    """An inbound text message, through a signed webhook, once the processor has stored it."""
    raw = json.dumps(payload("message", "text")).encode()
    headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
    assert (await anon.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200

    async def inbound() -> dict[str, Any] | None:
        items: list[dict[str, Any]] = (await client.get("/api/v1/messages?direction=inbound")).json()["items"]
        return items[0] if items else None

    return await eventually(inbound, timeout=10)  # type: ignore[no-any-return]
