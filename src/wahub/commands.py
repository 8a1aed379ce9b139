"""The store of a CLI command, and the work of the one-off commands that is more than one store call
(``wahub send``, ``account``, ``monitor``), called by ``wahub.cli``. Part of the composition root, with
``cli`` and ``runtime``.

``opened(settings)`` is the one place a command gets its database: it checks the database is there and at the
latest schema, and disposes the engines when the command ends. Light commands (``wahub apikey list``) import
this module, so its own imports stop at the store: the sandbox, the provider client, storage and the send
service are imported by the functions that use them (docs/benchmarks.md, "CLI start")."""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wahub import config, errors
from wahub.store import accounts, db, migrate
from wahub.store.crypto import Vault
from wahub.store.models import Account, Message, utcnow

if TYPE_CHECKING:
    from wahub.api.schemas import SendMessage
    from wahub.store import monitor


@dataclass(frozen=True, slots=True)
class Store:
    """The database of one command: the settings it was opened with, its engine (and the events file's, which
    is the same engine on PostgreSQL) and its sessions."""

    settings: config.Settings
    engine: AsyncEngine
    events_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def transaction(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back if it raises (``db.transaction``)."""
        return db.transaction(self.sessions)


@contextlib.asynccontextmanager
async def opened(settings: config.Settings) -> AsyncIterator[Store]:
    """The database of ``settings`` for one command, at the latest schema (``prepare``); its engines are disposed
    when the block ends."""
    prepare(settings)
    engine = db.create_engine(settings.database_url)
    events_engine = db.create_events_engine(settings.database_url, engine)
    try:
        yield Store(settings, engine, events_engine, db.sessionmaker(engine))
    finally:
        if events_engine is not engine:
            await events_engine.dispose()
        await engine.dispose()


def prepare(settings: config.Settings, *, create: bool = False) -> None:
    """SQLite is upgraded in place; PostgreSQL must already be at the latest revision (``wahub db upgrade``).
    Unless ``create`` (``serve``), a SQLite database that does not exist is refused: a command run from the
    wrong folder must not start an empty data folder there. Raises ``WahubError`` saying what is wrong in one
    line."""
    if not create:
        _require_database(settings)
    try:
        if db.is_sqlite(settings.database_url):
            migrate.upgrade(settings.database_url)
        elif not migrate.is_current(settings.database_url):
            raise errors.WahubError("the PostgreSQL schema is not up to date: run 'wahub db upgrade' first")
    except errors.WahubError as exc:
        raise errors.WahubError(exc.message) from exc
    except Exception as exc:  # the driver's own errors: unreachable server, bad credentials...
        raise errors.WahubError(f"cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc


def _require_database(settings: config.Settings) -> None:
    path = db.sqlite_path(settings.database_url)
    if not path or path == ":memory:" or Path(path).is_file():
        return
    file, folder = Path(path).absolute(), settings.data_dir.absolute()
    missing = f"no data folder {folder}" if file.parent == folder and not folder.is_dir() else f"no database {file}"
    raise errors.NotFound(
        f"{missing}: 'wahub serve' or 'wahub db upgrade' creates it; "
        "or point --data-dir (WAHUB_DATA_DIR) at your data folder"
    )


async def store_account_from_settings(
    settings: config.Settings, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    """Store the account configured by ``WAHUB_PHONE_NUMBER_ID`` and friends (``serve`` and the commands that
    send do it first)."""
    assert settings.phone_number_id and settings.access_token and settings.app_secret
    creds = accounts.Credentials(
        access_token=settings.access_token.get_secret_value(),
        app_secret=settings.app_secret.get_secret_value(),
        verify_token=settings.verify_token.get_secret_value() if settings.verify_token else None,
    )
    # Workers started together race to create the account: the loser finds it on its second try.
    for attempt in (1, 2):
        try:
            async with db.transaction(sessions) as session:
                await accounts.upsert_meta(
                    session,
                    vault,
                    name="default",
                    phone_number_id=settings.phone_number_id,
                    waba_id=settings.waba_id,
                    credentials=creds,
                )
            return
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise


async def store_twilio_account_from_settings(
    settings: config.Settings, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    """Store the Twilio account configured by ``WAHUB_TWILIO_ACCOUNT_SID`` and friends."""
    assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
    creds = accounts.TwilioCredentials(auth_token=settings.twilio_auth_token.get_secret_value())
    for attempt in (1, 2):
        try:
            async with db.transaction(sessions) as session:
                await accounts.upsert_twilio(
                    session,
                    vault,
                    name="twilio",
                    account_sid=settings.twilio_account_sid,
                    sender=settings.twilio_from,
                    credentials=creds,
                    messaging_service_sid=settings.twilio_messaging_service_sid,
                )
            return
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise


async def store_accounts_from_settings(
    settings: config.Settings, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    """Store every account the settings configure (Meta's, Twilio's, or both)."""
    if settings.phone_number_id:
        await store_account_from_settings(settings, sessions, vault)
    if settings.twilio_account_sid:
        await store_twilio_account_from_settings(settings, sessions, vault)


async def _store_configured_account(store: Store, secret_key: str, vault: Vault) -> None:
    """The configured account (or the sandbox's) is stored first, as ``serve`` does, so a command that sends
    works before any serve."""
    if store.settings.sandbox:
        from wahub import sandbox

        async with store.transaction() as session:
            await sandbox.ensure_account(session, vault, sandbox.credentials(secret_key))
    else:
        await store_accounts_from_settings(store.settings, store.sessions, vault)


async def ensure_configured_account(store: Store, secret_key: str) -> None:
    """Store the configured account (or the sandbox's), as ``serve`` does, for commands that act for it."""
    await _store_configured_account(store, secret_key, Vault(secret_key))


async def queue_send(store: Store, secret_key: str, body: SendMessage) -> Message:
    """``wahub send``: queue ``body`` as the API would; a running wahub's sender sends it. The configured
    account (or the sandbox's) is stored first, as ``serve`` does, so the command works before any serve."""
    from wahub.sending import service

    await _store_configured_account(store, secret_key, Vault(secret_key))
    async with store.transaction() as session:
        message, _contact = await service.queue(session, body.to_request())
        return message


async def window_warning(store: Store, message: Message, send_at: datetime | None) -> str | None:
    """``wahub send --at``: the warning ``POST /api/v1/messages`` gives when the window will be closed by then."""
    from wahub.store import outbound

    if send_at is None or message.type == "template" or message.group_id is not None or send_at <= utcnow():
        return None
    async with store.transaction() as session:
        return await outbound.window_warning(session, message.conversation_id, send_at)


async def update_account(
    store: Store,
    secret_key: str,
    phone_number_id: str | None,
    *,
    access_token: str | None,
    send_rate: int | None,
    opt_out_keyword: str | None = None,
) -> Account:
    """``wahub account update``: a new access token, send rate and/or opt-out keyword for a stored account."""
    async with store.transaction() as session:
        account = await accounts.default_sender(session, phone_number_id)
        await accounts.update(
            session,
            Vault(secret_key),
            account,
            access_token=access_token,
            send_rate=send_rate,
            opt_out_keyword=opt_out_keyword,
        )
        return account


async def add_account(
    store: Store,
    secret_key: str,
    *,
    name: str,
    phone_number_id: str,
    waba_id: str | None,
    creds: accounts.Credentials,
    send_rate: int | None,
) -> Account:
    """``wahub account add``: store a Meta account; a running wahub sends from it within seconds."""
    async with store.transaction() as session:
        if await accounts.by_phone_number_id(session, phone_number_id) is not None:
            raise errors.Conflict(
                f"an account with phone_number_id {phone_number_id} exists; change it with wahub account update"
            )
        return await accounts.upsert_meta(
            session,
            Vault(secret_key),
            name=name,
            phone_number_id=phone_number_id,
            waba_id=waba_id,
            credentials=creds,
            send_rate=send_rate,
        )


async def add_twilio_account(
    store: Store,
    secret_key: str,
    *,
    name: str,
    account_sid: str,
    sender: str,
    creds: accounts.TwilioCredentials,
    messaging_service_sid: str | None,
    send_rate: int | None,
) -> Account:
    """``wahub account add --provider twilio``: store a Twilio WhatsApp sender."""
    async with store.transaction() as session:
        if await accounts.by_sender(session, sender) is not None:
            raise errors.Conflict(f"an account with the sender {sender} exists; change it with wahub account update")
        return await accounts.upsert_twilio(
            session,
            Vault(secret_key),
            name=name,
            account_sid=account_sid,
            sender=sender,
            credentials=creds,
            messaging_service_sid=messaging_service_sid,
            send_rate=send_rate,
        )


async def test_account(store: Store, secret_key: str, phone_number_id: str | None) -> tuple[dict[str, Any], bool]:
    """``wahub account test``: ask the provider for the account with the stored credentials: Meta (the
    configured Graph URL) for the number and, through ``debug_token``, the token's kind and expiry (kept on the
    account, under ``token`` in the answer), Twilio (``WAHUB_TWILIO_URL`` or Twilio's own) for the account and
    its sender; a sandbox's account is asked of a fakegraph (faketwilio) started for the check. Returns the
    answer and whether it was a sandbox's."""
    import aiohttp

    from wahub import commands_tokens, sandbox
    from wahub.provider import base, meta
    from wahub.provider.graph import GraphClient
    from wahub.worker import numbers

    settings = store.settings
    vault = Vault(secret_key)
    async with store.transaction() as session:
        try:
            account = await accounts.default_sender(session, phone_number_id)
        except errors.NoAccount:
            if not settings.sandbox or phone_number_id not in (None, sandbox.PHONE_NUMBER_ID):
                raise
            # Stored as 'serve' stores it; only when missing, so a token set by 'account update' stays.
            account = await sandbox.ensure_account(session, vault, sandbox.credentials(secret_key))
        identity, is_sandbox = numbers.provider_account(account, vault), account.sandbox

    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        provider: base.Provider
        if identity.provider == accounts.TWILIO:
            from wahub import sandbox_twilio
            from wahub.provider import twilio

            twilio_url = settings.twilio_url
            if is_sandbox:
                twilio_url = await stack.enter_async_context(sandbox_twilio.running(secret_key))
            client = twilio.TwilioClient(http, twilio_url, timeout=15)
            provider = twilio.Twilio(client, identity, settings.public_url or "http://localhost", lambda _id: "")
        else:
            graph_url = settings.graph_url
            if is_sandbox:
                creds = sandbox.credentials(secret_key)
                graph_url = await stack.enter_async_context(sandbox.fakegraph_running(creds))
            graph = GraphClient(http, graph_url, settings.graph_version, timeout=15)
            info = await meta.Meta(graph, identity).check_account()
            info["token"] = await commands_tokens.looked_up(store, vault, account.id, graph, identity.token)
            return info, is_sandbox
        return await provider.check_account(), is_sandbox


async def remove_account(store: Store, phone_number_id: str) -> int:
    """``wahub account remove``: delete the account and, with it, its conversations and messages. Returns how
    many messages went."""
    async with store.transaction() as session:
        account = await accounts.by_sender(session, phone_number_id)
        if account is None:
            raise errors.NotFound(f"no account has phone_number_id {phone_number_id}")
        return await accounts.remove(session, account)


async def monitor_snapshot(store: Store, days: float = 0) -> monitor.Snapshot:
    """What ``wahub monitor`` (and ``account list``) shows, read without taking a write lock."""
    from wahub.store import monitor

    readers = db.sessionmaker(store.engine, readonly=True)
    event_readers = db.sessionmaker(store.events_engine, readonly=True)
    async with readers() as session, event_readers() as event_session:
        return await monitor.snapshot(session, event_session, days)


async def queue_file_send(
    store: Store,
    secret_key: str,
    path: Path,
    *,
    to: str,
    caption: str | None,
    sender: str | None,
    entities: list[dict[str, str]] | None = None,
) -> Message:
    """``wahub send --file``: keep the file in wahub's storage as the API's upload does, then queue it as an
    image, video, audio, sticker or document (by its type); the running sender uploads it to Meta."""
    from wahub import domain, storage
    from wahub.api import schemas
    from wahub.sending import service
    from wahub.storage import uploads
    from wahub.store import media

    # Meta's types by extension first (the system's table may lack .xlsx or call .3gp audio), then the system's.
    mime = domain.media_type(None, path.name) or mimetypes.guess_type(path.name)[0]
    blobs = storage.from_url(store.settings.storage_url)
    with path.open("rb") as fh:

        async def read(n: int) -> bytes:
            return fh.read(n)

        async def rewind() -> int:
            return fh.seek(0)

        kept = await uploads.keep(blobs, read, rewind, mime)
    kind = uploads.kind_of(kept.mime_type)
    await _store_configured_account(store, secret_key, Vault(secret_key))
    async with store.transaction() as session:
        account = await accounts.default_sender(session, sender)
        item = await media.register_upload(session, account, kept, path.name)
        obj: dict[str, Any] = {"wahub_media_id": item.id}
        if kind == "document":
            obj["filename"] = item.filename or path.name
        if caption and kind in ("image", "video", "document"):
            obj["caption"] = caption
        raw: dict[str, Any] = {"to": to, "type": kind, kind: obj, **({"from": sender} if sender else {})}
        if entities:
            raw["entities"] = entities
        message, _contact = await service.queue(session, schemas.SendMessage.model_validate(raw).to_request())
        return message


async def run_report(store: Store, secret_key: str, name: str) -> tuple[int, Any]:
    """``wahub report run``: build report ``name`` here, store it, and queue its sends (a running wahub's sender
    sends them); returns the run's id and ``automations.reports.Outcome``. The configured account is stored
    first, as for ``wahub send``."""
    from wahub import storage
    from wahub.automations import reports

    await _store_configured_account(store, secret_key, Vault(secret_key))
    blobs = storage.from_url(store.settings.storage_url)
    return await reports.run_now(store.sessions, blobs, store.settings, name)
