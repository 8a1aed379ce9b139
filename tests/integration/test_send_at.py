"""``send_at`` on ``POST /api/v1/messages``: the message is held in the outbox until then; a past time sends it
now; a bad time is a 422; a free-form message whose window will be closed by then gets a warning; a message not
taken yet can be cancelled."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.support import eventually
from wahub.store import db, outbox, stream_events
from wahub.store.models import Account, OutboxJob, utcnow

TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "Reminder"}}
TEMPLATE = {
    "to": "+14155550102",
    "type": "template",
    "template": {"name": "hello_world", "language": {"code": "en_US"}},
}


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    await open_window("14155550101")


async def _job(sessions: async_sessionmaker[AsyncSession], message_id: int) -> OutboxJob:
    async with sessions() as session:
        job = await outbox.for_message(session, message_id)
    assert job is not None
    return job


async def test_send_at_holds_the_message_until_its_time(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    at = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    response = await client.post("/api/v1/messages", json={**TEXT, "send_at": at.isoformat()})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["warnings"] == []  # the window is open until tomorrow
    assert (await _job(sessions, body["id"])).run_at == at
    async with db.transaction(sessions) as session:  # as the sender claims: nothing is due now
        assert await outbox.due_accounts(session) == set()
        assert await outbox.claim(session, account.id, "sender-a", 10, timedelta(seconds=30)) == []
    async with db.transaction(sessions) as session:  # at its time, the sender's claim takes it
        claimed = await outbox.QUEUE.claim(session, 10, lease=timedelta(seconds=30), holder="a", now=at)
    assert [row.id for row in claimed] == [(await _job(sessions, body["id"])).id]


async def test_a_past_send_at_sends_now(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    at = utcnow() - timedelta(days=2)
    response = await client.post("/api/v1/messages", json={**TEXT, "send_at": at.isoformat()})
    assert response.status_code == 202, response.text
    assert "warnings" not in response.json()
    assert (await _job(sessions, response.json()["id"])).run_at > at + timedelta(days=1)
    async with db.transaction(sessions) as session:
        assert await outbox.due_accounts(session) == {account.id}


@pytest.mark.parametrize(
    ("send_at", "says"),
    [
        ("2026-12-24T09:00:00", "time zone"),
        ("tomorrow at nine", "send_at"),
        ((utcnow() + timedelta(days=400)).isoformat(), "366 days"),
    ],
    ids=["no time zone", "not a time", "too far ahead"],  # stable: pytest-xdist's workers must collect the same ids
)
async def test_a_bad_send_at_is_a_422(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], send_at: str, says: str
) -> None:
    response = await client.post("/api/v1/messages", json={**TEXT, "send_at": send_at})
    assert response.status_code == 422, response.text
    assert says in response.text
    async with sessions() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(OutboxJob))) == 0


async def test_a_free_form_message_due_after_its_window_closes_is_queued_with_a_warning(
    client: httpx.AsyncClient,
) -> None:
    later = (utcnow() + timedelta(days=2)).isoformat()
    response = await client.post("/api/v1/messages", json={**TEXT, "send_at": later})
    assert response.status_code == 202
    (warning,) = response.json()["warnings"]
    assert "window closes at" in warning and "template" in warning
    never = {"to": "+14155550102", "type": "text", "text": {"body": "Hi"}, "send_at": later}
    response = await client.post("/api/v1/messages", json=never)  # never wrote: refused now, warned later
    assert response.status_code == 202 and "not open" in response.json()["warnings"][0]
    response = await client.post("/api/v1/messages", json={**never, "send_at": None})
    assert response.status_code == 422 and response.json()["error"]["code"] == "window_closed"
    response = await client.post("/api/v1/messages", json={**TEMPLATE, "send_at": later})
    assert response.status_code == 202 and "warnings" not in response.json()  # a template needs no window


async def test_a_held_message_can_be_cancelled_until_it_is_taken(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    later = (utcnow() + timedelta(hours=1)).isoformat()
    held = (await client.post("/api/v1/messages", json={**TEXT, "send_at": later})).json()["id"]
    response = await client.post(f"/api/v1/messages/{held}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed" and response.json()["error"]["title"] == "cancelled"
    job = await _job(sessions, held)
    assert job.state == "failed" and job.last_error == outbox.CANCELLED
    async with sessions() as session:  # the live stream tells the inbox
        ticks = [e.payload for e in await stream_events.read(session, 0) if e.payload.get("message_id") == held]
    assert ticks[-1]["status"] == "failed" and ticks[-1]["error"]["title"] == "cancelled"
    assert (await client.post(f"/api/v1/messages/{held}/cancel")).status_code == 409

    now = (await client.post("/api/v1/messages", json=TEXT)).json()["id"]
    async with db.transaction(sessions) as session:  # the sender took it
        assert len(await outbox.claim(session, account.id, "sender-a", 10, timedelta(seconds=30))) == 1
    response = await client.post(f"/api/v1/messages/{now}/cancel")
    assert response.status_code == 409 and "too late" in response.text
    assert (await client.post("/api/v1/messages/999999/cancel")).status_code == 404


async def test_a_running_worker_sends_a_held_message_at_its_time_not_before(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    at = utcnow() + timedelta(seconds=2)
    held = (await client.post("/api/v1/messages", json={**TEXT, "send_at": at.isoformat()})).json()["id"]
    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def requests() -> list[dict[str, object]]:
            found: list[dict[str, object]] = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return found

        await asyncio.sleep(1.0)
        assert await requests() == []  # the worker polls all along: not yet
        assert (await client.get(f"/api/v1/messages/{held}")).json()["status"] == "queued"

        async def sent() -> str | None:
            status: str = (await client.get(f"/api/v1/messages/{held}")).json()["status"]
            return status if status != "queued" else None

        await eventually(sent, timeout=20)
        assert utcnow() >= at
        (request,) = await requests()
        assert request["body"]["text"] == {"body": "Reminder"}  # type: ignore[index]
