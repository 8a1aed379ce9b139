"""The Twilio sandbox (``wahub serve --sandbox twilio``): wahub against faketwilio, with a Twilio sandbox account
and simulated contacts, so the Twilio path can be seen without a Twilio account. Its secrets derive from the
data dir's secret key (``sandbox.secret_key``), so faketwilio and wahub agree across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import faketwilio
import faketwilio.config
from wahub import listen
from wahub.store import accounts, conversations
from wahub.store.crypto import Vault
from wahub.store.models import Account, Contact, Conversation, utcnow

SENDER = "whatsapp:+14155238886"  # the number of Twilio's own WhatsApp sandbox
CONTACTS = tuple(faketwilio.config.default_contacts())
TEMPLATES = tuple(faketwilio.config.default_templates())
GREETED_WITHIN = 20.0
GREET_MARGIN = timedelta(hours=1)  # a contact whose window closes within this long writes again at start


def _derive(key: str, purpose: str) -> str:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def account_sid(key: str) -> str:
    return "AC" + _derive(key, "sandbox-twilio-account-sid")[:32]


def auth_token(key: str) -> str:
    return _derive(key, "sandbox-twilio-auth-token")[:32]


def config(key: str, inbound_url: str | None, public_url: str) -> faketwilio.FakeTwilioConfig:
    return faketwilio.FakeTwilioConfig(
        account_sid=account_sid(key),
        auth_token=auth_token(key),
        friendly_name="wahub Twilio sandbox",
        sender=SENDER,
        inbound_url=inbound_url,
        contacts=list(CONTACTS),
        public_url=public_url,
    )


async def ensure_account(session: AsyncSession, vault: Vault, key: str) -> Account:
    return await accounts.upsert_twilio(
        session,
        vault,
        name="Sandbox (Twilio)",
        account_sid=account_sid(key),
        sender=SENDER,
        credentials=accounts.TwilioCredentials(auth_token(key)),
        sandbox=True,
    )


@contextlib.asynccontextmanager
async def running(key: str) -> AsyncIterator[str]:
    """The sandbox's faketwilio for one command (``wahub account test``), on a private loopback port, without
    callbacks; yields its URL."""
    sock = listen.loopback(16)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(faketwilio.create_app(config(key, None, url)), log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("faketwilio stopped while starting")
            await asyncio.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()


async def silent_contacts(session: AsyncSession) -> list[faketwilio.SimulatedContact]:
    """The simulated contacts whose 24-hour window with the Twilio sandbox sender is closed, or closes within
    the hour."""
    since = utcnow() - conversations.WINDOW + GREET_MARGIN
    stmt = (
        sa.select(Contact.wa_id)
        .join(Conversation, Conversation.contact_id == Contact.id)
        .join(Account, Account.id == Conversation.account_id)
        .where(Account.phone_number_id == SENDER, Conversation.last_inbound_at > since)
    )
    talking = set(await session.scalars(stmt))
    return [c for c in CONTACTS if c.wa_id not in talking]


async def greet(
    readers: async_sessionmaker[AsyncSession], http: aiohttp.ClientSession, fake_url: str, *, wait: bool
) -> list[faketwilio.SimulatedContact]:
    """Each simulated contact whose window is closed writes first (a signed inbound callback, as from Twilio), so
    free text works at once; with ``wait``, until the greetings are stored. Returns those still silent."""
    async with readers() as session:
        silent = await silent_contacts(session)
    for contact in silent:
        first = contact.name.split()[0]
        text = f"Hi, {first} here (a simulated contact of wahub's Twilio sandbox). Write to me!"
        async with http.post(f"{fake_url}/_fake/inbound", json={"from": contact.wa_id, "text": text}) as response:
            response.raise_for_status()
    deadline = time.monotonic() + GREETED_WITHIN
    while silent and wait and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        async with readers() as session:
            silent = await silent_contacts(session)
    return silent


def banner(url: str, fake_url: str, api_key: str, silent: list[faketwilio.SimulatedContact]) -> list[str]:
    """What ``wahub serve --sandbox twilio`` prints about its sandbox."""
    first = next((c for c in CONTACTS if c not in silent), CONTACTS[0])
    hello = next(t for t in TEMPLATES if t.name == "hello_world")
    name = first.name.split()[0]
    text = {"from": SENDER, "to": f"+{first.wa_id}", "type": "text", "text": {"body": f"Hello {name}!"}}
    template = {
        "from": SENDER,
        "to": f"+{first.wa_id}",
        "type": "template",
        "template": {"content_sid": hello.sid, "content_variables": {"1": name}},
    }
    post = (
        f"curl -X POST {url}/api/v1/messages -H 'Authorization: Bearer {api_key}' -H 'Content-Type: application/json' "
    )
    return [
        f"  SANDBOX (Twilio): faketwilio (a fake of Twilio's Messaging API at {fake_url}) plays Twilio, with the "
        f"sender {SENDER} and {len(CONTACTS)} simulated contacts:",
        "    " + "   ".join(f"+{c.wa_id} {c.name}" for c in CONTACTS),
        f"  sandbox API key: {api_key}",
        "  send a text:",
        f"    {post}-d '{json.dumps(text, ensure_ascii=False)}'",
        "  or a Content template (works outside the 24-hour window):",
        f"    {post}-d '{json.dumps(template)}'",
    ]
