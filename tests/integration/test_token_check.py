"""The worker's daily look at the access tokens, on a clock the test moves, against fakegraph's debug_token: a
token lapsing in exactly seven days is warned about (not at eight) in /readyz, ``wahub monitor`` and one
``account.event`` to subscribers, once per token; a lapsed one pauses sending as Meta's 190 does; and a token
revoked at fakegraph pauses the account after one refused send, nothing else sent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID, OpenWindow
from tests.integration.test_send_flow import OTHER_NUMBER_ID, TEXT
from tests.integration.test_subscriber_webhooks import Subscriber, subscriber  # noqa: F401 - a fixture
from tests.support import eventually
from wahub.api.context import AppContext
from wahub.domain import ContactRef
from wahub.provider.graph import GraphClient
from wahub.store import accounts, contacts, conversations, db, monitor, outbox, subscriber_webhooks
from wahub.store.crypto import Vault
from wahub.store.models import Account, AccountEvent, WebhookDelivery, utcnow
from wahub.worker.deliverer import Deliverer
from wahub.worker.runner import Worker
from wahub.worker.token_check import TokenChecker


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def graph(graph_url: str) -> AsyncIterator[GraphClient]:
    async with aiohttp.ClientSession() as http:
        yield GraphClient(http, graph_url, "v25.0")


async def set_token(graph_url: str, **grant: Any) -> None:
    """Tell fakegraph what the account's token is now (its type, expiry, revocation)."""
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        answer = await fake.post("/_fake/tokens", json={"token": ACCESS_TOKEN, **grant})
        assert answer.status_code == 200, answer.text


async def stored(sessions: async_sessionmaker[AsyncSession]) -> Account:
    async with db.transaction(sessions) as session:
        found = await accounts.by_phone_number_id(session, PHONE_NUMBER_ID)
        assert found is not None
        return found


async def counted(sessions: async_sessionmaker[AsyncSession], table: Any) -> int:
    async with db.transaction(sessions) as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_a_token_is_warned_about_seven_days_before_it_lapses_once_then_paused(
    ctx: AppContext,
    account: Account,
    anon: httpx.AsyncClient,
    graph_url: str,
    graph: GraphClient,
    subscriber: Subscriber,  # noqa: F811 - the fixture imported above
    vault: Vault,
) -> None:
    lapses = datetime.fromtimestamp(int(time.time()) + 30 * 86400, UTC)  # a user token, 30 days left
    await set_token(graph_url, type="USER", expires_at=int(lapses.timestamp()))
    async with db.transaction(ctx.sessions) as session:
        sealed = subscriber_webhooks.seal(vault, subscriber_webhooks.new_secret())
        await subscriber_webhooks.subscribe(session, subscriber.url, ["account.event"], "ops", sealed)
    clock = Clock(lapses - timedelta(days=8))
    ctx.clock = clock  # /readyz reckons at the same time
    checker = TokenChecker(ctx.sessions, graph, vault, clock=clock, every=0.05)

    # Eight days before: Meta is asked, the expiry kept, nothing warned.
    assert await checker.run_once() == 1
    kept = await stored(ctx.sessions)
    assert (kept.token_type, kept.token_expires_at, kept.token_checked_at) == ("USER", lapses, clock.now)
    assert await counted(ctx.sessions, AccountEvent) == 0 and await counted(ctx.sessions, WebhookDelivery) == 0
    ready = (await anon.get("/readyz")).json()
    assert ready["status"] == "ok" and "warnings" not in ready
    async with ctx.readers() as session, ctx.readers() as events:
        assert (await monitor.snapshot(session, events, now=clock.now)).warnings == []

    # Exactly seven days before: the worker's check (on the deliverer's loop) warns, and the warning is delivered.
    clock.now = lapses - timedelta(days=7)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        deliverer = Deliverer(ctx.sessions, http, vault, base_delay=0.0, timeout=5, tally=ctx.tally)
        task = asyncio.create_task(Worker(ctx.notifier, deliverer=deliverer, tokens=checker).run(stop))
        try:
            [event] = await eventually(lambda: _events(subscriber), timeout=20)
            assert event["event"] == "account.event" and event["data"]["field"] == "access_token"
            assert event["data"]["value"] == {
                "event": "ACCESS_TOKEN_EXPIRING",
                "phone_number_id": PHONE_NUMBER_ID,
                "expires_at": lapses.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "token_type": "USER",
            }
            ready = (await anon.get("/readyz")).json()
            assert ready["status"] == "ok" and "sending_paused" not in ready
            [warning] = ready["warnings"]
            assert (warning["account"], warning["code"]) == (PHONE_NUMBER_ID, "access_token_expiring")
            assert warning["expires_at"] == lapses.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert f"{lapses:%Y-%m-%d}" in warning["message"] and "in 7 days" in warning["message"]
            async with ctx.readers() as session, ctx.readers() as events:
                snap = await monitor.snapshot(session, events, now=clock.now)
            shown = json.loads(monitor.as_json(snap))["warnings"]
            assert [(w["account"], w["expires_at"]) for w in shown] == [(PHONE_NUMBER_ID, warning["expires_at"])]
            assert f"the access token of account {PHONE_NUMBER_ID}" in monitor.render(snap)

            # A day later the daily check asks Meta again, and warns no more: one warning per token.
            clock.now += timedelta(days=1)
            await eventually(lambda: _checked_at(ctx.sessions, clock.now), timeout=20)
            await eventually(lambda: _no_delivery_pending(ctx.sessions), timeout=20)
            assert len(subscriber.received) == 1 and await counted(ctx.sessions, AccountEvent) == 1

            # Past its time: sending pauses, as for Meta's 190, and subscribers hear it once.
            clock.now = lapses + timedelta(seconds=1)
            second = await eventually(lambda: _events(subscriber, 2), timeout=20)
            assert second[1]["data"]["value"]["event"] == "ACCESS_TOKEN_EXPIRED"
        finally:
            stop.set()
            await task
    ready = (await anon.get("/readyz")).json()
    assert ready["status"] == "ok" and "expired on" in ready["sending_paused"][PHONE_NUMBER_ID]
    assert [w["code"] for w in ready["warnings"]] == ["access_token_expired"]
    paused = await stored(ctx.sessions)
    assert paused.sending_paused is not None and paused.sending_paused_at is not None


