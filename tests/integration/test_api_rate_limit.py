"""The rate limit per API key: over it, 429 with ``Retry-After`` before any work; other keys, webhooks and
health checks are not affected."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.integration.test_webhooks import signed
from tests.support import payload, running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.api.limits import KeyLimiter
from wahub.store import apikeys, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, Message

RATE = 5  # requests per second; a burst of 10


class Clock:
    """The limiter's clock, moved by the test: no token comes back while the test's own requests take time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def limited(
    database_url: str,
    engine: AsyncEngine,
    events_engine: AsyncEngine,
    vault: Vault,
    tmp_path: Path,
    account: Account,
    clock: Clock,
) -> AsyncIterator[str]:
    settings = config.load(data_dir=tmp_path / "data", database_url=database_url, api_rate_limit=RATE)
    ctx = AppContext.build(settings, engine, events_engine, vault)
    assert ctx.limiter.rate == RATE  # WAHUB_API_RATE_LIMIT reaches the limiter
    ctx.limiter = KeyLimiter(RATE, clock=clock)
    async with running(create_app(ctx)) as url:
        yield url


async def new_key(sessions: async_sessionmaker[AsyncSession], name: str) -> dict[str, str]:
    async with db.transaction(sessions) as session:
        _row, key = await apikeys.create(session, name)
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_over_its_rate_gets_429_with_retry_after_and_others_go_on(
    limited: str, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow, clock: Clock
) -> None:
    first, second = await new_key(sessions, "erp"), await new_key(sessions, "crm")
    await open_window("14155550101")
    text = {"to": "+14155550101", "type": "text", "text": {"body": "hi"}}
    async with httpx.AsyncClient(base_url=limited) as http:
        answers = [await http.get("/api/v1/conversations", headers=first) for _ in range(2 * RATE)]
        assert [a.status_code for a in answers] == [200] * (2 * RATE)  # the burst
        refused = await http.get("/api/v1/conversations", headers=first)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert f"rate limit ({RATE} requests per second)" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "1"
        # A send over the limit is refused before it is queued.
        sent = await http.post("/api/v1/messages", json=text, headers=first)
        assert sent.status_code == 429

        assert (await http.get("/api/v1/conversations", headers=second)).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        body = json.dumps(payload("message", "text")).encode()
        assert (await http.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
        assert (await http.get("/api/v1/conversations", headers={"Authorization": "Bearer nope"})).status_code == 401

        clock.now += 1.5 / RATE  # a token came back
        sent = await http.post("/api/v1/messages", json=text, headers=first)
        assert sent.status_code == 202, sent.text
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
