"""Inbound media end to end: fakegraph's user sends an image, a voice note, the same image again and a
tampered file; wahub's webhook, processor and media fetcher store the good ones (once per content) with
Meta's SHA-256, and refuse the tampered one without storing anything."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import BUCKET
from tests.support import eventually, prometheus_samples
from wahub.api.context import AppContext
from wahub.provider import meta
from wahub.provider.base import hex_sha256
from wahub.provider.graph import GraphClient
from wahub.storage import opendal_store
from wahub.storage.base import BlobStore, content_key
from wahub.store import db, media
from wahub.store.models import Media, Message
from wahub.wakeups import Channel
from wahub.worker.media_fetcher import MediaFetcher
from wahub.worker.processor import Processor
from wahub.worker.runner import FOLLOWER_IDLE_SECONDS, Worker


@pytest.fixture
def store(ctx: AppContext) -> BlobStore:
    """The app's own storage (a folder under the test's data dir), so the API serves what the fetcher stored."""
    return ctx.storage


@pytest.fixture
async def media_worker(ctx: AppContext, graph_url: str, store: BlobStore) -> AsyncIterator[None]:
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        fetcher = MediaFetcher(
            ctx.sessions, meta.providers(GraphClient(http, graph_url, "v25.0")), ctx.vault, store, ctx.tally
        )
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, media=fetcher).run(stop))
        yield
        stop.set()
        await task


async def send_media(graph_url: str, sender: str, kind: str, data: bytes, **extra: object) -> str:
    body = {"from": sender, "type": kind, "content_base64": base64.b64encode(data).decode(), **extra}
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        response = await fake.post("/_fake/inbound", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["wamid"] if "wamid" in response.json() else response.json()["id"])


async def media_of(sessions: async_sessionmaker[AsyncSession], wamid: str) -> Media | None:
    async with db.transaction(sessions) as session:
        row = (
            await session.execute(
                sa.select(Media).join(Message, Message.media_id == Media.id).where(Message.wamid == wamid)
            )
        ).scalar_one_or_none()
        return row


async def settled(sessions: async_sessionmaker[AsyncSession], wamid: str) -> Media:
    return await settled_within(sessions, wamid, 20)


async def settled_within(sessions: async_sessionmaker[AsyncSession], wamid: str, timeout: float) -> Media:
    async def done() -> Media | None:
        item = await media_of(sessions, wamid)
        return item if item is not None and item.state in ("stored", "failed") else None

    result: Media = await eventually(done, timeout=timeout, interval=0.2)
    return result


async def test_media_is_stored_verified_once_per_content_and_a_tampered_file_is_refused(
    media_worker: None,
    graph_url: str,
    sessions: async_sessionmaker[AsyncSession],
    store: BlobStore,
    client: httpx.AsyncClient,
) -> None:
    image = os.urandom(300_000)
    voice = os.urandom(50_000)
    first = await send_media(graph_url, "14155550101", "image", image, mime_type="image/jpeg")
    note = await send_media(graph_url, "14155550101", "audio", voice, mime_type="audio/ogg", voice=True)
    again = await send_media(graph_url, "14155550102", "image", image, mime_type="image/jpeg")
    bad = await send_media(graph_url, "14155550102", "document", os.urandom(10_000), tamper=True, filename="x.pdf")

    image_hex, voice_hex = hashlib.sha256(image).hexdigest(), hashlib.sha256(voice).hexdigest()
    stored_image = await settled(sessions, first)
    assert (stored_image.state, stored_image.sha256, stored_image.size) == ("stored", image_hex, len(image))
    assert stored_image.storage_key == content_key(image_hex)
    assert b"".join([c async for c in store.read(content_key(image_hex))]) == image
    stored_voice = await settled(sessions, note)
    assert (stored_voice.state, stored_voice.sha256, stored_voice.mime_type) == ("stored", voice_hex, "audio/ogg")

    second = await settled(sessions, again)
    assert second.id != stored_image.id and second.storage_key == stored_image.storage_key  # one blob, two rows

    refused = await settled(sessions, bad)
    assert refused.state == "failed" and refused.error is not None and "SHA-256 mismatch" in refused.error
    assert refused.storage_key is None
    claimed = hex_sha256(refused.sha256)
    assert claimed is not None
    assert await store.size(content_key(claimed)) is None  # the tampered bytes were never kept
    shown = (await client.get(f"/api/v1/media/{refused.id}")).json()
    assert shown["state"] == "failed" and shown["download_url"] is None  # and are never served

    metrics = (await client.get("/metrics")).text
    samples = prometheus_samples(metrics)
    assert samples["wahub_media", 'state="stored"'] == 3 and samples["wahub_media", 'state="failed"'] == 1
    assert samples["wahub_media_bytes", 'state="stored"'] == 2 * len(image) + len(voice)
    assert "# TYPE wahub_webhook_events_waiting gauge" in metrics

    # wahub media retry: the failed one is fetched again (and, still tampered, fails again with the reason).
    async with db.transaction(sessions) as session:
        assert await media.retry_failed(session) == 1
        assert await media.retry_failed(session) == 0  # it is pending now, no longer failed

    async def failed_again() -> Media | None:
        item = await media_of(sessions, bad)
        return item if item is not None and item.state == "failed" and item.attempts == 1 else None

    again_refused = await eventually(failed_again, timeout=20)
    assert "SHA-256 mismatch" in again_refused.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a" * 64, "a" * 64),
        (base64.b64encode(bytes(range(32))).decode(), bytes(range(32)).hex()),
        ("not a hash", None),
        (None, None),
    ],
)
def test_metas_sha256_in_hex_or_base64(value: str | None, expected: str | None) -> None:
    assert hex_sha256(value) == expected


async def test_a_stored_file_is_served_by_a_short_lived_link_with_byte_ranges(
    media_worker: None,
    graph_url: str,
    sessions: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
) -> None:
    audio = os.urandom(200_000)
    wamid = await send_media(graph_url, "14155550101", "audio", audio, mime_type="audio/ogg", voice=True)
    item = await settled(sessions, wamid)
    meta = (await client.get(f"/api/v1/media/{item.id}")).json()
    assert (meta["state"], meta["size"], meta["mime_type"]) == ("stored", len(audio), "audio/ogg")
    assert meta["sha256"] == hashlib.sha256(audio).hexdigest() and meta["download_expires_in"] == 300
    link = meta["download_url"]

    whole = await anon.get(link)  # no API key: the link is the credential
    assert whole.status_code == 200 and whole.content == audio
    assert whole.headers["content-type"] == "audio/ogg" and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"].startswith("inline")
    part = await anon.get(link, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == audio[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(audio)}"
    tail = await anon.get(link, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == audio[-10:]
    assert (await anon.get(link, headers={"Range": f"bytes={len(audio)}-"})).status_code == 416

    forged = link.replace("sig=", "sig=x")
    assert (await anon.get(forged)).status_code == 401
    other = link.replace(f"/media/{item.id}/", f"/media/{item.id + 1}/")  # the signature names one file
    assert (await anon.get(other)).status_code == 401
    expired = link.split("?")[0] + "?expires=1&sig=" + link.split("sig=")[1]
    assert (await anon.get(expired)).status_code == 401
    assert (await anon.get(f"/api/v1/media/{item.id}")).status_code == 401  # metadata needs an API key
    assert (await client.get("/api/v1/media/999999")).status_code == 404


@pytest.fixture
def s3_store(ctx: AppContext, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> BlobStore:
    """The app's storage is S3 (moto's server on 127.0.0.1)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    ctx.storage = opendal_store.from_url(f"s3://{BUCKET}/media?endpoint={moto_url}&region=us-east-1")
    return ctx.storage


