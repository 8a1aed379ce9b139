"""``GET /api/v1/stats`` and ``wahub monitor``'s statistics: totals, direction and type, conversations and
contacts, what became of the messages sent (delivery and read rates) and failures by code, over a period."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_read_api import NOW, deliver, text_from
from wahub.api.context import AppContext
from wahub.domain import ContactRef
from wahub.store import contacts, conversations, db, monitor, stats
from wahub.store.models import Account, Message, utcnow

DAY = 86400


async def sent(sessions: async_sessionmaker[AsyncSession], account: Account, wa_id: str, **fields: Any) -> None:
    """An outbound message as the sender and the status webhooks leave it (``fields``: status, timestamps...)."""
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=wa_id))
        conversation = await conversations.get_or_create(session, account.id, contact.id)
        values: dict[str, Any] = {"type": "text", "content": {"text": {"body": "hello"}}, "status": "queued"}
        session.add(
            Message(
                account_id=account.id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction="outbound",
                queued_at=utcnow(),
                **{**values, **fields},
            )
        )


async def test_stats_count_the_period_by_direction_type_and_outcome(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    image = text_from("wamid.img", wa_id="14155550102", user_id=None, name="Bo")
    message = image["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update(type="image", image={"id": "1", "mime_type": "image/jpeg", "sha256": "a" * 64})
    await deliver(
        anon,
        ctx,
        text_from("wamid.in1", wa_id="14155550101", user_id=None, name="Ada"),
        text_from("wamid.in2", wa_id="14155550101", user_id=None, name="Ada"),
        image,
        # Written 40 days ago (Meta's timestamp), delivered late: outside a 30-day period.
        text_from("wamid.old", wa_id="14155550103", user_id=None, name="Cy", at=NOW - 40 * DAY),
    )
    now = utcnow()
    await sent(sessions, account, "14155550101", wamid="w1", status="read", delivered_at=now, read_at=now)
    await sent(sessions, account, "14155550101", wamid="w2", status="delivered", delivered_at=now)
    # Read with no delivered webhook (Meta skips it at times): delivered all the same.
    await sent(sessions, account, "14155550102", type="template", wamid="w3", status="read", read_at=now)
    await sent(sessions, account, "14155550102", wamid="w4", status="sent", possible_duplicate=True)
    await sent(sessions, account, "14155550104", status="failed", error_code=131026, error_title="Undeliverable")
    await sent(sessions, account, "14155550105", status="failed", error_code=131026, error_title="Undeliverable")
    await sent(
        sessions, account, "14155550102", type="template", wamid="w5", status="failed", error_code=131047,
        error_title="Re-engagement message",
    )  # fmt: skip
    await sent(sessions, account, "14155550106", status="queued")

    found = (await client.get("/api/v1/stats", params={"days": 30})).json()
    assert found["days"] == 30 and found["total"] == 11
    assert found["by_direction"] == {"inbound": 3, "outbound": 8}
    assert found["by_type"] == {"inbound": {"text": 2, "image": 1}, "outbound": {"text": 6, "template": 2}}
    assert (found["conversations"], found["contacts"]) == (5, 5)  # Cy wrote outside the period
    assert found["outbound"] == {
        "accepted": 5,
        "delivered": 3,
        "read": 2,
        "failed": 3,
        "possible_duplicates": 1,
        "delivery_rate": 0.6,
        "read_rate": 0.6667,
        "by_status": {"read": 2, "delivered": 1, "sent": 1, "failed": 3, "queued": 1},
    }
    assert found["errors"] == [
        {"code": 131026, "title": "Undeliverable", "count": 2},
        {"code": 131047, "title": "Re-engagement message", "count": 1},
    ]
    longer = (await client.get("/api/v1/stats", params={"days": 60})).json()
    assert longer["total"] == 12 and longer["by_direction"]["inbound"] == 4

    # wahub monitor shows the same, as text and as JSON.
    async with db.transaction(sessions) as session, db.transaction(db.sessionmaker(ctx.events)) as event_session:
        snap = await monitor.snapshot(session, event_session, days=30)
    shown = monitor.render(snap)
    assert "statistics, last 30 days: 11 messages (inbound 3, outbound 8) in 5 conversations" in shown
    assert "delivered 3 (60.0%), read 2 (66.7% of delivered), failed 3" in shown
    assert "failed 2  131026: Undeliverable" in shown
    as_json = json.loads(monitor.as_json(snap))
    assert as_json["stats"]["outbound"]["delivery_rate"] == 0.6 and as_json["stats"]["total"] == 11


async def test_stats_of_an_empty_period_have_no_rates(client: httpx.AsyncClient) -> None:
    found = (await client.get("/api/v1/stats")).json()
    assert found["days"] == 30 and found["total"] == 0 and found["errors"] == []
    assert found["outbound"]["delivery_rate"] is None and found["outbound"]["read_rate"] is None
    since = found["since"].replace("Z", "+00:00")
    until = found["until"].replace("Z", "+00:00")
    assert datetime.fromisoformat(until) - datetime.fromisoformat(since) == timedelta(days=30)
    assert stats.render(stats.Stats(since=datetime.fromisoformat(since), until=datetime.fromisoformat(until))) == [
        "statistics, last 30 days: no messages"
    ]


async def test_stats_refuse_a_period_out_of_range_and_need_a_key(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    for days in ("0", "367", "a week"):
        refused = await client.get("/api/v1/stats", params={"days": days})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input"
        assert "days" in refused.json()["error"]["message"]
    assert (await anon.get("/api/v1/stats")).status_code == 401


async def test_stats_count_each_utc_day_of_the_period_in_and_out_with_empty_days_listed(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    now = utcnow()
    today = now.date()
    at_noon = datetime.combine(today, datetime.min.time(), tzinfo=now.tzinfo) + timedelta(hours=12)
    two_days_ago = at_noon - timedelta(days=2)
    await deliver(
        anon,
        ctx,
        text_from("wamid.d1", wa_id="14155550101", user_id=None, name="Ada", at=int(two_days_ago.timestamp())),
        text_from("wamid.d2", wa_id="14155550101", user_id=None, name="Ada", at=int(two_days_ago.timestamp()) + 60),
        text_from("wamid.d3", wa_id="14155550102", user_id=None, name="Bo", at=int(now.timestamp()) - 1),
    )
    # Sent two days ago: delivered and read; sent today: one delivered, one only accepted.
    await sent(sessions, account, "14155550101", wamid="o1", status="read", created_at=two_days_ago,
               delivered_at=two_days_ago, read_at=two_days_ago)  # fmt: skip
    await sent(sessions, account, "14155550102", wamid="o2", status="delivered", delivered_at=now)
    await sent(sessions, account, "14155550102", wamid="o3", status="sent")

    async with db.transaction(sessions) as session:
        until = utcnow()  # after the last message was queued
        found = await stats.summary(session, until - timedelta(days=3), until)
    assert [d.day for d in found.by_day] == [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    assert found.by_day == [
        stats.Day(today - timedelta(days=3)),
        stats.Day(today - timedelta(days=2), inbound=2, outbound=1, delivered=1, read=1),
        stats.Day(today - timedelta(days=1)),
        stats.Day(today, inbound=1, outbound=2, delivered=1, read=0),
    ]
    assert sum(d.inbound + d.outbound for d in found.by_day) == found.total

    answer = (await client.get("/api/v1/stats", params={"days": 3})).json()
    assert answer["by_day"][1] == {
        "day": (today - timedelta(days=2)).isoformat(), "inbound": 2, "outbound": 1, "delivered": 1, "read": 1
    }  # fmt: skip
    assert [d["day"] for d in answer["by_day"]][-1] == today.isoformat()
