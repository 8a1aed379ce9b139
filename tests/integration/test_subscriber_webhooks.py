"""Subscriber webhooks: a subscriber gets wahub's events POSTed, signed with its secret; deliveries wait in a
durable queue, are retried with backoff until a 2xx, end ``failed`` when the attempts run out, and replay."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.integration.conftest import OpenWindow
from tests.integration.test_read_api import deliver, text_from
from tests.support import eventually, free_port, payload, prometheus_samples, running
from wahub.api.context import AppContext
from wahub.store import db
from wahub.store.models import Base, WebhookDelivery, utcnow
from wahub.worker.deliverer import Deliverer
from wahub.worker.pruning import Pruner

TO = "14155550101"


@dataclass
class Subscriber:
    """A program receiving wahub's events: it answers ``failing`` 500s (with ``error_body``) first, then 200s;
    or, with ``redirect``, that status pointing at ``/elsewhere``, where any request is recorded."""

    url: str = ""
    failing: int = 0
    error_body: str = "busy, try later"
    redirect: int | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    state = Subscriber()

    async def receive(request: Request) -> Response:
        state.received.append((dict(request.headers), await request.body()))
        if state.redirect is not None:
            return Response(status_code=state.redirect, headers={"Location": "/elsewhere"})
        if state.failing > 0:
            state.failing -= 1
            return Response(state.error_body, status_code=500)
        return Response(status_code=204)

    async def elsewhere(request: Request) -> Response:
        state.elsewhere.append(request.method)
        return Response("the inside of the network", status_code=200)

    routes = [Route("/events", receive, methods=["POST"]), Route("/elsewhere", elsewhere, methods=["GET", "POST"])]
    async with running(Starlette(routes=routes)) as url:
        state.url = f"{url}/events"
        yield state


@pytest.fixture
async def deliverer(ctx: AppContext) -> AsyncIterator[Deliverer]:
    async with aiohttp.ClientSession() as http:
        yield Deliverer(ctx.sessions, http, ctx.vault, max_attempts=3, base_delay=0.0, timeout=5, tally=ctx.tally)


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a subscriber does: the HMAC of '<timestamp>.<body>', and a recent timestamp."""
    timestamp = headers["x-wahub-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(headers["x-wahub-signature-256"], f"sha256={expected}")


async def drain(deliverer: Deliverer) -> None:
    while await deliverer.run_once():
        pass


async def deliveries(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookDelivery]:
    async with db.transaction(sessions) as session:
        return list((await session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id))).all())


async def test_an_inbound_message_reaches_the_subscriber_signed(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    subscriber: Subscriber,
    deliverer: Deliverer,
) -> None:
    created = await client.post("/api/v1/webhooks", json={"url": subscriber.url, "description": "ERP"})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and created.json()["events"] == []
    assert [s["secret"] for s in (await client.get("/api/v1/webhooks")).json()] == [None]  # shown once

    await deliver(anon, ctx, text_from("wamid.hook1", wa_id=TO, user_id=None, name="Ada"))
    await drain(deliverer)
    assert len(subscriber.received) == 1
    headers, body = subscriber.received[0]
    assert verified(secret, headers, body)
    assert not verified("whsec_other", headers, body)
    assert headers["x-wahub-event"] == "message.received"
    event = json.loads(body)
    assert event["event"] == "message.received" and event["id"] == int(headers["x-wahub-delivery"])
    data = event["data"]
    message = (await client.get(f"/api/v1/messages/{data['message_id']}")).json()
    assert (data["wamid"], data["type"], data["text"]) == ("wamid.hook1", "text", {"body": "hi wamid.hook1"})
    assert data["contact"]["wa_id"] == TO and data["contact"]["name"] == "Ada"
    assert data["conversation_id"] == message["conversation_id"]

    # A redelivered Meta webhook stores nothing new, so it tells the subscriber nothing new.
    await deliver(anon, ctx, text_from("wamid.hook1", wa_id=TO, user_id=None, name="Ada"))
    await drain(deliverer)
    assert len(subscriber.received) == 1
    page = (await client.get(f"/api/v1/webhooks/{created.json()['id']}/deliveries")).json()
    assert [(d["state"], d["attempts"], d["last_status"]) for d in page["items"]] == [("delivered", 1, 204)]


