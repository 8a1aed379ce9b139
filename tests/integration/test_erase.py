"""Erasing a person, on SQLite and PostgreSQL: a contact who wrote texts, sent images (one file shared with
another contact), wrote in a group, was sent a message that Meta reported delivered, has a label, search
entries, subscriber webhook deliveries and raw webhook events (all through fakegraph's signed webhooks, the
processor and the media fetcher) is erased by an admin; afterwards no row, blob, search entry or journal body
holds their number, name or texts (SQLite: the files' bytes, after a checkpoint and VACUUM; PostgreSQL: every
text, JSON and bytea column), the statistics are what they were, and the other contact's data is untouched."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_roles import key_with
from tests.support import eventually
from wahub.api.context import AppContext
from wahub.provider import meta
from wahub.provider.graph import GraphClient
from wahub.storage.base import content_key
from wahub.store import db, users
from wahub.store.apikeys import Scope
from wahub.store.models import AuditRecord, Contact, Conversation, Media, Message, WebhookEvent
from wahub.worker import ratelimit
from wahub.worker.media_fetcher import MediaFetcher
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

NUMBER = "14155550177"
NAME = "Zelda Quixotefield"
OTHER = "14155550102"
GROUP = "120363025246125486"
# Words only the erased person's messages hold (lower case: the search index keeps words lower-cased).
TEXTS = ("zanzibarquux", "fjordmoxie", "grpsecretword", "outboundsecretword")
KEPT_TEXT = "keptwordofbo"


@asynccontextmanager
async def working(ctx: AppContext, graph_url: str) -> AsyncIterator[None]:
    """Processor, sender and media fetcher against fakegraph, stopped when the block ends."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        providers = meta.providers(GraphClient(http, graph_url, "v25.0"))
        pairs = ratelimit.PairPacer(interval=0.001, burst=1_000_000)
        sender = Sender(
            ctx.sessions, providers, ctx.vault, send_rate=80, pairs=pairs, storage=ctx.storage, tally=ctx.tally
        )
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
        fetcher = MediaFetcher(ctx.sessions, providers, ctx.vault, ctx.storage, ctx.tally)
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, sender=sender, media=fetcher).run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


async def inbound(graph_url: str, **body: Any) -> str:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        answer = await fake.post("/_fake/inbound", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["wamid"])


