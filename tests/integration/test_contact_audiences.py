"""Contacts for audiences through ``/api/v1/contacts``: labels (add, remove, filter), custom attributes (merge,
remove, limits), the marketing opt-out by API call, and the agents' rule on all of them; on SQLite and
PostgreSQL. The opt-out by keyword and by Meta's webhook: test_opt_out_webhooks.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from wahub.domain import ContactRef
from wahub.store import audiences, contacts, conversations, db, users
from wahub.store.models import Account, Contact, Conversation, utcnow


@pytest.fixture
async def ids(open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Contacts +14155550101..03 by number."""
    await open_window("+14155550101", "+14155550102", "+14155550103")
    async with sessions() as session:
        return {c.wa_id or "": c.id for c in (await session.scalars(sa.select(Contact))).all()}


def numbers(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {c["wa_id"] for c in answer.json()["items"]}


def error(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    message: str = answer.json()["error"]["message"]
    return message


async def test_labels_are_added_trimmed_unique_whatever_the_case_and_removed(
    client: httpx.AsyncClient, ids: dict[str, int]
) -> None:
    ada = ids["14155550101"]
    added = await client.post(f"/api/v1/contacts/{ada}/labels", json={"labels": ["  VIP ", "vip", "New  York"]})
    assert added.status_code == 200, added.text
    assert added.json()["labels"] == ["New York", "VIP"]
    again = await client.post(f"/api/v1/contacts/{ada}/labels", json={"labels": ["Vip", "madrid"]})
    assert again.json()["labels"] == ["madrid", "New York", "VIP"]  # the first spelling stays
    assert (await client.delete(f"/api/v1/contacts/{ada}/labels/new%20york")).status_code == 204
    assert (await client.get(f"/api/v1/contacts/{ada}")).json()["labels"] == ["madrid", "VIP"]
    gone = await client.delete(f"/api/v1/contacts/{ada}/labels/new%20york")
    assert gone.status_code == 404 and "has no label" in gone.json()["error"]["message"]
    assert (await client.post("/api/v1/contacts/999999/labels", json={"labels": ["x"]})).status_code == 404


async def test_bad_labels_get_a_clear_422_and_change_nothing(client: httpx.AsyncClient, ids: dict[str, int]) -> None:
    ada = ids["14155550101"]
    url = f"/api/v1/contacts/{ada}/labels"
    assert "empty" in error(await client.post(url, json={"labels": ["ok", "   "]}))
    assert "longer than 64" in error(await client.post(url, json={"labels": ["x" * 65]}))
    assert "';'" in error(await client.post(url, json={"labels": ["a;b"]}))
    assert (await client.post(url, json={"labels": []})).status_code == 422
    assert (await client.post(url, json={"labels": "vip"})).status_code == 422
    assert (await client.post(url, json={"labels": [1]})).status_code == 422
    assert (await client.get(f"/api/v1/contacts/{ada}")).json()["labels"] == []
    many = [f"l{n}" for n in range(audiences.LABELS_MAX)]
    assert (await client.post(url, json={"labels": many})).status_code == 200
    assert "at most 100 labels" in error(await client.post(url, json={"labels": ["one more"]}))


async def test_contacts_are_filtered_by_labels_all_of_them_and_by_opt_out(
    client: httpx.AsyncClient, ids: dict[str, int]
) -> None:
    ada, bo, cy = ids["14155550101"], ids["14155550102"], ids["14155550103"]
    await client.post(f"/api/v1/contacts/{ada}/labels", json={"labels": ["VIP", "Madrid"]})
    await client.post(f"/api/v1/contacts/{bo}/labels", json={"labels": ["vip"]})
    await client.post(f"/api/v1/contacts/{cy}/labels", json={"labels": ["Madrid"]})
    assert numbers(await client.get("/api/v1/contacts", params={"label": "vip"})) == {"14155550101", "14155550102"}
    both = await client.get("/api/v1/contacts", params=[("label", " MADRID "), ("label", "Vip")])
    assert numbers(both) == {"14155550101"}
    assert numbers(await client.get("/api/v1/contacts", params={"label": "nobody"})) == set()
    assert "longer than 64" in error(await client.get("/api/v1/contacts", params={"label": "x" * 65}))
    await client.post(f"/api/v1/contacts/{bo}/opt-out")
    assert numbers(await client.get("/api/v1/contacts", params={"label": "vip", "opted_out": "false"})) == {
        "14155550101"
    }
    assert numbers(await client.get("/api/v1/contacts", params={"opted_out": "true"})) == {"14155550102"}


async def test_attributes_are_merged_and_null_removes_a_key(client: httpx.AsyncClient, ids: dict[str, int]) -> None:
    url = f"/api/v1/contacts/{ids['14155550101']}"
    first = await client.patch(url, json={"attributes": {"city": "Madrid", "orders": 3, "vip": True, "score": 4.5}})
    assert first.status_code == 200, first.text
    assert first.json()["attributes"] == {"city": "Madrid", "orders": 3, "vip": True, "score": 4.5}
    second = await client.patch(url, json={"attributes": {"orders": 4, "score": None, "tier": "gold"}})
    assert second.json()["attributes"] == {"city": "Madrid", "orders": 4, "vip": True, "tier": "gold"}
    named = await client.patch(url, json={"saved_name": "  Ada  Lovelace "})
    assert named.json()["saved_name"] == "Ada Lovelace" and named.json()["attributes"]["tier"] == "gold"
    assert numbers(await client.get("/api/v1/contacts", params={"q": "lovelace"})) == {"14155550101"}


async def test_attributes_out_of_shape_or_size_get_a_422_and_change_nothing(
    client: httpx.AsyncClient, ids: dict[str, int]
) -> None:
    url = f"/api/v1/contacts/{ids['14155550101']}"
    await client.patch(url, json={"attributes": {"city": "Madrid"}})
    assert "flat" in error(await client.patch(url, json={"attributes": {"address": {"street": "x"}}}))
    assert "flat" in error(await client.patch(url, json={"attributes": {"tags": ["a"]}}))
    assert "a key is" in error(await client.patch(url, json={"attributes": {"1st": "x"}}))
    assert "a key is" in error(await client.patch(url, json={"attributes": {"": "x"}}))
    assert "longer than 1024" in error(await client.patch(url, json={"attributes": {"note": "x" * 1025}}))
    assert "2^53" in error(await client.patch(url, json={"attributes": {"big": 2**60}}))
    many = {f"k{n}": n for n in range(audiences.ATTRIBUTES_MAX)}
    assert "at most 100 attributes" in error(await client.patch(url, json={"attributes": many}))
    wide = {f"k{n}": "x" * 1000 for n in range(20)}
    assert "bytes as JSON" in error(await client.patch(url, json={"attributes": wide}))
    assert (await client.patch(url, json={"attributes": {"a": 1}, "other": 1})).status_code == 422
    assert (await client.get(url)).json()["attributes"] == {"city": "Madrid"}


async def test_opt_out_and_opt_in_by_api(client: httpx.AsyncClient, ids: dict[str, int]) -> None:
    url = f"/api/v1/contacts/{ids['14155550101']}"
    assert (await client.get(url)).json()["opted_out_at"] is None
    out = await client.post(f"{url}/opt-out")
    assert out.status_code == 200, out.text
    when = out.json()["opted_out_at"]
    assert when is not None and out.json()["opt_out_source"] == "api"
    assert (await client.post(f"{url}/opt-out")).json()["opted_out_at"] == when  # the first time stays
    back = await client.post(f"{url}/opt-in")
    assert (back.json()["opted_out_at"], back.json()["opt_out_source"]) == (None, None)
    assert (await client.post("/api/v1/contacts/999999/opt-out")).status_code == 404


@pytest.fixture
async def agent(base_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    async with db.transaction(sessions) as session:
        await users.add(session, "bo@example.com", "Bo", "agent", "an agent's password")
    async with httpx.AsyncClient(base_url=base_url) as c:
        answer = await c.post("/api/v1/auth/login", json={"email": "bo@example.com", "password": "an agent's password"})
        assert answer.status_code == 200, answer.text
        c.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        yield c


async def test_an_agent_changes_only_the_contacts_they_may_write_to(
    agent: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ids: dict[str, int],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    theirs, free = ids["14155550101"], ids["14155550102"]
    async with db.transaction(sessions) as session:
        other = await users.add(session, "cy@example.com", "Cy", "agent", "another password")
        conv = (await session.scalars(sa.select(Conversation).where(Conversation.contact_id == theirs))).one()
        await conversations.assign(session, conv.id, other.id)
    for method, path, body in (
        ("POST", "labels", {"labels": ["vip"]}),
        ("DELETE", "labels/vip", None),
        ("PATCH", "", {"attributes": {"a": 1}}),
        ("POST", "opt-out", None),
        ("POST", "opt-in", None),
    ):
        hidden = await agent.request(method, f"/api/v1/contacts/{theirs}/{path}".rstrip("/"), json=body)
        assert hidden.status_code == 404, (method, path, hidden.text)
    assert (await agent.post(f"/api/v1/contacts/{free}/labels", json={"labels": ["vip"]})).status_code == 200
    assert (await agent.post(f"/api/v1/contacts/{free}/opt-out")).status_code == 200
    await client.post(f"/api/v1/contacts/{theirs}/labels", json={"labels": ["vip"]})
    assert numbers(await agent.get("/api/v1/contacts", params={"label": "vip"})) == {"14155550102"}
    assert numbers(await client.get("/api/v1/contacts", params={"label": "vip"})) == {"14155550101", "14155550102"}
    contact = (await client.get(f"/api/v1/contacts/{theirs}")).json()
    assert contact["attributes"] == {} and contact["opted_out_at"] is None


async def test_merged_contacts_keep_labels_attributes_name_and_the_latest_opt_out(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        keep = await contacts.upsert_contact(session, account.id, ContactRef(wa_id="14155550101"))
        drop = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=None, user_id="US.1"))
        await audiences.add_labels(session, keep.id, ["vip"])
        await audiences.add_labels(session, drop.id, ["VIP", "Madrid"])
        audiences.merge_attributes(keep, {"a": 1})
        audiences.merge_attributes(drop, {"a": 2, "b": "x"})
        drop.saved_name = "Bo"
        audiences.opt_out(drop, utcnow(), audiences.Source.KEYWORD)
        await session.flush()
        await contacts.merge(session, keep=keep, drop=drop)
        keep_id = keep.id
    async with sessions() as session:
        merged = await session.get(Contact, keep_id)
        assert merged is not None
        assert (merged.attributes, merged.saved_name, merged.opt_out_source) == ({"a": 1, "b": "x"}, "Bo", "keyword")
        assert (await audiences.labels_of(session, [keep_id]))[keep_id] == ["Madrid", "vip"]
        assert (await session.scalars(sa.select(Contact.id))).all() == [keep_id]