@pytest.mark.usefixtures("worker")
async def test_a_sent_message_reports_each_status_to_a_status_subscriber(
    client: httpx.AsyncClient,
    open_window: OpenWindow,
    subscriber: Subscriber,
    deliverer: Deliverer,
    anon: httpx.AsyncClient,
    ctx: AppContext,
) -> None:
    body = {"url": subscriber.url, "events": ["message.status"]}
    assert (await client.post("/api/v1/webhooks", json=body)).status_code == 201
    await open_window(TO)
    sent = (await client.post("/api/v1/messages", json={"to": f"+{TO}", "text": {"body": "hello"}})).json()

    async def all_statuses() -> list[str] | None:
        await drain(deliverer)
        seen = [e["data"]["status"] for e in subscriber.events() if e["data"]["message_id"] == sent["id"]]
        return seen if "read" in seen else None

    seen = await eventually(all_statuses, timeout=30)
    # Only moves forward are reported, each once and in order: a "delivered" that Meta's webhooks bring after
    # "read" (it happens: they race) moves nothing, as read implies delivered.
    order = ["accepted", "sent", "delivered", "read"]
    assert seen == sorted(set(seen), key=order.index) and {"accepted", "read"} <= set(seen)
    message = (await client.get(f"/api/v1/messages/{sent['id']}")).json()
    assert {e["data"]["wamid"] for e in subscriber.events()} == {message["wamid"]}
    # Not subscribed to received messages: an inbound one is not sent.
    count = len(subscriber.received)
    await deliver(anon, ctx, text_from("wamid.hook2", wa_id=TO, user_id=None, name="Ada"))
    await drain(deliverer)
    assert len(subscriber.received) == count


async def test_a_failing_subscriber_is_retried_then_failed_then_replayed(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: Subscriber,
    deliverer: Deliverer,
) -> None:
    created = (await client.post("/api/v1/webhooks", json={"url": subscriber.url})).json()
    subscriber.failing = 4  # more than the deliverer's 3 attempts
    await deliver(anon, ctx, text_from("wamid.hook3", wa_id=TO, user_id=None, name="Ada"))

    await deliverer.run_once()
    (first,) = await deliveries(sessions)
    assert (first.state, first.attempts, first.last_status) == ("pending", 1, 500)
    assert first.last_error == "HTTP 500"
    await drain(deliverer)  # retried with backoff (0 s here) until the attempts run out
    assert [r.state for r in await deliveries(sessions)] == ["failed"]
    assert len(subscriber.received) == 3
    failed = (await client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"state": "failed"})).json()
    assert [d["attempts"] for d in failed["items"]] == [3]
    metrics = prometheus_samples((await client.get("/metrics")).text)
    assert metrics["wahub_webhook_deliveries", 'state="failed"'] == 1
    tries = {k[1]: v for k, v in metrics.items() if k[0] == "wahub_webhook_deliveries_total"}
    assert tries == {'event="message.received",result="pending"': 2, 'event="message.received",result="failed"': 1}

    replayed = await client.post(f"/api/v1/webhooks/{created['id']}/replay")
    assert replayed.json() == {"replayed": 1}
    await drain(deliverer)  # the subscriber answers one more 500, then 200
    assert [r.state for r in await deliveries(sessions)] == ["delivered"]
    assert len({h["x-wahub-delivery"] for h, _ in subscriber.received}) == 1  # one delivery, tried 5 times
    assert len(subscriber.received) == 5

    again = await client.post(f"/api/v1/webhooks/{created['id']}/replay", json={"states": ["delivered"]})
    assert again.json() == {"replayed": 1}
    await drain(deliverer)
    assert len(subscriber.received) == 6

    assert (await client.delete(f"/api/v1/webhooks/{created['id']}")).status_code == 204
    assert await deliveries(sessions) == []
    assert (await client.get(f"/api/v1/webhooks/{created['id']}")).status_code == 404
    assert (await client.post(f"/api/v1/webhooks/{created['id']}/replay")).status_code == 404


async def test_an_unreachable_subscriber_is_recorded_with_the_error(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    deliverer: Deliverer,
) -> None:
    await client.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/nobody"})
    await deliver(anon, ctx, text_from("wamid.hook4", wa_id=TO, user_id=None, name="Ada"))
    await deliverer.run_once()
    (row,) = await deliveries(sessions)
    assert (row.state, row.last_status, row.last_error) == ("pending", None, "connection refused")


async def test_a_subscribers_answer_is_neither_stored_nor_shown(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: Subscriber,
    deliverer: Deliverer,
) -> None:
    """A subscription may point inside the network (the business's own systems): what answers there must not
    be readable back through wahub, or a subscription becomes a way to read internal pages."""
    leak = "internal: DB_PASSWORD=hunter2-7f3a9c at 10.20.30.40"
    subscriber.failing, subscriber.error_body = 1, leak
    created = (await client.post("/api/v1/webhooks", json={"url": subscriber.url})).json()
    await deliver(anon, ctx, text_from("wamid.hook8", wa_id=TO, user_id=None, name="Ada"))
    await deliverer.run_once()

    listed = await client.get(f"/api/v1/webhooks/{created['id']}/deliveries")
    assert [(d["last_status"], d["last_error"]) for d in listed.json()["items"]] == [(500, "HTTP 500")]
    for secret in ("hunter2", "10.20.30.40", "DB_PASSWORD"):
        assert secret not in listed.text
        async with sessions() as session:
            for table in Base.metadata.sorted_tables:
                rows = (await session.execute(sa.select(table))).all()
                assert not any(secret in str(value) for row in rows for value in row), (secret, table.name)


