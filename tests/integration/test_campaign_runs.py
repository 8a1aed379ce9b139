"""Campaigns running against fakegraph: a worker (processor, sender, and the campaign runner in the sender's
loop) sends each recipient one message; opted-out contacts are skipped; pause holds what no sender has taken and
resume finishes; a template Meta pauses mid-campaign stops the rest with the reason; Meta's marketing-limit
failures (131049, 131050) are skipped with the reason, 131050 opting the contact out; the results CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakegraph.templates import TEMPLATES
from tests.integration.conftest import WABA_ID, OpenWindow
from tests.support import eventually
from wahub.api.context import AppContext
from wahub.automations.campaigns import CampaignRunner
from wahub.domain import ContactRef
from wahub.provider import meta
from wahub.provider.graph import GraphClient
from wahub.store import audiences, contacts, db, outbox, templates
from wahub.store.models import Account, CampaignRecipient, Contact, OutboxJob, utcnow
from wahub.worker import ratelimit, runner
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

HELLO = {"name": "hello_world", "language": "en_US"}


def _numbers(count: int, first: int = 14155551000) -> list[str]:
    return [f"+{first + n}" for n in range(count)]


@pytest.fixture(autouse=True)
async def _templates(sessions: async_sessionmaker[AsyncSession], account: Account) -> None:
    async with db.transaction(sessions) as session:
        await templates.upsert_many(session, WABA_ID, TEMPLATES)


@pytest.fixture
async def graph(graph_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """fakegraph's control API (what it received, faults, template status)."""
    async with httpx.AsyncClient(base_url=graph_url) as c:
        yield c


