"""A chat export that overlaps messages wahub holds already from live webhooks or coexistence history, on SQLite
and PostgreSQL: each message is there once (matched, not added), equal messages of one minute pair up one to
one, and a message of the same text in another minute or the other direction is not the same message."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_history_sync import chunk, conversation_in_time_order, signed, times
from wahub.store import db
from wahub.store.models import Account, Media, Message
from wahub.worker.processor import Processor

KIM = "16505551234"
BUSINESS = "15550783881"  # the reference webhook's display_phone_number
LRM = "\u200e"


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def message(wamid: str, when: str, body: str, *, outbound: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"from": KIM, "id": wamid, "timestamp": str(at(when)), "type": "text"}
    if outbound:
        found |= {"from": BUSINESS, "to": KIM}
    return found | {"text": {"body": body}}


def image(wamid: str, when: str, caption: str) -> dict[str, Any]:
    media = {"id": "MEDIA_1", "mime_type": "image/jpeg", "caption": caption}
    return {"from": KIM, "id": wamid, "timestamp": str(at(when)), "type": "image", "image": media}


def live(account: Account, messages: list[dict[str, Any]]) -> dict[str, Any]:
    webhook = chunk(account, 1, 0, [])
    change = webhook["entry"][0]["changes"][0]
    change["field"] = "messages"
    change["value"] = {
        "messaging_product": "whatsapp",
        "metadata": change["value"]["metadata"],
        "contacts": [{"profile": {"name": "Kim"}, "wa_id": KIM}],
        "messages": messages,
    }
    return webhook


async def deliver(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    webhook: dict[str, Any],
) -> None:
    body = json.dumps(webhook).encode()
    assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    await Processor(sessions, event_sessions).run_once()


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[Message]:
    async with db.transaction(sessions) as session:
        return list((await session.scalars(sa.select(Message).order_by(Message.id))).all())


async def imported(client: httpx.AsyncClient, chat: str, tz: str) -> dict[str, Any]:
    answer = await client.post(
        "/api/v1/imports",
        data={"me": "Shop", "tz": tz, "date_order": "DMY"},
        files={"file": ("_chat.txt", chat.encode())},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# Madrid is UTC+1 in February: the export's 11:15 is 10:15 UTC.
OVERLAPPING = f"""\
11/02/2025, 11:14 - +1 650 555 1234: Buenos días
11/02/2025, 11:15 - +1 650 555 1234: Hola,{LRM} ¿tenéis\u202ftalla M?
11/02/2025, 11:15 - +1 650 555 1234: ok
11/02/2025, 11:15 - +1 650 555 1234: ok
11/02/2025, 11:16 - +1 650 555 1234: IMG-20250211-WA0001.jpg (file attached)
Mi recibo
11/02/2025, 11:17 - +1 650 555 1234: ok
11/02/2025, 11:18 - Shop: Sí
"""


async def test_an_export_overlapping_live_messages_adds_only_what_they_lack(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    received = [
        message("wamid.L1", "2025-02-11 10:15:42", "Hola,  ¿tenéis talla M?"),  # spaces differ from the export's
        message("wamid.L2", "2025-02-11 10:15:59", "ok"),  # one "ok" in that minute; the export has two
        image("wamid.L3", "2025-02-11 10:16:05", "Mi recibo"),
        message("wamid.L4", "2025-02-11 10:20:10", "ok"),  # the export's 11:17 "ok" is another minute
        message("wamid.L5", "2025-02-11 10:18:30", "Sí"),  # Kim's; the export's 11:18 "Sí" is the business's
    ]
    await deliver(anon, sessions, event_sessions, live(account, received))
    assert len(await stored(sessions)) == 5

    first = await imported(client, OVERLAPPING, "Europe/Madrid")
    assert (first["added"], first["matched"], first["already"]) == (4, 3, 0), first
    rows = await stored(sessions)
    assert len(rows) == 9 and len({r.conversation_id for r in rows}) == 1
    added = [(r.direction, r.content["text"]["body"], r.provider_timestamp) for r in rows if r.imported]
    assert added == [
        ("inbound", "Buenos días", datetime(2025, 2, 11, 10, 14, tzinfo=UTC)),
        ("inbound", "ok", datetime(2025, 2, 11, 10, 15, tzinfo=UTC)),  # the second "ok" of 11:15
        ("inbound", "ok", datetime(2025, 2, 11, 10, 17, tzinfo=UTC)),
        ("outbound", "Sí", datetime(2025, 2, 11, 10, 18, tzinfo=UTC)),
    ]
    assert all(r.wamid is None for r in rows if r.imported)

    again = await imported(client, OVERLAPPING, "Europe/Madrid")
    assert (again["added"], again["matched"], again["already"]) == (0, 3, 4), again
    assert len(await stored(sessions)) == 9

    # In another time zone the same export's minutes are other minutes: nothing of it is the live messages.
    elsewhere = await imported(client, OVERLAPPING.replace("+1 650 555 1234: ok", "+1 650 555 1234: okay"), "UTC")
    assert elsewhere["matched"] == 0, elsewhere


async def test_an_export_overlapping_history_adds_nothing_twice_and_reads_in_time_order(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    history = [
        message("wamid.H1", "2025-02-10 09:06:12", "¿Tenéis talla M?"),
        message("wamid.H2", "2025-02-10 09:07:40", "Sí,\nla tenemos en azul.", outbound=True),
        message("wamid.H3", "2025-02-10 09:07:58", "ok"),
    ]
    await deliver(anon, sessions, event_sessions, chunk(account, 1, 100, history))
    export = """\
