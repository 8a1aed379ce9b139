"""``POST /api/v1/messages`` under concurrent load (``api/intake.py``): sends that arrive together share a
transaction, and each keeps its own answer: queued, refused for its closed window, a replay or a conflict of
its Idempotency-Key, or refused because its API key was revoked meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from wahub.api.context import AppContext
from wahub.store import apikeys, db
from wahub.store.models import IdempotencyKey, Message, OutboxJob

TEMPLATE = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
OPEN = "14155550101"  # wrote to us: its window is open


def template_to(n: int) -> dict[str, Any]:
    return {"to": f"+1415555{n:04d}", **TEMPLATE}


async def test_a_burst_of_sends_shares_transactions_and_each_gets_its_own_answer(
    client: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    await open_window(OPEN)
    inserts = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO messages"):
            inserts.append(statement)

    event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
    text = {"to": f"+{OPEN}", "type": "text", "text": {"body": "your order shipped"}}
    closed = {"to": "+14155559999", "type": "text", "text": {"body": "hello?"}}  # never wrote: window closed
    keyed = {"to": "+14155558888", **TEMPLATE}
    posts: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        *(("template", template_to(n), {}) for n in range(150)),
        *(("text", text, {}) for _ in range(20)),
        *(("closed", closed, {}) for _ in range(10)),
        ("keyed", keyed, {"Idempotency-Key": "order-42"}),
        ("keyed", keyed, {"Idempotency-Key": "order-42"}),  # a client's retry, racing the first
        ("conflict", {**keyed, "to": "+14155557777"}, {"Idempotency-Key": "order-42"}),
    ]
    try:
        answers = await asyncio.gather(*(client.post("/api/v1/messages", json=b, headers=h) for _, b, h in posts))
    finally:
        event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)

    by_kind: dict[str, list[httpx.Response]] = {}
    for (kind, _, _), answer in zip(posts, answers, strict=True):
        by_kind.setdefault(kind, []).append(answer)
    assert {r.status_code for r in by_kind["template"] + by_kind["text"]} == {202}
    assert all(r.status_code == 422 and r.json()["error"]["code"] == "window_closed" for r in by_kind["closed"])
    # The three sends of one key race: whichever body arrived first is queued once; the same body again is
    # its replay, the other body a conflict.
    keyed_answers = by_kind["keyed"] + by_kind["conflict"]
    won = [r for r in keyed_answers if r.status_code == 202]
    lost = [r for r in keyed_answers if r.status_code != 202]
    assert won in (by_kind["keyed"], by_kind["conflict"]), [r.status_code for r in keyed_answers]
    assert {r.status_code for r in lost} <= {409} and len({r.json()["id"] for r in won}) == 1
    assert [r.headers.get("Idempotent-Replayed") for r in won].count("true") == len(won) - 1
    first = won[0]

    queued = {r.json()["id"] for r in by_kind["template"] + by_kind["text"] + [first]}
    async with db.transaction(sessions) as session:
        stored = set((await session.scalars(sa.select(Message.id))).all())
        jobs = set((await session.scalars(sa.select(OutboxJob.message_id))).all())
        keys = (await session.scalars(sa.select(IdempotencyKey.message_id))).all()
    assert stored == jobs == queued  # every 202 is a message with its job; nothing refused was stored
    assert list(keys) == [first.json()["id"]]
    # 171 messages, in far fewer inserts: the sends were queued together.
    assert len(inserts) < len(queued) / 4, len(inserts)


async def test_a_revoked_key_cannot_send_even_right_after_it_was_used(
    client: httpx.AsyncClient, api_key: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.post("/api/v1/messages", json=template_to(1))).status_code == 202
    async with db.transaction(sessions) as session:  # revoked elsewhere (wahub apikey revoke)
        await apikeys.revoke(session, api_key.split("_")[1])
    refused = await client.post("/api/v1/messages", json=template_to(2))
    assert refused.status_code == 401
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    wrong = await client.post("/api/v1/messages", json={"to": "x"}, headers={"Authorization": "Bearer wahub_nope"})
    assert wrong.status_code == 401  # an unknown key is refused before its body is looked at
