"""Every real payload (pywa's corpus, Meta's OpenAPI examples, Meta's reference pages), posted signed to a
running wahub and processed: the rows it leaves are checked field by field against what the payload says,
and posting it twice leaves exactly the same rows as posting it once.

What each payload *means* is pinned by hand-written tables in tests/unit/test_meta_parser.py; this test
checks that the store keeps all of it: every message with its type, sender, content, target and media,
every status with its error code and pricing, every account event and preference.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET
from tests.support import payload_sources
from wahub.domain import Direction, MessageType, ParsedWebhook
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import (
    Account,
    AccountEvent,
    Contact,
    Conversation,
    Media,
    Message,
    StatusRecord,
    Template,
    WebhookEvent,
)
from wahub.webhook import meta
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor

SOURCES = payload_sources()
PAYLOADS = [
    (source, name, json.dumps(body).encode())
    for source, named in sorted(SOURCES.items())
    for name, body in sorted(named.items())
    if isinstance(body, dict) and "entry" in body
]
DATA_TABLES = (StatusRecord, AccountEvent, Template, Message, Media, Conversation, Contact)


@dataclass
class Databases:
    """The main database's sessions, and the events journal's (a file of its own on SQLite)."""

    main: async_sessionmaker[AsyncSession]
    events: async_sessionmaker[AsyncSession]


@pytest.fixture
def dbs(sessions: async_sessionmaker[AsyncSession], event_sessions: async_sessionmaker[AsyncSession]) -> Databases:
    return Databases(sessions, event_sessions)


def phone_numbers() -> dict[str, str]:
    """Every phone_number_id the payloads name, with a WABA id that names it."""
    found: dict[str, str] = {}
    for _, _, body in PAYLOADS:
        for entry in json.loads(body)["entry"]:
            for change in entry.get("changes", []):
                value = change.get("value")
                if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
                    found.setdefault(str(value["metadata"]["phone_number_id"]), str(entry.get("id")))
    return found


@pytest.fixture
async def all_accounts(sessions: async_sessionmaker[AsyncSession], vault: Vault, account: Account) -> dict[str, int]:
    ids = {account.phone_number_id or "": account.id}
    async with db.transaction(sessions) as session:
        for number, waba in phone_numbers().items():
            if number not in ids:
                row = await accounts.upsert_meta(
                    session,
                    vault,
                    name=number,
                    phone_number_id=number,
                    waba_id=waba,
                    credentials=accounts.Credentials("token", APP_SECRET, None),
                )
                ids[number] = row.id
    return ids


async def wipe(dbs: Databases) -> None:
    async with db.transaction(dbs.main) as session:
        await session.execute(sa.update(Message).values(media_id=None))
        for table in DATA_TABLES:
            await session.execute(sa.delete(table))
    async with db.transaction(dbs.events) as session:
        await session.execute(sa.delete(WebhookEvent))


async def post_and_process(anon: httpx.AsyncClient, dbs: Databases, body: bytes) -> None:
    headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, body), "Content-Type": "application/json"}
    response = await anon.post("/webhooks/meta", content=body, headers=headers)
    assert response.status_code == 200, response.text
    while await Processor(dbs.main, dbs.events).run_once():
        pass


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """The stored rows, without ids and insertion times (which differ between runs by nature; ``run_at``: when
    a media row was first due)."""
    skip = {
        "id",
        "created_at",
        "updated_at",
        "run_at",
        "received_at",
        "processed_at",
        "message_id",
        "media_id",
        "conversation_id",
        "contact_id",
        "body",
        "result",
        "dedupe_key",
    }
    shot = {}
    async with db.transaction(sessions) as session:
        for model in DATA_TABLES:
            columns = [c for c in model.__table__.columns if c.name not in skip]
            rows = (await session.execute(sa.select(*columns))).all()
            shot[model.__tablename__] = sorted(
                tuple(json.dumps(v, sort_keys=True, default=str) for v in r) for r in rows
            )
    return shot


async def check_rows(dbs: Databases, ids: dict[str, int], parsed: ParsedWebhook, label: str) -> None:
    async with db.transaction(dbs.events) as session:
        results = (await session.scalars(sa.select(WebhookEvent.result))).all()
    assert results and all(r and r.startswith("ok") for r in results), (label, results)
    sessions = dbs.main
    async with db.transaction(sessions) as session:
        touched = {m.target for m in parsed.messages if m.type in (MessageType.EDIT, MessageType.REVOKE)}
        seen: set[tuple[int, str]] = set()
        for m in parsed.messages:
            key = (ids[m.phone_number_id], m.provider_id)
            if key in seen:
                continue  # the same wamid twice in one payload is one message
            seen.add(key)
            row = (
                await session.scalars(sa.select(Message).where(Message.account_id == key[0], Message.wamid == key[1]))
            ).one()
            contact = await session.get(Contact, row.contact_id)
            assert contact is not None
            assert (row.type, row.direction) == (m.type.value, m.direction.value), label
            assert row.status == ("received" if m.direction is Direction.INBOUND else "sent"), label
            if m.new_wa_id:
                assert contact.wa_id == m.new_wa_id and m.contact.wa_id in (contact.previous_wa_ids or []), label
            elif m.contact.wa_id:
                assert contact.wa_id == m.contact.wa_id, label
            if m.contact.user_id:
                assert contact.user_id == m.contact.user_id, label
            if m.provider_id not in touched:
                assert row.content == m.content, label
            assert row.raw == m.raw, label
            assert (row.reply_to_wamid, row.target_wamid, row.group_id) == (m.reply_to, m.target, m.group_id), label
            assert row.provider_timestamp == m.timestamp, label
            if m.media is not None:
                media = await session.get(Media, row.media_id)
                assert media is not None, label
                assert (media.provider_media_id, media.mime_type, media.sha256, media.state) == (
                    m.media.media_id,
                    m.media.mime_type,
                    m.media.sha256,
                    "pending",
                ), label
        for s in parsed.statuses:
            who = s.participant if s.participant is not None else s.recipient
            record = (
                await session.scalars(
                    sa.select(StatusRecord).where(
                        StatusRecord.account_id == ids[s.phone_number_id],
                        StatusRecord.wamid == s.provider_id,
                        StatusRecord.status == s.status.value,
                        StatusRecord.recipient == (who.wa_id or who.user_id or ""),
                    )
                )
            ).one()
            assert record.error_code == (s.errors[0].code if s.errors else None), label
            assert (record.pricing, record.conversation, record.raw) == (s.pricing, s.conversation, s.raw), label
        fields = Counter((await session.scalars(sa.select(AccountEvent.field))).all())
        expected = Counter(e.field for e in parsed.account_events)
        expected.update("user_preferences" for _ in parsed.preferences)
        expected.update("errors" for _ in parsed.errors)
        # Identical changes in one payload are one event.
        assert set(fields) == set(expected) and sum(fields.values()) <= sum(expected.values()), label
        for pref in parsed.preferences:
            contact = (
                await session.scalars(
                    sa.select(Contact).where(
                        sa.or_(Contact.wa_id == pref.contact.wa_id, Contact.user_id == pref.contact.user_id)
                    )
                )
            ).first()
            assert contact is not None and contact.marketing_preference is not None, label


async def test_every_payload_is_stored_field_by_field_and_twice_is_once(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    dbs: Databases,
    all_accounts: dict[str, int],
) -> None:
    assert len(PAYLOADS) >= 90
    for source, name, body in PAYLOADS:
        label = f"{source}/{name}"
        await wipe(dbs)
        await post_and_process(anon, dbs, body)
        await check_rows(dbs, all_accounts, meta.parse(body), label)
        once = await snapshot(sessions)
        await wipe(dbs)
        await post_and_process(anon, dbs, body)
        await post_and_process(anon, dbs, body)
        assert await snapshot(sessions) == once, label


async def test_template_and_quality_events_update_what_they_concern(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    dbs: Databases,
    all_accounts: dict[str, int],
) -> None:
    approved = json.dumps(SOURCES["template_status_update"]["approved"]).encode()
    await post_and_process(anon, dbs, approved)
    quality = json.loads(approved)
    quality["entry"][0]["changes"][0] = {
        "field": "message_template_quality_update",
        "value": {
            "previous_quality_score": "GREEN",
            "new_quality_score": "YELLOW",
            "message_template_id": 1689556908129832,
            "message_template_name": "order_confirmation",
            "message_template_language": "en_US",
        },
    }
    await post_and_process(anon, dbs, json.dumps(quality).encode())
    async with db.transaction(sessions) as session:
        template = (await session.scalars(sa.select(Template))).one()
    assert (template.name, template.language, template.status, template.category, template.quality) == (
        "order_confirmation",
        "en_US",
        "APPROVED",
        "UTILITY",
        "YELLOW",
    )
    assert template.waba_id == "102290129340398"
