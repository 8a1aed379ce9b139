"""Webhook intake: verification challenge, signature checks, durable append, processing into rows."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET, VERIFY_TOKEN
from tests.support import DATA, payload
from wahub.store import db, events
from wahub.store.models import Account, Contact, Media, Message, WebhookEvent
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


@pytest.mark.parametrize("together", [False, True], ids=["apart", "one-batch"])
async def test_a_history_placeholder_becomes_its_media_message_when_the_media_comes(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    event_sessions: async_sessionmaker[AsyncSession],
    together: bool,
) -> None:
    # A coexistence history sync: the chunk names an image as a media_placeholder; a later chunk carries the
    # image itself under the same wamid (Meta's reference pages, tests/data/meta-docs-webhooks.json).
    docs = json.loads((DATA / "meta-docs-webhooks.json").read_text())
    for name in ("history_chunk", "history_media_chunk", "history_media_chunk"):
        webhook = docs[name]
        for entry in webhook["entry"]:
            for change in entry["changes"]:
                change["value"]["metadata"]["phone_number_id"] = account.phone_number_id
        body = json.dumps(webhook).encode()
        assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
        if not together:  # else the processor takes the three events in one batch
            await Processor(sessions, event_sessions).run_once()
    await Processor(sessions, event_sessions).run_once()
    async with db.transaction(sessions) as session:
        message = (await session.scalars(sa.select(Message).where(Message.wamid == "wamid.HISTORY_IN_2"))).one()
        media = await session.get(Media, message.media_id) if message.media_id else None
        count = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    async with db.transaction(event_sessions) as session:
        results = [e.result for e in (await session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id))).all()]
    assert message.type == "image" and message.content["image"]["id"] == "1003383421387256"
    assert media is not None and (media.provider_media_id, media.state) == ("1003383421387256", "pending")
    assert count == 4  # the chunk's four messages; the image filled its placeholder instead of adding a fifth
    assert "placeholder filled" in " ".join(r or "" for r in results[:2]) and "duplicate message" in (results[2] or "")
