"""Groups end to end (issue 18's group acceptance), on SQLite and PostgreSQL: a group is created through the API
at fakegraph, its invite link fetched, a simulated participant joins through it (the webhook stored, the
participant listed), a text and a template sent to the group reach a read status from each participant, an
interactive message is refused before queueing, Meta's 8-participant limit comes back as a 422 with its reason,
and the group's conversation carries the group's subject in the inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID
from tests.integration.test_inbox_pages import login  # noqa: F401 - the fixture
from tests.support import eventually
from wahub import domain
from wahub.api.context import AppContext
from wahub.domain import group_contact
from wahub.provider.graph import GraphClient
from wahub.store import contacts, db, groups, messages, outbound, statuses
from wahub.store.models import Account

ADA, BO = "14155550101", "14155550102"  # fakegraph's simulated contacts in conftest
Login = Callable[[str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def graph(ctx: AppContext, graph_url: str) -> AsyncIterator[GraphClient]:
    """The Graph client on fakegraph, given to the app for its group calls (as the composition root does)."""
    async with aiohttp.ClientSession() as http:
        client = GraphClient(http, graph_url, "v25.0")
        ctx.group_api = client
        yield client


@pytest.fixture
async def fake(graph_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=graph_url, headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}) as c:
        yield c


async def created(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """A group created through the API, once Meta's webhook has named it."""
    answer = await client.post("/api/v1/groups", json={"subject": "Night shift", **body})
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "creating" and answer.json()["group_id"] is None
    row_id = answer.json()["id"]

    async def active() -> dict[str, Any] | None:
        group: dict[str, Any] = (await client.get(f"/api/v1/groups/{row_id}")).json()
        return group if group["state"] == "active" else None

    return await eventually(active)  # type: ignore[no-any-return]


async def join(fake: httpx.AsyncClient, link: str, wa_id: str) -> dict[str, Any]:
    answer = await fake.post("/_fake/groups/join", json={"invite_link": link, "wa_id": wa_id})
    return answer.json()  # type: ignore[no-any-return]


async def participants(client: httpx.AsyncClient, row_id: int) -> list[str]:
    return [p["wa_id"] for p in (await client.get(f"/api/v1/groups/{row_id}/participants")).json()]


async def read_by(client: httpx.AsyncClient, message_id: int, n: int) -> list[dict[str, Any]] | None:
    rows = (await client.get(f"/api/v1/messages/{message_id}/statuses")).json()
    reads = [r for r in rows if r["status"] == "read"]
    return rows if len(reads) == n else None


async def test_a_group_is_created_joined_and_sent_to_with_a_read_from_each_participant(
    client: httpx.AsyncClient, worker: None, graph: GraphClient, fake: httpx.AsyncClient
) -> None:
    group = await created(client, description="Who is on tonight")
    assert group["invite_link"].startswith("https://chat.whatsapp.com/") and group["group_id"]
    row_id, group_id = group["id"], group["group_id"]
    link = (await client.get(f"/api/v1/groups/{row_id}/invite-link")).json()["invite_link"]
    assert link == group["invite_link"]
    assert (await join(fake, link, ADA))["joined"] is True
    assert await eventually(lambda: _listed(client, row_id, [ADA]))
    assert (await join(fake, link, BO))["joined"] is True
    assert await eventually(lambda: _listed(client, row_id, [ADA, BO]))
    events = (await client.get("/api/v1/events", params={"field": "group_participants_update"})).json()["items"]
    assert len(events) == 2
    lifecycle = (await client.get("/api/v1/events", params={"field": "group_lifecycle_update"})).json()["items"]
    assert len(lifecycle) == 1

    text = {"recipient_type": "group", "to": group_id, "type": "text", "text": {"body": "Who takes the night?"}}
    template = {
        "recipient_type": "group",
        "to": group_id,
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    for body in (text, template):
        sent = await client.post("/api/v1/messages", json=body)
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["id"]
        reached = await eventually(lambda: read_by(client, message_id, 2), timeout=30)  # noqa: B023 - awaited here
        assert sorted(r["recipient"] for r in reached if r["status"] == "read") == [ADA, BO]
        assert sorted(r["recipient"] for r in reached if r["status"] == "delivered") == [ADA, BO]
        message = (await client.get(f"/api/v1/messages/{message_id}")).json()
        assert message["status"] == "read"

    interactive = {
        "recipient_type": "group",
        "to": group_id,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Night?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]},
        },
    }
    refused = await client.post("/api/v1/messages", json=interactive)
    assert refused.status_code == 422 and "group message" in refused.text
    buttons = [
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "y"}]}
    ]
    with_button = {**template, "template": {**template["template"], "components": buttons}}
    refused = await client.post("/api/v1/messages", json=with_button)
    assert refused.status_code == 422 and "takes no buttons" in refused.text