async def _events(subscriber: Subscriber, count: int = 1) -> list[dict[str, Any]] | None:  # noqa: F811
    found = subscriber.events()
    return found if len(found) >= count else None


async def _checked_at(sessions: async_sessionmaker[AsyncSession], at: datetime) -> bool:
    return (await stored(sessions)).token_checked_at == at


async def _no_delivery_pending(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with db.transaction(sessions) as session:
        stmt = sa.select(sa.func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state != "delivered")
        return not await session.scalar(stmt)


async def test_a_system_user_token_never_warns(
    ctx: AppContext, account: Account, graph: GraphClient, vault: Vault
) -> None:
    # fakegraph's configured token is a System User's: debug_token says expires_at 0.
    clock = Clock(utcnow() + timedelta(days=3650))
    checker = TokenChecker(ctx.sessions, graph, vault, clock=clock)
    assert await checker.run_once() == 1
    kept = await stored(ctx.sessions)
    assert (kept.token_type, kept.token_expires_at, kept.token_checked_at) == ("SYSTEM_USER", None, clock.now)
    assert await counted(ctx.sessions, AccountEvent) == 0
    assert await checker.run_once() == 0  # asked a moment ago: not asked again today


async def test_a_token_meta_no_longer_accepts_pauses_the_account_at_the_daily_check(
    ctx: AppContext, account: Account, graph_url: str, graph: GraphClient, vault: Vault
) -> None:
    await set_token(graph_url, revoked=True)
    assert await TokenChecker(ctx.sessions, graph, vault).run_once() == 1
    paused = await stored(ctx.sessions)
    assert paused.sending_paused is not None and "190" in paused.sending_paused
    assert "replace it" in paused.sending_paused
    # A new token resumes sending, and is asked about at the next check.
    async with db.transaction(ctx.sessions) as session:
        found = await accounts.by_phone_number_id(session, PHONE_NUMBER_ID)
        assert found is not None
        await accounts.update(session, vault, found, access_token="another-token", send_rate=None)
    resumed = await stored(ctx.sessions)
    assert resumed.sending_paused is None and resumed.token_checked_at is None


async def test_a_revoked_token_pauses_sending_after_one_refused_send(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    worker: None,
    graph_url: str,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    open_window: OpenWindow,
) -> None:
    await open_window("14155550101")
    await set_token(graph_url, revoked=True)  # at fakegraph, as when the user changed their password
    first = (await client.post("/api/v1/messages", json=TEXT)).json()

    async def paused() -> str | None:
        reason: str | None = (await anon.get("/readyz")).json().get("sending_paused", {}).get(PHONE_NUMBER_ID)
        return reason

    reason = await eventually(paused, timeout=15)
    assert "190" in reason and "invalidated" in reason and "wahub account update --access-token" in reason
    second = (await client.post("/api/v1/messages", json={**TEXT, "text": {"body": "again"}})).json()
    # Another account's message, queued after them: once the sender has claimed it, it has passed over the paused
    # account's due job, which it would have sent in that pass were the pause ignored.
    async with db.transaction(sessions) as session:
        other = await accounts.upsert_meta(
            session,
            vault,
            name="other",
            phone_number_id=OTHER_NUMBER_ID,
            waba_id=None,
            credentials=accounts.Credentials("other-token", "other-secret", "other-verify"),
        )
        contact = await contacts.upsert_contact(session, other.id, ContactRef(wa_id="14155550101"))
        await conversations.record_inbound(
            session, await conversations.get_or_create(session, other.id, contact.id), utcnow()
        )
    queued = await client.post("/api/v1/messages", json={**TEXT, "from": OTHER_NUMBER_ID})
    assert queued.status_code == 202, queued.text

    async def other_claimed() -> bool:
        async with db.transaction(sessions) as session:
            job = await outbox.for_message(session, queued.json()["id"])
            return job is None or job.attempts > 0

    await eventually(other_claimed, timeout=15)
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        sends = (await fake.get("/_fake/requests", params={"path_contains": f"/{PHONE_NUMBER_ID}/messages"})).json()
    assert len(sends["data"]) == 1 and sends["data"][0]["status"] == 401  # one refused send, no more
    for message in (first, second):
        assert (await client.get(f"/api/v1/messages/{message['id']}")).json()["status"] == "queued"
