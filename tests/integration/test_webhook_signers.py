"""One webhook URL serves every account: a body verified by one app's secret changes only the numbers of the
accounts holding that secret (issue 12, item 7). Two accounts on two different app secrets."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, WABA_ID
from tests.support import payload, running
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, AccountEvent, Message, StatusRecord, WebhookEvent
from wahub.webhook.signature import key_id, meta_signature
from wahub.worker.processor import Processor

OTHER_SECRET = "second-app-secret"
OTHER_NUMBER = "5566778899001"
OTHER_WABA = "9988776655443322"


@pytest.fixture
async def other(sessions: async_sessionmaker[AsyncSession], vault: Vault, account: Account) -> Account:
    """A second account, of another Meta app (its own app secret)."""
    async with db.transaction(sessions) as session:
        return await accounts.upsert_meta(
            session,
            vault,
            name="other app",
            phone_number_id=OTHER_NUMBER,
            waba_id=OTHER_WABA,
            credentials=accounts.Credentials(ACCESS_TOKEN, OTHER_SECRET, None),
        )


@pytest.fixture
async def webhooks(ctx: AppContext, account: Account, other: Account) -> AsyncIterator[httpx.AsyncClient]:
    """The running app, started once both accounts exist (it learns their secrets at start)."""
    async with running(create_app(ctx)) as url, httpx.AsyncClient(base_url=url) as c:
        yield c


def for_number(name: str, number: str, waba: str, file: str = "message") -> dict[str, Any]:
    body = copy.deepcopy(payload(file, name))
    for entry in body["entry"]:
        entry["id"] = waba
        for change in entry["changes"]:
            change["value"].setdefault("metadata", {})["phone_number_id"] = number
    return body


async def post(client: httpx.AsyncClient, body: dict[str, Any], secret: str) -> None:
    raw = json.dumps(body).encode()
    headers = {"X-Hub-Signature-256": meta_signature(secret, raw), "Content-Type": "application/json"}
    response = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert response.status_code == 200, response.text


async def process(ctx: AppContext) -> None:
    while await Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally).run_once():
        pass


async def stored_messages(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    async with db.transaction(sessions) as session:
        rows = (await session.execute(sa.select(Message.account_id, Message.wamid).order_by(Message.id))).all()
    return [(r.account_id, r.wamid) for r in rows]


async def journal(ctx: AppContext) -> list[WebhookEvent]:
    async with db.transaction(db.sessionmaker(ctx.events)) as session:
        return list((await session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id))).all())


async def test_each_event_records_the_app_secret_that_verified_it(
    webhooks: httpx.AsyncClient, ctx: AppContext, account: Account, other: Account
) -> None:
    await post(webhooks, for_number("text", PHONE_NUMBER_ID, WABA_ID), APP_SECRET)
    await post(webhooks, for_number("text", OTHER_NUMBER, OTHER_WABA), OTHER_SECRET)
    assert [e.signed_by for e in await journal(ctx)] == [key_id(APP_SECRET), key_id(OTHER_SECRET)]
    assert (account.webhook_key_id, other.webhook_key_id) == (key_id(APP_SECRET), key_id(OTHER_SECRET))


async def test_a_secret_cannot_speak_for_another_apps_number(
    webhooks: httpx.AsyncClient, ctx: AppContext, sessions: async_sessionmaker[AsyncSession], other: Account
) -> None:
    forged = for_number("text", OTHER_NUMBER, OTHER_WABA)
    await post(webhooks, forged, APP_SECRET)  # verified (a secret we know), so stored and acked...
    await process(ctx)
    assert await stored_messages(sessions) == []  # ...but it changes nothing of the other account
    [event] = await journal(ctx)
    assert event.processed_at is not None
    assert event.result is not None and event.result.startswith("rejected: signed with the app secret of another")
    taken = ctx.tally.take()
    assert taken[("wahub_webhook_events_total", 'result="rejected"')] == 1
    assert taken[("wahub_webhook_items_total", 'item="change",result="wrong_signer"')] == 1

    await post(webhooks, forged, OTHER_SECRET)  # the same body, signed by its own app, is applied
    await process(ctx)
    assert await stored_messages(sessions) == [(other.id, "wamid.xyzxyz")]


async def test_statuses_and_account_events_of_another_app_are_refused(
    webhooks: httpx.AsyncClient, ctx: AppContext, sessions: async_sessionmaker[AsyncSession], other: Account
) -> None:
    await post(webhooks, for_number("read", OTHER_NUMBER, OTHER_WABA, "message_status"), APP_SECRET)
    template = copy.deepcopy(payload("template_status_update", "approved"))
    template["entry"][0]["id"] = OTHER_WABA  # names the other app's WABA, no number
    await post(webhooks, template, APP_SECRET)
    await process(ctx)
    async with db.transaction(sessions) as session:
        assert (await session.scalars(sa.select(StatusRecord))).all() == []
        assert (await session.scalars(sa.select(AccountEvent))).all() == []
    assert all(e.result and e.result.startswith("rejected") for e in await journal(ctx))


async def test_a_mixed_body_applies_only_the_signers_part(
    webhooks: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    body = for_number("text", PHONE_NUMBER_ID, WABA_ID)
    smuggled = for_number("text", OTHER_NUMBER, OTHER_WABA)["entry"][0]
    smuggled["changes"][0]["value"]["messages"][0]["id"] = "wamid.smuggled"
    body["entry"].append(smuggled)
    await post(webhooks, body, APP_SECRET)
    await process(ctx)
    assert await stored_messages(sessions) == [(account.id, "wamid.xyzxyz")]
    [event] = await journal(ctx)
    assert event.result is not None and "1 change signed by another account's app secret" in event.result


async def test_accounts_stored_before_key_ids_get_theirs_at_start(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, account: Account, other: Account
) -> None:
    async with db.transaction(sessions) as session:
        await session.execute(sa.update(Account).values(webhook_key_id=None))
    async with db.transaction(sessions) as session:
        assert await accounts.fill_key_ids(session, vault) == 2
    async with db.transaction(sessions) as session:
        found = dict((await session.execute(sa.select(Account.id, Account.webhook_key_id))).tuples().all())
    assert found == {account.id: key_id(APP_SECRET), other.id: key_id(OTHER_SECRET)}
