"""Messages and conversations linked to the entities of other systems (an ERP's invoice, a CRM's deal), and
found again by them."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from tests.integration.conftest import OpenWindow
from tests.integration.test_read_api import deliver, text_from
from wahub import cli
from wahub.api.context import AppContext
from wahub.domain import ContactRef
from wahub.store import accounts, contacts, conversations, db
from wahub.store.crypto import Vault
from wahub.store.models import EntityLink, utcnow

TO = "14155550101"
INVOICE = {"entity_type": "invoice", "entity_id": "INV-2026/0042"}  # ids of other systems hold '/' and spaces too
DEAL = {"entity_type": "crm.deal", "entity_id": "D 17"}


def text(body: str, **extra: Any) -> dict[str, Any]:
    return {"to": f"+{TO}", "type": "text", "text": {"body": body}, **extra}


async def test_a_message_sent_with_entities_is_found_by_each_of_them(
    client: httpx.AsyncClient, open_window: OpenWindow
) -> None:
    await open_window(TO)
    sent = await client.post("/api/v1/messages", json=text("your invoice", entities=[INVOICE, DEAL, INVOICE]))
    assert sent.status_code == 202, sent.text
    assert sent.json()["entities"] == [INVOICE, DEAL]  # the repeat is linked once
    other = await client.post("/api/v1/messages", json=text("unrelated"))
    assert other.json()["entities"] == []

    for entity in (INVOICE, DEAL):
        found = (await client.get("/api/v1/messages", params=entity)).json()["items"]
        assert [m["id"] for m in found] == [sent.json()["id"]]
        assert found[0]["entities"] == [INVOICE, DEAL]
    assert (await client.get(f"/api/v1/messages/{sent.json()['id']}")).json()["entities"] == [INVOICE, DEAL]
    nothing = await client.get("/api/v1/messages", params={"entity_type": "invoice", "entity_id": "INV-1"})
    assert nothing.json()["items"] == []

    # A retried send answers with its links too.
    headers = {"Idempotency-Key": "inv-42"}
    first = await client.post("/api/v1/messages", json=text("again", entities=[INVOICE]), headers=headers)
    again = await client.post("/api/v1/messages", json=text("again", entities=[INVOICE]), headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["entities"] == [INVOICE]


async def test_messages_and_conversations_are_linked_and_unlinked_later(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await deliver(anon, ctx, text_from("wamid.q1", wa_id=TO, user_id=None, name="Ada"))
    message = (await client.get("/api/v1/messages")).json()["items"][0]
    conversation_id = message["conversation_id"]

    linked = await client.post(f"/api/v1/messages/{message['id']}/entities", json=DEAL)
    assert linked.status_code == 201 and linked.json()["entities"] == [DEAL]
    again = await client.post(f"/api/v1/messages/{message['id']}/entities", json=DEAL)
    assert again.status_code == 200 and again.json()["entities"] == [DEAL]
    chat = await client.post(f"/api/v1/conversations/{conversation_id}/entities", json=DEAL)
    assert chat.status_code == 201 and chat.json()["entities"] == [DEAL]

    chats = (await client.get("/api/v1/conversations", params=DEAL)).json()["items"]
    assert [(c["id"], c["entities"]) for c in chats] == [(conversation_id, [DEAL])]
    assert (await client.get(f"/api/v1/conversations/{conversation_id}")).json()["entities"] == [DEAL]
    other = {"entity_type": "crm.deal", "entity_id": "D 18"}
    assert (await client.get("/api/v1/conversations", params=other)).json()["items"] == []

    # The message's link and the conversation's are apart: removing one leaves the other.
    gone = await client.delete(f"/api/v1/messages/{message['id']}/entities", params=DEAL)
    assert gone.status_code == 204
    assert (await client.delete(f"/api/v1/messages/{message['id']}/entities", params=DEAL)).status_code == 404
    assert (await client.get("/api/v1/messages", params=DEAL)).json()["items"] == []
    assert len((await client.get("/api/v1/conversations", params=DEAL)).json()["items"]) == 1
    assert (await client.delete(f"/api/v1/conversations/{conversation_id}/entities", params=DEAL)).status_code == 204
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(EntityLink)) == 0


async def test_links_to_what_does_not_exist_or_is_not_an_entity_are_refused(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, open_window: OpenWindow
) -> None:
    assert (await client.post("/api/v1/messages/999/entities", json=DEAL)).status_code == 404
    assert (await client.post("/api/v1/conversations/999/entities", json=DEAL)).status_code == 404
    await open_window(TO)
    refusals = [
        text("x", entities=[{"entity_type": "has space", "entity_id": "1"}]),
        text("x", entities=[{"entity_type": "invoice", "entity_id": ""}]),
        text("x", entities=[{"entity_type": "invoice", "entity_id": "bad\nline"}]),
        text("x", entities=[{"entity_type": "invoice", "entity_id": "x" * 129}]),
        text("x", entities=[{"entity_type": "invoice", "entity_id": "1", "note": "extra"}]),
        text("x", entities=[{"entity_type": "invoice", "entity_id": str(n)} for n in range(11)]),
    ]
    for body in refusals:
        refused = await client.post("/api/v1/messages", json=body)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["code"] == "invalid_input"
        assert refused.json()["error"]["message"].startswith("entities"), refused.json()
    half = await client.get("/api/v1/messages", params={"entity_type": "invoice"})
    assert half.status_code == 422 and "entity_id" in half.json()["error"]["message"]
    assert (await client.delete("/api/v1/messages/1/entities", params={"entity_type": "invoice"})).status_code == 422
    assert (await anon.post("/api/v1/messages/1/entities", json=DEAL)).status_code == 401
    assert (await client.get("/api/v1/messages")).json()["items"] == []  # nothing was queued


def test_wahub_send_links_the_message_to_each_entity_given(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli.app, ["db", "upgrade", *data]).exit_code == 0
    hello = ["send", "--to", f"+{TO}", "--template", "hello_world", *data]
    sent = runner.invoke(cli.app, [*hello, "--entity", "invoice:INV-2026/0042", "--entity", "crm.deal:D 17"])
    assert sent.exit_code == 0, sent.output
    message_id = int(sent.stdout.strip().splitlines()[-1])
    with sqlite3.connect(tmp_path / "data" / "wahub.db") as conn:
        rows = conn.execute("SELECT message_id, entity_type, entity_id FROM entity_links ORDER BY id").fetchall()
    assert rows == [(message_id, "invoice", "INV-2026/0042"), (message_id, "crm.deal", "D 17")]
    for bad in ("invoice", "invoice:", ":42", "has space:1"):
        refused = runner.invoke(cli.app, [*hello, "--entity", bad])
        assert refused.exit_code == 2, (bad, refused.output)


def test_wahub_send_file_links_the_message_to_each_entity_given(tmp_path: Path, database_url: str) -> None:
    async def open_window() -> None:
        engine = db.create_engine(database_url)
        try:
            async with db.transaction(db.sessionmaker(engine)) as session:
                creds = accounts.Credentials("token", "secret", None)
                account = await accounts.upsert_meta(
                    session, Vault("k" * 32), name="t", phone_number_id="1122334455667", waba_id=None, credentials=creds
                )
                contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=TO))
                conversation = await conversations.get_or_create(session, account.id, contact.id)
                await conversations.record_inbound(session, conversation, utcnow())
        finally:
            await engine.dispose()

    async def links() -> list[tuple[int | None, str, str]]:
        engine = db.create_engine(database_url)
        try:
            async with db.sessionmaker(engine)() as session:
                columns = (EntityLink.message_id, EntityLink.entity_type, EntityLink.entity_id)
                rows = await session.execute(sa.select(*columns).order_by(EntityLink.id))
                return [tuple(row) for row in rows]  # type: ignore[misc]
        finally:
            await engine.dispose()

    asyncio.run(open_window())
    (tmp_path / "data").mkdir()
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    where = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    sent = CliRunner().invoke(
        cli.app, ["send", "--to", f"+{TO}", "--file", str(report), "--entity", "invoice:INV-7", *where]
    )
    assert sent.exit_code == 0, sent.output
    message_id = int(sent.stdout.strip().splitlines()[-1])
    assert asyncio.run(links()) == [(message_id, "invoice", "INV-7")]
