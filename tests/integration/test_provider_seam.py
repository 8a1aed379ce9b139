"""The provider seam: a second provider is a class of a few lines behind ``provider.base.Provider``, and the real
sender (real store, real outbox, real worker loop) sends through it with no change. What Meta's client does on
the wire is tested against fakegraph elsewhere; here no Graph client exists at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID, OpenWindow
from tests.support import eventually
from wahub import errors
from wahub.api.context import AppContext
from wahub.provider import base
from wahub.worker import ratelimit
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}


class Twin:
    """A provider that takes every message, after raising the failures it is given, one per try."""

    keeps_uploads = timedelta(days=1)
    uploads_files = True

    def __init__(self, *failures: errors.ProviderError) -> None:
        self.failures = list(failures)
        self.tries: list[base.Outbound] = []

    async def send(self, message: base.Outbound) -> base.Sent:
        self.tries.append(message)
        if self.failures:
            raise self.failures.pop(0)
        return base.Sent(f"twin-{len(self.tries)}")

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        pass

    async def upload(self, chunks: AsyncIterator[bytes], mime_type: str, filename: str) -> str:
        return "twin-file"

    async def media_info(self, media_id: str) -> base.MediaInfo:
        raise errors.PermanentProviderError("the twin keeps no media")

    async def download(self, url: str) -> AsyncIterator[bytes]:
        yield b""

    async def check_account(self) -> dict[str, Any]:
        return {}


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    await open_window("14155550101")


@pytest.fixture
def run_sender(ctx: AppContext) -> Callable[[Twin], Any]:
    """Runs the real sender and worker loop with ``providers`` making the given twin for every account."""
    accounts: list[base.Account] = []

    @asynccontextmanager
    async def running(twin: Twin) -> AsyncIterator[list[base.Account]]:
        def providers(account: base.Account) -> base.Provider:
            accounts.append(account)
            return twin

        sender = Sender(ctx.sessions, providers, ctx.vault, send_rate=80, pairs=ratelimit.PairPacer(interval=0.001))
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(ctx.notifier, sender=sender).run(stop))
        try:
            yield accounts
        finally:
            stop.set()
            await task

    return running


async def message_with_status(client: httpx.AsyncClient, message_id: int, wanted: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/messages/{message_id}")).json()
        return body if body["status"] == wanted else None

    found: dict[str, Any] = await eventually(check, timeout=20)
    return found


async def test_a_second_provider_sends_through_the_real_sender_unchanged(
    client: httpx.AsyncClient, run_sender: Callable[[Twin], Any]
) -> None:
    twin = Twin()
    async with run_sender(twin) as accounts:
        queued = (await client.post("/api/v1/messages", json=TEXT)).json()
        accepted = await message_with_status(client, queued["id"], "accepted")
    assert accepted["wamid"] == "twin-1" and accepted["error"] is None
    (message,) = twin.tries
    assert message.recipient.key == "14155550101" and message.type == "text"
    assert message.content["text"] == {"body": "Hello"}
    assert accounts[0] == base.Account(provider="meta", number=PHONE_NUMBER_ID, token=ACCESS_TOKEN)


async def test_a_rate_limited_send_is_retried_and_then_taken(
    client: httpx.AsyncClient, run_sender: Callable[[Twin], Any]
) -> None:
    twin = Twin(errors.RateLimited("slow down"), errors.PairLimited("too many to this recipient"))
    async with run_sender(twin):
        queued = (await client.post("/api/v1/messages", json=TEXT)).json()
        accepted = await message_with_status(client, queued["id"], "accepted")
    assert accepted["wamid"] == "twin-3"
    assert len(twin.tries) == 3


async def test_a_permanent_refusal_fails_the_message_with_the_providers_code_and_is_not_retried(
    client: httpx.AsyncClient, run_sender: Callable[[Twin], Any]
) -> None:
    twin = Twin(errors.PermanentProviderError("not a WhatsApp user", code=21610))
    async with run_sender(twin):
        queued = (await client.post("/api/v1/messages", json=TEXT)).json()
        failed = await message_with_status(client, queued["id"], "failed")
    assert failed["error"]["code"] == 21610 and failed["wamid"] is None
    assert len(twin.tries) == 1
