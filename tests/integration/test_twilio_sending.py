"""Sending through Twilio on real sockets: API -> outbox -> sender -> the official SDK -> faketwilio -> signed
status callbacks -> read. Media goes by a signed link of wahub's own that faketwilio fetches; templates as
Content SIDs; Twilio's errors map onto the domain's, and what Twilio cannot send is refused before queueing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import TWILIO_SENDER
from tests.support import eventually, running
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store import db
from wahub.store.models import Account, Contact, Conversation

EVA = "14155550111"
STRANGER = "14155550188"  # never wrote: their window is closed
TEXT = {"from": TWILIO_SENDER, "to": f"+{EVA}", "type": "text", "text": {"body": "Hello Eva"}}
CONTENT_SID = "HX" + "1" * 32  # faketwilio's approved hello_world


@pytest.fixture
async def base_url(ctx: AppContext, account: Account, twilio_account: Account) -> AsyncIterator[str]:
    """The app, started once the Twilio account is stored (it reads the auth tokens as it starts)."""
    async with running(create_app(ctx)) as url:
        yield url


@pytest.fixture
async def fake(twilio_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=twilio_url) as control:
        yield control


async def writes_first(
    fake: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account, wa_id: str
) -> None:
    """``wa_id`` writes to the Twilio sender (an inbound callback through wahub's webhook and processor), which
    opens their 24-hour window."""
    sent = await fake.post("/_fake/inbound", json={"from": wa_id, "text": "hi"})
    assert sent.json()["delivered"] is True, sent.text

    async def window_open() -> bool:
        async with db.transaction(sessions) as session:
            stmt = (
                sa.select(Conversation.last_inbound_at)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Conversation.account_id == account.id, Contact.wa_id == wa_id)
            )
            return await session.scalar(stmt) is not None

    await eventually(window_open)


async def with_status(client: httpx.AsyncClient, message_id: int, wanted: str, stamps: tuple[str, ...] = ()) -> Any:
    async def check() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/messages/{message_id}")).json()
        return body if body["status"] == wanted and all(body[s] for s in stamps) else None

    return await eventually(check, timeout=20)


async def sent_to_twilio(fake: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    (row,) = (await fake.get("/_fake/messages", params={"sid": sid})).json()["data"]
    return row  # type: ignore[no-any-return]


async def test_a_text_reaches_read_through_twilios_status_callbacks(
    twilio_account: Account,
    client: httpx.AsyncClient,
    twilio_worker: None,
    fake: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    base_url: str,
) -> None:
    await writes_first(fake, sessions, twilio_account, EVA)
    queued = await client.post("/api/v1/messages", json=TEXT)
    assert queued.status_code == 202, queued.text
    read = await with_status(client, queued.json()["id"], "read", ("sent_at", "delivered_at", "read_at"))
    assert read["wamid"].startswith("SM") and read["error"] is None
    params = (await sent_to_twilio(fake, read["wamid"]))["params"]
    assert params["To"] == f"whatsapp:+{EVA}" and params["From"] == TWILIO_SENDER and params["Body"] == "Hello Eva"
    assert params["StatusCallback"] == f"{base_url}/webhooks/twilio/status"


async def test_an_uploaded_file_goes_by_a_signed_link_that_twilio_fetches(
    twilio_account: Account,
    client: httpx.AsyncClient,
    twilio_worker: None,
    fake: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await writes_first(fake, sessions, twilio_account, EVA)
    png = b"\x89PNG\r\n\x1a\n" + b"twilio test image" * 50
    uploaded = await client.post(
        "/api/v1/media", files={"file": ("photo.png", png, "image/png")}, data={"from": TWILIO_SENDER}
    )
    assert uploaded.status_code == 201, uploaded.text
    body = {**TEXT, "type": "image", "image": {"wahub_media_id": uploaded.json()["id"], "caption": "our shop"}}
    body.pop("text")
    queued = await client.post("/api/v1/messages", json=body)
    assert queued.status_code == 202, queued.text
    read = await with_status(client, queued.json()["id"], "read")
    sent = await sent_to_twilio(fake, read["wamid"])
    assert read["wamid"].startswith("MM") and sent["params"]["Body"] == "our shop"
    (fetch,) = sent["media_fetches"]
    assert fetch["http_status"] == 200 and fetch["content_type"] == "image/png"
    assert fetch["sha256"] == hashlib.sha256(png).hexdigest()
    assert "/api/v1/media/" in fetch["url"] and "sig=" in fetch["url"]


async def test_outside_the_window_a_content_template_is_sent_and_free_text_refused(
    twilio_account: Account, client: httpx.AsyncClient, twilio_worker: None, fake: httpx.AsyncClient
) -> None:
    refused = await client.post("/api/v1/messages", json={**TEXT, "to": f"+{STRANGER}"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "window_closed"
    template = {"content_sid": CONTENT_SID, "content_variables": {"1": "Ana"}}
    body = {"from": TWILIO_SENDER, "to": f"+{STRANGER}", "type": "template", "template": template}
    queued = await client.post("/api/v1/messages", json=body)
    assert queued.status_code == 202, queued.text
    read = await with_status(client, queued.json()["id"], "read")
    params = (await sent_to_twilio(fake, read["wamid"]))["params"]
    assert params["ContentSid"] == CONTENT_SID and params["ContentVariables"] == '{"1":"Ana"}'
    assert "Body" not in params


async def test_an_undeliverable_message_fails_with_twilios_code_and_the_mapped_reason(
    twilio_account: Account,
    client: httpx.AsyncClient,
    twilio_worker: None,
    fake: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await writes_first(fake, sessions, twilio_account, EVA)
    await fake.post("/_fake/config", json={"unreachable_numbers": [EVA]})
    queued = await client.post("/api/v1/messages", json=TEXT)
    failed = await with_status(client, queued.json()["id"], "failed", ("failed_at",))
    assert failed["error"]["code"] == 63024 and "cannot receive WhatsApp" in failed["error"]["title"]


@pytest.mark.parametrize(("code", "retried"), [(63018, True), (20429, True), (20500, True), (21610, False)])
async def test_twilios_send_errors_are_retried_or_fail_by_their_class(
    twilio_account: Account,
    client: httpx.AsyncClient,
    twilio_worker: None,
    fake: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    code: int,
    retried: bool,
) -> None:
    await writes_first(fake, sessions, twilio_account, EVA)
    await fake.post("/_fake/faults", json={"fail_next": 1, "error_code": code})
    queued = await client.post("/api/v1/messages", json=TEXT)
    message = await with_status(client, queued.json()["id"], "read" if retried else "failed")
    sends = (await fake.get("/_fake/requests", params={"path_contains": "/Messages.json"})).json()["data"]
    assert [s["status"] >= 400 for s in sends] == ([True, False] if retried else [True])
    if not retried:
        assert message["error"]["code"] == 21610 and "opted out" in message["error"]["title"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (
            {"type": "document", "document": {"link": "https://example.com/a.pdf", "filename": "a.pdf"}},
            "document.filename",
            "Twilio takes no filename or caption",
        ),
        (
            {"type": "document", "document": {"link": "https://example.com/a.pdf", "caption": "see"}},
            "document.caption",
            "Twilio takes no filename or caption",
        ),
        ({"type": "image", "image": {"id": "1234"}}, "image.id", "by URL"),
        (
            {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}},
            "template.content_sid",
            "Content SIDs",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "?"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
                },
            },
            "type",
            "Content template",
        ),
        ({"type": "text", "text": {"body": "x"}, "context": {"message_id": "SM1"}}, "context", "reply"),
    ],
)
async def test_what_twilio_cannot_send_is_refused_before_queueing(
    twilio_account: Account, client: httpx.AsyncClient, body: dict[str, Any], field: str, says: str
) -> None:
    refused = await client.post("/api/v1/messages", json={"from": TWILIO_SENDER, "to": f"+{EVA}", **body})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["details"]["field"] == field and says in error["message"]


async def test_a_meta_account_refuses_a_content_sid_and_a_template_needs_one_kind(
    twilio_account: Account, client: httpx.AsyncClient
) -> None:
    meta = await client.post(
        "/api/v1/messages",
        json={"from": "1122334455667", "to": f"+{EVA}", "type": "template", "template": {"content_sid": CONTENT_SID}},
    )
    assert meta.status_code == 422 and meta.json()["error"]["details"]["field"] == "template.content_sid"
    both = {"name": "x", "language": {"code": "en"}, "content_sid": CONTENT_SID}
    mixed = await client.post("/api/v1/messages", json={**TEXT, "type": "template", "template": both, "text": None})
    assert mixed.status_code == 422
