"""Campaigns (``/api/v1/campaigns``) as created and moved between states: audiences from labels, numbers, a CSV
upload and an entity; parameters from attributes, names, CSV columns; refusals naming the field; the 409 of a
transition the state does not allow. Running them against fakegraph is ``test_campaign_runs.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakegraph.templates import TEMPLATES
from tests.integration.conftest import WABA_ID
from wahub import domain
from wahub.automations.campaigns import AHEAD, CampaignRunner
from wahub.domain import ContactRef
from wahub.store import audiences, contacts, conversations, db, entities, outbound, outbox, templates
from wahub.store.models import Account, CampaignRecipient, Contact, OutboxJob, utcnow

PROMO = {"name": "seasonal_promotion", "language": "en_US"}
PROMO_PARAMS = {
    "header": [{"text": "Winter Sale"}],
    "body": [{"attribute": "until"}, {"contact": "name"}, {"text": "20%"}],
}


@pytest.fixture(autouse=True)
async def _templates(sessions: async_sessionmaker[AsyncSession], account: Account) -> None:
    async with db.transaction(sessions) as session:
        await templates.upsert_many(session, WABA_ID, TEMPLATES)


async def _contact(
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    wa_id: str,
    *,
    name: str | None = None,
    labels: tuple[str, ...] = (),
    attributes: dict[str, Any] | None = None,
) -> Contact:
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=wa_id))
        contact.saved_name = name
        if labels:
            await audiences.add_labels(session, contact.id, labels)
        if attributes:
            audiences.merge_attributes(contact, attributes)
        return contact


async def _recipients(sessions: async_sessionmaker[AsyncSession], campaign_id: int) -> list[CampaignRecipient]:
    async with sessions() as session:
        stmt = sa.select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        return list((await session.scalars(stmt.order_by(CampaignRecipient.id))).all())


async def test_a_campaign_by_label_gets_each_labelled_contact_with_its_parameters(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    ana = await _contact(sessions, account, "14155550111", name="Ana", labels=("VIP",), attributes={"until": "Sunday"})
    bo = await _contact(sessions, account, "14155550112", name="Bo", labels=("vip", "b"), attributes={"until": 5})
    await _contact(sessions, account, "14155550113", name="Cy", labels=("other",), attributes={"until": "x"})
    body = {"name": "Winter", "template": PROMO, "audience": {"labels": ["vip"]}, "parameters": PROMO_PARAMS}
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["state"] == "draft" and out["template"] == PROMO and out["audience"] == {"labels": ["vip"]}
    assert out["totals"] == {
        "recipients": 2,
        "pending": 2,
        "queued": 0,
        "sent": 0,
        "delivered": 0,
        "read": 0,
        "failed": 0,
        "skipped": 0,
    }
    rows = await _recipients(sessions, out["id"])
    assert [r.contact_id for r in rows] == [ana.id, bo.id]
    assert rows[1].parameters == [
        {"type": "header", "parameters": [{"type": "text", "text": "Winter Sale"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "5"},
                {"type": "text", "text": "Bo"},
                {"type": "text", "text": "20%"},
            ],
        },
    ]
    assert (await client.get(f"/api/v1/campaigns/{out['id']}")).json()["totals"]["pending"] == 2
    listed = (await client.get("/api/v1/campaigns")).json()
    assert [c["id"] for c in listed] == [out["id"]]


async def test_a_missing_parameter_value_refuses_the_campaign_naming_recipient_and_parameter(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    await _contact(sessions, account, "14155550111", name="Ana", labels=("vip",), attributes={"until": "Sunday"})
    await _contact(sessions, account, "14155550112", name="Bo", labels=("vip",))  # no "until"
    body = {"name": "Winter", "template": PROMO, "audience": {"labels": ["vip"]}, "parameters": PROMO_PARAMS}
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "+14155550112" in error["message"] and "'until'" in error["message"]
    assert "parameters.body[0]" in response.text
    assert (await client.get("/api/v1/campaigns")).json() == []


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"parameters": {**PROMO_PARAMS, "body": [{"text": "a"}]}}, "parameters.body", "3 parameter"),
        ({"template": {"name": "nope", "language": "en_US"}}, "template.name", "not known"),
        ({"audience": {"labels": ["nobody"]}}, "audience.labels", "selects no contacts"),
        ({"audience": {"numbers": ["+1415555", "12"]}}, "audience.numbers[0]", "E.164"),
        ({"audience": {"labels": ["vip"], "numbers": ["+14155550111"]}}, "audience", "exactly one"),
        ({"audience": {"csv": "name\nAna\n"}}, "audience.csv", "number column"),
        ({"parameters": {"body": [{"text": "a", "attribute": "b"}]}}, "parameters.body[0]", "one of"),
        ({"start_at": "2026-12-24T09:00:00"}, "start_at", "time zone"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    change: dict[str, Any],
    field: str,
    says: str,
) -> None:
    await _contact(sessions, account, "14155550111", name="Ana", labels=("vip",), attributes={"until": "Sunday"})
    body = {"name": "W", "template": PROMO, "audience": {"labels": ["vip"]}, "parameters": PROMO_PARAMS, **change}
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text and says in response.text


async def test_a_template_not_approved_refuses_the_campaign(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        row = await templates.find(session, WABA_ID, "hello_world", "en_US")
        assert row is not None
        row.status = "PAUSED"
    hello = {"name": "hello_world", "language": "en_US"}
    body = {"name": "Hi", "template": hello, "audience": {"numbers": ["+14155550111"]}}
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422 and "PAUSED" in response.json()["error"]["message"]


async def test_a_csv_audience_creates_its_contacts_and_fills_parameters_from_columns(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    text = "number,name,Until Date,code\n+14155550121,Ana,Friday,A1\n+1 415 555 0122,Bo,Monday,B2\n"
    params = {"header": [{"column": "code"}], "body": [{"column": "until date"}, {"column": "name"}, {"text": "5%"}]}
    body = {"name": "CSV", "template": PROMO, "audience": {"csv": text}, "parameters": params}
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["audience"] == {"csv_rows": 2}
    rows = await _recipients(sessions, response.json()["id"])
    async with sessions() as session:
        people = {c.id: c for c in (await session.scalars(sa.select(Contact))).all()}
    assert [people[r.contact_id].wa_id for r in rows] == ["14155550121", "14155550122"]
    assert people[rows[1].contact_id].saved_name == "Bo"  # created as the CSV import does
    assert people[rows[1].contact_id].attributes == {"Until_Date": "Monday", "code": "B2"}
    assert rows[1].parameters is not None
    assert rows[1].parameters[0]["parameters"] == [{"type": "text", "text": "B2"}]
    assert [p["text"] for p in rows[1].parameters[1]["parameters"]] == ["Monday", "Bo", "5%"]
    bad = {**body, "audience": {"csv": "number\n+14155550121\nnot a number\n"}}
    response = await client.post("/api/v1/campaigns", json=bad)
    assert response.status_code == 422 and "line 3" in response.json()["error"]["message"]


async def test_an_entity_audience_is_the_contacts_of_its_linked_conversations_and_messages(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    linked = await _contact(sessions, account, "14155550131")
    await _contact(sessions, account, "14155550132")  # not linked
    async with db.transaction(sessions) as session:
        chat = await conversations.get_or_create(session, account.id, linked.id)
        await entities.link(session, ("deal", "D-1"), conversation_id=chat.id)
    send = {
        "to": "+14155550133",
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
        "entities": [{"entity_type": "deal", "entity_id": "D-1"}],
    }
    numbered = (await client.post("/api/v1/messages", json=send)).json()
    assert numbered["status"] == "queued"
    hello = {"name": "hello_world", "language": "en_US"}
    audience = {"entity": {"entity_type": "deal", "entity_id": "D-1"}}
    response = await client.post("/api/v1/campaigns", json={"name": "Deal", "template": hello, "audience": audience})
    assert response.status_code == 201, response.text
    async with sessions() as session:
        wa_ids = [
            (await session.get(Contact, r.contact_id)).wa_id  # type: ignore[union-attr]
            for r in await _recipients(sessions, response.json()["id"])
        ]
    assert sorted(wa_ids) == ["14155550131", "14155550133"]  # type: ignore[type-var]


async def test_states_move_as_allowed_and_a_wrong_transition_is_a_409(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    hello = {"name": "hello_world", "language": "en_US"}
    later = utcnow().replace(year=utcnow().year + 1, month=1, day=1).isoformat()
    body = {"name": "Hi", "template": hello, "audience": {"numbers": ["+14155550141", "+14155550142"]}}
    created = (await client.post("/api/v1/campaigns", json={**body, "start_at": later})).json()
    base = f"/api/v1/campaigns/{created['id']}"
    assert (await client.post(f"{base}/resume")).status_code == 409
    assert (await client.post(f"{base}/pause")).status_code == 409
    started = await client.post(f"{base}/start")
    assert started.status_code == 200 and started.json()["state"] == "scheduled"
    again = await client.post(f"{base}/start")
    assert again.status_code == 409 and "scheduled" in again.json()["error"]["message"]
    assert (await client.post(f"{base}/pause")).json()["state"] == "paused"
    assert (await client.post(f"{base}/resume")).json()["state"] == "running"
    cancelled = (await client.post(f"{base}/cancel")).json()
    assert cancelled["state"] == "cancelled" and cancelled["totals"]["skipped"] == 2
    assert (await client.post(f"{base}/cancel")).status_code == 409
    page = (await client.get(f"{base}/recipients", params={"result": "skipped", "limit": 1})).json()
    assert [r["reason"] for r in page["items"]] == ["cancelled"] and page["next_cursor"]
    rest = (await client.get(f"{base}/recipients", params={"cursor": page["next_cursor"]})).json()
    assert [r["number"] for r in rest["items"]] == ["+14155550142"] and rest["next_cursor"] is None
    assert (await client.get(f"{base}/recipients", params={"result": "nope"})).status_code == 422
    assert (await client.get("/api/v1/campaigns/999/recipients")).status_code == 404


async def test_a_held_send_waiting_for_its_status_is_settled_by_it_and_resume_does_not_send_it_again(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    """A campaign's sends ask to be confirmed (``OutboxJob.confirm``). One whose answer was lost waits for its
    status; if its campaign pauses meanwhile its job is held, and the status still settles it (done), so resume
    never sends it a second time."""
    hello = {"name": "hello_world", "language": "en_US"}
    body = {"name": "Hi", "template": hello, "audience": {"numbers": ["+14155550151", "+14155550152"]}}
    campaign_id = (await client.post("/api/v1/campaigns", json=body)).json()["id"]
    await client.post(f"/api/v1/campaigns/{campaign_id}/start")
    assert await CampaignRunner(sessions).run_once() == 1  # queues both (no sender runs here)
    (first, second) = await _recipients(sessions, campaign_id)
    async with db.transaction(sessions) as session:  # the first was sent, its answer lost: it awaits its status
        jobs = (await session.scalars(sa.select(OutboxJob).order_by(OutboxJob.id))).all()
        assert [j.confirm for j in jobs] == [True, True]
        jobs[0].last_error, jobs[0].run_at = outbox.AWAITING_STATUS, utcnow() + timedelta(minutes=5)
    assert (await client.post(f"/api/v1/campaigns/{campaign_id}/pause")).status_code == 200
    status = domain.StatusUpdate(
        phone_number_id=account.phone_number_id or "",
        provider_id="wamid.confirmed",
        status=domain.MessageStatus.SENT,
        timestamp=utcnow(),
        recipient=ContactRef(wa_id="14155550151"),
        raw={},
        reference=domain.send_reference(first.message_id or 0),
    )
    async with db.transaction(sessions) as session:
        await outbox.confirm_sent(session, [(account.id, status)])
    assert (await client.post(f"/api/v1/campaigns/{campaign_id}/resume")).status_code == 200
    async with sessions() as session:
        states = {j.message_id: j.state for j in (await session.scalars(sa.select(OutboxJob))).all()}
    assert states == {first.message_id: "done", second.message_id: "pending"}
    cancelled = (await client.post(f"/api/v1/campaigns/{campaign_id}/cancel")).json()
    assert cancelled["totals"]["skipped"] == 1 and cancelled["totals"]["queued"] == 1  # the confirmed one stays


async def test_a_step_queues_only_what_the_numbers_rate_leaves_room_for_other_sends_counted(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    """A campaign keeps ``AHEAD`` seconds of its account's send rate of due sends in the outbox, counting the
    number's other sends (API sends, broadcasts, other campaigns): the number's rate is the one limit."""
    hello = {"name": "hello_world", "language": "en_US"}
    async with db.transaction(sessions) as session:
        row = await session.get(Account, account.id)
        assert row is not None
        row.send_rate = 5  # room for int(AHEAD * 5) due sends
        others = [
            outbound.QueuedSend(
                account,
                ContactRef(wa_id=f"141555502{i:02d}"),
                domain.MessageType.TEMPLATE,
                {"template": {"name": "hello_world", "language": {"code": "en_US"}}},
                free_form=False,
            )
            for i in range(7)
        ]
        await outbound.queue_many(session, others)
    numbers = [f"+141555503{i:02d}" for i in range(20)]
    body = {"name": "Busy number", "template": hello, "audience": {"numbers": numbers}}
    campaign_id = (await client.post("/api/v1/campaigns", json=body)).json()["id"]
    assert (await client.post(f"/api/v1/campaigns/{campaign_id}/start")).status_code == 200
    assert await CampaignRunner(sessions).run_once() == 1  # no sender runs here: nothing leaves the outbox
    queued = [r for r in await _recipients(sessions, campaign_id) if r.message_id is not None]
    assert len(queued) == int(AHEAD * 5) - len(others)