async def scalar(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> Any:
    async with sessions() as session:
        return await session.scalar(stmt)


async def stored(sessions: async_sessionmaker[AsyncSession], wamid: str) -> Message | None:
    return await scalar(sessions, sa.select(Message).where(Message.wamid == wamid))


async def build_the_person(
    client: httpx.AsyncClient, graph_url: str, sessions: async_sessionmaker[AsyncSession]
) -> tuple[int, bytes, bytes]:
    """The erased person's data and the other contact's; returns the contact id, the person's own image and
    the image both sent."""
    own_image, shared_image = os.urandom(20_000), os.urandom(30_000)
    await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/never", "events": []})
    wamids = [
        await inbound(graph_url, **{"from": NUMBER, "name": NAME, "text": f"hello {TEXTS[0]}"}),
        await inbound(
            graph_url,
            **{"from": NUMBER, "name": NAME, "type": "image", "mime_type": "image/jpeg", "caption": TEXTS[1]},
            content_base64=base64.b64encode(own_image).decode(),
        ),
        await inbound(
            graph_url,
            **{"from": NUMBER, "name": NAME, "type": "image", "mime_type": "image/jpeg"},
            content_base64=base64.b64encode(shared_image).decode(),
        ),
    ]
    in_group = await inbound(
        graph_url,
        **{"from": NUMBER, "name": NAME},
        message={"type": "text", "text": {"body": f"in the group {TEXTS[2]}"}, "group_id": GROUP},
    )
    reply = {"type": "text", "text": {"body": f"a reply {KEPT_TEXT}"}, "group_id": GROUP}
    reply["context"] = {"from": NUMBER, "id": in_group}
    others = [
        await inbound(graph_url, **{"from": OTHER, "name": "Bo"}, message=reply),
        await inbound(graph_url, **{"from": OTHER, "name": "Bo", "text": f"my own {KEPT_TEXT}"}),
        await inbound(
            graph_url,
            **{"from": OTHER, "name": "Bo", "type": "image", "mime_type": "image/jpeg"},
            content_base64=base64.b64encode(shared_image).decode(),
        ),
    ]
    for wamid in [*wamids, in_group, *others]:
        await eventually(lambda w=wamid: stored(sessions, w), timeout=20, interval=0.1)  # type: ignore[misc]
    for image in (own_image, shared_image):
        key = content_key(hashlib.sha256(image).hexdigest())
        await eventually(
            lambda k=key: scalar(sessions, sa.select(Media.id).where(Media.storage_key == k)),  # type: ignore[misc]
            timeout=20,
            interval=0.1,
        )
    contact_id = int(await scalar(sessions, sa.select(Contact.id).where(Contact.wa_id == NUMBER)))
    sent = await client.post(
        "/api/v1/messages", json={"to": f"+{NUMBER}", "type": "text", "text": {"body": f"to you {TEXTS[3]}"}}
    )
    assert sent.status_code in (200, 201, 202), sent.text
    message_id = sent.json()["id"]

    async def delivered() -> bool:
        row = await scalar(sessions, sa.select(Message).where(Message.id == message_id))
        return row is not None and row.delivered_at is not None

    await eventually(delivered, timeout=20, interval=0.1)
    labelled = await client.post(f"/api/v1/contacts/{contact_id}/labels", json={"labels": ["vip customer"]})
    assert labelled.status_code == 200, labelled.text
    found = await client.get("/api/v1/search", params={"q": TEXTS[0]})
    assert found.status_code == 200 and TEXTS[0] in found.text, found.text
    return contact_id, own_image, shared_image


def needles() -> list[bytes]:
    return [NUMBER.encode(), NAME.encode(), *(t.encode() for t in TEXTS)]


def sqlite_leftovers(database_url: str) -> dict[str, list[bytes]]:
    """Which needles the SQLite files still hold, after a checkpoint and VACUUM of each."""
    main = Path(str(db.sqlite_path(database_url)))
    files = [main, Path(str(db.sqlite_path(db.events_url(database_url))))]
    for file in files:
        conn = db.connect_sqlite(str(file))
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    found: dict[str, list[bytes]] = {}
    for file in main.parent.iterdir():
        if file.name.startswith(main.stem):
            data = file.read_bytes()
            found[file.name] = [n for n in needles() if n in data]
    return found


def postgres_leftovers(database_url: str) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text, JSON, bytea or tsvector (the search index) column holding one."""
    url = db.sync_url(database_url).replace("postgresql+psycopg://", "postgresql://")
    hits = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea', 'tsvector')"
        ).fetchall()
        for table, column, kind in columns:
            for needle in needles():
                if kind == "bytea":
                    where = f'position(%s::bytea in "{column}") > 0'
                    arg: Any = needle
                else:
                    where = f'"{column}"::text LIKE %s'
                    arg = f"%{needle.decode()}%"
                if conn.execute(f'SELECT 1 FROM "{table}" WHERE {where} LIMIT 1', (arg,)).fetchone():
                    hits.append((table, column, needle.decode()))
    return hits


def storage_leftovers(root: Path, images: list[bytes]) -> list[str]:
    found = []
    for file in root.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            found += [f"{file.name}: {n.decode()}" for n in needles() if n in data]
            found += [f"{file.name}: image {i}" for i, image in enumerate(images) if data == image]
    return found


async def test_an_erased_person_leaves_no_trace_but_the_statistics_and_the_audit_record(
    ctx: AppContext,
    graph_url: str,
    client: httpx.AsyncClient,
    base_url: str,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    async with working(ctx, graph_url):
        contact_id, own_image, shared_image = await build_the_person(client, graph_url, sessions)
    stats_before = (await client.get("/api/v1/stats", params={"days": 30})).json()
    assert stats_before["total"] == 8
    bo_conversation = await scalar(
        sessions,
        sa.select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id).where(Contact.wa_id == OTHER),
    )
    others_before = (await client.get("/api/v1/messages", params={"conversation_id": bo_conversation})).json()
    assert len(others_before["items"]) == 2
    kept_before = (await client.get("/api/v1/search", params={"q": KEPT_TEXT})).json()
    assert len(kept_before["items"]) == 2  # Bo's own text, and Bo's reply in the group
    # What the checks below look for is there before (they could fail).
    if db.is_sqlite(database_url):
        before = sqlite_leftovers(database_url)
        assert set(before["wahub.db"]) == set(needles()), before
        assert NUMBER.encode() in before["wahub-events.db"] and TEXTS[0].encode() in before["wahub-events.db"]
    else:
        assert {needle for _, _, needle in postgres_leftovers(database_url)} == {n.decode() for n in needles()}
    journal_before = await scalar(event_sessions, sa.select(sa.func.count()).select_from(WebhookEvent))

    # Not an agent, not a key without the admin scope.
    async with db.transaction(sessions) as session:
        await users.add(session, "agent@example.com", "Agent", "agent", "an agent's password")
    async with httpx.AsyncClient(base_url=base_url) as agent:
        login = await agent.post(
            "/api/v1/auth/login", json={"email": "agent@example.com", "password": "an agent's password"}
        )
        agent.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        assert (await agent.post(f"/api/v1/contacts/{contact_id}/erase")).status_code == 403
    headers = await key_with(sessions, Scope.READ, Scope.SEND)
    assert (await client.post(f"/api/v1/contacts/{contact_id}/erase", headers=headers)).status_code == 403
    assert await scalar(sessions, sa.select(Contact.id).where(Contact.id == contact_id)) == contact_id

    erased = await client.post(f"/api/v1/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    counts = erased.json()["counts"]
    assert erased.json()["already"] is False
    assert counts["messages"] == 5 and counts["conversations"] == 1 and counts["labels"] == 1
    assert counts["blobs"] == 1 and counts["media"] == 2  # the shared file stays for the other contact
    assert counts["statuses"] >= 1 and counts["deliveries"] >= 4 and counts["journal_deleted"] >= 4
    assert counts["rewritten"] >= 1  # the other's reply that quoted the number

    again = await client.post(f"/api/v1/contacts/{contact_id}/erase")
    assert again.status_code == 200 and again.json()["already"] is True and again.json()["counts"] == counts
    assert (await client.get(f"/api/v1/contacts/{contact_id}")).status_code == 404

    stats_after = (await client.get("/api/v1/stats", params={"days": 30})).json()
    for period in (stats_before, stats_after):
        del period["since"], period["until"]
    assert stats_after == stats_before
    assert (await client.get("/api/v1/search", params={"q": TEXTS[0]})).json()["items"] == []
    others_after = (await client.get("/api/v1/messages", params={"conversation_id": bo_conversation})).json()
    assert others_after == others_before
    kept_after = (await client.get("/api/v1/search", params={"q": KEPT_TEXT})).json()
    assert [hit["message"]["id"] for hit in kept_after["items"]] == [
        hit["message"]["id"] for hit in kept_before["items"]
    ]
    assert await scalar(event_sessions, sa.select(sa.func.count()).select_from(WebhookEvent)) < journal_before

    async with sessions() as session:
        record = (await session.scalars(sa.select(AuditRecord))).one()
        bo = (await session.scalars(sa.select(Contact).where(Contact.wa_id == OTHER))).one()
        bo_image = await session.scalar(
            sa.select(Media.storage_key).where(
                Media.storage_key == content_key(hashlib.sha256(shared_image).hexdigest())
            )
        )
    assert (record.action, record.actor, record.subject_id) == ("contact.erase", "api key 1", contact_id)
    assert record.subject_hash is not None and NUMBER not in record.subject_hash and len(record.subject_hash) == 64
    assert bo.profile_name == "Bo" and bo_image is not None
    assert await ctx.storage.size(content_key(hashlib.sha256(own_image).hexdigest())) is None
    assert await ctx.storage.size(bo_image) == len(shared_image)

    if db.is_sqlite(database_url):
        leftovers = sqlite_leftovers(database_url)
        assert all(not found for found in leftovers.values()), leftovers
    else:
        assert postgres_leftovers(database_url) == []
    root = ctx.settings.storage_url.removeprefix("file://")
    assert storage_leftovers(Path(root), [own_image]) == []
