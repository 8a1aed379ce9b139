"""Importing a chat export, by ``wahub import chat`` and ``POST /api/v1/imports``, on SQLite and PostgreSQL: the
messages land in the chat's conversation marked imported, authors become contacts (by number when written as
one), the zip's media are stored under their SHA-256 and linked, and a second import of the same export, or of
a later one that overlaps it, adds nothing twice."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, VERIFY_TOKEN, WABA_ID
from wahub import cli
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, Contact, Conversation, Media, Message

LRM = "\u200e"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # not a real picture: bytes to hash
VOICE = b"OggS" + b"\x01" * 5000
CHAT = f"""\
20/01/2024, 09:05 - Messages and calls are end-to-end encrypted. No one outside of this chat can read them.
20/01/2024, 09:06 - Ana Gómez: Hola, ¿tenéis talla M?
20/01/2024, 09:07 - Shop: Sí,
la tenemos en azul.
20/01/2024, 09:07 - Ana Gómez: ok
20/01/2024, 09:07 - Ana Gómez: ok
21/01/2024, 18:30 - Ana Gómez: IMG-20240121-WA0003.jpg (file attached)
Mi recibo
21/01/2024, 18:31 - Ana Gómez: PTT-20240121-WA0004.opus (file attached)
21/01/2024, 18:32 - Ana Gómez: VID-20240121-WA0005.mp4 (file attached)
21/01/2024, 18:33 - Ana Gómez: <Media omitted>
21/01/2024, 18:34 - Shop: You deleted this message
"""
LATER = """\
21/01/2024, 18:34 - Shop: You deleted this message
22/01/2024, 10:00 - Ana Gómez: ¡Gracias!
22/01/2024, 10:01 - Shop: A ti
"""


def make_zip(
    path: Path, chat: str, files: dict[str, bytes], chat_name: str = "WhatsApp Chat with Ana Gómez.txt"
) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(chat_name, chat.encode())
        for name, data in files.items():
            z.writestr(name, data)
    return path


def seed(database_url: str) -> None:
    async def run() -> None:
        engine = db.create_engine(database_url)
        try:
            async with db.transaction(db.sessionmaker(engine)) as session:
                await accounts.upsert_meta(
                    session,
                    Vault(SECRET_KEY),
                    name="test",
                    phone_number_id=PHONE_NUMBER_ID,
                    waba_id=WABA_ID,
                    credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def wahub(tmp_path: Path, database_url: str, *args: str) -> Result:
    options = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    return CliRunner().invoke(cli.app, [*args, *options], env={"WAHUB_SECRET_KEY": SECRET_KEY})


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Message, Contact]]:
    async with sessions() as session:
        stmt = sa.select(Message, Contact).join(Contact, Contact.id == Message.contact_id).order_by(Message.id)
        return list((await session.execute(stmt)).tuples())


def read(database_url: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = db.create_engine(database_url)
        try:
            sessions = db.sessionmaker(engine)
            found = await rows(sessions)
            async with sessions() as session:
                media = list(await session.scalars(sa.select(Media).order_by(Media.id)))
                threads = list(await session.scalars(sa.select(Conversation)))
            return {"messages": found, "media": media, "conversations": threads}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_cli_imports_a_zip_with_media_once(tmp_path: Path, database_url: str) -> None:
    seed(database_url)
    export = make_zip(
        tmp_path / "WhatsApp Chat with Ana Gómez.zip",
        CHAT,
        {"IMG-20240121-WA0003.jpg": PHOTO, "PTT-20240121-WA0004.opus": VOICE},
    )
    first = wahub(tmp_path, database_url, "import", "chat", str(export), "--me", "Shop", "--tz", "Europe/Madrid")
    assert first.exit_code == 0, first.output
    last = first.stdout.strip().splitlines()[-1]
    assert last == "added 10, already there 0, media stored 2, media missing 1, skipped lines 0", first.output
    assert "line 10: attachment VID-20240121-WA0005.mp4: not in the export" in first.stderr

    state = read(database_url)
    messages = state["messages"]
    assert all(m.imported and m.import_key and m.wamid is None for m, _ in messages)
    assert len(state["conversations"]) == 1
    assert {m.conversation_id for m, _ in messages} == {state["conversations"][0].id}
    by_text = {(m.content.get("text") or {}).get("body"): (m, c) for m, c in messages}
    hola, ana = by_text["Hola, ¿tenéis talla M?"]
    assert (hola.direction, hola.status, ana.saved_name, ana.wa_id) == ("inbound", "received", "Ana Gómez", None)
    assert ana.user_id == "import:Ana Gómez"
    # Madrid is UTC+1 in January: 09:06 there is 08:06 UTC.
    assert hola.provider_timestamp == datetime(2024, 1, 20, 8, 6, tzinfo=UTC)
    reply, to = by_text["Sí,\nla tenemos en azul."]
    assert (reply.direction, reply.status, to.id) == ("outbound", "sent", ana.id)
    assert reply.sent_at == datetime(2024, 1, 20, 8, 7, tzinfo=UTC)
    kinds = [(m.type, m.direction) for m, _ in messages]
    assert kinds == [
        ("system", "inbound"),
        ("text", "inbound"),
        ("text", "outbound"),
        ("text", "inbound"),
        ("text", "inbound"),
        ("image", "inbound"),
        ("audio", "inbound"),
        ("video", "inbound"),
        ("unsupported", "inbound"),
        ("text", "outbound"),
    ]
    deleted = messages[-1][0]
    assert deleted.content == {} and deleted.revoked_at is not None and deleted.direction == "outbound"

    image = next(m for m, _ in messages if m.type == "image")
    photo = next(x for x in state["media"] if x.id == image.media_id)
    sha = hashlib.sha256(PHOTO).hexdigest()
    assert (photo.sha256, photo.size, photo.state, photo.filename) == (
        sha,
        len(PHOTO),
        "stored",
        "IMG-20240121-WA0003.jpg",
    )
    assert image.content["image"] == {
        "filename": "IMG-20240121-WA0003.jpg",
        "mime_type": "image/jpeg",
        "sha256": sha,
        "caption": "Mi recibo",
    }
    stored = tmp_path / "data" / "media" / "sha256" / sha[:2] / sha[2:4] / sha
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    video = next(m for m, _ in messages if m.type == "video")
    assert video.media_id is None and video.content["video"]["filename"] == "VID-20240121-WA0005.mp4"
    assert sorted(m.content.get("text", {}).get("body", "") for m, _ in messages).count("ok") == 2

    again = wahub(tmp_path, database_url, "import", str(export), "--me", "Shop", "--tz", "Europe/Madrid")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1].startswith("added 0, already there 10, media stored 0")
    assert len(read(database_url)["messages"]) == 10
