"""Exporting conversations (``wahub export``, ``GET /api/v1/conversations/{id}/export``) on SQLite and
PostgreSQL: each format's content, the media files in the zip with their bytes, an agent kept from a hidden
conversation, every conversation of an account into the storage backend, and bad input."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, VERIFY_TOKEN, WABA_ID
from tests.integration.export_seed import MARKUP, NUMBER, PDF, PHOTO, TXT, Seeded, seed
from tests.integration.test_roles import assign, signed_in, user_id
from wahub import cli, config, storage
from wahub.api.context import AppContext
from wahub.exports import archive
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account, Message

__all__ = ["signed_in"]  # the fixture, shared with test_roles


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


async def test_html_export_is_a_zip_readable_offline_with_its_media(
    ctx: AppContext, account: Account, client: httpx.AsyncClient
) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    answer = await client.get(f"/api/v1/conversations/{seeded.conversation_id}/export", params={"format": "html"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert f"conversation-{seeded.conversation_id}.zip" in answer.headers["content-disposition"]
    files = unzip(answer.content)
    assert files["media/IMG-20260120-WA0001.jpg"] == PHOTO
    assert files["media/invoice 7.pdf"] == PDF
    html = files["index.html"].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bye&lt;/b&gt;" in html
    assert "<script" not in html and "<b>bye" not in html
    assert not re.search(r"(?:https?:)?//", html), "no reference outside the zip"
    assert sorted(re.findall(r'(?:src|href)="([^"#]+)"', html)) == [
        "media/IMG-20260120-WA0001.jpg",
        "media/IMG-20260120-WA0001.jpg",
        "media/invoice%207.pdf",
    ]
    shown = [int(i) for i in re.findall(r'id="m(\d+)"', html)]
    reaction = seeded.message_ids[5]
    assert shown == [i for i in seeded.message_ids if i != reaction], "time order; the reaction shows on its message"
    assert 'class="tick read"' in html and "👍" in html and "line one\nline two\n\nline four" in html
    assert f'href="#m{seeded.message_ids[1]}"' in html, "the reply links to the message it answers"
    assert "Message undeliverable (code 131026)" in html
    assert "📄 invoice 7.pdf" in html


async def test_txt_export_is_whatsapps_android_layout_with_the_files_alongside(
    ctx: AppContext, account: Account, client: httpx.AsyncClient
) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    answer = await client.get(f"/api/v1/conversations/{seeded.conversation_id}/export", params={"format": "txt"})
    assert answer.status_code == 200, answer.text
    files = unzip(answer.content)
    assert set(files) == {f"WhatsApp Chat with +{NUMBER}.txt", "IMG-20260120-WA0001.jpg", "invoice 7.pdf"}
    assert files[f"WhatsApp Chat with +{NUMBER}.txt"].decode() == TXT
    assert files["IMG-20260120-WA0001.jpg"] == PHOTO and files["invoice 7.pdf"] == PDF


async def test_txt_export_without_files_is_the_bare_text_in_the_asked_time_zone(
    ctx: AppContext, account: Account, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    async with db.transaction(sessions) as session:
        await session.execute(sa.update(Message).values(media_id=None))
    answer = await client.get(
        f"/api/v1/conversations/{seeded.conversation_id}/export", params={"format": "txt", "tz": "Europe/Madrid"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.splitlines()[:2] == [
        "20/01/2026, 10:30 - +34612345678: from the history",
        f"20/01/2026, 11:00 - +34612345678: {MARKUP}",
    ]
    assert "20/01/2026, 11:02 - +34612345678: <Media omitted>\na photo\n" in answer.text


async def test_json_export_has_every_message_with_its_fields_statuses_and_raw_json(
    ctx: AppContext, account: Account, client: httpx.AsyncClient
) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    answer = await client.get(f"/api/v1/conversations/{seeded.conversation_id}/export", params={"format": "json"})
    assert answer.status_code == 200, answer.text
    files = unzip(answer.content)
    assert files["media/IMG-20260120-WA0001.jpg"] == PHOTO
    doc = json.loads(files["conversation.json"])
    assert doc["conversation"]["id"] == seeded.conversation_id
    assert doc["contact"]["wa_id"] == NUMBER and [c["wa_id"] for c in doc["contacts"]] == [NUMBER]
    assert doc["account"]["phone_number_id"] == account.phone_number_id and "credentials" not in doc["account"]
    messages = doc["messages"]
    assert [m["id"] for m in messages] == seeded.message_ids, "every message, the reaction too, in time order"
    reply = messages[2]
    assert reply["content"] == {"text": {"body": "line one\nline two\n\nline four"}}
    assert reply["raw"] == {"seeded": 1} and reply["reactions"] == {NUMBER: "👍"}
    assert reply["quoted_message_id"] == seeded.message_ids[1]
    assert [(s["status"], s["recipient"]) for s in reply["statuses"]] == [("read", NUMBER)]
    assert messages[3]["media"]["file"] == "media/IMG-20260120-WA0001.jpg"
    assert messages[3]["media"]["sha256"] and messages[3]["provider_timestamp"] == "2026-01-20T10:02:00+00:00"
    assert messages[-2]["error_code"] == 131026 and messages[-1]["type"] == "system"


async def test_pages_follow_time_then_id_across_page_boundaries(ctx: AppContext, account: Account) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    async with db.transaction(ctx.sessions) as session:
        # Two messages in the same second: the id decides, also where a page ends between them.
        first = await session.get(Message, seeded.message_ids[3])
        assert first is not None
        await session.execute(
            sa.update(Message)
            .where(Message.id == seeded.message_ids[4])
            .values(provider_timestamp=first.provider_timestamp)
        )
    async with ctx.sessions() as session:
        head = await archive.header(session, seeded.conversation_id)
    found = [item.message.id async for page in archive.pages(ctx.sessions, head, size=2) for item in page]
    assert found == seeded.message_ids


async def test_an_agent_exports_what_they_may_see_and_gets_404_for_a_hidden_conversation(
    ctx: AppContext, account: Account, signed_in, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    bo = await signed_in("bo@example.com", "agent")
    await signed_in("cy@example.com", "agent")
    path = f"/api/v1/conversations/{seeded.conversation_id}/export"
    assert (await bo.get(path, params={"format": "json"})).status_code == 200  # unassigned: theirs to see
    await assign(sessions, seeded.conversation_id, await user_id(sessions, "cy@example.com"))
    hidden = await bo.get(path, params={"format": "json"})
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    admin = await signed_in("al@example.com", "admin")
    assert (await admin.get(path, params={"format": "txt"})).status_code == 200


async def test_bad_input_is_a_clear_error(ctx: AppContext, account: Account, client: httpx.AsyncClient) -> None:
    seeded = await seed(ctx.sessions, ctx.storage, account)
    path = f"/api/v1/conversations/{seeded.conversation_id}/export"
    for params, field in (({"format": "pdf"}, "format"), ({}, "format"), ({"format": "txt", "tz": "Mars/Base"}, "tz")):
        answer = await client.get(path, params=params)
        assert answer.status_code == 422, answer.text
        assert field in json.dumps(answer.json()["error"])
    missing = await client.get("/api/v1/conversations/999999/export", params={"format": "html"})
    assert missing.status_code == 404


def wahub(tmp_path: Path, database_url: str, *args: str) -> Result:
    options = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    return CliRunner().invoke(cli.app, [*args, *options], env={"WAHUB_SECRET_KEY": SECRET_KEY})


async def in_own_loop(tmp_path: Path, database_url: str, numbers: list[str]) -> tuple[str, list[Seeded]]:
    """The account and its conversations, for a CLI test (which runs its own event loop, as the command does):
    an engine of this loop, the storage the CLI's settings name. Returns the account's phone number id."""
    settings = config.load(data_dir=tmp_path / "data", database_url=database_url)
    engine = db.create_engine(database_url)
    try:
        sessions = db.sessionmaker(engine)
        async with db.transaction(sessions) as session:
            account = await accounts.upsert_meta(
                session,
                Vault(SECRET_KEY),
                name="test",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
            )
        blobs = storage.from_url(settings.storage_url)
        return PHONE_NUMBER_ID, [await seed(sessions, blobs, account, number) for number in numbers]
    finally:
        await engine.dispose()


async def read_stored(tmp_path: Path, database_url: str, keys: list[str]) -> dict[str, bytes]:
    blobs = storage.from_url(config.load(data_dir=tmp_path / "data", database_url=database_url).storage_url)
    return {key: b"".join([chunk async for chunk in blobs.read(key)]) for key in keys}


def test_cli_exports_a_conversation_to_a_file(tmp_path: Path, database_url: str) -> None:
    _, (seeded,) = asyncio.run(in_own_loop(tmp_path, database_url, [NUMBER]))
    out = tmp_path / "chat.zip"
    conversation = str(seeded.conversation_id)
    done = wahub(tmp_path, database_url, "export", "conversation", conversation, "--format", "txt", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert unzip(out.read_bytes())[f"WhatsApp Chat with +{NUMBER}.txt"].decode() == TXT
    assert "8 messages, 2 files" in done.stdout
    assert not list(tmp_path.glob("*.part"))
    bad = wahub(tmp_path, database_url, "export", "conversation", "999999", "--format", "txt")
    assert bad.exit_code == 1 and "conversation 999999 does not exist" in bad.output
    bad = wahub(tmp_path, database_url, "export", "conversation", conversation, "--format", "pdf")
    assert bad.exit_code == 2 and "--format" in bad.output
    bad = wahub(tmp_path, database_url, "export", "all", "--account", "404")
    assert bad.exit_code == 1 and "no account has phone_number_id 404" in bad.output


def test_export_all_writes_one_file_per_conversation_into_storage(tmp_path: Path, database_url: str) -> None:
    phone_number_id, seeded = asyncio.run(in_own_loop(tmp_path, database_url, [NUMBER, "34699999999"]))
    done = wahub(tmp_path, database_url, "export", "all", "--account", phone_number_id)
    assert done.exit_code == 0, done.output
    assert "exported 2 conversations (16 messages, 4 files" in done.stdout
    found = re.search(rf"exports/{phone_number_id}/\d{{4}}-\d\d-\d\d/", done.stdout)
    assert found is not None, done.stdout
    keys = [f"{found.group(0)}{s.conversation_id}.zip" for s in seeded]
    files = asyncio.run(read_stored(tmp_path, database_url, keys))
    for key, data in files.items():
        content = unzip(data)
        assert content["media/IMG-20260120-WA0001.jpg"] == PHOTO, key
        assert "from the history" in content["index.html"].decode()
