"""The live event stream (``GET /api/v1/stream``) on real sockets: what it reports, resuming with
``Last-Event-ID``, a slow client, ids that transactions committing out of order cannot make a reader skip, and
(on PostgreSQL) events written by another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.support import SseReader, eventually, running
from wahub.api.app import App, create_app
from wahub.api.context import AppContext
from wahub.api.live import Hub
from wahub.store import conversations, db, stream, stream_events, users
from wahub.store.models import Account, Conversation, Message, StreamBatch

TICKS = ["accepted", "sent", "delivered", "read"]
TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}


@asynccontextmanager
async def opened(
    client: httpx.AsyncClient, last_event_id: int | None = None
) -> AsyncIterator[tuple[httpx.Response, SseReader]]:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    async with client.stream("GET", "/api/v1/stream", headers=headers, timeout=30) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield response, SseReader(response)


@pytest.fixture
async def app(ctx: AppContext, account: Account) -> App:
    return create_app(ctx)


@pytest.fixture
def hub(app: App) -> Hub:
    hub: Hub = app.api.state.stream_hub
    return hub


@pytest.fixture
async def served(app: App, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose hub the test may tune (``hub`` fixture) before it sends requests."""
    async with (
        running(app) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as c,
    ):
        yield c


async def test_a_hub_woken_as_it_stops_stops(app: App, hub: Hub) -> None:
    """The CI hang of 2026-12-04: the wake-up and the cancellation came in one loop pass, and the reader ran on."""
    async with running(app):
        await hub.listening.wait()
        await asyncio.sleep(0.05)  # the reader waits for its next wake-up
        reader = next(task for task in asyncio.all_tasks() if task.get_name() == "stream-hub")
        hub.wake()
        await asyncio.wait({asyncio.ensure_future(hub.stop())}, timeout=5)
        ran_on = not reader.done()
        while not reader.done():  # so that the app can still shut down when it failed
            reader.cancel()
            await asyncio.sleep(0.01)
        assert not ran_on, "the stream's reader ran on after it was cancelled"


async def some_message(client: httpx.AsyncClient, open_window: OpenWindow) -> int:
    await open_window("14155550101")
    sent = (await client.post("/api/v1/messages", json=TEXT)).json()
    return int(sent["id"])


async def touch(sessions: async_sessionmaker[AsyncSession], message_id: int, whys: list[str]) -> None:
    """One transaction that reports ``message.updated`` of ``message_id`` once per ``why``."""
    async with db.transaction(sessions) as session:
        stream.publish(session, [stream.Change(stream.MESSAGE_UPDATED, message_id, why=why) for why in whys])


async def test_a_sent_message_ticks_and_an_inbound_reply_arrive(
    client: httpx.AsyncClient, worker: None, graph_url: str, open_window: OpenWindow
) -> None:
    await open_window("14155550101")
    async with opened(client) as (_, events):
        sent = (await client.post("/api/v1/messages", json=TEXT)).json()
        mine = [
            e
            for e in await events.until(
                lambda e: (
                    e.event == "message.updated" and e.data["message_id"] == sent["id"] and e.data["status"] == "read"
                )
            )
            if e.data.get("message_id") == sent["id"] or e.event == "conversation.updated"
        ]
        created = [e for e in mine if e.event == "message.created"]
        assert len(created) == 1 and created[0].data["status"] == "queued"
        assert created[0].data["content"]["text"]["body"] == "Hello"
        ticks = [e.data["status"] for e in mine if e.event == "message.updated" and e.data["why"] == "status"]
        assert ticks[-1] == "read" and ticks == sorted(ticks, key=TICKS.index)  # only forward
        wamid = (await client.get(f"/api/v1/messages/{sent['id']}")).json()["wamid"]

        async with httpx.AsyncClient(base_url=graph_url) as fake:
            reply = {"from": "14155550101", "text": "Thanks!", "context": wamid}
            assert (await fake.post("/_fake/inbound", json=reply)).status_code == 200
        seen = await events.until(lambda e: e.event == "message.created" and e.data["direction"] == "inbound")
        inbound = seen[-1]
        assert inbound.data["content"]["text"]["body"] == "Thanks!"
        assert inbound.data["why"] == "inbound"
        thread = await events.until(
            lambda e: e.event == "conversation.updated" and e.data["conversation_id"] == inbound.data["conversation_id"]
        )
        assert thread[-1].data["unread_count"] >= 1 and thread[-1].data["window_open"] is True
    ids = [e.id for e in mine + seen + thread if e.id is not None]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


