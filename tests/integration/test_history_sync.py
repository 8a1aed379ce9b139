"""Coexistence history: ``wahub account sync-history`` through fakegraph end to end (the request, Meta's signed
``history`` and ``smb_app_state_sync`` webhooks, the messages in their conversations, the progress), asked once
only; and history overlapping live messages of the same chat."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from tests.integration.conftest import APP_SECRET, SECRET_KEY
from tests.support import DATA, eventually
from wahub import cli
from wahub.store import db, history_syncs
from wahub.store.models import Account, AccountEvent, Contact, Message
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor


def run_cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=env)


def cli_env(database_url: str, tmp_path: Path, graph_url: str) -> dict[str, str]:
    env = {name: None for name in os.environ if name.startswith("WAHUB_")}
    return env | {
        "WAHUB_DATA_DIR": str(tmp_path / "cli"),
        "WAHUB_DATABASE_URL": database_url,
        "WAHUB_SECRET_KEY": SECRET_KEY,
        "WAHUB_GRAPH_URL": graph_url,
    }  # type: ignore[return-value]


async def conversation_in_time_order(client: httpx.AsyncClient, conversation_id: int) -> list[dict[str, Any]]:
    """The conversation's messages as the API gives them ordered by time (newest first), read page by page."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"conversation_id": conversation_id, "order": "time", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/messages", params=params)).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def times(items: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(m["timestamp"]) for m in items]