async def test_an_image_a_voice_note_and_a_100_mb_document_end_stored_in_s3_with_metas_sha256(
    s3_store: BlobStore, ctx: AppContext, graph_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        fetcher = MediaFetcher(ctx.sessions, meta.providers(GraphClient(http, graph_url, "v25.0")), ctx.vault, s3_store)
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events))
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, media=fetcher).run(stop))
        try:
            files = {
                "image": (os.urandom(400_000), {"mime_type": "image/jpeg"}),
                "audio": (os.urandom(120_000), {"mime_type": "audio/ogg", "voice": True}),
                "document": (os.urandom(100 * 1024 * 1024), {"mime_type": "application/pdf", "filename": "big.pdf"}),
            }
            sent = {
                kind: await send_media(graph_url, "14155550101", kind, data, **extra)
                for kind, (data, extra) in files.items()
            }
            for kind, wamid in sent.items():
                data = files[kind][0]
                item = await settled_within(sessions, wamid, 120)
                assert (item.state, item.size, item.sha256) == ("stored", len(data), hashlib.sha256(data).hexdigest())
                assert await s3_store.size(content_key(item.sha256)) == len(data)
                head = b"".join([c async for c in s3_store.read(content_key(item.sha256), 0, 4096)])
                assert head == data[:4096], kind
        finally:
            stop.set()
            await task


