"""The read side of the API after real intake: message filters, statuses, contacts (merged when one person
shows both keys), conversations with their 24-hour window, account events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET, OpenWindow
from tests.support import payload
from wahub.api.context import AppContext
from wahub.store import db, messages
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor

NOW = int(datetime.now(tz=UTC).timestamp())


def text_from(wamid: str, *, wa_id: str | None, user_id: str | None, name: str, at: int = NOW) -> dict[str, Any]:
    body = copy.deepcopy(payload("message", "text"))
    value = body["entry"][0]["changes"][0]["value"]
    contact: dict[str, Any] = {"profile": {"name": name}}
    message: dict[str, Any] = {"id": wamid, "timestamp": str(at), "type": "text", "text": {"body": f"hi {wamid}"}}
    if wa_id:
        contact["wa_id"] = wa_id
        message["from"] = wa_id
    if user_id:
        contact["user_id"] = user_id
        message["from_user_id"] = user_id
    value["contacts"] = [contact]
    value["messages"] = [message]
    return body


async def deliver(anon: httpx.AsyncClient, ctx: AppContext, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        raw = json.dumps(body).encode()
        headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
        assert (await anon.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    while await Processor(ctx.sessions, db.sessionmaker(ctx.events)).run_once():
        pass


async def test_one_person_known_by_phone_then_by_user_id_becomes_one_contact(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await deliver(
        anon,
        ctx,
        text_from("wamid.p1", wa_id="14155550123", user_id=None, name="Ana"),
        text_from("wamid.p2", wa_id=None, user_id="US.777", name="Ana S."),
    )
    assert len((await client.get("/api/v1/contacts")).json()["items"]) == 2
    await deliver(anon, ctx, text_from("wamid.p3", wa_id="14155550123", user_id="US.777", name="Ana Souza"))
    contacts = (await client.get("/api/v1/contacts")).json()["items"]
    assert [(c["wa_id"], c["user_id"], c["name"]) for c in contacts] == [("14155550123", "US.777", "Ana Souza")]
    conversations = (await client.get("/api/v1/conversations")).json()["items"]
    assert len(conversations) == 1 and conversations[0]["unread_count"] == 3
    messages = (await client.get("/api/v1/messages", params={"contact_id": contacts[0]["id"]})).json()["items"]
    assert [m["wamid"] for m in messages] == ["wamid.p3", "wamid.p2", "wamid.p1"]


async def test_conversation_shows_its_24_hour_window(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old = NOW - 30 * 3600
    await deliver(
        anon,
        ctx,
        text_from("wamid.recent", wa_id="14155550124", user_id=None, name="Recent"),
        text_from("wamid.old", wa_id="14155550125", user_id=None, name="Old", at=old),
    )
    items = {c["contact"]["name"]: c for c in (await client.get("/api/v1/conversations")).json()["items"]}
    recent, stale = items["Recent"], items["Old"]
    assert recent["window_open"] is True
    closes = datetime.fromisoformat(recent["window_closes_at"].replace("Z", "+00:00"))
    assert closes == datetime.fromtimestamp(NOW, tz=UTC) + timedelta(hours=24)
    assert stale["window_open"] is False
    one = (await client.get(f"/api/v1/conversations/{recent['id']}")).json()
    assert one["window_open"] is True and one["unread_count"] == 1
    assert (await client.get("/api/v1/conversations", params={"unread": True})).json()["items"]


async def test_messages_filter_by_direction_type_status_conversation_and_time(
    anon: httpx.AsyncClient,
    ctx: AppContext,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    await deliver(anon, ctx, text_from("wamid.f1", wa_id="14155550126", user_id=None, name="F"))
    await deliver(anon, ctx, payload("message", "image"))
    await open_window("14155550126")
    sent = (
        await client.post("/api/v1/messages", json={"to": "+14155550126", "type": "text", "text": {"body": "out"}})
    ).json()

    async def ids(**params: Any) -> list[int]:
        response = await client.get("/api/v1/messages", params=params)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    all_ids = await ids()
    assert len(all_ids) == 3
    assert await ids(direction="outbound") == [sent["id"]]
    assert len(await ids(direction="inbound")) == 2
    assert len(await ids(type="image")) == 1
    assert await ids(status="queued") == [sent["id"]]
    assert await ids(conversation_id=sent["conversation_id"], type="text", direction="inbound") != []
    future = (datetime.now(tz=UTC) + timedelta(hours=1)).isoformat()
    assert await ids(since=future) == []
    assert len(await ids(until=future)) == 3
    naive = await client.get("/api/v1/messages", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "invalid_input"
    assert (await client.get("/api/v1/messages", params={"direction": "sideways"})).status_code == 422


async def test_statuses_of_a_message_are_listed_with_pricing(
    anon: httpx.AsyncClient,
    ctx: AppContext,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    await open_window("14155550127")
    sent = (
        await client.post("/api/v1/messages", json={"to": "+14155550127", "type": "text", "text": {"body": "x"}})
    ).json()
    body = copy.deepcopy(payload("message_status", "sent"))
    await deliver(anon, ctx, body)  # a status for a message we do not know: kept, harmless
    status = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    async with db.transaction(sessions) as session:
        await messages.record_accepted(session, [(sent["id"], status["id"])])
    listed = (await client.get(f"/api/v1/messages/{sent['id']}/statuses")).json()
    assert [(s["status"], s["pricing"]["category"]) for s in listed] == [("sent", "service")]
    assert (await client.get(f"/api/v1/messages/{sent['id']}")).json()["status"] == "sent"
    assert (await client.get("/api/v1/messages/424242/statuses")).status_code == 404


async def test_account_events_are_listed_and_filtered(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = payload("account_update", "account_deleted")
    await deliver(anon, ctx, body, payload("template_status_update", "approved"))
    events = (await client.get("/api/v1/events")).json()["items"]
    assert {e["field"] for e in events} == {"account_update", "message_template_status_update"}
    only = (await client.get("/api/v1/events", params={"field": "account_update"})).json()["items"]
    assert [e["field"] for e in only] == ["account_update"]
    assert only[0]["value"] == body["entry"][0]["changes"][0]["value"]
    assert (await client.get(f"/api/v1/events/{only[0]['id']}")).json()["id"] == only[0]["id"]
    assert (await client.get("/api/v1/events/999999")).status_code == 404
