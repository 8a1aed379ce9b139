"""Inbound media from Twilio end to end: faketwilio's contact sends a file; wahub's webhook, processor and media
fetcher download it from Twilio's URL with basic auth (through Twilio's redirect), hash it as it streams and
store it by content, once, with the same fetcher, queue and retries as Meta's."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import TWILIO_SENDER, TWILIO_SID, TWILIO_TOKEN
from tests.support import eventually, running
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.storage.base import content_key
from wahub.store import accounts, db, media
from wahub.store.crypto import Vault
from wahub.store.models import Account, Media, Message


@pytest.fixture
async def base_url(ctx: AppContext, account: Account, twilio_account: Account) -> AsyncIterator[str]:
    """The app, started once the Twilio account is stored (it reads the auth tokens as it starts)."""
    async with running(create_app(ctx)) as url:
        yield url


async def send(twilio_url: str, data: bytes, content_type: str, text: str = "") -> str:
    body = {"from": "14155550111", "text": text,
            "media": {"content_base64": base64.b64encode(data).decode(), "content_type": content_type}}  # fmt: skip
    async with httpx.AsyncClient(base_url=twilio_url) as fake:
        answer = await fake.post("/_fake/inbound", json=body)
    assert answer.json()["delivered"] is True, answer.text
    return str(answer.json()["sid"])


async def stored(sessions: async_sessionmaker[AsyncSession], sid: str) -> tuple[Message, Media] | None:
    async with db.transaction(sessions) as session:
        message = (await session.scalars(sa.select(Message).where(Message.wamid == sid))).first()
        item = await session.get(Media, message.media_id) if message is not None and message.media_id else None
    done = item is not None and item.state in (media.STORED, media.FAILED)
    return (message, item) if message is not None and item is not None and done else None


async def test_an_inbound_image_is_downloaded_with_basic_auth_and_stored_by_its_content(
    twilio_account: Account,
    client: httpx.AsyncClient,
    twilio_worker: None,
    twilio_url: str,
    sessions: async_sessionmaker[AsyncSession],
    ctx: AppContext,
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 300
    first = await send(twilio_url, png, "image/png", "our new logo")
    again = await send(twilio_url, png, "image/png")
    (message, item), (_, second) = [await eventually(lambda sid=sid: stored(sessions, sid)) for sid in (first, again)]
    assert message.type == "image" and message.content["image"]["caption"] == "our new logo"
    assert message.account_id == twilio_account.id
    assert item.state == media.STORED, item.error
    assert item.sha256 == hashlib.sha256(png).hexdigest() and item.size == len(png)
    assert item.storage_key == second.storage_key == content_key(item.sha256)  # the same bytes kept once
    assert item.mime_type == "image/png" and item.provider_media_id.startswith(f"{first}/ME")
    link = (await client.get(f"/api/v1/media/{item.id}")).json()["download_url"]
    served = await client.get(link)
    assert served.status_code == 200 and served.content == png


async def test_media_twilio_refuses_to_serve_fails_with_the_reason(
    twilio_account: Account,
    client: httpx.AsyncClient,
    twilio_worker: None,
    twilio_url: str,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    # The account now calls Twilio with an API key Twilio does not know (its callbacks stay signed with the token).
    async with db.transaction(sessions) as session:
        creds = accounts.TwilioCredentials(TWILIO_TOKEN, "SK" + "0" * 32, "revoked-key-secret")
        await accounts.upsert_twilio(
            session, vault, name="twilio", account_sid=TWILIO_SID, sender=TWILIO_SENDER, credentials=creds
        )
    sid = await send(twilio_url, b"%PDF-1.4 x", "application/pdf")

    async def failed() -> Any:
        found = await stored(sessions, sid)
        return found if found is not None and found[1].state == media.FAILED else None

    _message, item = await eventually(failed)
    assert item.error is not None and item.error.startswith("Twilio no longer gives this media (20003")
