"""A text export read back by the chat-export import (issue 19's round trip), on SQLite and PostgreSQL: exported
to WhatsApp's layout with its files, imported into a fresh account, the messages are the same (authors, times
to the minute, texts with their line breaks, media bytes), and exporting the import gives the same files."""

from __future__ import annotations

import io
import zipfile

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, WABA_ID
from tests.integration.export_seed import NUMBER, PDF, PHOTO, TXT, seed
from wahub.api.context import AppContext
from wahub.exports import archive, bundle, render
from wahub.imports import chat_importer
from wahub.imports.chat_source import Export
from wahub.storage.base import BlobStore
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, Media, Message, utcnow


async def exported(sessions: async_sessionmaker[AsyncSession], storage: BlobStore, conversation_id: int) -> bytes:
    async with sessions() as session:
        chosen = await bundle.plan(session, conversation_id, bundle.Format.TXT)
    out = io.BytesIO()
    await bundle.write(sessions, storage, chosen, out, zone=bundle.UTC, now=utcnow())
    return out.getvalue()


async def shown(sessions: async_sessionmaker[AsyncSession], storage: BlobStore, conversation_id: int) -> list[tuple]:
    """What each message of the conversation shows: direction, author, minute, type, text, file bytes."""
    out = []
    async with sessions() as session:
        head = await archive.header(session, conversation_id)
    async for page in archive.pages(sessions, head):
        for item in page:
            m = item.message
            if m.type == "reaction":
                continue  # an export shows a reaction on its message, not as a line
            data = None
            if item.media is not None and item.media.storage_key:
                data = b"".join([chunk async for chunk in storage.read(item.media.storage_key)])
            minute = archive.at(m).replace(second=0, microsecond=0)
            out.append((m.direction, item.author, minute, m.type, render.words(m), data))
    return out


async def test_export_txt_then_import_gives_the_same_messages(ctx: AppContext, account: Account, vault: Vault) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    first = await exported(ctx.sessions, ctx.storage, seeded.conversation_id)
    async with db.transaction(ctx.sessions) as session:
        fresh = await accounts.upsert_meta(
            session,
            vault,
            name="test",  # the business side's name in the export
            phone_number_id="9988776655",
            waba_id=WABA_ID,
            credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
        )
    report = await chat_importer.run(
        ctx.sessions,
        ctx.storage,
        Export(io.BytesIO(first), f"conversation-{seeded.conversation_id}.zip"),
        chat_importer.Options(phone_number_id="9988776655"),
    )
    assert (report.me, report.added, report.media_stored, report.skipped) == ("test", 7, 2, [])
    imported_conversation = report.conversation_id
    async with ctx.sessions() as session:
        media_account = {
            m.account_id
            for m in await session.scalars(
                sa.select(Media)
                .join(Message, Message.media_id == Media.id)
                .where(Message.conversation_id == imported_conversation)
            )
        }
    assert media_account == {fresh.id}

    before = await shown(ctx.sessions, ctx.storage, seeded.conversation_id)
    after = await shown(ctx.sessions, ctx.storage, imported_conversation)
    assert [row[:3] for row in after] == [row[:3] for row in before], "authors and times to the minute"
    assert [row[4] for row in after] == [row[4] for row in before], "texts with their line breaks"
    assert [row[5] for row in after] == [row[5] for row in before] and PHOTO in [r[5] for r in after]
    assert [row[3] for row in after] == ["text", "text", "text", "image", "document", "text", "system"]

    again = await exported(ctx.sessions, ctx.storage, imported_conversation)
    with zipfile.ZipFile(io.BytesIO(again)) as z:
        assert z.read(f"WhatsApp Chat with +{NUMBER}.txt").decode() == TXT
        assert z.read("IMG-20260120-WA0001.jpg") == PHOTO and z.read("invoice 7.pdf") == PDF
