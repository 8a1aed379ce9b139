"""Details of subscriber webhooks a subscriber relies on: times written as the API writes them (UTC with ``Z``),
and a replay of chosen deliveries by their ids alone."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.integration.test_read_api import deliver, text_from
from tests.support import eventually
from wahub.api.context import AppContext
from wahub.store import db
from wahub.store.models import WebhookDelivery

TO = "14155550101"
HELLO = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}


async def payloads(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id))
        return [row.payload for row in rows]


async def test_times_in_outgoing_webhooks_are_written_as_the_api_writes_them(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    worker: None,
    open_window: OpenWindow,
) -> None:
    assert (await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks"})).status_code == 201
    await deliver(anon, ctx, text_from("wamid.fmt1", wa_id=TO, user_id=None, name="Ada"))
    sent = (await client.post("/api/v1/messages", json={"to": f"+{TO}", **HELLO})).json()

    async def read() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/messages/{sent['id']}")).json()
        return body if body["read_at"] else None

    message = await eventually(read, timeout=20)
    inbound = (await client.get("/api/v1/messages", params={"direction": "inbound"})).json()["items"][0]
    events = await payloads(sessions)
    received = next(e for e in events if e["event"] == "message.received")
    assert received["data"]["timestamp"] == inbound["timestamp"]
    statuses = {e["data"]["status"]: e["data"]["timestamp"] for e in events if e["event"] == "message.status"}
    assert statuses["read"] == message["read_at"] and statuses["delivered"] == message["delivered_at"]
    for event in events:
        assert event["created_at"].endswith("Z") and "+00:00" not in event["created_at"], event
        stamp = event["data"].get("timestamp")
        assert stamp is None or stamp.endswith("Z"), event


async def test_a_replay_by_ids_alone_sends_those_deliveries_again_whatever_their_state(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, ctx: AppContext, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = (await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks"})).json()
    await deliver(
        anon,
        ctx,
        text_from("wamid.rp1", wa_id=TO, user_id=None, name="Ada"),
        text_from("wamid.rp2", wa_id=TO, user_id=None, name="Ada"),
    )
    async with db.transaction(sessions) as session:
        await session.execute(sa.update(WebhookDelivery).values(state="delivered", attempts=1))
        first, second = (await session.scalars(sa.select(WebhookDelivery.id).order_by(WebhookDelivery.id))).all()

    replayed = await client.post(f"/api/v1/webhooks/{created['id']}/replay", json={"ids": [first]})
    assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
    async with sessions() as session:
        states = dict((await session.execute(sa.select(WebhookDelivery.id, WebhookDelivery.state))).all())
    assert states == {first: "pending", second: "delivered"}
    # With states, ids narrow them as before: a delivered one is not a failed one.
    narrowed = await client.post(
        f"/api/v1/webhooks/{created['id']}/replay", json={"ids": [second], "states": ["failed"]}
    )
    assert narrowed.json() == {"replayed": 0}