async def _listed(client: httpx.AsyncClient, row_id: int, wa_ids: list[str]) -> bool:
    return sorted(await participants(client, row_id)) == wa_ids


def participant_status(group_id: str, wa_id: str, value: str, second: int) -> domain.StatusUpdate:
    return domain.StatusUpdate(
        phone_number_id=PHONE_NUMBER_ID,
        provider_id="wamid.GROUP1",
        status=domain.MessageStatus(value),
        timestamp=datetime(2026, 12, 1, 12, 0, second, tzinfo=UTC),
        recipient=domain.ContactRef(wa_id=group_id),
        raw={},
        recipient_type="group",
        participant=domain.ContactRef(wa_id=wa_id),
    )


async def test_a_group_message_is_read_only_once_every_participant_read_it(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    group_id = "Y2FwaV9ncm91cDox"
    async with db.transaction(sessions) as session:
        event = domain.GroupEvent(
            field="group_participants_update",
            kind="group_participants_add",
            phone_number_id=PHONE_NUMBER_ID,
            group_id=group_id,
            timestamp=datetime(2026, 12, 1, tzinfo=UTC),
            raw={},
            added=(domain.ContactRef(wa_id=ADA), domain.ContactRef(wa_id=BO)),
        )
        await groups.apply_events(session, account.id, [event])
        to_group = outbound.QueuedSend(
            account, group_contact(group_id), domain.MessageType.TEXT, {"text": {"body": "hi"}}, group_id=group_id
        )
        (queued,) = await outbound.queue_many(session, [to_group])
        assert not isinstance(queued, Exception)
        message = queued[0]
        await messages.record_accepted(session, [(message.id, "wamid.GROUP1")])
        # Someone joins after the message went out: they never get it, and do not hold its read back.
        later = domain.GroupEvent(
            field="group_participants_update",
            kind="group_participants_add",
            phone_number_id=PHONE_NUMBER_ID,
            group_id=group_id,
            timestamp=message.created_at + timedelta(minutes=5),
            raw={},
            added=(domain.ContactRef(wa_id="14155550109"),),
        )
        await groups.apply_events(session, account.id, [later])

    async def status_after(*updates: domain.StatusUpdate) -> str:
        async with db.transaction(sessions) as session:
            await statuses.record_many(session, [(account.id, u) for u in updates])
            return (await messages.get(session, message.id)).status

    assert await status_after(participant_status(group_id, ADA, "delivered", 1)) == "accepted"
    assert await status_after(participant_status(group_id, ADA, "read", 2)) == "accepted"
    assert await status_after(participant_status(group_id, BO, "delivered", 3)) == "delivered"
    assert await status_after(participant_status(group_id, BO, "read", 4)) == "read"
    async with db.transaction(sessions) as session:
        kept = await statuses.for_message(session, message.id)
    assert sorted((r.status, r.recipient) for r in kept) == [
        ("delivered", ADA),
        ("delivered", BO),
        ("read", ADA),
        ("read", BO),
    ]


async def test_meta_s_limits_come_back_as_422s_with_their_reason(
    client: httpx.AsyncClient, worker: None, graph: GraphClient, fake: httpx.AsyncClient
) -> None:
    group = await created(client, join_approval_mode="approval_required")
    row_id = group["id"]
    asked = [await join(fake, group["invite_link"], f"1415555040{n}") for n in range(9)]
    assert all(a["joined"] is False for a in asked)

    async def nine_requests() -> bool:
        return len((await client.get(f"/api/v1/groups/{row_id}/join-requests")).json()) == 9

    assert await eventually(nine_requests)
    ids = [a["join_request_id"] for a in asked]
    approved = await client.post(f"/api/v1/groups/{row_id}/join-requests/approve", json={"join_requests": ids[:8]})
    assert approved.status_code == 200 and approved.json()["done"] == ids[:8]
    full = await client.post(f"/api/v1/groups/{row_id}/join-requests/approve", json={"join_requests": ids[8:]})
    assert full.status_code == 422
    error = full.json()["error"]
    assert "at most 8 participants" in error["message"] and error["details"]["code"] == 131204
    assert (await client.post(f"/api/v1/groups/{row_id}/join-requests/reject", json={"join_requests": ids[8:]})).json()[
        "done"
    ] == ids[8:]
    assert await eventually(lambda: _count(client, row_id, 8))
    bad = await client.request("DELETE", f"/api/v1/groups/{row_id}/participants", json={"participants": ["x"]})
    assert bad.status_code == 422
    removed = await client.request(
        "DELETE", f"/api/v1/groups/{row_id}/participants", json={"participants": ["14155550400"]}
    )
    assert removed.status_code == 202
    assert await eventually(lambda: _count(client, row_id, 7))
    for body in ({}, {"subject": ""}, {"subject": "x" * 129}, {"nonsense": 1}):
        assert (await client.patch(f"/api/v1/groups/{row_id}", json=body)).status_code == 422, body
    renamed = await client.patch(f"/api/v1/groups/{row_id}", json={"subject": "Day shift"})
    assert renamed.json()["subject"] == "Day shift"
    gone = await client.delete(f"/api/v1/groups/{row_id}")
    assert gone.json()["state"] == "deleted"
    assert (await client.get(f"/api/v1/groups/{row_id}/invite-link")).status_code == 404
    assert [g["id"] for g in (await client.get("/api/v1/groups")).json()["items"]] == []


async def _count(client: httpx.AsyncClient, row_id: int, n: int) -> bool:
    return len(await participants(client, row_id)) == n


async def test_a_group_s_conversation_is_named_after_its_subject_in_the_inbox(
    client: httpx.AsyncClient,
    worker: None,
    graph: GraphClient,
    login: Login,  # noqa: F811
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    group = await created(client, subject="Night shift crew")
    body = {"recipient_type": "group", "to": group["group_id"], "type": "text", "text": {"body": "Roll call"}}
    assert (await client.post("/api/v1/messages", json=body)).status_code == 202
    async with db.transaction(sessions) as session:
        contact = await contacts.find(session, account.id, group_contact(group["group_id"]))
    assert contact is not None and contact.profile_name == "Night shift crew"
    admin = await login("admin@example.com", "admin")
    page = (await admin.get("/")).text
    assert "Night shift crew" in page


async def test_an_erased_person_leaves_the_groups_they_were_in_or_asked_to_join(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    group_id = "Y2FwaV9ncm91cDoy"
    joined = domain.GroupEvent(
        field="group_participants_update",
        kind="group_participants_add",
        phone_number_id=PHONE_NUMBER_ID,
        group_id=group_id,
        timestamp=datetime(2026, 12, 1, tzinfo=UTC),
        raw={},
        added=(domain.ContactRef(wa_id=ADA), domain.ContactRef(wa_id=BO)),
    )
    asked = domain.GroupEvent(
        field="group_participants_update",
        kind="group_join_request_created",
        phone_number_id=PHONE_NUMBER_ID,
        group_id="Y2FwaV9ncm91cDoz",
        timestamp=datetime(2026, 12, 1, tzinfo=UTC),
        raw={},
        join_request_id="JR1",
        requester=domain.ContactRef(wa_id=ADA),
    )
    async with db.transaction(sessions) as session:
        await groups.apply_events(session, account.id, [joined, asked])
        ada = await contacts.upsert_contact(session, account.id, domain.ContactRef(wa_id=ADA))
    rows = {g["group_id"]: g for g in (await client.get("/api/v1/groups")).json()["items"]}
    assert [p["wa_id"] for p in rows[group_id]["participants"]] == [ADA, BO]
    assert len(rows["Y2FwaV9ncm91cDoz"]["join_requests"]) == 1
    erased = await client.post(f"/api/v1/contacts/{ada.id}/erase")
    assert erased.status_code == 200, erased.text
    rows = {g["group_id"]: g for g in (await client.get("/api/v1/groups")).json()["items"]}
    assert [p["wa_id"] for p in rows[group_id]["participants"]] == [BO]
    assert rows["Y2FwaV9ncm91cDoz"]["join_requests"] == []