@pytest.mark.parametrize("status", [302, 307])
async def test_a_subscriber_redirecting_is_a_failed_try_and_the_redirect_is_not_followed(
    status: int,
    anon: httpx.AsyncClient,
    ctx: AppContext,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: Subscriber,
    deliverer: Deliverer,
) -> None:
    subscriber.redirect = status
    await client.post("/api/v1/webhooks", json={"url": subscriber.url})
    await deliver(anon, ctx, text_from("wamid.hook9", wa_id=TO, user_id=None, name="Ada"))
    await drain(deliverer)  # every try, until the attempts run out
    assert len(subscriber.received) == 3
    assert subscriber.elsewhere == []  # neither a GET (302) nor the POST again (307) went to the Location
    (row,) = await deliveries(sessions)
    assert (row.state, row.last_status, row.last_error) == ("failed", status, f"redirect ({status}) not followed")


async def test_subscriptions_are_capped_with_a_clear_error(client: httpx.AsyncClient) -> None:
    made = [await client.post("/api/v1/webhooks", json={"url": f"https://erp.example.com/{n}"}) for n in range(20)]
    assert [r.status_code for r in made] == [201] * 20
    refused = await client.post("/api/v1/webhooks", json={"url": "https://erp.example.com/21"})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict" and error["details"] == {"limit": 20}
    assert "at most 20 webhook subscriptions" in error["message"]
    assert len((await client.get("/api/v1/webhooks")).json()) == 20
    # Deleting one makes room again.
    assert (await client.delete(f"/api/v1/webhooks/{made[0].json()['id']}")).status_code == 204
    assert (await client.post("/api/v1/webhooks", json={"url": "https://erp.example.com/21"})).status_code == 201


async def test_nothing_is_queued_without_subscribers_and_bad_subscriptions_are_refused(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, ctx: AppContext, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await deliver(anon, ctx, text_from("wamid.hook5", wa_id=TO, user_id=None, name="Ada"))
    assert await deliveries(sessions) == []
    for body in (
        {"url": "ftp://erp.example.com/x"},
        {"url": "not a url"},
        {"url": "https://erp.example.com/x", "events": ["message.deleted"]},
        {"url": "https://erp.example.com/x", "secret": "mine"},
    ):
        refused = await client.post("/api/v1/webhooks", json=body)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["code"] == "invalid_input"
    assert (await anon.get("/api/v1/webhooks")).status_code == 401
    assert (await client.get("/api/v1/webhooks/9/deliveries")).status_code == 404


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_events_of_a_batch_that_failed_are_reported_once_after_the_retry(
    anon: httpx.AsyncClient,
    client: httpx.AsyncClient,
    ctx: AppContext,
    subscriber: Subscriber,
    deliverer: Deliverer,
) -> None:
    """PostgreSQL refuses a wamid over its column's 256 characters: the status holding one fails the batch
    after the message before it was stored, and the processor applies the batch again event by event. The
    message is reported once: what the failed attempt collected went with its savepoint."""
    await client.post("/api/v1/webhooks", json={"url": subscriber.url})
    bad = copy.deepcopy(payload("message_status", "delivered"))
    bad["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = "wamid." + "x" * 300
    await deliver(anon, ctx, text_from("wamid.hook6", wa_id=TO, user_id=None, name="Ada"), bad)
    await drain(deliverer)
    assert [(e["event"], e["data"]["wamid"]) for e in subscriber.events()] == [("message.received", "wamid.hook6")]


async def test_deliveries_done_are_forgotten_after_30_days_and_waiting_ones_never(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
) -> None:
    created = (await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x"})).json()
    old, recent = utcnow() - timedelta(days=31), utcnow() - timedelta(days=29)
    async with db.transaction(sessions) as session:
        for state, at in (("delivered", old), ("failed", old), ("pending", old), ("delivered", recent)):
            session.add(
                WebhookDelivery(
                    subscription_id=created["id"], event="message.status", payload={}, state=state,
                    attempts=1, run_at=utcnow() + timedelta(hours=1), created_at=at,
                )
            )  # fmt: skip
    pruned = await Pruner(sessions, event_sessions, raw_event_days=30).prune(utcnow())
    assert pruned.deliveries == 2
    assert sorted((r.state, r.created_at > old) for r in await deliveries(sessions)) == [
        ("delivered", True),
        ("pending", False),
    ]


async def test_an_account_event_reaches_its_subscriber_once_and_others_not(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, ctx: AppContext, subscriber: Subscriber, deliverer: Deliverer
) -> None:
    await client.post("/api/v1/webhooks", json={"url": subscriber.url, "events": ["account.event"]})
    approved = payload("template_status_update", "approved")
    # Redelivered by Meta: stored once, so reported once; an inbound message is not this subscriber's.
    await deliver(anon, ctx, approved, approved, text_from("wamid.hook7", wa_id=TO, user_id=None, name="Ada"))
    await drain(deliverer)
    events = subscriber.events()
    assert [(e["event"], e["data"]["field"]) for e in events] == [("account.event", "message_template_status_update")]
    assert events[0]["data"]["value"] == approved["entry"][0]["changes"][0]["value"]
    assert events[0]["data"]["waba_id"] == approved["entry"][0]["id"]