10/02/2025, 09:05 - +1 650 555 1234: Hola
10/02/2025, 09:06 - +1 650 555 1234: ¿Tenéis talla M?
10/02/2025, 09:07 - Shop: Sí,
la tenemos en azul.
10/02/2025, 09:07 - +1 650 555 1234: ok
10/02/2025, 09:08 - Shop: Gracias
"""
    answer = await imported(client, export, "UTC")
    assert (answer["added"], answer["matched"]) == (2, 3), answer
    rows = await stored(sessions)
    assert len(rows) == 5 and {r.conversation_id for r in rows} == {answer["conversation_id"]}
    listed = await conversation_in_time_order(client, answer["conversation_id"])
    assert [m["text"]["body"] for m in listed] == [
        "Gracias",
        "ok",
        "Sí,\nla tenemos en azul.",
        "¿Tenéis talla M?",
        "Hola",
    ]
    assert times(listed) == sorted(times(listed), reverse=True)
    assert [m["imported"] for m in listed] == [True, False, False, False, True]


async def test_media_match_by_their_file_hash_when_both_have_one(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
    tmp_path: Path,
) -> None:
    photo, other = b"\xff\xd8 one photo" * 100, b"\xff\xd8 another" * 100
    received = [image("wamid.M1", "2025-02-11 10:16:05", "Mi recibo")]
    await deliver(anon, sessions, event_sessions, live(account, received))
    async with db.transaction(sessions) as session:  # as the media fetcher leaves it once the file is in
        await session.execute(sa.update(Media).values(sha256=hashlib.sha256(photo).hexdigest(), state="stored"))
    chat = """\
11/02/2025, 10:16 - +1 650 555 1234: IMG-1.jpg (file attached)
the caption the phone kept
11/02/2025, 10:16 - +1 650 555 1234: IMG-2.jpg (file attached)
Mi recibo
11/02/2025, 10:17 - Shop: Recibido
"""
    export = tmp_path / "chat.zip"
    with zipfile.ZipFile(export, "w") as z:
        z.writestr("_chat.txt", chat.encode())
        z.writestr("IMG-1.jpg", photo)
        z.writestr("IMG-2.jpg", other)
    answer = await client.post(
        "/api/v1/imports",
        data={"me": "Shop", "tz": "UTC", "date_order": "DMY"},
        files={"file": ("chat.zip", export.read_bytes())},
    )
    assert answer.status_code == 200, answer.text
    # The same bytes under another caption are the live photo; the same caption on other bytes is not.
    assert (answer.json()["matched"], answer.json()["added"], answer.json()["media_stored"]) == (1, 2, 1)
    rows = await stored(sessions)
    assert [(r.imported, (r.content.get("image") or {}).get("caption")) for r in rows] == [
        (False, "Mi recibo"),
        (True, "Mi recibo"),
        (True, None),
    ]


def echo(account: Account, wamid: str, when: str, body: str) -> dict[str, Any]:
    webhook = live(account, [])
    change = webhook["entry"][0]["changes"][0]
    change["field"] = "smb_message_echoes"
    sent = message(wamid, when, body, outbound=True)
    change["value"] = {
        "messaging_product": "whatsapp",
        "metadata": change["value"]["metadata"],
        "message_echoes": [sent],
    }
    return webhook


async def test_history_and_echoes_after_an_import_take_over_the_imported_messages(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    export = """\
10/02/2025, 09:06 - +1 650 555 1234: ¿Tenéis  talla M?
10/02/2025, 09:07 - Shop: Sí,
la tenemos en azul.
10/02/2025, 09:07 - +1 650 555 1234: ok
10/02/2025, 09:07 - +1 650 555 1234: ok
10/02/2025, 09:08 - Shop: Gracias
"""
    assert (await imported(client, export, "UTC"))["added"] == 5
    history = [
        message("wamid.H1", "2025-02-10 09:06:12", "¿Tenéis talla M?"),
        message("wamid.H3", "2025-02-10 09:07:58", "ok"),  # one "ok" of the two
        message("wamid.H4", "2025-02-10 09:08:58", "Gracias"),  # Kim's, not the business's "Gracias"
        message("wamid.H5", "2025-02-10 09:10:00", "¿Tenéis talla M?"),  # another minute
    ]
    for _ in range(2):  # the second time, a redelivery: nothing changes
        await deliver(anon, sessions, event_sessions, chunk(account, 1, 100, history))
        await deliver(anon, sessions, event_sessions, echo(account, "wamid.E1", "2025-02-10 09:08:30", "Gracias"))
    rows = await stored(sessions)
    found = [(r.imported, r.wamid, r.direction, r.content["text"]["body"]) for r in rows]
    assert found == [
        (True, "wamid.H1", "inbound", "¿Tenéis  talla M?"),
        (True, None, "outbound", "Sí,\nla tenemos en azul."),
        (True, "wamid.H3", "inbound", "ok"),
        (True, None, "inbound", "ok"),
        (True, "wamid.E1", "outbound", "Gracias"),
        (False, "wamid.H4", "inbound", "Gracias"),
        (False, "wamid.H5", "inbound", "¿Tenéis talla M?"),
    ]
    taken = rows[0]
    assert taken.provider_timestamp == datetime(2025, 2, 10, 9, 6, 12, tzinfo=UTC) and taken.raw is not None
    assert rows[4].sent_at == datetime(2025, 2, 10, 9, 8, 30, tzinfo=UTC)
