"""Integration fixtures: a fresh migrated database per test, on SQLite and on PostgreSQL (a copy of a template;
on PostgreSQL, one a finished test used, made fresh again: ``tests/pg_databases.py``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import fakegraph
import faketwilio
from tests import pg_databases
from tests.conftest import IN_CI, PG_URL
from tests.support import free_port, running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.api.routes import media as media_routes
from wahub.domain import ContactRef
from wahub.provider import base, meta, twilio
from wahub.provider.graph import GraphClient
from wahub.store import accounts, apikeys, contacts, conversations, db, migrate
from wahub.store.crypto import Vault
from wahub.store.models import Account, utcnow
from wahub.worker import ratelimit
from wahub.worker.media_fetcher import MediaFetcher
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "1122334455667"  # the number in the conformance payloads
WABA_ID = "1234567890987654321"
SECRET_KEY = "test-secret-key-0123456789"
TWILIO_SID = "AC" + "ab" * 16
TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_SENDER = "whatsapp:+14155238886"


def _pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message + " (start it, or set WAHUB_TEST_POSTGRES_URL)")


def _pg_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test copies (CREATE DATABASE … TEMPLATE is fast)."""
    name = f"wahub_tmpl_{os.getpid()}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(_pg_url(name))
    yield name
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "wahub.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_pool(pg_template: str) -> Iterator[pg_databases.Pool]:
    """The databases this process's tests take, each made fresh again for the next (``tests/pg_databases.py``)."""
    pool = pg_databases.Pool(_pg_admin, _pg_url, pg_template)
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "wahub.db"
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, path)
        # The events journal's file (db.events_url) comes with it.
        shutil.copy(template.with_name("wahub-events.db"), path.with_name("wahub-events.db"))
        yield f"sqlite:///{path}"
        return
    pool: pg_databases.Pool = request.getfixturevalue("pg_pool")
    name = pool.take()
    yield _pg_url(name)
    pool.give_back(name)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = db.create_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.sessionmaker(engine)


@pytest.fixture
async def events_engine(database_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Where webhook events are journaled: a file of its own on SQLite, the same database on PostgreSQL."""
    eng = db.create_events_engine(database_url, engine)
    yield eng
    if eng is not engine:
        await eng.dispose()


@pytest.fixture
def event_sessions(events_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.sessionmaker(events_engine)


@pytest.fixture
def vault() -> Vault:
    return Vault(SECRET_KEY)


@pytest.fixture
async def account(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> Account:
    """A Meta account for the conformance payloads' phone number."""
    async with db.transaction(sessions) as session:
        return await accounts.upsert_meta(
            session,
            vault,
            name="test",
            phone_number_id=PHONE_NUMBER_ID,
            waba_id=WABA_ID,
            credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
        )


@pytest.fixture
def ctx(database_url: str, engine: AsyncEngine, events_engine: AsyncEngine, vault: Vault, tmp_path: Path) -> AppContext:
    settings = config.load(data_dir=tmp_path / "data", database_url=database_url)
    return AppContext.build(settings, engine, events_engine, vault)


OpenWindow = Callable[..., Awaitable[None]]


@pytest.fixture
def open_window(sessions: async_sessionmaker[AsyncSession], account: Account) -> OpenWindow:
    """Opens the 24-hour customer-service window with the given numbers, as if each had just written."""

    async def open_(*wa_ids: str) -> None:
        async with db.transaction(sessions) as session:
            for wa_id in wa_ids:
                contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=wa_id.lstrip("+")))
                conversation = await conversations.get_or_create(session, account.id, contact.id)
                await conversations.record_inbound(session, conversation, utcnow())

    return open_


