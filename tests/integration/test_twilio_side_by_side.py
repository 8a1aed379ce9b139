"""A Meta account and a Twilio account in one database, one worker, one API: one conversation list and one
stats endpoint over both, each message and conversation showing its provider; the same person writing to both
numbers has a conversation with each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from tests.integration.conftest import PHONE_NUMBER_ID, TWILIO_SENDER
from tests.support import eventually, running
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.api.routes import media as media_routes
from wahub.provider import base, meta, twilio
from wahub.provider.graph import GraphClient
from wahub.store import db
from wahub.store.models import Account
from wahub.worker import ratelimit
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

ADA = "14155550101"  # writes to both numbers


@pytest.fixture
async def base_url(ctx: AppContext, account: Account, twilio_account: Account) -> AsyncIterator[str]:
    async with running(create_app(ctx)) as url:
        yield url


@pytest.fixture
async def both_worker(
    ctx: AppContext, base_url: str, graph_url: str, twilio_url: str, pair_pacer: ratelimit.PairPacer
) -> AsyncIterator[None]:
    """One worker sending through both providers, as ``wahub serve`` wires it."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:

        def link(media_id: int) -> str:
            return base_url + media_routes.content_path(ctx.vault, media_id, 600)

        providers = base.by_provider(
            {
                "meta": meta.providers(GraphClient(http, graph_url, "v25.0")),
                "twilio": twilio.providers(twilio.TwilioClient(http, twilio_url), base_url, link),
            }
        )
        sender = Sender(ctx.sessions, providers, ctx.vault, send_rate=80, pairs=pair_pacer, tally=ctx.tally)
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, sender=sender).run(stop))
        yield
        stop.set()
        await task


async def test_one_conversation_list_and_one_stats_endpoint_over_a_meta_and_a_twilio_account(
    account: Account,
    twilio_account: Account,
    client: httpx.AsyncClient,
    both_worker: None,
    graph_url: str,
    twilio_url: str,
) -> None:
    async with httpx.AsyncClient() as fakes:
        assert (await fakes.post(f"{graph_url}/_fake/inbound", json={"from": ADA, "text": "hi Meta"})).is_success
        hello = {"from": ADA, "text": "hi Twilio"}
        assert (await fakes.post(f"{twilio_url}/_fake/inbound", json=hello)).json()["delivered"]

    async def both_in() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await client.get("/api/v1/conversations")).json()["items"]
        return items if len(items) == 2 else []

    conversations = await eventually(both_in)
    by_provider = {c["provider"]: c for c in conversations}
    assert by_provider.keys() == {"meta", "twilio"}
    assert by_provider["meta"]["account_id"] == account.id and by_provider["twilio"]["account_id"] == twilio_account.id
    assert {c["contact"]["wa_id"] for c in conversations} == {ADA} and all(c["window_open"] for c in conversations)

    ids = {}
    for sender in (PHONE_NUMBER_ID, TWILIO_SENDER):
        body = {"from": sender, "to": f"+{ADA}", "type": "text", "text": {"body": f"answer from {sender}"}}
        queued = await client.post("/api/v1/messages", json=body)
        assert queued.status_code == 202, queued.text
        ids[sender] = queued.json()["id"]

    async def both_read() -> list[dict[str, Any]]:
        found = [(await client.get(f"/api/v1/messages/{i}")).json() for i in ids.values()]
        return found if all(m["status"] == "read" for m in found) else []

    meta_sent, twilio_sent = await eventually(both_read, timeout=20)
    assert meta_sent["provider"] == "meta" and meta_sent["wamid"].startswith("wamid.")
    assert twilio_sent["provider"] == "twilio" and twilio_sent["wamid"].startswith("SM")
    listed = (await client.get("/api/v1/messages", params={"limit": 10})).json()["items"]
    assert sorted((m["provider"], m["direction"]) for m in listed) == [
        ("meta", "inbound"), ("meta", "outbound"), ("twilio", "inbound"), ("twilio", "outbound"),
    ]  # fmt: skip
    for m in listed:
        assert m["conversation_id"] == by_provider[m["provider"]]["id"]
    stats = (await client.get("/api/v1/stats")).json()
    assert stats["total"] == 4 and stats["by_provider"] == {"meta": 2, "twilio": 2}
    assert stats["conversations"] == 2 and stats["outbound"]["read"] == 2
