"""Webhook intake: verification challenge, signature checks, durable append, processing into rows."""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET, VERIFY_TOKEN
from tests.support import payload
from wahub.store import db, events
from wahub.store.models import Account, Contact, Message, WebhookEvent
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": meta_signature(secret, body), "Content-Type": "application/json"}


async def stored_events(event_sessions: async_sessionmaker[AsyncSession]) -> int:
    async with db.transaction(event_sessions) as session:
        return await events.count(session)


async def test_verification_echoes_the_challenge(anon: httpx.AsyncClient) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "123"}
    response = await anon.get("/webhooks/meta", params=params)
    assert response.status_code == 200
    assert response.text == "123"


async def test_verification_with_wrong_token_is_forbidden(anon: httpx.AsyncClient) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "123"}
    response = await anon.get("/webhooks/meta", params=params)
    assert response.status_code == 403
    assert "123" not in response.text


async def test_unsigned_webhook_is_refused_and_nothing_is_stored(
    anon: httpx.AsyncClient, event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = json.dumps(payload("message", "text")).encode()
    response = await anon.post("/webhooks/meta", content=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await stored_events(event_sessions) == 0


async def test_wrongly_signed_webhook_is_refused_and_nothing_is_stored(
    anon: httpx.AsyncClient, event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = json.dumps(payload("message", "text")).encode()
    tampered = body.replace(b"Body Text", b"Evil Text")
    response = await anon.post("/webhooks/meta", content=tampered, headers=signed(body))
    assert response.status_code == 401
    response = await anon.post("/webhooks/meta", content=body, headers=signed(body, "other-secret"))
    assert response.status_code == 401
    assert await stored_events(event_sessions) == 0


async def test_signed_webhook_is_stored_before_the_ack(
    anon: httpx.AsyncClient, event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = json.dumps(payload("message", "text")).encode()
    response = await anon.post("/webhooks/meta", content=body, headers=signed(body))
    assert response.status_code == 200
    async with db.transaction(event_sessions) as session:
        rows = (await session.scalars(sa.select(WebhookEvent))).all()
    assert [r.body for r in rows] == [body]
    assert rows[0].processed_at is None


async def test_inbound_text_becomes_a_message_with_its_contact(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    body = json.dumps(payload("message", "text")).encode()
    assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    assert await Processor(sessions, event_sessions).run_once() == 1
    async with db.transaction(sessions) as session:
        message = (await session.scalars(sa.select(Message))).one()
        contact = await session.get(Contact, message.contact_id)
    async with db.transaction(event_sessions) as session:
        event = (await session.scalars(sa.select(WebhookEvent))).one()
    assert message.account_id == account.id
    assert (message.direction, message.type, message.wamid) == ("inbound", "text", "wamid.xyzxyz")
    assert message.content["text"] == {"body": "Body Text"}
    assert message.raw is not None and message.raw["id"] == "wamid.xyzxyz"
    assert contact is not None
    assert (contact.wa_id, contact.user_id, contact.profile_name) == (
        "972987654321",
        "US.13491208655302741918",
        "Test Name",
    )
    assert event.processed_at is not None and event.result is not None and event.result.startswith("ok")


async def test_redelivered_webhook_does_not_duplicate_the_message(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    body = json.dumps(payload("message", "text")).encode()
    for _ in range(3):
        assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    await Processor(sessions, event_sessions).run_once()
    async with db.transaction(sessions) as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert count == 1


async def test_malformed_body_is_kept_and_marked_rejected(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": "not a list"}'
    assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    await Processor(sessions, event_sessions).run_once()
    async with db.transaction(event_sessions) as session:
        event = (await session.scalars(sa.select(WebhookEvent))).one()
    assert event.processed_at is not None
    assert event.result is not None and event.result.startswith("rejected")
