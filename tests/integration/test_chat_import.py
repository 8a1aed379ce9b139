"""Importing a chat export, by ``wahub import chat`` and ``POST /api/v1/imports``, on SQLite and PostgreSQL: the
messages land in the chat's conversation marked imported, authors become contacts (by number when written as
one), the zip's media are stored under their SHA-256 and linked, and a second import of the same export, or of
a later one that overlaps it, adds nothing twice."""

from __future__ import annotations

import asyncio
import hashlib
import re
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
from wahub.store import accounts, db, users
from wahub.store.crypto import Vault
from wahub.store.models import Contact, Conversation, Media, Message

LRM = "\u200e"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # not a real picture: bytes to hash
VOICE = b"OggS" + b"\x01" * 5000
CHAT = """\
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
    assert (
        last
        == "added 10, already there 0, matched with live/history 0, media stored 2, media missing 1, skipped lines 0"
    ), first.output
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
    assert (
        again.stdout.strip()
        .splitlines()[-1]
        .startswith("added 0, already there 10, matched with live/history 0, media stored 0")
    )
    assert len(read(database_url)["messages"]) == 10


async def test_api_import_then_an_overlapping_later_export_adds_only_what_is_new(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    export = make_zip(
        tmp_path / "chat.zip", CHAT, {"IMG-20240121-WA0003.jpg": PHOTO, "PTT-20240121-WA0004.opus": VOICE}
    )
    form = {"me": "Shop", "tz": "UTC"}
    first = await client.post("/api/v1/imports", data=form, files={"file": ("chat.zip", export.read_bytes())})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["added"], body["already"], body["media_stored"], body["chat"]) == (10, 0, 2, "Ana Gómez")
    assert body["media_missing"] == [{"line": 10, "reason": "VID-20240121-WA0005.mp4: not in the export"}]
    later = await client.post("/api/v1/imports", data=form, files={"file": ("_chat.txt", LATER.encode())})
    assert later.status_code == 200, later.text
    assert (later.json()["added"], later.json()["already"]) == (2, 1)
    assert later.json()["conversation_id"] == body["conversation_id"]
    again = await client.post("/api/v1/imports", data=form, files={"file": ("chat.zip", export.read_bytes())})
    assert (again.json()["added"], again.json()["already"], again.json()["media_stored"]) == (0, 10, 0)

    listed = await client.get("/api/v1/messages", params={"conversation_id": body["conversation_id"]})
    assert listed.status_code == 200, listed.text
    shown = listed.json()["items"]
    assert len(shown) == 12 and all(m["imported"] for m in shown)
    found = await rows(sessions)
    assert len(found) == 12
    assert [m.content["text"]["body"] for m, _ in found[-2:]] == ["¡Gracias!", "A ti"]
    audio = next(m for m, _ in found if m.type == "audio")
    async with sessions() as session:
        voice = await session.get(Media, audio.media_id)
        conversation = await session.get(Conversation, body["conversation_id"])
    assert voice is not None and voice.sha256 == hashlib.sha256(VOICE).hexdigest() and voice.mime_type == "audio/ogg"
    assert conversation is not None and conversation.last_message_at == datetime(2024, 1, 22, 10, 1, tzinfo=UTC)
    assert conversation.unread_count == 0 and conversation.last_inbound_at is None  # history opens no window


IOS_GROUP = f"""\
[03/02/24, 10:00:01] Friends: {LRM}Messages and calls are end-to-end encrypted.
[03/02/24, 10:00:02] Friends: {LRM}Ana created this group
[03/02/24, 10:01:00] Ana: Hi all
[03/02/24, 10:02:00] {LRM}+34\u00a0612\u00a034\u00a056\u00a078: {LRM}<attached: 00000003-AUDIO-2024-02-03-10-02-00.opus>
[14/02/24, 10:05:00] Bob: see you
"""


async def test_api_ios_group_export_goes_to_the_group_with_numbers_as_contacts(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    export = make_zip(
        tmp_path / "group.zip", IOS_GROUP, {"00000003-AUDIO-2024-02-03-10-02-00.opus": VOICE}, chat_name="_chat.txt"
    )
    answer = await client.post(
        "/api/v1/imports", data={"me": "Bob"}, files={"file": ("group.zip", export.read_bytes())}
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["chat"], answer.json()["added"], answer.json()["media_stored"]) == ("Friends", 5, 1)
    found = await rows(sessions)
    async with sessions() as session:
        group = await session.scalar(sa.select(Contact).where(Contact.user_id == "import-group:Friends"))
    assert group is not None and group.saved_name == "Friends"
    assert {m.conversation_id for m, _ in found} == {answer.json()["conversation_id"]}
    by_type = [(m.type, m.direction, c.wa_id, c.user_id) for m, c in found]
    assert by_type == [
        ("system", "inbound", None, "import-group:Friends"),
        ("system", "inbound", None, "import-group:Friends"),
        ("text", "inbound", None, "import:Ana"),
        ("audio", "inbound", "34612345678", None),
        ("text", "outbound", None, "import-group:Friends"),
    ]


async def test_api_bad_exports_are_422_saying_why(client: httpx.AsyncClient, tmp_path: Path) -> None:
    only_media = tmp_path / "m.zip"
    with zipfile.ZipFile(only_media, "w") as z:
        z.writestr("IMG-1.jpg", PHOTO)
    ambiguous = b"01/02/24, 10:00 - Ana: one\n03/04/24, 10:00 - Ana: two\n"
    for name, data, extra, field, says in (
        ("notes.txt", b"hello\nworld\n", {}, "file", "not a WhatsApp chat export"),
        ("empty.txt", b"", {}, "file", "the file is empty"),
        ("media.zip", only_media.read_bytes(), {}, "file", "holds no chat text"),
        ("broken.zip", b"PK\x03\x04 not really", {}, "file", "is not a zip file"),
        ("_chat.txt", ambiguous, {}, "file", "--date-order"),
        ("_chat.txt", ambiguous, {"date_order": "DXM"}, "date_order", "one of DMY, MDY, YMD"),
        ("_chat.txt", ambiguous, {"tz": "Mars/Olympus"}, "tz", "not an IANA time zone"),
        ("_chat.txt", ambiguous, {"date_order": "DMY", "me": "Nobody"}, "me", "wrote nothing in this export"),
    ):
        answer = await client.post("/api/v1/imports", data=extra, files={"file": (name, data)})
        assert answer.status_code == 422, (name, answer.text)
        error = answer.json()["error"]
        assert says in error["message"] and error["details"].get("field") == field, (name, error)
    ok = await client.post("/api/v1/imports", data={"date_order": "MDY"}, files={"file": ("_chat.txt", ambiguous)})
    assert ok.status_code == 200 and ok.json()["added"] == 2, ok.text
    missing = await client.post("/api/v1/imports", data={"me": "x"})
    assert missing.status_code == 422


async def test_api_import_needs_an_admin(anon: httpx.AsyncClient) -> None:
    answer = await anon.post("/api/v1/imports", files={"file": ("_chat.txt", CHAT.encode())})
    assert answer.status_code == 401


def test_cli_bad_input_is_a_usage_error_and_skipped_lines_are_reported(tmp_path: Path, database_url: str) -> None:
    seed(database_url)
    no_chat = tmp_path / "media.zip"
    with zipfile.ZipFile(no_chat, "w") as z:
        z.writestr("IMG-1.jpg", PHOTO)
    cases = {
        "empty.txt": (b"", "the file is empty"),
        "notes.txt": (b"hello\n", "not a WhatsApp chat export"),
        "ambiguous.txt": (b"01/02/24, 10:00 - Ana: one\n03/04/24, 10:00 - Ana: two\n", "--date-order"),
    }
    for name, (data, says) in cases.items():
        (tmp_path / name).write_bytes(data)
        result = wahub(tmp_path, database_url, "import", "chat", str(tmp_path / name))
        assert result.exit_code == 2 and says in result.stderr, (name, result.output)
    result = wahub(tmp_path, database_url, "import", "chat", str(no_chat))
    assert result.exit_code == 2 and "holds no chat text" in result.stderr, result.output
    result = wahub(tmp_path, database_url, "import", str(tmp_path / "nope.zip"))
    assert result.exit_code == 2, result.output
    result = wahub(tmp_path, database_url, "import", str(tmp_path / "ambiguous.txt"), "--tz", "Nowhere/City")
    assert result.exit_code == 2 and "--tz" in result.stderr, result.output

    skipping = tmp_path / "skipping.txt"
    skipping.write_text("Chat exported by a tool\n20/01/2024, 25:00 - Ana: late\n21/01/2024, 10:00 - Ana: a\n")
    result = wahub(tmp_path, database_url, "import", "--date-order", "dmy", str(skipping))  # options first
    assert result.exit_code == 0, result.output
    assert "line 1: skipped: text before the first message (no date and time)" in result.stderr
    assert "line 2: skipped: '25:00' is not a time" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "added 1, already there 0, matched with live/history 0, media stored 0, media missing 0, skipped lines 2"
    )


async def test_api_who_is_the_business_side(client: httpx.AsyncClient) -> None:
    two = "20/01/2024, 09:06 - Ana Gómez: Hola\n20/01/2024, 09:07 - Shop: Hola Ana\n".encode()
    named = await client.post("/api/v1/imports", files={"file": ("WhatsApp Chat with Ana Gómez.txt", two)})
    assert named.status_code == 200, named.text
    assert (named.json()["me"], named.json()["chat"], named.json()["added"]) == ("Shop", "Ana Gómez", 2)
    unnamed = await client.post("/api/v1/imports", files={"file": ("_chat.txt", two)})
    assert unnamed.status_code == 422
    assert unnamed.json()["error"]["details"]["field"] == "me"
    assert "Ana Gómez and Shop" in unnamed.json()["error"]["message"]
    three = two + b"20/01/2024, 09:08 - Bob: Hola\n"
    group = await client.post("/api/v1/imports", data={"me": "Shop"}, files={"file": ("_chat.txt", three)})
    assert group.status_code == 422 and group.json()["error"]["details"]["field"] == "group", group.text
    named_group = await client.post(
        "/api/v1/imports", data={"me": "Shop", "group": "Clientes"}, files={"file": ("_chat.txt", three)}
    )
    assert (named_group.json()["chat"], named_group.json()["added"]) == ("Clientes", 3), named_group.text


async def test_the_inbox_marks_imported_messages(
    client: httpx.AsyncClient, base_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    answer = await client.post("/api/v1/imports", data={"me": "Shop"}, files={"file": ("_chat.txt", LATER.encode())})
    assert answer.status_code == 200, answer.text
    async with db.transaction(sessions) as session:
        await users.add(session, "ada@example.com", "Ada", "admin", "a long enough password")
    async with httpx.AsyncClient(base_url=base_url) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', (await browser.get("/login")).text)
        assert token is not None
        form = {"email": "ada@example.com", "password": "a long enough password", "csrf_token": token.group(1)}
        assert (await browser.post("/login", data=form)).status_code == 303
        page = (await browser.get(f"/c/{answer.json()['conversation_id']}")).text
    assert "¡Gracias!" in page
    assert page.count('title="read from a chat export">imported</span>') == 3
