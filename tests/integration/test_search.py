"""Full-text search through the API, on SQLite (FTS5) and PostgreSQL (tsvector, pg_trgm): inbound and outbound
messages by the words they carry, contacts by part of a name or number, edits and revokes kept in step, hostile
queries answered, and rows stored before the search migration found after it."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import APP_SECRET, OpenWindow, _pg_admin, _pg_url
from tests.integration.test_roles import Session, assign, user_id
from tests.integration.test_roles import signed_in as signed_in  # the fixture, used by name
from tests.support import payload
from wahub.api.context import AppContext
from wahub.store import db, migrate, search
from wahub.store.models import Conversation, JSONType
from wahub.store.search_text import parse
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor

NOW = int(datetime.now(tz=UTC).timestamp())


def inbound(wamid: str, message: dict[str, Any], *, wa_id: str = "14155550123", name: str = "Ada Lovelace") -> Any:
    """A webhook carrying one inbound message object (``type`` and its object) from ``wa_id``."""
    body = copy.deepcopy(payload("message", "text"))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    value["messages"] = [{"from": wa_id, "id": wamid, "timestamp": str(NOW), **message}]
    return body


async def deliver(anon: httpx.AsyncClient, ctx: AppContext, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        raw = json.dumps(body).encode()
        headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
        assert (await anon.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    while await Processor(ctx.sessions, db.sessionmaker(ctx.events)).run_once():
        pass


async def found(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    """The wamids (or, for unsent messages, the ids) of the messages a search finds, newest first."""
    response = await client.get("/api/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [hit["message"]["wamid"] or str(hit["message"]["id"]) for hit in response.json()["items"]]


async def test_inbound_messages_are_found_by_the_words_of_their_body_caption_and_filename(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await deliver(
        anon,
        ctx,
        inbound("wamid.t", {"type": "text", "text": {"body": "Where is my parcel? Tracking says Lisbon"}}),
        inbound("wamid.i", {"type": "image", "image": {"id": "m1", "caption": "the broken parcel, photo"}}),
        inbound(
            "wamid.d",
            {"type": "document", "document": {"id": "m2", "filename": "invoice_2024-117.pdf", "caption": "as asked"}},
        ),
    )
    assert await found(client, "parcel") == ["wamid.i", "wamid.t"]  # newest first
    assert await found(client, "lisbon tracking") == ["wamid.t"]  # every word, in any order, any case
    assert await found(client, "photo") == ["wamid.i"]
    assert await found(client, "invoice") == ["wamid.d"]  # a word of the filename
    assert await found(client, "invoice_2024") == ["wamid.d"]
    assert await found(client, "117.pdf") == ["wamid.d"]
    assert await found(client, "asked") == ["wamid.d"]
    assert await found(client, "parc") == ["wamid.i", "wamid.t"]  # the last word, being typed
    assert await found(client, "parc ") == []  # ...until a space ends it
    assert await found(client, '"broken parcel"') == ["wamid.i"]  # a phrase
    assert await found(client, '"parcel broken"') == []
    assert await found(client, "parcel madrid") == []


async def test_a_hit_carries_its_message_contact_conversation_and_a_highlighted_snippet(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await deliver(anon, ctx, inbound("wamid.s", {"type": "text", "text": {"body": "Please resend the invoice today"}}))
    (hit,) = (await client.get("/api/v1/search", params={"q": "invoice"})).json()["items"]
    assert hit["message"]["text"] == {"body": "Please resend the invoice today"}
    assert hit["message"]["contact"]["name"] == "Ada Lovelace"
    assert hit["message"]["conversation_id"] > 0
    assert [hit["snippet"][start:end] for start, end in hit["highlights"]] == ["invoice"]


async def test_outbound_messages_are_found_as_soon_as_they_are_queued(
    client: httpx.AsyncClient, open_window: OpenWindow
) -> None:
    await open_window("14155550123")
    text = await client.post(
        "/api/v1/messages", json={"to": "+14155550123", "type": "text", "text": {"body": "Your refund is on its way"}}
    )
    document = await client.post(
        "/api/v1/messages",
        json={
            "to": "+14155550123",
            "type": "document",
            "document": {"link": "https://example.com/r.pdf", "filename": "refund-note.pdf", "caption": "signed"},
        },
    )
    assert text.status_code == document.status_code == 202, (text.text, document.text)
    ids = str(text.json()["id"]), str(document.json()["id"])
    assert await found(client, "refund") == [ids[1], ids[0]]
    assert await found(client, "signed") == [ids[1]]
    assert await found(client, "note pdf") == [ids[1]]


async def test_an_edited_message_is_found_by_its_new_text_and_a_revoked_one_not_at_all(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await deliver(
        anon,
        ctx,
        inbound("wamid.e", {"type": "text", "text": {"body": "meet at the harbour"}}),
        inbound("wamid.r", {"type": "text", "text": {"body": "my harbour pin is 4471"}}),
    )
    assert await found(client, "harbour") == ["wamid.r", "wamid.e"]
    edit = {"original_message_id": "wamid.e", "message": {"type": "text", "text": {"body": "meet at the station"}}}
    await deliver(
        anon,
        ctx,
        inbound("wamid.e2", {"type": "edit", "edit": edit}),
        inbound("wamid.r2", {"type": "revoke", "revoke": {"original_message_id": "wamid.r"}}),
    )
    assert await found(client, "station") == ["wamid.e"]
    assert await found(client, "harbour") == []
    assert await found(client, "4471") == []


async def test_conversations_are_found_by_part_of_a_name_a_number_or_a_message(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await deliver(
        anon,
        ctx,
        inbound("wamid.a", {"type": "text", "text": {"body": "hello"}}, wa_id="14155550123", name="Ada Lovelace"),
        inbound("wamid.b", {"type": "text", "text": {"body": "quote for 3 chairs"}}, wa_id="4915112345", name="Bo Ek"),
    )

    async def names(q: str) -> list[str]:
        response = await client.get("/api/v1/conversations", params={"q": q})
        assert response.status_code == 200, response.text
        return [c["contact"]["name"] for c in response.json()["items"]]

    assert await names("lovel") == ["Ada Lovelace"]  # inside the name, any case
    assert await names("ada love") == ["Ada Lovelace"]
    assert await names("555 01") == ["Ada Lovelace"]  # digits inside the number, as typed
    assert await names("+49 151") == ["Bo Ek"]
    assert await names("chairs") == ["Bo Ek"]  # a message's word
    assert await names("nobody") == []


async def test_an_agent_finds_only_in_their_own_and_unassigned_conversations(
    anon: httpx.AsyncClient,
    ctx: AppContext,
    client: httpx.AsyncClient,
    signed_in: Session,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await deliver(
        anon,
        ctx,
        inbound("wamid.ann", {"type": "text", "text": {"body": "parcel one"}}, wa_id="14155550001", name="Ann Lee"),
        inbound("wamid.ben", {"type": "text", "text": {"body": "parcel two"}}, wa_id="14155550002", name="Ben Lee"),
        inbound("wamid.cy", {"type": "text", "text": {"body": "parcel three"}}, wa_id="14155550003", name="Cy Lee"),
    )
    ada = await signed_in("ada@example.com", "agent")
    await signed_in("bo@example.com", "agent")
    threads = {c["contact"]["name"]: c["id"] for c in (await client.get("/api/v1/conversations")).json()["items"]}
    await assign(sessions, threads["Ann Lee"], await user_id(sessions, "ada@example.com"))
    await assign(sessions, threads["Ben Lee"], await user_id(sessions, "bo@example.com"))
    assert await found(ada, "parcel") == ["wamid.cy", "wamid.ann"]  # hers and the unassigned one
    assert await found(client, "parcel") == ["wamid.cy", "wamid.ben", "wamid.ann"]  # an API key sees all
    names = [
        c["contact"]["name"] for c in (await ada.get("/api/v1/conversations", params={"q": "lee"})).json()["items"]
    ]
    assert names == ["Cy Lee", "Ann Lee"]


@pytest.mark.parametrize(
    "q",
    ['"', "*", ":", "'", "\\", "(", "NEAR(a b)", "a:b", '"unclosed', "a*", "-x", "^", "%", "_", "AND", "🙂", "\x00"],
)
async def test_special_characters_find_something_or_nothing_but_never_fail(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient, q: str
) -> None:
    await deliver(anon, ctx, inbound("wamid.x", {"type": "text", "text": {"body": "a:b AND x NEAR y"}}))
    for path in ("/api/v1/search", "/api/v1/conversations"):
        response = await client.get(path, params={"q": q})
        assert response.status_code == 200, (path, q, response.text)
        assert isinstance(response.json()["items"], list)


async def test_search_pages_newest_first_with_a_cursor(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await deliver(
        anon, ctx, *(inbound(f"wamid.p{n}", {"type": "text", "text": {"body": f"page {n}"}}) for n in range(5))
    )

    async def page(cursor: str | None) -> Any:
        params = {"q": "page", "limit": 2} | ({"cursor": cursor} if cursor else {})
        return (await client.get("/api/v1/search", params=params)).json()

    first = await page(None)
    second = await page(first["next_cursor"])
    third = await page(second["next_cursor"])
    pages = [[h["message"]["wamid"] for h in page["items"]] for page in (first, second, third)]
    assert pages == [["wamid.p4", "wamid.p3"], ["wamid.p2", "wamid.p1"], ["wamid.p0"]]
    assert third["next_cursor"] is None
    bad = await client.get("/api/v1/search", params={"q": "page", "cursor": "not-a-cursor"})
    assert bad.status_code == 422


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wahub.db'}"
        return
    name = f"wahub_search_{os.getpid()}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_migration_indexes_messages_stored_before_it(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0011")
    engine = db.create_sync_engine(url)
    now = datetime.now(tz=UTC).replace(tzinfo=None)
    messages = sa.table(
        "messages",
        *(sa.column(name) for name in ("id", "account_id", "conversation_id", "contact_id", "direction", "type")),
        *(sa.column(name) for name in ("status", "created_at", "possible_duplicate")),
        sa.column("content", JSONType),
    )
    old = [
        ("text", {"text": {"body": "the old gazebo quote"}}),
        ("document", {"document": {"id": "9", "filename": "gazebo-plans.pdf"}}),
        ("text", {}),  # revoked before the migration
        ("sticker", {"sticker": {"id": "8"}}),
    ]
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (id, name, provider, sandbox, credentials, created_at) "
                    "VALUES (1, 'a', 'meta', false, :c, :t)"
                ),
                {"c": b"", "t": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO contacts (id, account_id, wa_id, profile_name, created_at, updated_at) "
                    "VALUES (1, 1, '14155550999', 'Grace Hopper', :t, :t)"
                ),
                {"t": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, account_id, contact_id, unread_count, created_at) "
                    "VALUES (1, 1, 1, 0, :t)"
                ),
                {"t": now},
            )
            conn.execute(
                sa.insert(messages),
                [
                    {
                        "id": n,
                        "account_id": 1,
                        "conversation_id": 1,
                        "contact_id": 1,
                        "direction": "inbound",
                        "type": kind,
                        "status": "received",
                        "created_at": now,
                        "possible_duplicate": False,
                        "content": content,
                    }
                    for n, (kind, content) in enumerate(old, start=1)
                ],
            )
    finally:
        engine.dispose()
    migrate.upgrade(url)
    assert migrate.is_current(url)
    engine = db.create_engine(url)
    try:
        async with db.sessionmaker(engine)() as session:
            hits = (await search.find_messages(session, parse("gazebo"), limit=10)).items
            assert [h.message.id for h in hits] == [2, 1]
            assert (await search.find_messages(session, parse("plans"), limit=10)).items[0].message.id == 2
            texts = dict((await session.execute(sa.text("SELECT id, search_text FROM messages"))).tuples().all())
            assert texts == {1: "the old gazebo quote", 2: "gazebo-plans.pdf", 3: None, 4: None}
            found = await session.scalars(
                sa.select(Conversation.id).where(search.conversation_match(session, parse("hopp")))
            )
            assert list(found) == [1]
    finally:
        await engine.dispose()