@pytest.fixture
async def api_key(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with db.transaction(sessions) as session:
        _row, key = await apikeys.create(session, "tests")
    return key


@pytest.fixture
async def base_url(ctx: AppContext, account: Account) -> AsyncIterator[str]:
    """The wahub HTTP app, served on a loopback port."""
    async with running(create_app(ctx)) as url:
        yield url


@pytest.fixture
async def client(base_url: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running app, authenticated with a valid API key."""
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running app with no credentials (webhook senders, strangers)."""
    async with httpx.AsyncClient(base_url=base_url) as c:
        yield c


@pytest.fixture
async def graph_url(base_url: str) -> AsyncIterator[str]:
    """fakegraph on a loopback port, posting signed webhooks to the running wahub app, 50x faster than life."""
    config = fakegraph.FakeGraphConfig(
        callback_url=f"{base_url}/webhooks/meta",
        app_secret=APP_SECRET,
        access_token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        waba_id=WABA_ID,
        contacts=[
            fakegraph.SimulatedContact(wa_id="14155550101", name="Ada"),
            fakegraph.SimulatedContact(wa_id="14155550102", name="Bo"),
        ],
        speed=50,
        reply=False,
        seed=7,
    )
    async with running(fakegraph.create_app(config)) as url:
        yield url


@pytest.fixture
def pair_pacer() -> ratelimit.PairPacer:
    """The sender's pacing per recipient: off by default (fakegraph enforces no pair limit unless told to)."""
    return ratelimit.PairPacer(interval=0.001, burst=1_000_000)


@pytest.fixture
async def worker(ctx: AppContext, graph_url: str, pair_pacer: ratelimit.PairPacer) -> AsyncIterator[None]:
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        providers = meta.providers(GraphClient(http, graph_url, "v25.0"))
        sender = Sender(
            ctx.sessions,
            providers,
            ctx.vault,
            send_rate=80,
            pairs=pair_pacer,
            storage=ctx.storage,
            tally=ctx.tally,
            events=db.sessionmaker(ctx.events),
        )
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, sender=sender).run(stop))
        yield
        stop.set()
        await task


@pytest.fixture
async def twilio_account(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> Account:
    """A Twilio account (its sender whatsapp:+14155238886). A module that takes Twilio webhooks overrides
    ``base_url`` to depend on it: the app reads the auth tokens it checks signatures with as it starts."""
    async with db.transaction(sessions) as session:
        return await accounts.upsert_twilio(
            session,
            vault,
            name="twilio",
            account_sid=TWILIO_SID,
            sender=TWILIO_SENDER,
            credentials=accounts.TwilioCredentials(TWILIO_TOKEN),
        )


@pytest.fixture
async def twilio_url(base_url: str) -> AsyncIterator[str]:
    """faketwilio on a loopback port, posting signed callbacks to the running wahub app, 50x faster than life."""
    config = faketwilio.FakeTwilioConfig(
        account_sid=TWILIO_SID,
        auth_token=TWILIO_TOKEN,
        sender=TWILIO_SENDER,
        inbound_url=f"{base_url}/webhooks/twilio",
        contacts=[
            faketwilio.SimulatedContact("14155550111", "Eva"),
            faketwilio.SimulatedContact("14155550112", "Femi"),
        ],
        speed=50,
        reply=False,
        seed=7,
    )
    async with running(faketwilio.create_app(config)) as url:
        async with httpx.AsyncClient(base_url=url) as control:
            await control.post("/_fake/config", json={"public_url": url})
        yield url


@pytest.fixture
async def twilio_worker(
    ctx: AppContext, base_url: str, twilio_url: str, pair_pacer: ratelimit.PairPacer
) -> AsyncIterator[None]:
    """The worker (processor, sender, media fetcher) with Twilio's provider on faketwilio; wahub's public URL
    (statuses, media links) is the test app's."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:

        def link(media_id: int) -> str:
            return base_url + media_routes.content_path(ctx.vault, media_id, 600)

        providers = base.by_provider(
            {"twilio": twilio.providers(twilio.TwilioClient(http, twilio_url, timeout=10), base_url, link)}
        )
        sender = Sender(
            ctx.sessions,
            providers,
            ctx.vault,
            send_rate=80,
            pairs=pair_pacer,
            storage=ctx.storage,
            tally=ctx.tally,
            events=db.sessionmaker(ctx.events),
        )
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events), tally=ctx.tally)
        fetcher = MediaFetcher(ctx.sessions, providers, ctx.vault, ctx.storage, tally=ctx.tally)
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, sender=sender, media=fetcher).run(stop))
        yield
        stop.set()
        await task


BUCKET = "wahub-media"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's S3 server on a loopback port, with a bucket; dummy credentials in the environment."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.put(f"{url}/{BUCKET}").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"moto server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
