"""Roles and scopes: what an agent, an admin and a scoped API key may do through the same ``/api/v1`` routes; on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from wahub.api.context import AppContext
from wahub.api.limits import KeyLimiter
from wahub.store import apikeys, db, media, users
from wahub.store.apikeys import Scope
from wahub.store.models import Account, Contact, Conversation, Media, Message, User, utcnow

PASSWORD = "an agent's password"
Session = Callable[[str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def signed_in(base_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Session]:
    """Makes a user with a role and returns a client logged in as them (CSRF header included)."""
    clients: list[httpx.AsyncClient] = []

    async def sign_in(email: str, role: str) -> httpx.AsyncClient:
        async with db.transaction(sessions) as session:
            await users.add(session, email, email.split("@")[0], role, PASSWORD)
        client = httpx.AsyncClient(base_url=base_url)
        clients.append(client)
        answer = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    yield sign_in
    for client in clients:
        await client.aclose()


async def key_with(sessions: async_sessionmaker[AsyncSession], *scopes: Scope) -> dict[str, str]:
    async with db.transaction(sessions) as session:
        _row, key = await apikeys.create(session, "scoped", scopes)
    return {"Authorization": f"Bearer {key}"}


async def user_id(sessions: async_sessionmaker[AsyncSession], email: str) -> int:
    async with sessions() as session:
        return int((await session.scalars(sa.select(User.id).where(User.email == email))).one())


async def assign(sessions: async_sessionmaker[AsyncSession], conversation_id: int, assignee: int | None) -> None:
    async with db.transaction(sessions) as session:
        await session.execute(
            sa.update(Conversation).where(Conversation.id == conversation_id).values(assignee_user_id=assignee)
        )


async def three_conversations(
    open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> tuple[int, int, int]:
    """Conversations with +14155550101..03, each with one inbound message."""
    await open_window("+14155550101", "+14155550102", "+14155550103")
    async with db.transaction(sessions) as session:
        rows = list((await session.scalars(sa.select(Conversation).order_by(Conversation.id))).all())
        for conv in rows:
            session.add(
                Message(
                    account_id=conv.account_id,
                    conversation_id=conv.id,
                    contact_id=conv.contact_id,
                    direction="inbound",
                    type="text",
                    status="received",
                    content={"body": "hello"},
                    wamid=f"wamid.in{conv.id}",
                    created_at=utcnow(),
                )
            )
    return rows[0].id, rows[1].id, rows[2].id


async def test_an_agent_cannot_list_users_create_keys_or_manage_webhooks(signed_in: Session) -> None:
    agent = await signed_in("bo@example.com", "agent")
    for method, path, body in (
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "x@example.com", "name": "X"}),
        ("POST", "/api/v1/users/1/enable", None),
        ("POST", "/api/v1/users/1/reset-password", None),
        ("GET", "/api/v1/api-keys", None),
        ("POST", "/api/v1/api-keys", {"name": "mine"}),
        ("GET", "/api/v1/webhooks", None),
    ):
        answer = await agent.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    assert (await agent.get("/api/v1/conversations")).status_code == 200


async def test_an_admin_session_manages_users_and_keys(signed_in: Session) -> None:
    admin = await signed_in("ada@example.com", "admin")
    assert (await admin.get("/api/v1/users")).status_code == 200
    made = await admin.post("/api/v1/api-keys", json={"name": "erp", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    assert made.json()["api_key"]["scopes"] == ["read"]
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as program:
        assert (await program.get("/api/v1/messages", headers=key)).status_code == 200


async def test_an_agent_sees_only_their_own_and_unassigned_conversations(
    signed_in: Session, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bo = await signed_in("bo@example.com", "agent")
    await signed_in("cy@example.com", "agent")
    mine, theirs, unassigned = await three_conversations(open_window, sessions)
    await assign(sessions, mine, await user_id(sessions, "bo@example.com"))
    await assign(sessions, theirs, await user_id(sessions, "cy@example.com"))

    listed = {c["id"] for c in (await bo.get("/api/v1/conversations")).json()["items"]}
    assert listed == {mine, unassigned}
    assert (await bo.get(f"/api/v1/conversations/{mine}")).status_code == 200
    hidden = await bo.get(f"/api/v1/conversations/{theirs}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    linked = await bo.post(f"/api/v1/conversations/{theirs}/entities", json={"entity_type": "t", "entity_id": "1"})
    assert linked.status_code == 404

    messages = (await bo.get("/api/v1/messages")).json()["items"]
    assert {m["conversation_id"] for m in messages} == {mine, unassigned}
    async with sessions() as session:
        their_message = (await session.scalars(sa.select(Message.id).where(Message.conversation_id == theirs))).one()
    assert (await bo.get(f"/api/v1/messages/{their_message}")).status_code == 404
    assert (await bo.get(f"/api/v1/messages/{their_message}/statuses")).status_code == 404
    assert (await bo.get("/api/v1/messages", params={"conversation_id": theirs})).json()["items"] == []


async def test_an_admin_and_an_api_key_see_every_conversation(
    signed_in: Session, client: httpx.AsyncClient, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await signed_in("ada@example.com", "admin")
    await signed_in("cy@example.com", "agent")
    ids = await three_conversations(open_window, sessions)
    await assign(sessions, ids[0], await user_id(sessions, "cy@example.com"))
    for who in (admin, client):
        assert {c["id"] for c in (await who.get("/api/v1/conversations")).json()["items"]} == set(ids)


async def test_api_key_scopes_limit_what_a_key_may_do(
    anon: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reader = await key_with(sessions, Scope.READ)
    sender = await key_with(sessions, Scope.SEND)
    text = {"to": "+14155550101", "type": "text", "text": {"body": "hi"}}
    assert (await anon.get("/api/v1/messages", headers=reader)).status_code == 200
    refused = await anon.post("/api/v1/messages", headers=reader, json=text)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert (await anon.get("/api/v1/messages", headers=sender)).status_code == 403
    assert (await anon.get("/api/v1/webhooks", headers=reader)).status_code == 403
    assert (await anon.get("/api/v1/api-keys", headers=reader)).status_code == 403
    me = await anon.get("/api/v1/me", headers=reader)
    assert me.json()["kind"] == "key" and me.json()["scopes"] == ["read"]


async def test_keys_made_before_scopes_and_by_default_have_full_access(client: httpx.AsyncClient) -> None:
    me = await client.get("/api/v1/me")
    assert me.json()["scopes"] == ["admin", "read", "send"]
    assert (await client.get("/api/v1/webhooks")).status_code == 200
    assert (await client.get("/api/v1/api-keys")).status_code == 200


async def test_an_api_key_cannot_revoke_itself(client: httpx.AsyncClient) -> None:
    me = (await client.get("/api/v1/me")).json()
    assert (await client.delete(f"/api/v1/api-keys/{me['id']}")).status_code == 409
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_each_user_has_a_rate_limit_of_their_own(signed_in: Session, ctx: AppContext) -> None:
    ctx.limiter = KeyLimiter(1)  # one request per second, two at once
    bo = await signed_in("bo@example.com", "agent")
    cy = await signed_in("cy@example.com", "agent")
    answers = [(await bo.get("/api/v1/me")).status_code for _ in range(3)]
    assert answers[:2] == [200, 200] and answers[2] == 429
    assert (await cy.get("/api/v1/me")).status_code == 200  # another user's bucket is full


async def test_a_user_sends_from_their_session_and_is_recorded_as_the_sender(
    signed_in: Session, open_window: OpenWindow
) -> None:
    await open_window("+14155550101")
    bo = await signed_in("bo@example.com", "agent")
    text = {"to": "+14155550101", "type": "text", "text": {"body": "Hello from Bo"}}
    sent = await bo.post("/api/v1/messages", json=text)
    assert sent.status_code == 202, sent.text
    assert sent.json()["sent_by"] == {"kind": "user", "id": sent.json()["sent_by"]["id"], "name": "bo"}
    keyed = await bo.post("/api/v1/messages", json=text, headers={"Idempotency-Key": "k1"})
    assert keyed.status_code == 422
    del bo.headers["X-CSRF-Token"]
    assert (await bo.post("/api/v1/messages", json=text)).status_code == 403


async def test_an_agent_cannot_see_the_media_of_another_agents_conversation(
    signed_in: Session, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bo = await signed_in("bo@example.com", "agent")
    await signed_in("cy@example.com", "agent")
    mine, theirs, _ = await three_conversations(open_window, sessions)
    await assign(sessions, theirs, await user_id(sessions, "cy@example.com"))
    media_ids = {}
    async with db.transaction(sessions) as session:
        for conv_id in (mine, theirs):
            conv = await session.get(Conversation, conv_id)
            assert conv is not None
            item = Media(account_id=conv.account_id, provider_media_id=f"m{conv_id}", state="pending")
            session.add(item)
            await session.flush()
            await session.execute(sa.update(Message).where(Message.conversation_id == conv_id).values(media_id=item.id))
            media_ids[conv_id] = item.id
    assert (await bo.get(f"/api/v1/media/{media_ids[mine]}")).status_code == 200
    assert (await bo.get(f"/api/v1/media/{media_ids[theirs]}")).status_code == 404


def text_to(number: str, **extra: object) -> dict[str, object]:
    return {"to": number, "type": "text", "text": {"body": "hi"}, **extra}


TEMPLATE = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}


async def bo_and_cy(
    signed_in: Session, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> tuple[httpx.AsyncClient, tuple[int, int, int]]:
    """Bo (signed in) holds the first conversation, Cy the second, the third is nobody's."""
    bo = await signed_in("bo@example.com", "agent")
    await signed_in("cy@example.com", "agent")
    ids = await three_conversations(open_window, sessions)
    await assign(sessions, ids[0], await user_id(sessions, "bo@example.com"))
    await assign(sessions, ids[1], await user_id(sessions, "cy@example.com"))
    return bo, ids


