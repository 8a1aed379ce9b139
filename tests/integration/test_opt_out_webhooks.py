"""The marketing opt-out set by what arrives through signed webhooks and the processor: an inbound text that is
exactly the account's opt-out keyword, and Meta's ``user_preferences`` webhook (stop / resume, payloads from
Meta's reference page, tests/data/README.md); on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET
from tests.support import payload, payload_sources
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, Contact
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor

DOCS = payload_sources()["docs"]


async def deliver(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
) -> None:
    raw = json.dumps(body).encode()
    headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
    assert (await anon.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    await Processor(sessions, event_sessions).run_once()


def text(body: str, wamid: str) -> dict[str, Any]:
    """pywa's real inbound text (from 972987654321) with another body and id."""
    value = payload("message", "text")
    message = value["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"], message["id"] = body, wamid
    return value


async def contact(sessions: async_sessionmaker[AsyncSession], wa_id: str) -> Contact:
    async with sessions() as session:
        return (await session.scalars(sa.select(Contact).where(Contact.wa_id == wa_id))).one()


async def set_keyword(sessions: async_sessionmaker[AsyncSession], account: Account, keyword: str | None) -> None:
    async with db.transaction(sessions) as session:
        await session.execute(sa.update(Account).where(Account.id == account.id).values(opt_out_keyword=keyword))


async def test_the_opt_out_keyword_opts_its_sender_out_trimmed_whatever_the_case(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    assert account.opt_out_keyword == "STOP"  # the default
    await deliver(anon, sessions, event_sessions, text("please stop", "wamid.a"))
    await deliver(anon, sessions, event_sessions, text("STOP!", "wamid.b"))
    assert (await contact(sessions, "972987654321")).opted_out_at is None
    await deliver(anon, sessions, event_sessions, text("  sToP \n", "wamid.c"))
    out = await contact(sessions, "972987654321")
    sent = int(text("", "")["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"])
    assert out.opted_out_at == datetime.fromtimestamp(sent, UTC) and out.opt_out_source == "keyword"
    # Opted back in by the API: the same webhook delivered again changes nothing.
    assert (await client.post(f"/api/v1/contacts/{out.id}/opt-in")).status_code == 200
    await deliver(anon, sessions, event_sessions, text("  sToP \n", "wamid.c"))
    assert (await contact(sessions, "972987654321")).opted_out_at is None


async def test_the_keyword_is_the_accounts_own_and_none_turns_it_off(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    await set_keyword(sessions, account, "Baja")
    await deliver(anon, sessions, event_sessions, text("STOP", "wamid.a"))
    assert (await contact(sessions, "972987654321")).opted_out_at is None
    await deliver(anon, sessions, event_sessions, text("BAJA", "wamid.b"))
    assert (await contact(sessions, "972987654321")).opt_out_source == "keyword"
    async with db.transaction(sessions) as session:
        await session.execute(sa.update(Contact).values(opted_out_at=None, opt_out_changed_at=None))
    await set_keyword(sessions, account, None)
    await deliver(anon, sessions, event_sessions, text("baja", "wamid.c"))
    assert (await contact(sessions, "972987654321")).opted_out_at is None


@pytest.fixture
async def docs_account(sessions: async_sessionmaker[AsyncSession], vault: Vault, account: Account) -> Account:
    """The account of Meta's reference payloads (phone_number_id 106540352242922), with the tests' app secret."""
    async with db.transaction(sessions) as session:
        return await accounts.upsert_meta(
            session,
            vault,
            name="docs",
            phone_number_id="106540352242922",
            waba_id="102290129340398",
            credentials=accounts.Credentials("token", APP_SECRET, None),
        )


async def test_metas_user_preferences_stop_and_resume_opt_out_and_back_in(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    docs_account: Account,
) -> None:
    stop, resume = DOCS["user_preferences_stop"], DOCS["user_preferences_resume"]
    await deliver(anon, sessions, event_sessions, stop)
    out = await contact(sessions, "16505551234")
    assert out.opted_out_at == datetime.fromtimestamp(1739321024, UTC) and out.opt_out_source == "meta"
    assert out.account_id == docs_account.id and out.marketing_preference == "stop"
    # Meta's resume example is older (1731705721) than the stop: delivered late, it changes nothing.
    await deliver(anon, sessions, event_sessions, resume)
    assert (await contact(sessions, "16505551234")).opted_out_at is not None
    later = copy.deepcopy(resume)
    later["entry"][0]["changes"][0]["value"]["user_preferences"][0]["timestamp"] = 1739321025
    await deliver(anon, sessions, event_sessions, later)
    back = await contact(sessions, "16505551234")
    assert (back.opted_out_at, back.opt_out_source, back.marketing_preference) == (None, None, "resume")


async def test_a_signup_preference_leaves_the_opt_out_as_it_is(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    docs_account: Account,
) -> None:
    stop = copy.deepcopy(DOCS["user_preferences_stop"])
    stop["entry"][0]["changes"][0]["value"]["user_preferences"][0]["timestamp"] = 1731705000
    await deliver(anon, sessions, event_sessions, stop)
    await deliver(anon, sessions, event_sessions, payload("user_marketing_preferences", "signup"))  # 1731705721
    after = await contact(sessions, "16505551234")
    assert after.marketing_preference == "signup" and after.opt_out_source == "meta"
