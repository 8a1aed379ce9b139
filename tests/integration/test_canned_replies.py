"""``/api/v1/canned-replies``: created, changed and deleted by code, texts naming unknown fields refused, and
rendered for a conversation (its contact, and its agent)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_conversation_workflow import add_user, conversation_of
from tests.integration.test_read_api import deliver, text_from
from wahub.api.context import AppContext

URL = "/api/v1/canned-replies"
THANKS = "Thanks {{contact.first_name}}! {{ agent.name }} here; we will call {{contact.phone}}."


async def test_canned_replies_are_created_listed_changed_and_deleted(client: httpx.AsyncClient) -> None:
    created = await client.post(URL, json={"code": "thanks", "text": THANKS})
    assert created.status_code == 201, created.text
    reply = created.json()
    assert (reply["code"], reply["text"], reply["rendered"]) == ("thanks", THANKS, None)
    assert (await client.post(URL, json={"code": "hello", "text": "Hello!"})).status_code == 201
    assert [r["code"] for r in (await client.get(URL)).json()] == ["hello", "thanks"]

    taken = await client.post(URL, json={"code": "thanks", "text": "again"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    changed = await client.patch(f"{URL}/{reply['id']}", json={"text": "Thank you!"})
    assert changed.status_code == 200 and changed.json()["text"] == "Thank you!"
    assert changed.json()["code"] == "thanks"
    assert (await client.patch(f"{URL}/{reply['id']}", json={"code": "hello"})).status_code == 409
    renamed = await client.patch(f"{URL}/{reply['id']}", json={"code": "ty"})
    assert renamed.status_code == 200 and renamed.json()["code"] == "ty"
    assert (await client.get(f"{URL}/{reply['id']}")).json()["text"] == "Thank you!"

    assert (await client.delete(f"{URL}/{reply['id']}")).status_code == 204
    assert (await client.get(f"{URL}/{reply['id']}")).status_code == 404
    assert (await client.delete(f"{URL}/{reply['id']}")).status_code == 404
    assert [r["code"] for r in (await client.get(URL)).json()] == ["hello"]


async def test_a_text_naming_an_unknown_field_or_a_bad_code_is_refused(client: httpx.AsyncClient) -> None:
    unknown = await client.post(URL, json={"code": "mail", "text": "Write to {{contact.email}} or {{ x }}"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["unknown"] == ["contact.email", "x"]
    for body in ({"code": "Thanks", "text": "hi"}, {"code": "a b", "text": "hi"}, {"code": "ok", "text": ""}):
        assert (await client.post(URL, json=body)).status_code == 422, body
    created = (await client.post(URL, json={"code": "ok", "text": "fine"})).json()
    refused = await client.patch(f"{URL}/{created['id']}", json={"text": "{{agent.email}}"})
    assert refused.status_code == 422
    assert (await client.get(f"{URL}/{created['id']}")).json()["text"] == "fine"
    assert (await client.get(URL)).json() == [created]


async def test_a_canned_reply_is_rendered_for_a_conversation(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, ctx: AppContext, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await deliver(anon, ctx, text_from("wamid.c1", wa_id="14155550123", user_id=None, name="Ana Souza"))
    conversation = await conversation_of(client, "14155550123")
    reply = (await client.post(URL, json={"code": "thanks", "text": THANKS})).json()

    # With an API key, the agent is the conversation's assignee; with no assignee, the field is empty.
    rendered = (await client.get(URL, params={"conversation_id": conversation["id"]})).json()
    assert [r["rendered"] for r in rendered] == ["Thanks Ana!  here; we will call +14155550123."]
    ada = await add_user(sessions, "Ada Lovelace")
    await client.post(f"/api/v1/conversations/{conversation['id']}/assign", json={"user_id": ada.id})
    one = await client.get(f"{URL}/{reply['id']}", params={"conversation_id": conversation["id"]})
    assert one.json()["rendered"] == "Thanks Ana! Ada Lovelace here; we will call +14155550123."
    assert one.json()["text"] == THANKS

    missing = await client.get(URL, params={"conversation_id": 999999})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