async def messages_in(sessions: async_sessionmaker[AsyncSession], conversation_id: int) -> int:
    async with sessions() as session:
        stmt = sa.select(sa.func.count()).where(Message.conversation_id == conversation_id)
        return int(await session.scalar(stmt) or 0)


async def test_an_agent_sends_only_to_their_own_unassigned_or_new_conversations(
    signed_in: Session, client: httpx.AsyncClient, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bo, (_, theirs, _) = await bo_and_cy(signed_in, open_window, sessions)
    for number in ("+14155550101", "+14155550103"):
        sent = await bo.post("/api/v1/messages", json=text_to(number))
        assert sent.status_code == 202, sent.text
    started = await bo.post("/api/v1/messages", json={"to": "+14155550199", **TEMPLATE})  # no conversation yet
    assert started.status_code == 202, started.text

    refused = await bo.post("/api/v1/messages", json=text_to("+14155550102"))
    read = await bo.get(f"/api/v1/conversations/{theirs}")
    assert refused.status_code == read.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == read.json()["error"]["code"] == "not_found"
    assert (await bo.post("/api/v1/messages", json={"to": "+14155550102", **TEMPLATE})).status_code == 404
    assert await messages_in(sessions, theirs) == 1  # only the inbound one: nothing was queued
    # Keys and admins write to every conversation.
    assert (await client.post("/api/v1/messages", json=text_to("+14155550102"))).status_code == 202
    admin = await signed_in("ada@example.com", "admin")
    assert (await admin.post("/api/v1/messages", json=text_to("+14155550102"))).status_code == 202
    assert await messages_in(sessions, theirs) == 3


async def test_an_agent_cannot_react_or_reply_to_a_message_of_another_agents_conversation(
    signed_in: Session, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bo, (mine, theirs, _) = await bo_and_cy(signed_in, open_window, sessions)

    def reaction(wamid: str) -> dict[str, object]:
        return {"to": "+14155550101", "type": "reaction", "reaction": {"message_id": wamid, "emoji": "👍"}}

    for body in (reaction(f"wamid.in{theirs}"), text_to("+14155550101", context={"message_id": f"wamid.in{theirs}"})):
        refused = await bo.post("/api/v1/messages", json=body)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "not_found"
    assert await messages_in(sessions, mine) == 1
    assert (await bo.post("/api/v1/messages", json=reaction(f"wamid.in{mine}"))).status_code == 202
    replied = await bo.post("/api/v1/messages", json=text_to("+14155550101", context={"message_id": f"wamid.in{mine}"}))
    assert replied.status_code == 202, replied.text


async def test_an_agent_cannot_send_a_file_sent_in_another_agents_conversation(
    signed_in: Session,
    client: httpx.AsyncClient,
    open_window: OpenWindow,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    bo, (_, theirs, _) = await bo_and_cy(signed_in, open_window, sessions)
    png = "image/png"
    async with db.transaction(sessions) as session:
        files = [
            Media(account_id=account.id, provider_media_id=f"{media.UPLOAD_PREFIX}{n}", state="stored", mime_type=png)
            for n in (1, 2)
        ]
        session.add_all(files)
        await session.flush()
        sent_there = sa.update(Message).where(Message.conversation_id == theirs).values(media_id=files[0].id)
        await session.execute(sent_there)

    def image(media_id: int) -> dict[str, object]:
        return {"to": "+14155550101", "type": "image", "image": {"wahub_media_id": media_id}}

    refused = await bo.post("/api/v1/messages", json=image(files[0].id))
    assert refused.status_code == 422, refused.text
    unknown = f"image.wahub_media_id: no file {files[0].id} was uploaded for this account"  # as for a file never sent
    assert refused.json()["error"]["message"] == unknown
    assert (await bo.post("/api/v1/messages", json=image(files[1].id))).status_code == 202
    assert (await client.post("/api/v1/messages", json=image(files[0].id))).status_code == 202


async def test_an_agent_sees_the_contacts_they_may_write_to(
    signed_in: Session,
    client: httpx.AsyncClient,
    open_window: OpenWindow,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    bo, (mine, theirs, _) = await bo_and_cy(signed_in, open_window, sessions)
    async with db.transaction(sessions) as session:
        session.add(Contact(account_id=account.id, wa_id="14155550104"))  # no conversation yet

    def numbers(answer: httpx.Response) -> set[str]:
        assert answer.status_code == 200, answer.text
        return {c["wa_id"] for c in answer.json()["items"]}

    assert numbers(await bo.get("/api/v1/contacts")) == {"14155550101", "14155550103", "14155550104"}
    assert numbers(await bo.get("/api/v1/contacts", params={"q": "0102"})) == set()
    assert numbers(await client.get("/api/v1/contacts")) == {f"1415555010{n}" for n in range(1, 5)}
    async with sessions() as session:
        contact_of = dict((await session.execute(sa.select(Conversation.id, Conversation.contact_id))).tuples().all())
    assert (await bo.get(f"/api/v1/contacts/{contact_of[mine]}")).status_code == 200
    hidden = await bo.get(f"/api/v1/contacts/{contact_of[theirs]}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/api/v1/contacts/{contact_of[theirs]}")).status_code == 200


async def test_account_events_and_stats_are_for_admins_and_keys(
    signed_in: Session, anon: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bo = await signed_in("bo@example.com", "agent")
    admin = await signed_in("ada@example.com", "admin")
    reader = await key_with(sessions, Scope.READ)
    for path in ("/api/v1/events", "/api/v1/events/1", "/api/v1/stats"):
        refused = await bo.get(path)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
    for path in ("/api/v1/events", "/api/v1/stats"):
        assert (await admin.get(path)).status_code == 200
        assert (await anon.get(path, headers=reader)).status_code == 200
    assert (await bo.get("/api/v1/canned-replies")).status_code == 200  # what agents need to write stays open
