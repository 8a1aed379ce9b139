"""The inbox's conversation workflow through the API: a state (open, resolved) and an assignee, set with
``/assign``, ``/resolve`` and ``/reopen`` and listed with ``?state=`` and ``?assignee=``; a new inbound message
(through the signed webhook and the processor) reopens a resolved conversation, a redelivered one does not."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.integration.test_read_api import NOW, deliver, text_from
from wahub.api.context import AppContext
from wahub.store import db, users
from wahub.store.models import User, utcnow


async def add_user(sessions: async_sessionmaker[AsyncSession], name: str, *, disabled: bool = False) -> User:
    async with db.transaction(sessions) as session:
        user = await users.add(session, f"{name.split()[0].lower()}@example.com", name, "agent", "a-long-password")
        if disabled:
            user.disabled_at = utcnow()
        return user


async def conversation_of(client: httpx.AsyncClient, wa_id: str) -> dict[str, Any]:
    (found,) = [c for c in await listed(client) if c["contact"]["wa_id"] == wa_id]
    return found


async def listed(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/conversations", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_conversation_is_assigned_resolved_reopened_and_unassigned(
    client: httpx.AsyncClient, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await open_window("14155550101")
    ada = await add_user(sessions, "Ada Lovelace")
    conversation = await conversation_of(client, "14155550101")
    assert (conversation["state"], conversation["assignee"]) == ("open", None)
    path = f"/api/v1/conversations/{conversation['id']}"

    assigned = await client.post(f"{path}/assign", json={"user_id": ada.id})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"] == {"id": ada.id, "name": "Ada Lovelace"}
    for _ in range(2):  # resolving a resolved conversation changes nothing, and is no error
        resolved = await client.post(f"{path}/resolve")
        assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert (await client.get(path)).json()["state"] == "resolved"
    reopened = await client.post(f"{path}/reopen")
    assert reopened.status_code == 200 and reopened.json()["state"] == "open"
    assert reopened.json()["assignee"] == {"id": ada.id, "name": "Ada Lovelace"}
    unassigned = await client.post(f"{path}/assign", json={"user_id": None})
    assert unassigned.status_code == 200 and unassigned.json()["assignee"] is None
    assert (await client.get(path)).json()["assignee"] is None


async def test_assigning_to_no_active_user_or_to_me_with_an_api_key_is_refused(
    client: httpx.AsyncClient, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await open_window("14155550101")
    gone = await add_user(sessions, "Gone Person", disabled=True)
    conversation = await conversation_of(client, "14155550101")
    path = f"/api/v1/conversations/{conversation['id']}"
    for body in ({"user_id": gone.id}, {"user_id": gone.id + 1000}, {"user_id": "me"}, {"user_id": "you"}, {}):
        response = await client.post(f"{path}/assign", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
    assert (await client.get(path)).json()["assignee"] is None
    for action in ("assign", "resolve", "reopen"):
        response = await client.post(f"/api/v1/conversations/999999/{action}", json={"user_id": None})
        assert response.status_code == 404, action


async def test_conversations_are_listed_by_state_and_assignee(
    client: httpx.AsyncClient, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await open_window("14155550101", "14155550102", "14155550103")
    ada, bo = await add_user(sessions, "Ada Lovelace"), await add_user(sessions, "Bo Diddley")
    ids = {c["contact"]["wa_id"]: c["id"] for c in await listed(client)}
    first, second, third = ids["14155550101"], ids["14155550102"], ids["14155550103"]
    await client.post(f"/api/v1/conversations/{first}/assign", json={"user_id": ada.id})
    await client.post(f"/api/v1/conversations/{second}/assign", json={"user_id": bo.id})
    await client.post(f"/api/v1/conversations/{second}/resolve")

    def ids_of(items: list[dict[str, Any]]) -> set[int]:
        return {c["id"] for c in items}

    assert ids_of(await listed(client, assignee=str(ada.id))) == {first}
    assert ids_of(await listed(client, assignee=str(bo.id))) == {second}
    assert ids_of(await listed(client, assignee="none")) == {third}
    assert ids_of(await listed(client, state="resolved")) == {second}
    assert ids_of(await listed(client, state="open")) == {first, third}
    assert ids_of(await listed(client, state="open", assignee=str(bo.id))) == set()
    assert ids_of(await listed(client, state="resolved", assignee=str(bo.id))) == {second}
    assert ids_of(await listed(client)) == {first, second, third}
    named = {c["id"]: c["assignee"] for c in await listed(client)}
    assert named == {
        first: {"id": ada.id, "name": "Ada Lovelace"},
        second: {"id": bo.id, "name": "Bo Diddley"},
        third: None,
    }
    for params in ({"assignee": "me"}, {"assignee": "someone"}, {"state": "closed"}, {"assignee": "9999999999"}):
        response = await client.get("/api/v1/conversations", params=params)
        assert response.status_code == 422, params


async def test_a_new_inbound_message_reopens_a_resolved_conversation_and_a_redelivered_one_does_not(
    anon: httpx.AsyncClient, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    first = text_from("wamid.w1", wa_id="14155550123", user_id=None, name="Ana", at=NOW - 60)
    await deliver(anon, ctx, first)
    conversation = await conversation_of(client, "14155550123")
    path = f"/api/v1/conversations/{conversation['id']}"
    assert (await client.post(f"{path}/resolve")).json()["state"] == "resolved"

    await deliver(anon, ctx, first)  # Meta delivers the same message again: nothing new
    assert (await client.get(path)).json()["state"] == "resolved"
    await deliver(anon, ctx, text_from("wamid.w2", wa_id="14155550123", user_id=None, name="Ana"))
    reopened = (await client.get(path)).json()
    assert reopened["state"] == "open"
    assert reopened["unread_count"] == 2


async def test_a_signed_in_agent_takes_a_conversation_as_me_and_reads_but_does_not_write_canned_replies(
    client: httpx.AsyncClient, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession], base_url: str
) -> None:
    await open_window("14155550101", "14155550102")
    ada = await add_user(sessions, "Ada Lovelace")
    mine, other = (
        (await conversation_of(client, "14155550101"))["id"],
        (await conversation_of(client, "14155550102"))["id"],
    )
    reply = await client.post("/api/v1/canned-replies", json={"code": "hi", "text": "Hi, {{agent.first_name}} here"})
    async with httpx.AsyncClient(base_url=base_url) as browser:
        login = await browser.post("/api/v1/auth/login", json={"email": ada.email, "password": "a-long-password"})
        assert login.status_code == 200, login.text
        csrf = {"X-CSRF-Token": browser.cookies["wahub_csrf"]}
        taken = await browser.post(f"/api/v1/conversations/{mine}/assign", json={"user_id": "me"}, headers=csrf)
        assert taken.status_code == 200, taken.text
        assert taken.json()["assignee"] == {"id": ada.id, "name": "Ada Lovelace"}
        assert [c["id"] for c in (await listed(browser, assignee="me"))] == [mine]
        assert {c["id"] for c in await listed(browser, assignee="none")} == {other}
        rendered = await browser.get("/api/v1/canned-replies", params={"conversation_id": other})
        assert [r["rendered"] for r in rendered.json()] == ["Hi, Ada here"]  # the agent is the one asking
        refused = await browser.post("/api/v1/canned-replies", json={"code": "x", "text": "x"}, headers=csrf)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert (await browser.delete(f"/api/v1/canned-replies/{reply.json()['id']}", headers=csrf)).status_code == 403
    assert (await client.get(f"/api/v1/conversations/{mine}")).json()["assignee"]["id"] == ada.id