async def test_a_failed_download_is_retried_with_a_fresh_url_until_stored(
    media_worker: None, graph_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        assert (await fake.post("/_fake/faults", json={"http_5xx_rate": 1.0})).status_code == 200
        wamid = await send_media(graph_url, "14155550101", "image", os.urandom(50_000), mime_type="image/png")

        async def failed_once() -> Media | None:
            item = await media_of(sessions, wamid)
            return item if item is not None and item.state == "pending" and item.attempts >= 1 else None

        waiting = await eventually(failed_once, timeout=20)
        assert waiting.error is not None and waiting.error.startswith("Meta:")  # kept, to be tried again
        assert (await fake.delete("/_fake/faults")).status_code == 200
        stored = await settled_within(sessions, wamid, 30)
        asked = (await fake.get("/_fake/requests")).json()["data"]
    assert stored.state == "stored" and stored.attempts >= 2
    # Every try asked Meta for the media's URL again (it lives 5 minutes), rather than reusing an old one.
    media_calls = [r for r in asked if r["method"] == "GET" and r["path"].endswith(stored.provider_media_id)]
    assert len(media_calls) >= 2


async def test_webhooks_pouring_in_wake_the_media_fetcher_but_it_looks_at_most_every_quarter_second(
    ctx: AppContext, graph_url: str, store: BlobStore
) -> None:
    """Every webhook wakes the media fetcher, but what it fetches appears only once the processor (often another
    process) has applied the webhooks, and each look is a claim transaction (on SQLite, the write lock). While
    webhooks pour in, it looks at most every ``FOLLOWER_IDLE_SECONDS``: at 4,000 webhooks/s on PostgreSQL a look
    per wake-up took 29% of intake's process. Then it still fetches what the processor stored."""
    looks: list[float] = []

    def look(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.lstrip().startswith("SELECT media.id") and "LIMIT" in statement:
            looks.append(time.monotonic())

    engine = db.engine_of(ctx.sessions).sync_engine
    sa.event.listen(engine, "before_cursor_execute", look)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        fetcher = MediaFetcher(ctx.sessions, meta.providers(GraphClient(http, graph_url, "v25.0")), ctx.vault, store)
        task = asyncio.create_task(Worker(ctx.notifier, media=fetcher).run(stop))
        try:
            started = time.monotonic()
            while time.monotonic() - started < 1.0:  # a webhook every 5 ms, each waking the fetcher
                ctx.notifier.notify(Channel.EVENTS)
                await asyncio.sleep(0.005)
            seconds = time.monotonic() - started
            during = [t for t in looks if t <= started + seconds]
            assert 1 <= len(during) <= seconds / FOLLOWER_IDLE_SECONDS + 2, len(during)
            assert all(b - a >= FOLLOWER_IDLE_SECONDS * 0.9 for a, b in itertools.pairwise(during)), during

            processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
            data = os.urandom(20_000)
            wamid = await send_media(graph_url, "14155550101", "image", data, mime_type="image/png")
            await eventually(lambda: processor.run_once(), timeout=10)  # the webhook's event, applied here
            ctx.notifier.notify(Channel.EVENTS)
            item = await settled_within(ctx.sessions, wamid, 5)
            assert (item.state, item.size) == ("stored", len(data))
        finally:
            stop.set()
            await task
            sa.event.remove(engine, "before_cursor_execute", look)
