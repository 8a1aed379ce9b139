"""The work of the CLI's one-off commands (``wahub send``, ``apikey``, ``account``, ``media retry``,
``monitor``), called by ``cli.py``: each opens a short-lived engine, does its work in one transaction and
closes it. Part of the composition root, with ``cli.py`` and ``runtime.py``."""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import config, domain, errors, runtime, sandbox, storage
from wahub.api.schemas import SendMessage
from wahub.provider import base, meta
from wahub.provider.graph import GraphClient
from wahub.sending import service
from wahub.store import accounts, apikeys, db, media, monitor, uploads
from wahub.store.crypto import Vault
from wahub.store.models import Account, ApiKey, Message

T = TypeVar("T")


async def _in_one_transaction(settings: config.Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on a short-lived engine: the CLI's one-off commands."""
    engine = db.create_engine(settings.database_url)
    try:
        async with db.transaction(db.sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


async def _store_configured_account(
    settings: config.Settings, secret_key: str, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    """The configured account (or the sandbox's) is stored first, as ``serve`` does, so a command that sends
    works before any serve."""
    if settings.sandbox:
        async with db.transaction(sessions) as session:
            await sandbox.ensure_account(session, vault, sandbox.credentials(secret_key))
    elif settings.phone_number_id:
        await runtime._account_from_settings(settings, sessions, vault)


async def queue_send(settings: config.Settings, secret_key: str, body: SendMessage) -> Message:
    """``wahub send``: queue ``body`` as the API would; a running wahub's sender sends it. The configured
    account (or the sandbox's) is stored first, as ``serve`` does, so the command works before any serve."""
    engine = db.create_engine(settings.database_url)
    sessions = db.sessionmaker(engine)
    try:
        await _store_configured_account(settings, secret_key, sessions, Vault(secret_key))
        async with db.transaction(sessions) as session:
            message, _contact = await service.queue(session, body.to_request())
            return message
    finally:
        await engine.dispose()


async def update_account(
    settings: config.Settings,
    secret_key: str,
    phone_number_id: str | None,
    *,
    access_token: str | None,
    send_rate: int | None,
) -> Account:
    async def work(session: AsyncSession) -> Account:
        account = await accounts.default_sender(session, phone_number_id)
        await accounts.update(session, Vault(secret_key), account, access_token=access_token, send_rate=send_rate)
        return account

    return await _in_one_transaction(settings, work)


async def create_api_key(settings: config.Settings, name: str) -> tuple[ApiKey, str]:
    return await _in_one_transaction(settings, lambda session: apikeys.create(session, name))


async def revoke_api_key(settings: config.Settings, prefix: str) -> None:
    await _in_one_transaction(settings, lambda session: apikeys.revoke(session, prefix))


async def list_api_keys(settings: config.Settings) -> list[ApiKey]:
    return await _in_one_transaction(settings, apikeys.list_keys)


async def add_account(
    settings: config.Settings,
    secret_key: str,
    *,
    name: str,
    phone_number_id: str,
    waba_id: str | None,
    creds: accounts.Credentials,
    send_rate: int | None,
) -> Account:
    """``wahub account add``: store a Meta account; a running wahub sends from it within seconds."""

    async def work(session: AsyncSession) -> Account:
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

    return await _in_one_transaction(settings, work)


async def test_account(
    settings: config.Settings, secret_key: str, phone_number_id: str | None
) -> tuple[dict[str, Any], bool]:
    """``wahub account test``: ask Meta (the configured Graph URL) for the number with the stored token; the
    sandbox's number is asked of a fakegraph started for the check. Returns the answer and whether it was the
    sandbox's."""
    vault = Vault(secret_key)

    async def stored(session: AsyncSession) -> tuple[base.Account, bool]:
        try:
            account = await accounts.default_sender(session, phone_number_id)
        except errors.NoAccount:
            if not settings.sandbox or phone_number_id not in (None, sandbox.PHONE_NUMBER_ID):
                raise
            # Stored as 'serve' stores it; only when missing, so a token set by 'account update' stays.
            account = await sandbox.ensure_account(session, vault, sandbox.credentials(secret_key))
        token = accounts.credentials(account, vault).access_token
        return base.Account(account.provider, account.phone_number_id or "", token), account.sandbox

    identity, is_sandbox = await _in_one_transaction(settings, stored)
    async with contextlib.AsyncExitStack() as stack:
        graph_url = settings.graph_url
        if is_sandbox:
            graph_url = await stack.enter_async_context(sandbox.fakegraph_running(sandbox.credentials(secret_key)))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        provider = meta.Meta(GraphClient(http, graph_url, settings.graph_version, timeout=15), identity)
        return await provider.check_account(), is_sandbox


async def remove_account(settings: config.Settings, phone_number_id: str) -> int:
    """``wahub account remove``: delete the account and, with it, its conversations and messages. Returns how
    many messages went."""

    async def work(session: AsyncSession) -> int:
        account = await accounts.by_phone_number_id(session, phone_number_id)
        if account is None:
            raise errors.NotFound(f"no account has phone_number_id {phone_number_id}")
        return await accounts.remove(session, account)

    return await _in_one_transaction(settings, work)


async def monitor_snapshot(settings: config.Settings, days: float = 0) -> monitor.Snapshot:
    engine = db.create_engine(settings.database_url)
    events_engine = db.create_events_engine(settings.database_url, engine)
    try:
        readers = db.sessionmaker(engine, readonly=True)
        event_readers = db.sessionmaker(events_engine, readonly=True)
        async with readers() as session, event_readers() as event_session:
            return await monitor.snapshot(session, event_session, days)
    finally:
        await events_engine.dispose()
        await engine.dispose()


async def retry_media(settings: config.Settings, media_id: int | None) -> int:
    return await _in_one_transaction(settings, lambda session: media.retry_failed(session, media_id))


async def queue_file_send(
    settings: config.Settings,
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
    # Meta's types by extension first (the system's table may lack .xlsx or call .3gp audio), then the system's.
    mime = domain.media_type(None, path.name) or mimetypes.guess_type(path.name)[0]
    store = storage.from_url(settings.storage_url)
    with path.open("rb") as fh:

        async def read(n: int) -> bytes:
            return fh.read(n)

        async def rewind() -> int:
            return fh.seek(0)

        kept = await uploads.keep(store, read, rewind, mime)
    kind = uploads.kind_of(kept.mime_type)
    engine = db.create_engine(settings.database_url)
    try:
        await _store_configured_account(settings, secret_key, db.sessionmaker(engine), Vault(secret_key))
        async with db.transaction(db.sessionmaker(engine)) as session:
            account = await accounts.default_sender(session, sender)
            item = await uploads.register(session, account, kept, path.name)
            obj: dict[str, Any] = {"wahub_media_id": item.id}
            if kind == "document":
                obj["filename"] = item.filename or path.name
            if caption and kind in ("image", "video", "document"):
                obj["caption"] = caption
            raw: dict[str, Any] = {"to": to, "type": kind, kind: obj, **({"from": sender} if sender else {})}
            if entities:
                raw["entities"] = entities
            message, _contact = await service.queue(session, SendMessage.model_validate(raw).to_request())
            return message
    finally:
        await engine.dispose()