async def test_a_client_that_reconnects_gets_exactly_the_500_events_it_missed_in_order(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow
) -> None:
    message_id = await some_message(client, open_window)
    async with opened(client) as (_, events):
        await touch(sessions, message_id, ["before"])
        last = (await events.until(lambda e: e.data.get("why") == "before"))[-1].id
    assert last is not None
    missed = [f"missed {i}" for i in range(500)]
    for chunk in range(0, 500, 50):  # 10 transactions of 50 events
        await touch(sessions, message_id, missed[chunk : chunk + 50])
    async with opened(client, last_event_id=last) as (_, events):
        got = [await events.next() for _ in range(500)]
        await touch(sessions, message_id, ["after"])
        after = await events.next()
    assert [e.data["why"] for e in got if e is not None] == missed
    assert [e.id for e in got if e is not None] == list(range(last + 1, last + 501))
    assert after is not None and after.data["why"] == "after" and after.id == last + 501  # nothing twice


async def test_a_client_that_falls_too_far_behind_is_told_to_resync_and_disconnected(
    served: httpx.AsyncClient,
    hub: Hub,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    hub.queue_size = 10
    message_id = await some_message(served, open_window)
    async with opened(served) as (_, events):
        await touch(sessions, message_id, ["fits"])
        assert (await events.until(lambda e: e.data.get("why") == "fits"))[-1].event == "message.updated"
        await touch(sessions, message_id, [f"burst {i}" for i in range(50)])  # more than its queue holds
        resync = await events.until(lambda e: e.event == "resync")
        assert len(resync) == 1  # not one event of the burst: its queue was dropped
        assert await events.next() is None  # and the server closed the stream
    assert hub.connections == 0  # nothing kept of the connection


async def test_a_client_resuming_after_pruned_events_is_told_to_resync(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow
) -> None:
    message_id = await some_message(client, open_window)
    await touch(sessions, message_id, ["old", "older"])
    async with db.transaction(sessions) as session:
        first = await session.scalar(sa.select(sa.func.min(StreamBatch.id)))
        await session.execute(sa.delete(StreamBatch).where(StreamBatch.id <= first + 1))
    assert first is not None
    async with opened(client, last_event_id=first - 1) as (_, events):
        assert (await events.until(lambda e: True))[-1].event == "resync"


async def test_overlapping_transactions_cannot_make_a_reader_skip_an_event(
    database_url: str, sessions: async_sessionmaker[AsyncSession], engine: Any, open_window: OpenWindow
) -> None:
    """T1 takes its ids and stays open; T2 commits after it started: T2 must wait for T1, or a reader that saw
    T2's id would move past T1's for good (what a plain sequence allows)."""
    if "sqlite" in database_url:
        pytest.skip("SQLite's write transactions cannot overlap (BEGIN IMMEDIATE: one writer at a time)")
    await open_window("14155550101")
    async with db.transaction(sessions) as session:
        conversation_id = int(await session.scalar(sa.select(sa.func.max(Conversation.id))) or 0)
    change = [stream.Change(stream.CONVERSATION_UPDATED, conversation_id=conversation_id, why="overlap")]
    readers = db.sessionmaker(engine, readonly=True)
    async with readers() as session, session.begin():
        start = await stream_events.last_id(session)

    async def visible() -> list[int]:
        async with readers() as session, session.begin():
            return [e.id for e in await stream_events.read(session, start)]

    async def commit_second() -> None:
        async with sessions() as session, session.begin():
            stream.publish(session, change)

    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )

    async def blocked() -> bool:
        async with readers() as session, session.begin():
            return bool(await session.scalar(waiting))

    async with sessions() as first, first.begin():
        await first.run_sync(stream._write, change)  # T1 has its id, uncommitted
        second = asyncio.create_task(commit_second())
        await eventually(blocked)  # T2 waits on the counter's row lock: it cannot commit before T1
        assert not second.done()
        assert await visible() == []  # a reader sees neither
    await second
    assert await visible() == [start + 1, start + 2]


