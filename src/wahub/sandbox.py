"""The sandbox: wahub against fakegraph, with a sandbox number and simulated contacts, when no account is
configured. Its secrets live in the data dir so a restart keeps the data usable."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import fakegraph
import fakegraph.config
import fakegraph.templates
from wahub import listen
from wahub.store import accounts, apikeys, conversations, templates, users
from wahub.store.crypto import Vault, new_secret_key
from wahub.store.models import Account, Contact, Conversation, utcnow

PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
DISPLAY_NUMBER = "15550000001"
# fakegraph's own simulated people (valid E.164 numbers, so the API accepts them).
CONTACTS = tuple(fakegraph.config.default_contacts())
# A contact whose window closes within this long writes again at start, so a started sandbox takes text a while.
GREET_MARGIN = timedelta(hours=1)
GREETED_WITHIN = 20.0  # seconds to wait for the greetings to be stored before the banner says text works
SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
API_KEY_FILE = "sandbox-api-key"
ADMIN_EMAIL = "admin@sandbox.wahub.local"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def secret_key(data_dir: Path) -> str:
    """The sandbox's WAHUB_SECRET_KEY, generated into the data dir on first start."""
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = new_secret_key()
    _write_private(path, key)
    return key


def _derive(key: str, purpose: str) -> str:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:40]


def credentials(key: str) -> accounts.Credentials:
    """Stable per data dir: derived from its secret key, so fakegraph and wahub agree across restarts."""
    return accounts.Credentials(
        access_token=_derive(key, "sandbox-access-token"),
        app_secret=_derive(key, "sandbox-app-secret"),
        verify_token=_derive(key, "sandbox-verify-token")[:16],
    )


def fakegraph_config(
    creds: accounts.Credentials, callback_url: str | None, public_url: str
) -> fakegraph.FakeGraphConfig:
    return fakegraph.FakeGraphConfig(
        callback_url=callback_url,
        app_secret=creds.app_secret,
        access_token=creds.access_token,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number=DISPLAY_NUMBER,
        waba_id=WABA_ID,
        contacts=list(CONTACTS),
        public_url=public_url,
    )


FAKEGRAPH_URL_FILE = "sandbox-fakegraph.url"


def record_fakegraph_url(data_dir: Path, url: str) -> None:
    """Note where the running serve's fakegraph listens, so that commands acting on what lives there (the
    sandbox's groups: ``wahub group``) reach that one, not a fresh one of their own."""
    _write_private(data_dir / FAKEGRAPH_URL_FILE, url)


def serving_fakegraph_url(data_dir: Path) -> str | None:
    """The URL ``record_fakegraph_url`` noted, if a sandbox serve has run in this data dir."""
    try:
        return (data_dir / FAKEGRAPH_URL_FILE).read_text().strip() or None
    except OSError:
        return None


@contextlib.asynccontextmanager
async def fakegraph_running(creds: accounts.Credentials) -> AsyncIterator[str]:
    """The sandbox's fakegraph for the length of one command (``wahub account test``), on a private loopback
    port, without webhooks; yields its URL. The sandbox's number lives only there, never at Meta."""
    sock = listen.loopback(16)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = fakegraph.create_app(fakegraph_config(creds, None, url))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("fakegraph stopped while starting")
            await asyncio.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()


async def ensure_account(session: AsyncSession, vault: Vault, creds: accounts.Credentials) -> Account:
    return await accounts.upsert_meta(
        session,
        vault,
        name="Sandbox",
        phone_number_id=PHONE_NUMBER_ID,
        waba_id=WABA_ID,
        credentials=creds,
        sandbox=True,
        display_phone_number=DISPLAY_NUMBER,
    )


async def ensure_templates(session: AsyncSession) -> int:
    """The sandbox number's message templates: fakegraph's catalogue (approved ones, and a rejected and a paused
    one), written as Meta's ``GET /{waba_id}/message_templates`` describes them, so the inbox's template picker
    has something to offer."""
    return await templates.upsert_many(session, WABA_ID, fakegraph.templates.TEMPLATES)


async def ensure_api_key(session: AsyncSession, data_dir: Path) -> str:
    """The sandbox API key: kept in the data dir (mode 600) so it survives restarts; made anew if revoked."""
    path = data_dir / API_KEY_FILE
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if await apikeys.authenticate(session, key) is not None:
            return key
    _row, key = await apikeys.create(session, "sandbox")
    _write_private(path, key)
    return key


async def ensure_admin(session: AsyncSession) -> str | None:
    """A fresh sandbox (no user yet) gets an admin, ``ADMIN_EMAIL``: returns its one-time password, which is
    not kept anywhere; None when users exist already (``wahub user reset-password`` gives a new one)."""
    if await users.list_users(session):
        return None
    password = users.new_password()
    await users.add(session, ADMIN_EMAIL, "Sandbox admin", users.UserRole.ADMIN, password)
    return password


def greeting(contact: fakegraph.SimulatedContact) -> str:
    first = contact.name.split()[0]
    return f"Hi, {first} here (a simulated contact of the wahub sandbox). Write to me: I read and sometimes answer."


async def silent_contacts(session: AsyncSession) -> list[fakegraph.SimulatedContact]:
    """The simulated contacts whose 24-hour window is closed (they never wrote, or a day ago) or closes soon."""
    since = utcnow() - conversations.WINDOW + GREET_MARGIN
    stmt = (
        sa.select(Contact.wa_id)
        .join(Conversation, Conversation.contact_id == Contact.id)
        .join(Account, Account.id == Conversation.account_id)
        .where(Account.phone_number_id == PHONE_NUMBER_ID, Conversation.last_inbound_at > since)
    )
    talking = set(await session.scalars(stmt))
    return [c for c in CONTACTS if c.wa_id not in talking]


async def greet(
    readers: async_sessionmaker[AsyncSession], http: aiohttp.ClientSession, fakegraph_url: str, *, wait: bool
) -> list[fakegraph.SimulatedContact]:
    """Each simulated contact whose window is closed writes a greeting, through fakegraph's signed webhook as a
    real inbound message, so free text to every contact works at once. With ``wait`` (a processor runs), wait
    until the greetings are stored. Returns the contacts whose window is still closed (none, normally)."""
    async with readers() as session:
        silent = await silent_contacts(session)
    for contact in silent:
        body = {"from": contact.wa_id, "text": greeting(contact)}
        async with http.post(f"{fakegraph_url}/_fake/inbound", json=body) as response:
            response.raise_for_status()
    deadline = time.monotonic() + GREETED_WITHIN
    while silent and wait and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        async with readers() as session:
            silent = await silent_contacts(session)
    return silent
