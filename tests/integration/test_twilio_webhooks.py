"""Twilio's webhooks: POST /webhooks/twilio (inbound) and /webhooks/twilio/status, checked with the official
RequestValidator against the URL Twilio requested (WAHUB_PUBLIC_URL behind a proxy), journaled before the 200
exactly as Meta's are, and processed by the same processor into the same store, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from tests.integration.conftest import TWILIO_SENDER, TWILIO_SID, TWILIO_TOKEN
from tests.support import running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, Contact, Conversation, Message, StatusRecord, WebhookEvent
from wahub.worker.processor import Processor

SID, TOKEN, SENDER = TWILIO_SID, TWILIO_TOKEN, TWILIO_SENDER
MESSAGE_SID = "SM" + "1" * 32
INBOUND = {
    "SmsMessageSid": MESSAGE_SID,
    "NumMedia": "0",
    "ProfileName": "Eva",
    "MessageType": "text",
    "WaId": "14155550111",
    "SmsStatus": "received",
    "Body": "Hello from Twilio",
    "To": SENDER,
    "MessageSid": MESSAGE_SID,
    "AccountSid": SID,
    "From": "whatsapp:+14155550111",
    "ApiVersion": "2010-04-01",
}


@pytest.fixture
async def base_url(ctx: AppContext, account: Account, twilio_account: Account) -> AsyncIterator[str]:
    """The app, started once the Twilio account is stored (it reads the auth tokens as it starts)."""
    async with running(create_app(ctx)) as url:
        yield url


def signed(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, form),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def post(client: httpx.AsyncClient, path: str, form: dict[str, str], signed_url: str | None = None,
               token: str = TOKEN) -> httpx.Response:  # fmt: skip
    url = signed_url or f"{client.base_url}".rstrip("/") + path
    return await client.post(path, content=urlencode(form), headers=signed(url, form, token))


async def journaled(event_sessions: async_sessionmaker[AsyncSession]) -> list[WebhookEvent]:
    async with db.transaction(event_sessions) as session:
        return list((await session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id))).all())


async def test_a_signed_inbound_message_is_journaled_before_the_ack_and_stored_once(
    twilio_account: Account,
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    for _ in range(2):  # Twilio delivered it twice
        answer = await post(anon, "/webhooks/twilio", INBOUND)
        assert answer.status_code == 200 and "<Response></Response>" in answer.text
        assert answer.headers["content-type"].startswith("text/xml")
    rows = await journaled(event_sessions)
    assert [(r.provider, r.body, r.processed_at) for r in rows] == [("twilio", urlencode(INBOUND).encode(), None)] * 2
    await Processor(sessions, event_sessions).run_once()
    async with db.transaction(sessions) as session:
        message = (await session.scalars(sa.select(Message))).one()
        contact = await session.get(Contact, message.contact_id)
        conversation = await session.get(Conversation, message.conversation_id)
    assert message.account_id == twilio_account.id and message.wamid == MESSAGE_SID
    assert (message.direction, message.type, message.content) == (
        "inbound",
        "text",
        {"text": {"body": "Hello from Twilio"}},
    )
    assert message.raw == INBOUND
    assert contact is not None and (contact.wa_id, contact.profile_name) == ("14155550111", "Eva")
    assert conversation is not None and conversation.last_inbound_at is not None  # the 24-hour window is open
    results = [r.result for r in await journaled(event_sessions)]
    assert results[0] == "ok; 1 message" and results[1] == "ok; 1 duplicate message"


async def test_statuses_are_recorded_once_per_message_sid_and_status(
    twilio_account: Account,
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    base = {"MessageSid": "SM" + "2" * 32, "From": SENDER, "To": "whatsapp:+14155550111", "AccountSid": SID}
    for name in ("delivered", "delivered", "read", "failed"):
        form = {**base, "MessageStatus": name, **({"ErrorCode": "63024"} if name == "failed" else {})}
        assert (await post(anon, "/webhooks/twilio/status", form)).status_code == 200
    assert {r.provider for r in await journaled(event_sessions)} == {"twilio-status"}
    await Processor(sessions, event_sessions).run_once()
    async with db.transaction(sessions) as session:
        records = (await session.scalars(sa.select(StatusRecord).order_by(StatusRecord.id))).all()
    assert [(r.account_id, r.status) for r in records] == [
        (twilio_account.id, s) for s in ("delivered", "read", "failed")
    ]
    assert records[2].error_code == 63024 and "cannot receive WhatsApp" in (records[2].error_title or "")


@pytest.mark.parametrize("how", ["unsigned", "wrong token", "other URL", "tampered form", "not a form"])
async def test_unsigned_and_wrongly_signed_posts_get_401_and_store_nothing(
    twilio_account: Account, anon: httpx.AsyncClient, event_sessions: async_sessionmaker[AsyncSession], how: str
) -> None:
    url = f"{anon.base_url}".rstrip("/") + "/webhooks/twilio"
    headers = signed(url, INBOUND)
    body = urlencode(INBOUND).encode()
    if how == "unsigned":
        headers.pop("X-Twilio-Signature")
    elif how == "wrong token":
        headers = signed(url, INBOUND, "another-token")
    elif how == "other URL":
        headers = signed(url.replace("/webhooks/twilio", "/elsewhere"), INBOUND)
    elif how == "tampered form":
        body = urlencode({**INBOUND, "Body": "Evil"}).encode()
    else:
        body = b"\xff\xfe not a form"
    for path in ("/webhooks/twilio", "/webhooks/twilio/status"):
        answer = await anon.post(path, content=body, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert (
            answer.json()["error"]["code"] == "unauthorized"
            and "X-Twilio-Signature" in answer.json()["error"]["message"]
        )
    assert await journaled(event_sessions) == []


@pytest.fixture
async def proxied(
    database_url: str, engine: AsyncEngine, events_engine: AsyncEngine, vault: Vault, tmp_path: Path,
    twilio_account: Account,
) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
    """wahub behind a proxy: the world reaches it at https://hub.example.com/wa (WAHUB_PUBLIC_URL)."""
    settings = config.load(data_dir=tmp_path / "data", database_url=database_url,
                           public_url="https://hub.example.com/wa/")  # fmt: skip
    async with (
        running(create_app(AppContext.build(settings, engine, events_engine, vault))) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client


async def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(
    proxied: httpx.AsyncClient, event_sessions: async_sessionmaker[AsyncSession]
) -> None:
    public = "https://hub.example.com/wa/webhooks/twilio"
    assert (await post(proxied, "/webhooks/twilio", INBOUND, signed_url=public)).status_code == 200
    # Signed for the address the request itself names: not what Twilio requested behind this proxy.
    assert (await post(proxied, "/webhooks/twilio", INBOUND)).status_code == 401
    # Twilio may sign with the default port written out; the validator tries both.
    with_port = "https://hub.example.com:443/wa/webhooks/twilio"
    assert (await post(proxied, "/webhooks/twilio", INBOUND, signed_url=with_port)).status_code == 200
    assert [r.provider for r in await journaled(event_sessions)] == ["twilio", "twilio"]


@pytest.fixture
async def other_twilio_account(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> Account:
    """A second Twilio account, whose callbacks Twilio signs with its own auth token."""
    async with db.transaction(sessions) as session:
        return await accounts.upsert_twilio(
            session, vault, name="other", account_sid="AC" + "cd" * 16, sender="whatsapp:+14155230000",
            credentials=accounts.TwilioCredentials("other-token"),
        )  # fmt: skip


async def test_one_accounts_token_cannot_speak_for_another_accounts_sender(
    twilio_account: Account,
    other_twilio_account: Account,
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    assert (await post(anon, "/webhooks/twilio", INBOUND, token="other-token")).status_code == 200
    await Processor(sessions, event_sessions).run_once()
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
    (event,) = await journaled(event_sessions)
    assert event.result is not None and event.result.startswith("rejected: signed with the app secret of another")


async def test_a_signed_form_that_names_no_message_is_kept_and_marked_rejected(
    twilio_account: Account,
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    assert (await post(anon, "/webhooks/twilio", {"Body": "no sid, no sender"})).status_code == 200
    await Processor(sessions, event_sessions).run_once()
    (event,) = await journaled(event_sessions)
    assert event.processed_at is not None and event.result == "rejected: an inbound message names no MessageSid or To"


async def test_the_opt_out_keyword_works_on_twilio_accounts_too(
    twilio_account: Account,
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    hello = {**INBOUND, "MessageSid": "SM" + "2" * 32, "SmsMessageSid": "SM" + "2" * 32}
    stop = {**INBOUND, "Body": " Stop ", "MessageSid": "SM" + "3" * 32, "SmsMessageSid": "SM" + "3" * 32}
    for form in (hello, stop):
        assert (await post(anon, "/webhooks/twilio", form)).status_code == 200
        await Processor(sessions, event_sessions).run_once()
        async with sessions() as session:
            contact = (await session.scalars(sa.select(Contact).where(Contact.wa_id == "14155550111"))).one()
        assert (contact.opt_out_source, contact.account_id) == (
            ("keyword", twilio_account.id) if form is stop else (None, twilio_account.id)
        )


async def test_a_trusted_proxys_scheme_names_the_url_twilio_signed_when_the_app_applies_proxy_headers(
    ctx: AppContext, account: Account, twilio_account: Account
) -> None:
    # As ``wahub serve`` runs it: uvicorn's proxy headers off, the app's own on every route but Meta's webhooks.
    app = create_app(ctx)
    app.trust_proxies("127.0.0.1")
    async with running(app, proxy_headers=False) as url, httpx.AsyncClient(base_url=url) as client:
        public = url.replace("http://", "https://") + "/webhooks/twilio"
        headers = signed(public, INBOUND)
        behind = await client.post(
            "/webhooks/twilio", content=urlencode(INBOUND), headers=headers | {"X-Forwarded-Proto": "https"}
        )
        assert behind.status_code == 200
        direct = await client.post("/webhooks/twilio", content=urlencode(INBOUND), headers=headers)
        assert direct.status_code == 401  # signed for https, posted over http with no proxy saying otherwise
