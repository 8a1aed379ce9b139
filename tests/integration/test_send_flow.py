"""The whole path on real sockets: API -> outbox -> sender -> fakegraph -> signed status webhooks -> read.
fakegraph plays Meta; nothing of wahub is mocked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID, OpenWindow
from tests.support import eventually
from wahub.domain import ContactRef
from wahub.store import accounts, contacts, conversations, db, outbox
from wahub.store.crypto import Vault
from wahub.store.models import utcnow

OTHER_NUMBER_ID = "100000000000999"  # an account fakegraph does not know: its sends are refused, not paused
TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    """The recipient wrote a moment ago, so free-form messages may be sent (tests/integration/test_sending.py
    covers the closed window)."""
    await open_window("14155550101")


async def wait_for_status(client: httpx.AsyncClient, message_id: int, wanted: str) -> dict[str, object]:
    async def check() -> dict[str, object] | None:
        body: dict[str, object] = (await client.get(f"/api/v1/messages/{message_id}")).json()
        return body if body["status"] == wanted else None

    result: dict[str, object] = await eventually(check, timeout=20)
    return result


async def test_sent_text_reaches_read_with_a_time_per_status(client: httpx.AsyncClient, worker: None) -> None:
    sent = (await client.post("/api/v1/messages", json=TEXT)).json()
    stamps = ("queued_at", "sent_at", "delivered_at", "read_at")

    async def every_time() -> dict[str, object] | None:
        # A webhook that fakegraph had to retry (as Meta does) comes after the later ones: "read" may be
        # reached before "delivered" arrives, and its time is recorded when it does.
        body: dict[str, object] = (await client.get(f"/api/v1/messages/{sent['id']}")).json()
        return body if body["status"] == "read" and all(body[s] is not None for s in stamps) else None

    read = await eventually(every_time, timeout=20)
    assert isinstance(read["wamid"], str) and read["wamid"].startswith("wamid.")


async def test_transient_failures_are_retried_until_sent(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        assert (await fake.post("/_fake/faults", json={"fail_next": 2, "error_code": 131000})).status_code == 200
    sent = (await client.post("/api/v1/messages", json=TEXT)).json()
    read = await wait_for_status(client, sent["id"], "read")
    assert read["error"] is None


async def test_permanent_error_fails_the_message_with_metas_code(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        assert (await fake.post("/_fake/faults", json={"fail_next": 1, "error_code": 131026})).status_code == 200
        failed = await wait_for_status(
            client, (await client.post("/api/v1/messages", json=TEXT)).json()["id"], "failed"
        )
        sends = (await fake.get("/_fake/requests", params={"path_contains": "/messages"})).json()["data"]
    assert failed["error"]["code"] == 131026  # type: ignore[index]
    assert failed["failed_at"] is not None
    assert len(sends) == 1  # a permanent error is not retried


async def test_an_expired_token_pauses_the_account_until_its_credentials_are_replaced(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    worker: None,
    graph_url: str,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        assert (await fake.post("/_fake/faults", json={"fail_next": 1, "error_code": 190})).status_code == 200
    first = (await client.post("/api/v1/messages", json=TEXT)).json()

    async def paused() -> dict[str, Any] | None:
        body: dict[str, Any] = (await anon.get("/readyz")).json()
        return body if "sending_paused" in body else None

    ready = await eventually(paused, timeout=10)
    assert "190" in ready["sending_paused"][PHONE_NUMBER_ID]
    async with db.transaction(sessions) as session:
        paused_since = (await accounts.default_sender(session, PHONE_NUMBER_ID)).sending_paused_at
    assert paused_since is not None and utcnow() - paused_since < timedelta(minutes=1)  # since when: the admin pages
    second = (await client.post("/api/v1/messages", json={**TEXT, "text": {"body": "again"}})).json()
    # A message of another account, queued after them: once the sender has claimed it, it has passed over the
    # paused account's due jobs, which it would have claimed in that pass (or before) were the pause ignored.
    async with db.transaction(sessions) as session:
        other = await accounts.upsert_meta(
            session,
            vault,
            name="other",
            phone_number_id=OTHER_NUMBER_ID,
            waba_id=None,
            credentials=accounts.Credentials(ACCESS_TOKEN, "other-secret", "other-verify"),
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

    await eventually(other_claimed, timeout=10)
    for message in (first, second):
        assert (await client.get(f"/api/v1/messages/{message['id']}")).json()["status"] == "queued"
        assert message["error"] is None
    async with db.transaction(sessions) as session:
        job = await outbox.for_message(session, second["id"])
        assert job is not None and job.attempts == 0 and job.locked_by is None  # never claimed

    # The operator puts in a new token, as `wahub account update --access-token` does (here: the same one).
    async with db.transaction(sessions) as session:
        account = await accounts.default_sender(session, PHONE_NUMBER_ID)
        await accounts.update(session, vault, account, access_token=ACCESS_TOKEN, send_rate=None)
    for message in (first, second):
        await wait_for_status(client, message["id"], "read")
    assert "sending_paused" not in (await anon.get("/readyz")).json()
    async with db.transaction(sessions) as session:
        assert (await accounts.default_sender(session, PHONE_NUMBER_ID)).sending_paused_at is None