async def test_sync_history_brings_the_app_s_history_into_conversations_once(
    database_url: str,
    tmp_path: Path,
    graph_url: str,
    worker: None,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    env = cli_env(database_url, tmp_path, graph_url)
    asked = await asyncio.to_thread(run_cli, env, "account", "sync-history")
    assert asked.exit_code == 0, asked.stderr
    assert "asked Meta for the history" in asked.stderr and "asked Meta for the contacts" in asked.stderr

    async def synced() -> dict[str, Any] | None:
        found = (await client.get(f"/api/v1/accounts/{account.id}/history")).json()
        return found if found["progress"] == 100 and found["chunks"] == 4 else None

    # fakegraph sends four history chunks (phase 1's second before its first) and two contacts, signed.
    history = await eventually(synced)
    assert (history["phase"], history["summary"]) == (2, "history sync: 100% (phase 3 of 3)")
    assert history["history_request_id"] and history["contacts_request_id"] and history["error"] is None

    async def stored() -> list[Message] | None:
        async with db.transaction(sessions) as session:
            rows = list((await session.scalars(sa.select(Message))).all())
        return rows if len(rows) == 8 else None

    rows = await eventually(stored)
    assert {r.conversation_id for r in rows} == {rows[0].conversation_id}  # one chat, one conversation
    assert sorted(r.direction for r in rows) == ["inbound"] * 4 + ["outbound"] * 4
    listed = await conversation_in_time_order(client, rows[0].conversation_id)
    assert len(listed) == 8 and times(listed) == sorted(times(listed), reverse=True)
    assert listed[-1]["text"]["body"] == "Hello from 120 days ago"  # the oldest, sent last but one
    async with db.transaction(sessions) as session:
        contacts_synced = await session.scalar(
            sa.select(sa.func.count()).select_from(AccountEvent).where(AccountEvent.field == "smb_app_state_sync")
        )
        contacts = {c.wa_id: c for c in (await session.scalars(sa.select(Contact))).all()}
    assert contacts_synced == 2  # the simulated contacts, one webhook each
    # The app's address book names them; the history's chat is with the first of them.
    assert {w: c.saved_name for w, c in contacts.items()} == {"14155550101": "Ada", "14155550102": "Bo"}
    assert {r.contact_id for r in rows} == {contacts["14155550101"].id}

    again = await asyncio.to_thread(run_cli, env, "account", "sync-history")
    assert again.exit_code == 1
    assert "requested already, on" in again.stderr and "once per onboarding" in again.stderr
    async with httpx.AsyncClient(base_url=graph_url) as graph:
        calls = (await graph.get("/_fake/requests", params={"path_contains": "smb_app_data"})).json()
    items = calls["data"]
    assert [r["body"]["sync_type"] for r in items] == ["smb_app_state_sync", "history"]  # not asked twice

    listed_cli = await asyncio.to_thread(run_cli, env, "account", "list")
    assert "history sync: 100% (phase 3 of 3)" in listed_cli.stdout
    status = await asyncio.to_thread(run_cli, env, "account", "history-status")
    assert "history sync: 100% (phase 3 of 3)" in status.stdout and "chunks received: 4" in status.stdout
    accounts = (await client.get("/api/v1/accounts")).json()
    assert accounts[0]["history"]["progress"] == 100


def signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": meta_signature(APP_SECRET, body), "Content-Type": "application/json"}


def chunk(account: Account, order: int, progress: int, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A history webhook of Meta's reference shape (tests/data/meta-docs-webhooks.json) with these messages."""
    webhook = copy.deepcopy(json.loads((DATA / "meta-docs-webhooks.json").read_text())["history_chunk"])
    value = webhook["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = account.phone_number_id
    value["history"][0]["metadata"] = {"phase": 1, "chunk_order": order, "progress": progress}
    value["history"][0]["threads"] = [{"id": "16505551234", "messages": messages}]
    return webhook


def text(wamid: str, at: int, body: str) -> dict[str, Any]:
    return {"from": "16505551234", "id": wamid, "timestamp": str(at), "type": "text", "text": {"body": body}}


async def test_history_overlapping_live_messages_adds_nothing_twice_and_reads_in_time_order(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    live = text("wamid.LIVE_AND_HISTORY", 1_739_300_000, "Still open?")
    live_webhook = chunk(account, 1, 0, [])
    value = live_webhook["entry"][0]["changes"][0]
    value["field"] = "messages"
    value["value"] = {
        "messaging_product": "whatsapp",
        "metadata": value["value"]["metadata"],
        "contacts": [{"profile": {"name": "Kim"}, "wa_id": "16505551234"}],
        "messages": [live],
    }
    # The live message first; then history in chunks out of order: chunk 2 (newer, with the live message
    # again) before chunk 1 (older).
    newer = chunk(account, 2, 60, [text("wamid.H_B", 1_739_200_000, "second"), live])
    older = chunk(account, 1, 40, [text("wamid.H_A", 1_739_100_000, "first")])
    for webhook in (live_webhook, newer, older):
        body = json.dumps(webhook).encode()
        assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
        await Processor(sessions, event_sessions).run_once()

    async with db.transaction(sessions) as session:
        rows = list((await session.scalars(sa.select(Message).order_by(Message.id))).all())
    assert [r.wamid for r in rows] == ["wamid.LIVE_AND_HISTORY", "wamid.H_B", "wamid.H_A"]  # the live one, once
    assert len({r.conversation_id for r in rows}) == 1
    listed = await conversation_in_time_order(client, rows[0].conversation_id)
    assert [m["text"]["body"] for m in listed] == ["Still open?", "second", "first"]
    history = (await client.get(f"/api/v1/accounts/{account.id}/history")).json()
    # The chunk that came last reported less: progress only moves forward.
    assert (history["progress"], history["chunks"], history["summary"]) == (60, 2, "history sync: 60% (phase 2 of 3)")


async def test_a_declined_history_shows_as_declined(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    webhook = json.loads((DATA / "meta-docs-webhooks.json").read_text())["history_declined"]
    webhook["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = account.phone_number_id
    body = json.dumps(webhook).encode()
    assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    await Processor(sessions, event_sessions).run_once()
    history = (await client.get(f"/api/v1/accounts/{account.id}/history")).json()
    assert history["summary"] == "history sync: declined by the business" and history["progress"] is None
    assert (await client.get("/api/v1/accounts/999999/history")).status_code == 404


async def test_fakegraph_refuses_a_sync_request_without_a_known_sync_type(graph_url: str) -> None:
    async with httpx.AsyncClient(base_url=graph_url, headers={"Authorization": "Bearer test-access-token"}) as graph:
        bad = await graph.post(
            "/v25.0/1122334455667/smb_app_data", json={"messaging_product": "whatsapp", "sync_type": "all"}
        )
        good = await graph.post(
            "/v25.0/1122334455667/smb_app_data", json={"messaging_product": "whatsapp", "sync_type": "history"}
        )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100
    assert good.status_code == 200 and good.json()["messaging_product"] == "whatsapp" and good.json()["request_id"]


async def test_a_refused_request_can_be_made_again(
    database_url: str, tmp_path: Path, graph_url: str, account: Account
) -> None:
    env = cli_env(database_url, tmp_path, graph_url)
    wrong = await asyncio.to_thread(run_cli, env, "account", "update", "--access-token", "not-the-token")
    assert wrong.exit_code == 0, wrong.stderr
    refused = await asyncio.to_thread(run_cli, env, "account", "sync-history", "--no-contacts")
    assert refused.exit_code == 1 and "Meta refused the access token" in refused.stderr
    fixed = await asyncio.to_thread(run_cli, env, "account", "update", "--access-token", "test-access-token")
    assert fixed.exit_code == 0, fixed.stderr
    asked = await asyncio.to_thread(run_cli, env, "account", "sync-history", "--no-contacts")
    assert asked.exit_code == 0, asked.stderr
    status = await asyncio.to_thread(run_cli, env, "account", "history-status")
    assert "history requested:" in status.stdout and "contacts requested" not in status.stdout


async def test_the_app_s_address_book_names_contacts_and_a_removal_takes_the_name_back(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    for action, at in (("add", 1_739_000_000), ("remove", 1_739_000_100)):
        item = {
            "type": "contact",
            "contact": {"full_name": "Kim Lee", "first_name": "Kim", "phone_number": "+1 650 555 1234"},
            "action": action,
            "metadata": {"timestamp": str(at)},
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": account.phone_number_id},
            "state_sync": [item],
        }
        webhook = {
            "object": "whatsapp_business_account",
            "entry": [{"id": account.waba_id, "changes": [{"value": value, "field": "smb_app_state_sync"}]}],
        }
        body = json.dumps(webhook).encode()
        assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
        await Processor(sessions, event_sessions).run_once()
        async with db.transaction(sessions) as session:
            contact = (await session.scalars(sa.select(Contact).where(Contact.wa_id == "16505551234"))).one()
        assert contact.saved_name == ("Kim Lee" if action == "add" else None)


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_two_processors_counting_chunks_of_one_sync_at_once_lose_none(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        await history_syncs.claim(session, account.id, history_syncs.HISTORY)

    def chunk(progress: int) -> dict[str, Any]:
        return {"metadata": {"phase": 0, "chunk_order": 1, "progress": progress}}

    async with db.transaction(sessions) as first:
        await history_syncs.record_chunk(first, account.id, chunk(100), None)
        second = asyncio.create_task(_chunk_alone(sessions, account.id, chunk(95)))
        await asyncio.sleep(0.5)  # the second processor has read the row by now, or waits for it
    await second
    async with sessions() as session:
        done = await history_syncs.status(session, account.id)
    assert (done.chunks, done.progress) == (2, 100)  # before: 1 chunk (the second wrote what it had read)


async def _chunk_alone(sessions: async_sessionmaker[AsyncSession], account_id: int, raw: dict[str, Any]) -> None:
    async with db.transaction(sessions) as session:
        await history_syncs.record_chunk(session, account_id, raw, None)
