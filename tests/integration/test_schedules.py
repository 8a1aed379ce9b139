"""Recurring schedules (``/api/v1/schedules``, fired by ``automations/schedules.py`` on the shared claim/lease
path): once per due time with two workers, once after downtime, pause/resume/delete, DST in the time zone. The
firers' clock is moved; nothing waits for a real minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.support import eventually
from wahub import cron
from wahub.api.context import AppContext
from wahub.automations.schedules import ScheduleFirer, stored
from wahub.domain import MessageType
from wahub.provider import meta
from wahub.provider.graph import GraphClient
from wahub.sending.request import SendRequest
from wahub.store import db, schedules
from wahub.store.models import Message, Schedule, ScheduleFiring, utcnow
from wahub.worker import ratelimit
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "Good morning"}}
MESSAGE = stored(SendRequest(to="14155550101", type=MessageType.TEXT, content={"body": "Good morning"}))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    await open_window("14155550101")


async def _create(
    sessions: async_sessionmaker[AsyncSession], cron: str, tz: str = "UTC", now: datetime | None = None
) -> Schedule:
    async with db.transaction(sessions) as session:
        return await schedules.create(session, cron_expression=cron, tz=tz, message=MESSAGE, now=now)


async def _firings(sessions: async_sessionmaker[AsyncSession]) -> list[ScheduleFiring]:
    async with sessions() as session:
        return list((await session.scalars(sa.select(ScheduleFiring).order_by(ScheduleFiring.id))).all())


async def _reload(sessions: async_sessionmaker[AsyncSession], schedule_id: int) -> Schedule:
    async with sessions() as session:
        return await schedules.get(session, schedule_id)


async def _messages(sessions: async_sessionmaker[AsyncSession]) -> list[Message]:
    async with sessions() as session:
        return list((await session.scalars(sa.select(Message).where(Message.direction == "outbound"))).all())


@pytest.fixture
async def two_workers(ctx: AppContext, graph_url: str) -> AsyncIterator[Clock]:
    """Two workers on one database, each a sender (to fakegraph) with its own schedule firer on one moved clock."""
    clock = Clock(utcnow())
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        providers = meta.providers(GraphClient(http, graph_url, "v25.0"))
        tasks = []
        for _ in range(2):
            pairs = ratelimit.PairPacer(interval=0.001, burst=1_000_000)
            sender = Sender(ctx.sessions, providers, ctx.vault, send_rate=80, pairs=pairs, storage=ctx.storage)
            worker = Worker(ctx.notifier, sender=sender, schedules=ScheduleFirer(ctx.sessions, clock=clock))
            tasks.append(asyncio.create_task(worker.run(stop)))
        yield clock
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_due_schedule_fires_once_with_two_workers_and_its_message_is_sent(
    sessions: async_sessionmaker[AsyncSession], two_workers: Clock
) -> None:
    schedule = await _create(sessions, "0 8 * * 1-5", "Europe/Madrid")
    assert schedule.next_run_at is not None
    due = schedule.next_run_at
    await asyncio.sleep(1.2)  # both workers poll a few times: nothing is due yet
    assert await _firings(sessions) == []
    two_workers.now = due + timedelta(seconds=1)
    (firing,) = await eventually(lambda: _firings(sessions))

    async def sent() -> list[Message]:
        return [m for m in await _messages(sessions) if m.status != "queued"]

    (message,) = await eventually(sent, timeout=20)
    await asyncio.sleep(1.5)  # both go on polling at the same moved time: no second firing
    assert len(await _firings(sessions)) == 1
    assert len(await _messages(sessions)) == 1
    assert firing.due_at == due and firing.message_id == message.id and firing.error is None
    assert message.content == {"text": {"body": "Good morning"}}
    following = cron.next_after("0 8 * * 1-5", "Europe/Madrid", two_workers.now)
    assert following is not None and following > due
    assert (await _reload(sessions, schedule.id)).next_run_at == following


async def test_two_firers_racing_on_one_due_time_fire_it_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    made = [await _create(sessions, "*/5 * * * *", now=start) for _ in range(5)]
    clock = Clock(start + timedelta(minutes=5, seconds=1))
    a, b = ScheduleFirer(sessions, clock=clock, batch=2), ScheduleFirer(sessions, clock=clock, batch=2)
    for _ in range(4):
        await asyncio.gather(a.run_once(), b.run_once())
    firings = await _firings(sessions)
    assert sorted(f.schedule_id for f in firings) == sorted(s.id for s in made)
    assert len(await _messages(sessions)) == 5


async def test_after_downtime_a_schedule_fires_once_for_the_missed_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    start = datetime(2026, 6, 1, 7, 2, tzinfo=UTC)
    schedule = await _create(sessions, "*/15 * * * *", now=start)
    assert schedule.next_run_at == datetime(2026, 6, 1, 7, 15, tzinfo=UTC)
    clock = Clock(datetime(2026, 6, 1, 12, 7, tzinfo=UTC))  # down for five hours: twenty times went by
    firer = ScheduleFirer(sessions, clock=clock)
    assert await firer.run_once() == 1
    assert await firer.run_once() == 0
    (firing,) = await _firings(sessions)
    assert firing.due_at == datetime(2026, 6, 1, 7, 15, tzinfo=UTC) and firing.fired_at == clock.now
    assert (await _reload(sessions, schedule.id)).next_run_at == datetime(2026, 6, 1, 12, 15, tzinfo=UTC)
    clock.now = datetime(2026, 6, 1, 12, 15, tzinfo=UTC)
    assert await firer.run_once() == 1
    assert len(await _messages(sessions)) == 2


async def test_a_lease_left_by_a_dead_worker_is_taken_again(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = datetime(2026, 6, 1, 7, 2, tzinfo=UTC)
    schedule = await _create(sessions, "*/15 * * * *", now=start)
    clock = Clock(datetime(2026, 6, 1, 7, 15, 1, tzinfo=UTC))
    async with db.transaction(sessions) as session:  # a worker claimed it and died before firing
        assert [s.id for s in await schedules.claim(session, 5, timedelta(minutes=2), clock.now)] == [schedule.id]
    firer = ScheduleFirer(sessions, clock=clock)
    assert await firer.run_once() == 0
    clock.now += timedelta(minutes=3)
    assert await firer.run_once() == 1
    (firing,) = await _firings(sessions)
    assert firing.due_at == datetime(2026, 6, 1, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created", "first", "then"),
    [
        # Spring forward (29 March 2026, 02:00 -> 03:00 CEST): 02:30 does not exist; fired at 03:30 CEST.
        (
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        ),
        # Fall back (25 October 2026, 03:00 CEST -> 02:00 CET): 02:30 happens twice; fired once, the first.
        (
            datetime(2026, 10, 24, 12, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
        ),
    ],
)
async def test_dst_transitions_in_the_time_zone(
    sessions: async_sessionmaker[AsyncSession], created: datetime, first: datetime, then: datetime
) -> None:
    schedule = await _create(sessions, "30 2 * * *", "Europe/Madrid", now=created)
    assert schedule.next_run_at == first
    clock = Clock(first + timedelta(seconds=1))
    firer = ScheduleFirer(sessions, clock=clock)
    assert await firer.run_once() == 1
    assert (await _reload(sessions, schedule.id)).next_run_at == then
    clock.now = then - timedelta(seconds=1)  # the repeated 02:30 CET of 25 October fires nothing
    assert await firer.run_once() == 0
    assert [f.due_at for f in await _firings(sessions)] == [first]


async def test_api_create_list_show_pause_resume_delete(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post(
        "/api/v1/schedules", json={"name": "morning", "cron": "0 8 * * 1-5", "tz": "Europe/Madrid", "message": TEXT}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] == "active" and created["message"]["content"] == {"body": "Good morning"}
    assert "24-hour window" in created["warnings"][0]  # free-form: each firing needs the window open
    next_run = datetime.fromisoformat(created["next_run_at"])
    assert next_run > utcnow() and next_run.astimezone().minute == 0
    sid = created["id"]
    assert [s["id"] for s in (await client.get("/api/v1/schedules")).json()] == [sid]

    paused = (await client.post(f"/api/v1/schedules/{sid}/pause")).json()
    assert paused["state"] == "paused" and paused["next_run_at"] is None
    firer = ScheduleFirer(sessions, clock=Clock(next_run + timedelta(days=3)))
    assert await firer.run_once() == 0  # paused: its time passes without a firing
    resumed = (await client.post(f"/api/v1/schedules/{sid}/resume")).json()
    assert resumed["state"] == "active" and datetime.fromisoformat(resumed["next_run_at"]) > utcnow()

    firer = ScheduleFirer(sessions, clock=Clock(datetime.fromisoformat(resumed["next_run_at"]) + timedelta(seconds=1)))
    assert await firer.run_once() == 1
    shown = (await client.get(f"/api/v1/schedules/{sid}")).json()
    (entry,) = shown["history"]
    assert entry["due_at"] == resumed["next_run_at"] and entry["error"] is None
    message = (await client.get(f"/api/v1/messages/{entry['message_id']}")).json()
    assert message["text"] == {"body": "Good morning"} and message["status"] == "queued"

    assert (await client.delete(f"/api/v1/schedules/{sid}")).status_code == 204
    assert (await client.get(f"/api/v1/schedules/{sid}")).status_code == 404
    assert (await client.post(f"/api/v1/schedules/{sid}/pause")).status_code == 404
    assert (await client.get(f"/api/v1/messages/{entry['message_id']}")).status_code == 200  # its message stays


async def test_a_firing_refused_records_why_and_the_schedule_goes_on(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    closed = {"to": "+14155550102", "type": "text", "text": {"body": "Hi"}}  # has never written: window closed
    sid = (await client.post("/api/v1/schedules", json={"cron": "*/10 * * * *", "message": closed})).json()["id"]
    schedule = await _reload(sessions, sid)
    assert schedule.next_run_at is not None
    firer = ScheduleFirer(sessions, clock=Clock(schedule.next_run_at + timedelta(seconds=1)))
    assert await firer.run_once() == 1
    (entry,) = (await client.get(f"/api/v1/schedules/{sid}")).json()["history"]
    assert entry["message_id"] is None and "24-hour customer-service window is closed" in entry["error"]
    assert (await _reload(sessions, sid)).next_run_at == schedule.next_run_at + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "0 8 * *", "message": TEXT}, "cron"),
        ({"cron": "61 8 * * *", "message": TEXT}, "cron"),
        ({"cron": "0 8 30 2 *", "message": TEXT}, "cron"),
        ({"cron": "0 8 * * *", "tz": "Europe/Atlantis", "message": TEXT}, "tz"),
        ({"cron": "0 8 * * *", "message": {"to": "+14155550101", "type": "text"}}, "message"),
        ({"cron": "0 8 * * *", "message": {**TEXT, "send_at": "2030-01-01T00:00:00Z"}}, "message.send_at"),
        ({"cron": "0 8 * * *", "message": {**TEXT, "to": "+19995550101"}}, "not a valid phone number"),
    ],
)
async def test_a_schedule_that_cannot_be_read_is_a_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/v1/schedules", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text
    assert (await client.get("/api/v1/schedules")).json() == []


async def test_a_firing_that_fails_for_another_reason_is_retried_then_recorded(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    start = datetime(2026, 6, 1, 7, 2, tzinfo=UTC)
    async with db.transaction(sessions) as session:  # a message a schedule cannot read (written by hand)
        broken = await schedules.create(
            session, cron_expression="0 * * * *", tz="UTC", message={"type": "text"}, now=start
        )
    due = datetime(2026, 6, 1, 8, tzinfo=UTC)
    clock = Clock(due + timedelta(seconds=1))
    firer = ScheduleFirer(sessions, clock=clock)
    for attempt in range(1, 5):
        assert await firer.run_once() == 1
        again = await _reload(sessions, broken.id)
        assert again.attempts == attempt and again.next_run_at == due and "KeyError" in (again.last_error or "")
        assert again.locked_until is not None and again.locked_until > clock.now
        assert await firer.run_once() == 0  # not before its retry time
        clock.now = again.locked_until + timedelta(seconds=1)
    assert await firer.run_once() == 1  # the fifth try: recorded as not sent, and on to the next time
    (firing,) = await _firings(sessions)
    assert firing.due_at == due and firing.message_id is None and "KeyError" in (firing.error or "")
    assert (await _reload(sessions, broken.id)).next_run_at == datetime(2026, 6, 1, 9, tzinfo=UTC)