@asynccontextmanager
async def running(ctx: AppContext, graph_url: str, rate: int) -> AsyncIterator[None]:
    """A worker as ``wahub serve`` runs one: processor, sender at ``rate`` a second, the campaigns in its loop."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        providers = meta.providers(GraphClient(http, graph_url, "v25.0"))
        pairs = ratelimit.PairPacer(interval=0.001, burst=1_000_000)
        sender = Sender(ctx.sessions, providers, ctx.vault, send_rate=rate, pairs=pairs, storage=ctx.storage)
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
        runner = CampaignRunner(ctx.sessions, send_rate=rate)
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, sender=sender, campaigns=runner).run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


async def _create(client: httpx.AsyncClient, numbers: list[str], **extra: Any) -> int:
    body = {"name": "Run", "template": HELLO, "audience": {"numbers": numbers}, **extra}
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _received(graph: httpx.AsyncClient, numbers: list[str]) -> Counter[str]:
    """How many messages fakegraph accepted for each of ``numbers``."""
    wanted = {n.lstrip("+") for n in numbers}
    data = (await graph.get("/_fake/messages")).json()["data"]
    return Counter(m["to"] for m in data if m["to"] in wanted)


async def _campaign(client: httpx.AsyncClient, campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _in_state(client: httpx.AsyncClient, campaign_id: int, state: str) -> Callable[[], Any]:
    async def check() -> dict[str, Any] | None:
        found = await _campaign(client, campaign_id)
        return found if found["state"] == state else None

    return check


async def _jobs(sessions: async_sessionmaker[AsyncSession], campaign_id: int, state: str) -> int:
    async with sessions() as session:
        mine = sa.select(CampaignRecipient.message_id).where(CampaignRecipient.campaign_id == campaign_id)
        stmt = sa.select(sa.func.count()).where(OutboxJob.state == state, OutboxJob.message_id.in_(mine))
        return int(await session.scalar(stmt) or 0)


async def _sentinel_sent(client: httpx.AsyncClient, graph: httpx.AsyncClient, open_window: OpenWindow) -> None:
    """A message queued now, and sent: the sender and the runner before it have gone round since (had the
    campaign's held messages been due, they were older and would have been sent first)."""
    await open_window("14155550101")
    text = {"to": "+14155550101", "type": "text", "text": {"body": "sentinel"}}
    assert (await client.post("/api/v1/messages", json=text)).status_code == 202
    await eventually(lambda: _received(graph, ["+14155550101"]), timeout=20)


async def test_each_recipient_gets_one_message_and_an_opted_out_one_is_skipped(
    ctx: AppContext,
    graph_url: str,
    graph: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    numbers = _numbers(40)
    campaign_id = await _create(client, numbers)
    async with db.transaction(sessions) as session:  # opts out after the campaign was made: checked when queued
        stopped = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=numbers[7].lstrip("+")))
        audiences.opt_out(stopped, utcnow(), audiences.Source.API)
    assert (await client.post(f"/api/v1/campaigns/{campaign_id}/start")).json()["state"] == "running"
    async with running(ctx, graph_url, rate=200):
        done = await eventually(_in_state(client, campaign_id, "completed"), timeout=30)

        async def settled() -> dict[str, int] | None:
            totals: dict[str, int] = (await _campaign(client, campaign_id))["totals"]
            return totals if totals["sent"] + totals["delivered"] + totals["read"] == 39 else None

        totals = await eventually(settled, timeout=20)
    assert done["finished_at"] and done["started_at"]
    assert totals["recipients"] == 40 and totals["skipped"] == 1 and totals["pending"] == totals["queued"] == 0
    received = await _received(graph, numbers)
    assert set(received) == {n.lstrip("+") for n in numbers if n != numbers[7]}
    assert set(received.values()) == {1}
    page = (await client.get(f"/api/v1/campaigns/{campaign_id}/recipients", params={"result": "skipped"})).json()
    (skipped,) = page["items"]
    assert skipped["number"] == numbers[7] and "opted out" in skipped["reason"] and skipped["message_id"] is None

    export = await client.get(f"/api/v1/campaigns/{campaign_id}/results.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["number"] for r in rows] == numbers
    by_number = {r["number"]: r for r in rows}
    assert by_number[numbers[7]]["result"] == "skipped" and "opted out" in by_number[numbers[7]]["reason"]
    sent = by_number[numbers[0]]
    assert sent["result"] in ("sent", "delivered", "read") and sent["wamid"].startswith("wamid.")
    assert sent["message_id"].isdigit() and sent["queued_at"] and sent["sent_at"]


async def test_a_campaign_completes_when_its_last_results_are_written_not_at_the_next_poll(
    ctx: AppContext,
    graph_url: str,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker's loops look for work by themselves only once a minute here: the sender's loop, idle once the
    # last sends are on the wire, must be woken by their results being written for the campaign to complete.
    monkeypatch.setattr(runner, "POLL_SECONDS", 60.0)
    campaign_id = await _create(client, _numbers(5))
    assert (await client.post(f"/api/v1/campaigns/{campaign_id}/start")).json()["state"] == "running"
    async with running(ctx, graph_url, rate=200):
        done = await eventually(_in_state(client, campaign_id, "completed"), timeout=15)
    assert done["totals"]["recipients"] == 5 and done["totals"]["pending"] == 0


async def test_pause_stops_new_sends_and_resume_finishes_each_once(
    ctx: AppContext,
    graph_url: str,
    graph: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    numbers = _numbers(30)
    campaign_id = await _create(client, numbers)
    base = f"/api/v1/campaigns/{campaign_id}"
    await client.post(f"{base}/start")
    async with running(ctx, graph_url, rate=10):  # 30 recipients take 3 s: the pause lands mid-run
        await eventually(lambda: _count_at_least(graph, numbers, 3), timeout=20)
        paused = await client.post(f"{base}/pause")
        assert paused.status_code == 200 and paused.json()["state"] == "paused"
        # Once the pause answered, only what a sender had claimed may still go out: read the claims first, then
        # what fakegraph has (a claim settled in between was received before it settled).
        claimed = await _jobs(sessions, campaign_id, outbox.JobState.RUNNING.value)
        before = sum((await _received(graph, numbers)).values())
        await eventually(lambda: _none_running(sessions, campaign_id), timeout=20)
        await _sentinel_sent(client, graph, open_window)
        after = sum((await _received(graph, numbers)).values())
        assert after <= before + claimed and after < len(numbers)
        assert await _jobs(sessions, campaign_id, outbox.JobState.HELD.value) > 0
        assert (await _campaign(client, campaign_id))["totals"]["pending"] > 0  # the runner queued no more

        assert (await client.post(f"{base}/resume")).json()["state"] == "running"
        await eventually(_in_state(client, campaign_id, "completed"), timeout=30)
    received = await _received(graph, numbers)
    assert len(received) == len(numbers) and set(received.values()) == {1}


async def _count_at_least(graph: httpx.AsyncClient, numbers: list[str], count: int) -> bool:
    return sum((await _received(graph, numbers)).values()) >= count


async def _none_running(sessions: async_sessionmaker[AsyncSession], campaign_id: int) -> bool:
    return await _jobs(sessions, campaign_id, outbox.JobState.RUNNING.value) == 0


async def test_a_template_paused_by_meta_mid_campaign_stops_the_remaining_sends_with_the_reason(
    ctx: AppContext,
    graph_url: str,
    graph: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    numbers = _numbers(30, first=14155552000)
    campaign_id = await _create(client, numbers)
    base = f"/api/v1/campaigns/{campaign_id}"
    await client.post(f"{base}/start")
    async with running(ctx, graph_url, rate=10):
        await eventually(lambda: _count_at_least(graph, numbers, 3), timeout=20)
        changed = await graph.post("/_fake/templates/status", json={**HELLO, "status": "PAUSED"})
        assert changed.status_code == 200, changed.text
        stopped = await eventually(_in_state(client, campaign_id, "paused"), timeout=20)
        assert "hello_world" in stopped["stopped_reason"] and "PAUSED" in stopped["stopped_reason"]
        await eventually(lambda: _none_running(sessions, campaign_id), timeout=20)
        await _sentinel_sent(client, graph, open_window)
        received = await _received(graph, numbers)
        async with sessions() as session:  # every message fakegraph got was sent by wahub, and no other
            mine = sa.select(CampaignRecipient.message_id).where(CampaignRecipient.campaign_id == campaign_id)
            done = await session.scalar(
                sa.select(sa.func.count()).where(OutboxJob.state == "done", OutboxJob.message_id.in_(mine))
            )
        assert sum(received.values()) == done and set(received.values()) == {1}
        totals = (await _campaign(client, campaign_id))["totals"]
        assert totals["pending"] > 0 and sum(received.values()) < len(numbers)
        assert totals["queued"] == 0 and totals["skipped"] > 0  # what was queued and not taken was cancelled
        page = (await client.get(f"{base}/recipients", params={"result": "skipped"})).json()
        assert all("PAUSED" in r["reason"] for r in page["items"])
        refused = await client.post(f"{base}/resume")
        assert refused.status_code == 409 and "PAUSED" in refused.json()["error"]["message"]


@pytest.mark.parametrize("code", [131049, 131050])
async def test_meta_s_marketing_limits_show_as_skipped_with_the_reason(
    ctx: AppContext,
    graph_url: str,
    graph: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    code: int,
) -> None:
    faults = {"failed_status_rate": 1.0, "failed_status_code": code}
    assert (await graph.post("/_fake/faults", json=faults)).status_code == 200
    numbers = _numbers(2, first=14155553000)
    campaign_id = await _create(client, numbers)
    await client.post(f"/api/v1/campaigns/{campaign_id}/start")
    async with running(ctx, graph_url, rate=50):

        async def all_skipped() -> dict[str, int] | None:
            totals: dict[str, int] = (await _campaign(client, campaign_id))["totals"]
            return totals if totals["skipped"] == 2 else None

        totals = await eventually(all_skipped, timeout=20)
    assert totals["failed"] == 0
    page = (await client.get(f"/api/v1/campaigns/{campaign_id}/recipients")).json()
    assert all(r["result"] == "skipped" and str(code) in r["reason"] for r in page["items"])
    async with sessions() as session:
        found = (await session.scalars(sa.select(Contact).where(Contact.wa_id == numbers[0].lstrip("+")))).one()
    if code == 131050:  # the user stopped marketing messages: opted out, as Meta's own preference webhook does
        assert found.opted_out_at is not None and found.opt_out_source == "meta"
    else:
        assert found.opted_out_at is None
