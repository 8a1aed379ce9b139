"""``/api/v1/messages``: API keys, queueing a send with its outbox job, listing with cursors, errors."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.support import free_port
from wahub.api.context import AppContext
from wahub.storage import opendal_store
from wahub.store import apikeys, db
from wahub.store.models import Message, OutboxJob

TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    """The recipient wrote a moment ago, so free-form messages may be sent (tests/integration/test_sending.py
    covers the closed window)."""
    await open_window("14155550101")


async def test_every_api_call_without_a_valid_key_gets_401(anon: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wahub_nope_nope"}, {"Authorization": "Basic abc"}):
        for method, path in (("GET", "/api/v1/messages"), ("GET", "/api/v1/messages/1"), ("POST", "/api/v1/messages")):
            response = await anon.request(method, path, headers=headers, json=TEXT)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_key_gets_401(
    client: httpx.AsyncClient, api_key: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.get("/api/v1/messages")).status_code == 200
    async with db.transaction(sessions) as session:
        await apikeys.revoke(session, api_key.split("_")[1])
    assert (await client.get("/api/v1/messages")).status_code == 401


async def test_send_answers_202_queued_and_writes_message_and_outbox_job_together(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post("/api/v1/messages", json=TEXT)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["direction"] == "outbound"
    assert body["text"]["body"] == "Hello"
    assert body["contact"]["wa_id"] == "14155550101"
    assert body["queued_at"] is not None and body["sent_at"] is None
    async with db.transaction(sessions) as session:
        job = (await session.scalars(sa.select(OutboxJob))).one()
        message = await session.get(Message, body["id"])
    assert message is not None and job.message_id == message.id and job.state == "pending"


async def test_get_returns_the_message(client: httpx.AsyncClient) -> None:
    sent = (await client.post("/api/v1/messages", json=TEXT)).json()
    got = await client.get(f"/api/v1/messages/{sent['id']}")
    assert got.status_code == 200
    assert got.json() == sent


async def test_unknown_message_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/messages/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_list_is_newest_first_with_cursor_paging(client: httpx.AsyncClient) -> None:
    ids = []
    for n in range(5):
        body = {**TEXT, "text": {"body": f"message {n}"}}
        ids.append((await client.post("/api/v1/messages", json=body)).json()["id"])
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/messages", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_bad_input_gets_422_with_the_field_named(client: httpx.AsyncClient) -> None:
    cases = [
        ({**TEXT, "to": "12"}, "to"),
        ({**TEXT, "to": "+1 555 123 0001"}, "to"),
        ({**TEXT, "text": {"body": ""}}, "text.body"),
        ({**TEXT, "text": {"body": "x" * 4097}}, "text.body"),
        ({**TEXT, "type": "carrier_pigeon"}, "type"),
        ({"type": "text", "text": {"body": "hi"}}, "to"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/messages", json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"].startswith(field), (field, error)


async def test_body_that_is_not_json_gets_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/messages", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


async def test_bad_cursor_and_limit_get_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/messages", params={"cursor": "garbage!!"})).status_code == 422
    assert (await client.get("/api/v1/messages", params={"limit": 0})).status_code == 422
    assert (await client.get("/api/v1/messages", params={"limit": 1000})).status_code == 422


async def test_openapi_describes_the_api_and_docs_are_served(anon: httpx.AsyncClient) -> None:
    spec = (await anon.get("/openapi.json")).json()
    for path in (
        "/api/v1/messages",
        "/api/v1/messages/{message_id}",
        "/api/v1/conversations",
        "/api/v1/contacts",
        "/api/v1/events",
    ):
        assert path in spec["paths"], path
    assert (await anon.get("/docs")).status_code == 200
    assert (await anon.get("/healthz")).json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert ready.json()["storage"] == "ok"


async def test_readyz_reports_a_storage_outage_and_stays_ready(
    anon: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    ctx.storage = opendal_store.from_url(f"s3://media/x?endpoint=http://127.0.0.1:{free_port()}&region=us-east-1")
    ready = await anon.get("/readyz")
    assert ready.status_code == 200  # webhooks and sends go on; media waits for the storage
    assert ready.json()["storage"].startswith("unavailable: ")
    assert "s3://media/x" in ready.json()["storage"]