@pytest.fixture
def notified_only(hub: Hub) -> Hub:
    """The hub, before it starts, with no poll in a test's time: only a NOTIFY (or a local commit) wakes it."""
    hub.poll = 3600.0
    return hub


async def test_a_web_process_streams_what_a_worker_in_another_process_wrote(
    database_url: str, notified_only: Hub, served: httpx.AsyncClient, open_window: OpenWindow
) -> None:
    if "sqlite" in database_url:
        pytest.skip("on SQLite the one process streams its own events")
    hub = notified_only
    message_id = await some_message(served, open_window)
    await asyncio.wait_for(hub.listening.wait(), 10)
    script = textwrap.dedent(
        f"""
        import asyncio
        from wahub.store import db, stream

        async def main():
            engine = db.create_engine({database_url!r})
            async with db.transaction(db.sessionmaker(engine)) as session:
                stream.publish(session, [stream.Change(stream.MESSAGE_UPDATED, {message_id}, why="elsewhere")])
            await engine.dispose()

        asyncio.run(main())
        """
    )
    async with opened(served) as (_, events):
        done = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        got = (await events.until(lambda e: e.data.get("why") == "elsewhere", timeout=10))[-1]
    assert got.event == "message.updated" and got.data["message_id"] == message_id


async def test_an_idle_stream_gets_heartbeats(hub: Hub, served: httpx.AsyncClient) -> None:
    hub.heartbeat = 0.2
    async with served.stream("GET", "/api/v1/stream", timeout=30) as response:

        async def first_comment() -> str:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    return line
            raise AssertionError("the stream ended")

        assert (await asyncio.wait_for(first_comment(), 10)).startswith(":")


async def test_a_last_event_id_that_is_not_an_id_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/stream", headers={"Last-Event-ID": "soon"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


async def test_an_agent_receives_only_the_events_of_conversations_they_may_see(
    base_url: str, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow
) -> None:
    await open_window("14155550101", "14155550102")
    theirs = (await client.post("/api/v1/messages", json=TEXT)).json()
    free = (await client.post("/api/v1/messages", json={**TEXT, "to": "+14155550102"})).json()
    async with db.transaction(sessions) as session:
        ada = await users.add(session, "ada@example.com", "Ada", "agent", "a-long-password")
        bo = await users.add(session, "bo@example.com", "Bo", "agent", "a-long-password")
        await session.flush()
        mine = await session.scalar(sa.select(Message.conversation_id).where(Message.id == theirs["id"]))
        await session.execute(sa.update(Conversation).where(Conversation.id == mine).values(assignee_user_id=bo.id))
    async with httpx.AsyncClient(base_url=base_url) as browser:
        login = await browser.post("/api/v1/auth/login", json={"email": ada.email, "password": "a-long-password"})
        assert login.status_code == 200, login.text
        async with opened(browser) as (_, events):
            await touch(sessions, theirs["id"], ["bo's"])  # written first: it would arrive first
            await touch(sessions, free["id"], ["unassigned"])
            seen = await events.until(lambda e: e.data.get("why") == "unassigned")
    assert [e.data.get("why") for e in seen if e.data.get("message_id") == theirs["id"]] == []


async def test_resolving_and_reopening_a_conversation_are_reported(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow
) -> None:
    message_id = await some_message(client, open_window)
    async with db.transaction(sessions) as session:
        thread = await session.scalar(sa.select(Message.conversation_id).where(Message.id == message_id))
    assert thread is not None
    async with opened(client) as (_, events):
        async with db.transaction(sessions) as session:
            await conversations.resolve(session, thread)
        async with db.transaction(sessions) as session:
            await conversations.reopen(session, thread)
        seen = await events.until(lambda e: e.data.get("why") == "reopened")
    changes = [(e.data["why"], e.data["state"]) for e in seen if e.event == "conversation.updated"]
    assert changes[-2:] == [("resolved", "resolved"), ("reopened", "open")]


