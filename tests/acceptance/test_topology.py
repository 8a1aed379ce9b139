"""The scaled-out topology of docs/deploy.md on one PostgreSQL: two ``wahub serve --role web`` and two ``wahub serve
--role worker`` processes, real processes all, fakegraph playing Meta on a loopback port. Shown in one run:

- the per-number send limit holds across the workers: at fakegraph, never more than ``RATE`` sends in any
  one-second window, a worker killed mid-send and its lease taken over included;
- no message is sent twice while both workers live; after ``kill -9`` of the sending worker nothing is lost, and
  only what it had in flight may be sent again, each flagged as a possible duplicate;
- a schedule that is due fires once, though both workers look for due schedules;
- the live stream (``GET /api/v1/stream``) of either web process gets an inbound message that fakegraph posted,
  signed, to the other web process (NOTIFY across processes: the readers' poll is set to an hour);
- each webhook event is processed once: an event posted to both webs (as Meta's retry may be) makes one message,
  every journaled event ends ``ok``, and each inbound message has one ``message.created``; after ``kill -9`` of a
  web during the intake, every event it acknowledged is stored and processed.

Not here yet: campaigns firing once. When this test was written campaigns were not on main (only their send
queue's ``confirm``); a campaign due now belongs in this run once they are."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakegraph.control import busiest_window
from tests.acceptance.test_send_crash import fresh_pg
from tests.support import SseReader, free_port
from wahub import domain
from wahub.automations.schedules import stored
from wahub.sending.request import SendRequest
from wahub.store import apikeys, db, outbound, schedules
from wahub.store.models import Account, Message, OutboxJob, ScheduleFiring, SendLease, StreamBatch, WebhookEvent
from wahub.webhook.signature import meta_signature

pytestmark = pytest.mark.postgres

PHONE_NUMBER_ID = "100000000000021"
WABA_ID = "200000000000021"
TOKEN = "topology-token"
APP_SECRET = "topology-app-secret"
RATE = 200  # sends per second for the one number (WAHUB_SEND_RATE)
BATCH = 1_000  # messages per send batch: one with both workers alive, one with a kill
KILL_AFTER = 300  # sends of the second batch before its sending worker is killed
EVENTS = 1_800  # inbound webhooks of the intake burst
WEB_KILL_AFTER = 200  # acks of the first web before it is killed
TEMPLATE = {"template": {"name": "hello_world", "language": {"code": "en_US"}}}
SCHEDULED_TO = "14155550199"


@pytest.fixture
def pg_database() -> Iterator[str]:
    with fresh_pg(f"wahub_topology_{os.getpid()}") as url:
        yield url


class Graph:
    """fakegraph in a process of its own (``python -m fakegraph``), as in a deployment's tests: its clock and its
    arrival times are not stalled by the test's own work. Read and steered through ``/_fake/``."""

    def __init__(self, tmp_path: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(tmp_path / "fakegraph.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "fakegraph", "--port", str(port), "--access-token", TOKEN),
                *("--app-secret", APP_SECRET, "--phone-number-id", PHONE_NUMBER_ID, "--waba-id", WABA_ID),
                *("--speed", "1000", "--seed", "21", "--no-reply"),
            ],
            env={k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def control(self, method: str, path: str, body: object = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.request(method, f"/_fake/{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def started(self) -> None:
        """Up, with 20 ms of latency per call (sends are on the wire when a worker dies)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "fakegraph exited"
            try:
                await self.control("POST", "faults", {"latency_ms": 20})
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        raise AssertionError("fakegraph did not start")

    async def recipients(self) -> collections.Counter[str]:
        """How many sends reached Meta per recipient."""
        return collections.Counter(m["to"] for m in (await self.control("GET", "messages"))["data"])


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[Graph]:
    fake = Graph(tmp_path)
    try:
        await fake.started()
        yield fake
    finally:
        fake.proc.terminate()
        fake.proc.wait(timeout=10)


class Topology:
    """The wahub processes of the test: each ``wahub serve --role ...`` with the same environment."""

    def __init__(self, database_url: str, graph_url: str, tmp_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
        self.env.update(
            WAHUB_DATA_DIR=str(tmp_path / "data"),  # media and keys: one directory all four share
            WAHUB_DATABASE_URL=database_url,
            WAHUB_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            WAHUB_WABA_ID=WABA_ID,
            WAHUB_ACCESS_TOKEN=TOKEN,
            WAHUB_APP_SECRET=APP_SECRET,
            WAHUB_SECRET_KEY="topology-secret-key-0123456789ab",
            WAHUB_GRAPH_URL=graph_url,
            WAHUB_SEND_RATE=str(RATE),
            # Six processes on two cores: fakegraph's own event loop is starved for up to ~30 ms and then reads
            # the requests that waited together (measured under a two-process CPU load: gaps of 25-31 ms, each
            # followed by 4-6 arrivals within 1 ms; 201 and 202 in a second at a limit of 200 with the default
            # 20 ms). The margin for that jitter is the user's setting; this test is about the workers together.
            WAHUB_SEND_JITTER_MS="50",
            WAHUB_STREAM_POLL_MS=str(3_600_000),  # an hour: only NOTIFY brings another process's events in time
            WAHUB_LOG_LEVEL="WARNING",
        )
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []
        self.webs: list[tuple[subprocess.Popen[bytes], str]] = []

    def start(self, role: str) -> subprocess.Popen[bytes]:
        port = free_port()
        log = open(self.tmp_path / f"{role}-{len(self.procs)}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "wahub", "serve", "--role", role, *(["--port", str(port)] if role == "web" else [])],
            cwd=self.tmp_path,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        if role == "web":
            self.webs.append((proc, f"http://127.0.0.1:{port}"))
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{what} within {timeout} s\n{self.logs()}")

    async def ready(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Both webs answer /healthz and the account from the settings is stored."""

        async def up() -> bool:
            async with httpx.AsyncClient() as client:
                for proc, url in self.webs:
                    assert proc.poll() is None, self.logs()
                    try:
                        if (await client.get(f"{url}/healthz")).status_code != 200:
                            return False
                    except httpx.TransportError:
                        return False
            async with db.transaction(sessions) as session:
                return await session.scalar(sa.select(Account.id)) is not None

        await self.until(up, 60, "the web processes did not start")


async def count(sessions: async_sessionmaker[AsyncSession], stmt: sa.Select[tuple[int]]) -> int:
    async with db.transaction(sessions) as session:
        return int(await session.scalar(stmt) or 0)


async def queue(sessions: async_sessionmaker[AsyncSession], prefix: str) -> dict[str, int]:
    """One template to each of BATCH recipients, as a broadcast queues them; recipient -> message id."""
    numbers = [f"{prefix}{i:07d}" for i in range(BATCH)]
    async with db.transaction(sessions) as session:
        account = (await session.scalars(sa.select(Account))).one()
        refs = [domain.ContactRef(wa_id=x) for x in numbers]
        ids = await outbound.queue_broadcast(session, account, refs, domain.MessageType.TEMPLATE, TEMPLATE)
    return dict(zip(numbers, ids, strict=True))


async def due_schedule(sessions: async_sessionmaker[AsyncSession]) -> int:
    """A yearly schedule whose time this year has passed: due now, and not again before next year."""
    now = datetime.now(UTC)
    created = datetime(now.year, 1, 1, tzinfo=UTC) - timedelta(minutes=1)
    request = SendRequest(to=SCHEDULED_TO, type=domain.MessageType.TEMPLATE, content=TEMPLATE["template"])
    async with db.transaction(sessions) as session:
        schedule = await schedules.create(
            session, cron_expression="0 0 1 1 *", tz="UTC", message=stored(request), now=created
        )
        return schedule.id


def inbound(n: int) -> bytes:
    """A signed-able webhook body: one text from one of 50 contacts, wamid ``wamid.topo<n>``."""
    sender = f"1415777{n % 50:04d}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000021", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": f"User {n % 50}"}, "wa_id": sender}],
        "messages": [
            {
                "from": sender,
                "id": f"wamid.topo{n:06d}",
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": f"m{n}"},
            }
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


async def intake(webs: list[tuple[subprocess.Popen[bytes], str]]) -> tuple[dict[int, set[int]], int]:
    """EVENTS webhooks: n % 3 == 0 to the first web only, 1 to the second only, 2 to both (Meta retrying
    through the other). The first web is killed once it has acked WEB_KILL_AFTER. Returns, per web, the acked
    n, and how many the first had acked when it was killed."""
    acked: dict[int, set[int]] = {0: set(), 1: set()}
    killed_at = 0
    posts: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for n in range(EVENTS):
        for web in ((0,), (1,), (1, 0) if n % 2 else (0, 1))[n % 3]:
            posts.put_nowait((n, web))

    async def post(http: aiohttp.ClientSession) -> None:
        nonlocal killed_at
        while not posts.empty():
            n, web = posts.get_nowait()
            raw = inbound(n)
            headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
            try:
                async with http.post(f"{webs[web][1]}/webhooks/meta", data=raw, headers=headers) as response:
                    if response.status == 200:
                        acked[web].add(n)
            except (TimeoutError, aiohttp.ClientError):
                continue
            first = webs[0][0]
            if len(acked[0]) >= WEB_KILL_AFTER and first.poll() is None:
                first.send_signal(signal.SIGKILL)
                killed_at = len(acked[0])

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=32)) as http:
        await asyncio.gather(*(post(http) for _ in range(32)))
    return acked, killed_at


async def streamed_across(webs: list[tuple[subprocess.Popen[bytes], str]], key: str, graph: Graph) -> None:
    """For each web: a stream client on it sees a message fakegraph posted to the other web."""
    auth = {"Authorization": f"Bearer {key}"}
    for reader, writer in ((1, 0), (0, 1)):
        text = f"posted to web {writer}, streamed by web {reader}"
        async with (
            httpx.AsyncClient(base_url=webs[reader][1], headers=auth) as client,
            client.stream("GET", "/api/v1/stream", timeout=60) as response,
        ):
            assert response.status_code == 200, await response.aread()
            events = SseReader(response)
            await graph.control("POST", "config", {"callback_url": f"{webs[writer][1]}/webhooks/meta"})
            sent = await graph.control("POST", "inbound", {"from": "14155550123", "text": text})
            assert sent["delivered"], sent
            await events.until(
                lambda e, t=text: e.event == "message.created" and e.data["content"].get("text", {}).get("body") == t,
                timeout=30,
            )
    await graph.control("POST", "config", {"callback_url": None})


def busiest(times: list[float], killed_after: int) -> str:
    """Where the busiest one-second window of sends began, for a failure's message."""
    best, at = busiest_window(sorted(times), 1.0)
    return f"{best} sends in the second from send #{at} of {len(times)} (the worker was killed after #{killed_after})"


async def test_two_webs_and_two_workers_on_one_postgresql_keep_every_guarantee(
    pg_database: str, graph: Graph, tmp_path: Path
) -> None:
    procs = Topology(pg_database, graph.url, tmp_path)
    engine = db.create_engine(pg_database)
    sessions = db.sessionmaker(engine)
    open_jobs = sa.select(sa.func.count()).select_from(OutboxJob).where(OutboxJob.state.in_(["pending", "running"]))

    async def sends_done() -> bool:
        return await count(sessions, open_jobs) == 0

    try:
        procs.start("web")
        procs.start("web")
        workers = [procs.start("worker"), procs.start("worker")]
        await procs.ready(sessions)

        # Sends with both workers alive, and a schedule both of them find due.
        schedule_id = await due_schedule(sessions)
        first = await queue(sessions, "1666")

        async def schedule_sent() -> bool:
            return SCHEDULED_TO in await graph.recipients()

        await procs.until(schedule_sent, 30, "the due schedule was not sent")
        await procs.until(sends_done, 60, "the first batch was not sent")
        per_recipient = await graph.recipients()
        assert set(per_recipient) == {*first, SCHEDULED_TO}, "a message never reached Meta"
        assert max(per_recipient.values()) == 1, "a message was sent twice while both workers lived"

        # kill -9 of the worker that holds the number's send lease, mid-batch.
        second = await queue(sessions, "1777")

        async def sending() -> bool:
            return len((await graph.control("GET", "arrivals"))["data"]) >= BATCH + 1 + KILL_AFTER

        await procs.until(sending, 30, "the second batch did not start")
        async with db.transaction(sessions) as session:
            holder = await session.scalar(sa.select(SendLease.holder))
        assert holder is not None
        victim = next(p for p in workers if holder.startswith(f"{p.pid}-"))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        async with db.transaction(sessions) as session:
            in_flight = set(
                (
                    await session.scalars(
                        sa.select(OutboxJob.message_id).where(
                            OutboxJob.state == "running", OutboxJob.locked_by == holder
                        )
                    )
                ).all()
            )
        sent_at_kill = len((await graph.control("GET", "arrivals"))["data"])
        assert sent_at_kill < 2 * BATCH + 1, "the batch ended before the kill: nothing was tested"
        await procs.until(sends_done, 60, "the second batch did not finish after the kill")

        # The live stream across web processes.
        async with db.transaction(sessions) as session:
            _row, key = await apikeys.create(session, "topology")
        await streamed_across(procs.webs, key, graph)

        # The intake burst, to either web and to both; the first web is killed during it.
        acked, killed_at = await intake(procs.webs)
        unprocessed = sa.select(sa.func.count()).select_from(WebhookEvent).where(WebhookEvent.processed_at.is_(None))

        async def processed() -> bool:
            return await count(sessions, unprocessed) == 0

        await procs.until(processed, 60, "the acked events were not all processed")

        async with db.transaction(sessions) as session:
            firings = (
                await session.scalars(sa.select(ScheduleFiring.id).where(ScheduleFiring.schedule_id == schedule_id))
            ).all()
            rows = {
                r.id: r for r in await session.execute(sa.select(Message.id, Message.wamid, Message.possible_duplicate))
            }
            bodies = collections.Counter(bytes(b) for b in (await session.scalars(sa.select(WebhookEvent.body))).all())
            results = {r.split(";")[0] for r in (await session.scalars(sa.select(WebhookEvent.result))).all()}
            batches = (await session.scalars(sa.select(StreamBatch.events))).all()
        arrivals = await graph.control("GET", "arrivals")
        per_recipient = await graph.recipients()
    finally:
        procs.stop()
        await engine.dispose()

    assert arrivals["max_per_second"] <= RATE, f"over the send limit: {busiest(arrivals['data'], sent_at_kill)}"
    assert len(firings) == 1, "the due schedule fired more or less than once"

    assert set(second) <= set(per_recipient), "a message was lost with the killed worker"
    twice = {second[to] for to in second if per_recipient[to] > 1}
    assert twice <= in_flight, "a message that was not in flight at the kill was sent twice"
    assert max(per_recipient[to] for to in second) <= 2
    assert {i for i in second.values() if rows[i].possible_duplicate} == in_flight
    assert 0 < len(in_flight) < RATE
    assert all(per_recipient[to] == 1 for to in first)

    assert killed_at >= WEB_KILL_AFTER and len(acked[0]) < EVENTS * 2 // 3, "the first web was not killed mid-burst"
    for n in acked[0] | acked[1]:
        assert bodies[inbound(n)] >= 1, f"event {n} was acked and not stored"
    assert results == {"ok"}
    wamids = collections.Counter(r.wamid for r in rows.values() if r.wamid and r.wamid.startswith("wamid.topo"))
    # Every acked message is stored; one the killed web made durable but could not ack in time is stored too
    # (what was acked is never lost; what was stored but not acked is Meta's to send again, and stored once).
    assert {f"wamid.topo{n:06d}" for n in acked[0] | acked[1]} <= set(wamids)
    assert set(wamids) <= {f"wamid.topo{n:06d}" for n in range(EVENTS)}
    assert max(wamids.values()) == 1, "an inbound message was stored twice"
    inbound_ids = {i for i, r in rows.items() if r.wamid in wamids}
    created = collections.Counter(
        payload["message_id"]
        for batch in batches
        for kind, _conversation, payload in json.loads(batch)
        if kind == "message.created" and payload["message_id"] in inbound_ids
    )
    assert created == collections.Counter(inbound_ids), "an inbound message was not streamed exactly once"
