"""The Twilio provider on the wire, against faketwilio: sends through the SDK, Twilio's errors as domain errors,
a lost answer apart from a connection never made, inbound media streamed with basic auth through Twilio's
redirect. No database: the provider alone."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

import faketwilio
from tests.support import free_port, running
from wahub import errors
from wahub.provider import base, twilio

SID = "AC" + "ab" * 16
TOKEN = "twilio-auth-token-for-tests"
SENDER = "whatsapp:+14155238886"
ACCOUNT = base.Account(provider="twilio", number=SENDER, token=TOKEN, account_sid=SID)
TEXT = base.Outbound(base.Recipient(wa_id="14155550111"), "text", {"text": {"body": "Hi"}})


@pytest.fixture
async def fake() -> AsyncIterator[str]:
    config = faketwilio.FakeTwilioConfig(account_sid=SID, auth_token=TOKEN, sender=SENDER, reply=False, speed=50)
    async with running(faketwilio.create_app(config)) as url:
        async with httpx.AsyncClient(base_url=url) as control:
            await control.post("/_fake/config", json={"public_url": url})
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def provider(
    http: aiohttp.ClientSession, url: str, account: base.Account = ACCOUNT, timeout: float = 10
) -> base.Provider:
    client = twilio.TwilioClient(http, url, timeout=timeout)
    return twilio.providers(client, "https://hub.example.com", lambda media_id: "")(account)


async def test_a_send_returns_twilios_message_sid(fake: str, http: aiohttp.ClientSession) -> None:
    sent = await provider(http, fake).send(TEXT)
    assert sent.id.startswith("SM") and len(sent.id) == 34


async def test_refused_credentials_pause_the_account_and_a_lost_answer_is_not_a_refusal(
    fake: str, http: aiohttp.ClientSession
) -> None:
    wrong = base.Account(provider="twilio", number=SENDER, token="wrong", account_sid=SID)
    with pytest.raises(errors.AccessTokenInvalid) as refused:
        await provider(http, fake, wrong).send(TEXT)
    assert refused.value.code == 20003
    async with httpx.AsyncClient(base_url=fake) as control:
        await control.post("/_fake/faults", json={"timeout_rate": 1.0, "timeout_hang_s": 5})
    with pytest.raises(errors.OutcomeUnknown):  # Twilio may have taken it: retried, flagged as a possible duplicate
        await provider(http, fake, timeout=0.3).send(TEXT)
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(errors.TransientProviderError) as unreachable:  # never connected: nothing was sent
        await provider(http, closed).send(TEXT)
    assert not isinstance(unreachable.value, errors.OutcomeUnknown)


async def test_a_server_error_is_transient(fake: str, http: aiohttp.ClientSession) -> None:
    async with httpx.AsyncClient(base_url=fake) as control:
        await control.post("/_fake/faults", json={"http_5xx_rate": 1.0})
    with pytest.raises(errors.TransientProviderError) as failed:
        await provider(http, fake).send(TEXT)
    assert failed.value.retryable


async def test_a_groups_message_is_refused_without_a_call(http: aiohttp.ClientSession) -> None:
    group = base.Outbound(base.Recipient(group_id="1203@g.us"), "text", {"text": {"body": "Hi"}})
    with pytest.raises(errors.PermanentProviderError):
        await provider(http, f"http://127.0.0.1:{free_port()}").send(group)


async def test_without_a_public_url_no_twilio_provider_is_made(http: aiohttp.ClientSession) -> None:
    with pytest.raises(errors.PermanentProviderError, match="WAHUB_PUBLIC_URL"):
        twilio.providers(twilio.TwilioClient(http), None, lambda media_id: "")(ACCOUNT)


async def test_inbound_media_streams_with_basic_auth_through_twilios_redirect(
    fake: str, http: aiohttp.ClientSession
) -> None:
    data = b"%PDF-1.4 " + bytes(range(256)) * 400
    body = {"from": "14155550111", "media": {"content_base64": base64.b64encode(data).decode(),
                                             "content_type": "application/pdf"}}  # fmt: skip
    async with httpx.AsyncClient(base_url=fake) as control:
        await control.post("/_fake/inbound", json=body)
        (message,) = (await control.get("/_fake/inbound_log")).json()["data"]
    media_sid = message["form"]["MediaUrl0"].rsplit("/", 1)[-1]
    twilio_provider = provider(http, fake)
    info = await twilio_provider.media_info(f"{message['sid']}/{media_sid}")
    assert info.url == message["form"]["MediaUrl0"] and info.sha256 is None and not info.hashed
    got = b"".join([chunk async for chunk in twilio_provider.download(info.url)])
    assert got == data
    wrong = provider(http, fake, base.Account(provider="twilio", number=SENDER, token="wrong", account_sid=SID))
    with pytest.raises(errors.AccessTokenInvalid):
        _ = [chunk async for chunk in wrong.download(info.url)]
    with pytest.raises(errors.PermanentProviderError):
        await twilio_provider.media_info("not-a-media-id")


async def test_a_send_that_never_got_a_connection_in_time_is_no_possible_duplicate(fake: str) -> None:
    """Two timeouts, as the Graph client's: the wait for a connection (the pool's included) apart from the wait
    for the answer. One connection, held by a send faketwilio keeps hanging; the next send queues for it and gives
    up: it was never sent, so it is a plain transient failure, not an unknown outcome."""
    async with httpx.AsyncClient(base_url=fake) as control:
        await control.post("/_fake/faults", json={"timeout_rate": 1.0, "timeout_hang_s": 2})
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        holding = asyncio.create_task(provider(http, fake, timeout=10).send(TEXT))
        await asyncio.sleep(0.2)  # the patient send has the connection
        with pytest.raises(errors.TransientProviderError) as queued:
            await provider(http, fake, timeout=0.3).send(TEXT)
        assert not isinstance(queued.value, errors.OutcomeUnknown), queued.value
        with pytest.raises(errors.TransientProviderError):  # faketwilio's answer after its hang
            await holding
    async with httpx.AsyncClient(base_url=fake) as control:
        logged = (await control.get("/_fake/requests")).json()["data"]
    assert sum(1 for r in logged if r["path"].endswith("/Messages.json")) == 1  # only the patient send arrived