async def test_payloads_built_without_reading_back_match_the_stored_rows(
    client: httpx.AsyncClient,
    worker: None,
    graph_url: str,
    sessions: async_sessionmaker[AsyncSession],
    open_window: OpenWindow,
) -> None:
    """An inbound message's ``message.created`` is built from the values inserted, a status tick from the status:
    the first is what the stored row shows; the second carries the status fields and the conversation."""
    await open_window("14155550101")
    async with opened(client) as (_, events):
        sent = (await client.post("/api/v1/messages", json=TEXT)).json()
        seen = await events.until(
            lambda e: e.event == "message.updated" and e.data["message_id"] == sent["id"] and e.data["status"] == "read"
        )
        async with httpx.AsyncClient(base_url=graph_url) as fake:
            assert (await fake.post("/_fake/inbound", json={"from": "14155550101", "text": "Hi"})).status_code == 200
        inbound = (await events.until(lambda e: e.event == "message.created" and e.data["direction"] == "inbound"))[-1]
    async with db.transaction(sessions) as session:
        row = await session.get(Message, inbound.data["message_id"])
        assert row is not None
        shown = {k: v for k, v in inbound.data.items() if k not in ("id", "kind", "at")}  # the envelope's
        assert shown == {**stream.message_view(row), "why": "inbound"}
        conversation_id = await session.scalar(sa.select(Message.conversation_id).where(Message.id == sent["id"]))
    read = seen[-1].data
    assert read["why"] == "status" and read["conversation_id"] == conversation_id and read["error"] is None
    assert read["status_at"] and read["wamid"] and "content" not in read


async def test_ticks_of_one_message_in_one_transaction_become_its_last(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow
) -> None:
    """sent, delivered and read of one message applied in one transaction (one processor batch) are one tick,
    the last; another message's tick and a non-status update of the first stay."""
    first, second = await some_message(client, open_window), await some_message(client, open_window)
    async with db.transaction(sessions) as session:
        before = await stream_events.last_id(session)
    async with db.transaction(sessions) as session:
        stream.publish(
            session,
            [
                stream.status_tick(first, None, "wamid.1", "sent", "2026-12-01T07:00:00Z"),
                stream.status_tick(second, None, "wamid.2", "sent", "2026-12-01T07:00:01Z"),
                stream.status_tick(first, None, "wamid.1", "delivered", "2026-12-01T07:00:02Z"),
                stream.Change(stream.MESSAGE_UPDATED, first, why="reaction"),
                stream.status_tick(first, None, "wamid.1", "read", "2026-12-01T07:00:03Z"),
            ],
        )
    async with db.transaction(sessions) as session:
        written = await stream_events.read(session, before)
    assert [(e.payload["message_id"], e.payload["why"], e.payload.get("status")) for e in written] == [
        (second, "status", "sent"),
        (first, "reaction", "queued"),
        (first, "status", "read"),
    ]


async def test_pages_cut_inside_one_transactions_events_lose_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], open_window: OpenWindow
) -> None:
    """A transaction's events are one row (a processor batch: a thousand): pages of 500 cut inside it, and a
    client resuming from an id inside it gets exactly the rest."""
    message_id = await some_message(client, open_window)
    async with db.transaction(sessions) as session:
        start = await stream_events.last_id(session)
    await touch(sessions, message_id, [f"big {i}" for i in range(1_200)])
    await touch(sessions, message_id, ["next"])
    pages = []
    after = start
    async with db.transaction(sessions) as session:
        while page := await stream_events.read(session, after, 500):
            pages.append(page)
            after = page[-1].id
    assert [len(p) for p in pages] == [500, 500, 201]
    got = [e for p in pages for e in p]
    assert [e.id for e in got] == list(range(start + 1, start + 1202))
    assert [e.payload["why"] for e in got] == [f"big {i}" for i in range(1_200)] + ["next"]
    async with opened(client, last_event_id=start + 700) as (_, events):
        rest = [await events.next() for _ in range(501)]
    assert [e.id for e in rest if e is not None] == list(range(start + 701, start + 1202))
