"""``kill -9`` of a sending worker during a 10,000-message campaign: nothing is lost, and only the messages that
were in flight at the kill may reach Meta twice, each flagged as a possible duplicate. On PostgreSQL two workers
share the queue: while both live, no message is sent twice; when the one sending dies, the other takes over.

Real processes (``wahub serve --role worker``), a real database, fakegraph on a loopback port."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import fakegraph
from fakegraph.state import FakeState
from tests.integration.conftest import _pg_admin, _pg_url
from tests.support import running
from wahub import domain
from wahub.store import db, migrate, outbound, statuses
from wahub.store.models import Account, Message, MessageWamid, OutboxJob, SendLease, StatusRecord

PHONE_NUMBER_ID = "100000000000009"
TOKEN = "crash-send-token"
MESSAGES = 10_000
KILL_AFTER = 3_000
TEMPLATE = {"template": {"name": "hello_world", "language": {"code": "en_US"}}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        url = f"sqlite:///{tmp_path / 'data' / 'wahub.db'}"
        migrate.upgrade(url)
        yield url
        return
    with fresh_pg(f"wahub_send_crash_{os.getpid()}") as url:
        yield url


@pytest.fixture
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of the test's own."""
    with fresh_pg(f"wahub_send_{request.node.name[5:30]}_{os.getpid()}") as url:
        yield url


@contextlib.contextmanager
def fresh_pg(name: str) -> Iterator[str]:
    """A migrated PostgreSQL database ``name``, dropped at the end."""
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(_pg_url(name))
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def graph() -> AsyncIterator[tuple[str, FakeState]]:
    """fakegraph with 20 ms of latency, so sends are on the wire when the worker dies; no webhooks."""
    config = fakegraph.FakeGraphConfig(
        access_token=TOKEN, phone_number_id=PHONE_NUMBER_ID, reply=False, seed=3, speed=1000
    )
    app = fakegraph.create_app(config)
    app.state.fake.faults.latency_ms = 20.0
    async with running(app) as url:
        yield url, app.state.fake


class Workers:
    def __init__(self, database_url: str, graph_url: str, tmp_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
        self.env.update(
            WAHUB_DATA_DIR=str(tmp_path / "data"),
            WAHUB_DATABASE_URL=database_url,
            WAHUB_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            WAHUB_WABA_ID="200000000000009",
            WAHUB_ACCESS_TOKEN=TOKEN,
            WAHUB_APP_SECRET="crash-send-app-secret",
            WAHUB_SECRET_KEY="crash-send-secret-key-0123456789",
            WAHUB_GRAPH_URL=graph_url,
            WAHUB_SEND_RATE="1000",
            WAHUB_LOG_LEVEL="WARNING",
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp_path = tmp_path

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "wahub", "serve", "--role", "worker"],
            cwd=self.tmp_path,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s\n{workers.logs()}")


async def campaign(sessions: async_sessionmaker[AsyncSession], workers: Workers, n: int) -> dict[str, int]:
    """Once a worker has written the account from its settings, queue one template to each of n recipients."""

    async def account_ready() -> bool:
        async with db.transaction(sessions) as session:
            return (
                await session.scalar(sa.select(Account.id).where(Account.phone_number_id == PHONE_NUMBER_ID))
                is not None
            )

    await until(account_ready, 30, "no worker created the account", workers)
    numbers = [f"1666{i:07d}" for i in range(n)]
    async with db.transaction(sessions) as session:
        account = (await session.scalars(sa.select(Account).where(Account.phone_number_id == PHONE_NUMBER_ID))).one()
        refs = [domain.ContactRef(wa_id=x) for x in numbers]
        ids = await outbound.queue_broadcast(session, account, refs, domain.MessageType.TEMPLATE, TEMPLATE)
    return dict(zip(numbers, ids, strict=True))


async def sending_worker(
    sessions: async_sessionmaker[AsyncSession], workers: Workers, fake: FakeState
) -> tuple[str, subprocess.Popen[bytes]]:
    """Once KILL_AFTER messages reached fakegraph: the holder of the send lease, and its process."""

    async def enough_sent() -> bool:
        return len(fake.messages) >= KILL_AFTER

    await until(enough_sent, 60, f"fakegraph did not see {KILL_AFTER} sends", workers)
    async with db.transaction(sessions) as session:
        holder = await session.scalar(sa.select(SendLease.holder))
    assert holder is not None
    return holder, next(p for p in workers.procs if holder.startswith(f"{p.pid}-"))


async def all_done(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with db.transaction(sessions) as session:
        open_jobs = await session.scalar(
            sa.select(sa.func.count()).select_from(OutboxJob).where(OutboxJob.state.in_(["pending", "running"]))
        )
    return open_jobs == 0


async def test_kill_9_of_the_sending_worker_loses_nothing_and_flags_what_was_in_flight(
    database_url: str, graph: tuple[str, FakeState], tmp_path: Path
) -> None:
    graph_url, fake = graph
    two = not database_url.startswith("sqlite")  # PostgreSQL: a second worker stands by and takes over
    workers = Workers(database_url, graph_url, tmp_path)
    engine = db.create_engine(database_url)
    sessions = db.sessionmaker(engine)
    try:
        first = workers.start()
        standby = workers.start() if two else None
        ids = await campaign(sessions, workers, MESSAGES)
        holder, victim = await sending_worker(sessions, workers, fake)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        sent_at_kill = len(fake.messages)
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
        assert sent_at_kill < MESSAGES, "the campaign ended before the kill: nothing was tested"
        if standby is None:
            workers.start()  # SQLite: the worker is restarted
        else:
            assert victim is first or victim is standby
        await until(lambda: all_done(sessions), 120, "the campaign did not finish after the kill", workers)

        per_recipient = collections.Counter(m.to for m in fake.messages.values())
        async with db.transaction(sessions) as session:
            rows = {
                r.id: r
                for r in await session.execute(
                    sa.select(Message.id, Message.wamid, Message.status, Message.possible_duplicate)
                )
            }
    finally:
        workers.stop()
        await engine.dispose()

    assert set(per_recipient) == set(ids), "a message never reached Meta"
    twice = {ids[to] for to, count in per_recipient.items() if count > 1}
    flagged = {i for i, r in rows.items() if r.possible_duplicate}
    assert max(per_recipient.values()) <= 2
    assert twice <= in_flight, "a message that was not in flight at the kill was sent twice"
    assert flagged == in_flight, "exactly the messages in flight at the kill are flagged"
    assert 0 < len(in_flight) < 1_000
    wamids = {m.wamid for m in fake.messages.values()}
    assert all(r.wamid in wamids and r.status == "accepted" for r in rows.values())


@pytest.mark.postgres
async def test_two_workers_on_postgresql_never_send_the_same_message(
    graph: tuple[str, FakeState], pg_database: str, tmp_path: Path
) -> None:
    graph_url, fake = graph
    url = pg_database
    workers = Workers(url, graph_url, tmp_path)
    engine = db.create_engine(url)
    sessions = db.sessionmaker(engine)
    try:
        workers.start()
        workers.start()
        ids = await campaign(sessions, workers, 3_000)
        await until(lambda: all_done(sessions), 60, "the campaign did not finish", workers)
        async with db.transaction(sessions) as session:
            flagged = await session.scalar(
                sa.select(sa.func.count()).select_from(Message).where(Message.possible_duplicate.is_(True))
            )
    finally:
        workers.stop()
        await engine.dispose()
    per_recipient = collections.Counter(m.to for m in fake.messages.values())
    assert set(per_recipient) == set(ids)
    assert max(per_recipient.values()) == 1
    assert flagged == 0
    banner = (tmp_path / "worker-0.log").read_text().splitlines()[0]
    assert "worker" in banner and "no HTTP" in banner and "/docs" not in banner  # a worker serves no HTTP


async def _quiet(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """No other connection is inside a transaction: a worker stopped now holds no row lock."""
    async with db.transaction(sessions) as session:
        busy = await session.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
            )
        )
    return busy == 0


@pytest.mark.postgres
async def test_a_stalled_sender_that_wakes_after_losing_its_lease_leaves_no_status_unattached(
    graph: tuple[str, FakeState], pg_database: str, tmp_path: Path
) -> None:
    """The sending worker freezes (SIGSTOP: a paused VM, a swap storm) with sends on the wire, long enough for
    its lease to run out; the standby takes over and sends those messages again, flagged. When the frozen one
    wakes it reads Meta's answers to its sends: both copies' wamids are kept, so every status Meta reports for
    either copy moves its message, and none waits unattached forever."""
    graph_url, fake = graph
    url = pg_database
    workers = Workers(url, graph_url, tmp_path)
    engine = db.create_engine(url)
    sessions = db.sessionmaker(engine)
    try:
        workers.start()
        workers.start()
        ids = await campaign(sessions, workers, MESSAGES)
        holder, frozen = await sending_worker(sessions, workers, fake)
        for _ in range(200):  # freeze it between two transactions, so it holds no row lock the standby needs
            frozen.send_signal(signal.SIGSTOP)
            if await _quiet(sessions):
                break
            frozen.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the sending worker was never outside a transaction")
        try:

            async def taken_over() -> bool:
                async with db.transaction(sessions) as session:
                    return await session.scalar(sa.select(SendLease.holder)) not in (None, holder)

            await until(taken_over, 30, "the standby did not take the lease over", workers)

            async def resent() -> bool:  # the standby re-sends what the frozen one had in flight
                return max(collections.Counter(m.to for m in fake.messages.values()).values()) > 1

            await until(resent, 30, "the standby sent nothing a second time", workers)
        finally:
            frozen.send_signal(signal.SIGCONT)
        await until(lambda: all_done(sessions), 120, "the campaign did not finish", workers)

        async def answers_recorded() -> bool:  # the woken worker records the answers it read: each second copy
            per_recipient = collections.Counter(m.to for m in fake.messages.values())
            async with db.transaction(sessions) as session:
                kept = set((await session.scalars(sa.select(MessageWamid.message_id))).all())
            return kept == {ids[to] for to, count in per_recipient.items() if count > 1}

        await until(answers_recorded, 30, "the woken worker did not record its answers", workers)

        # Meta reports every copy it accepted as delivered.
        async with db.transaction(sessions) as session:
            account_id = (await session.scalars(sa.select(Account.id))).one()
        sent = list(fake.messages.values())
        for start in range(0, len(sent), 500):
            async with db.transaction(sessions) as session:
                await statuses.record_many(
                    session,
                    [
                        (
                            account_id,
                            domain.StatusUpdate(
                                phone_number_id=PHONE_NUMBER_ID,
                                provider_id=m.wamid,
                                status=domain.MessageStatus.DELIVERED,
                                timestamp=datetime.now(UTC),
                                recipient=domain.ContactRef(wa_id=m.to),
                                raw={},
                            ),
                        )
                        for m in sent[start : start + 500]
                    ],
                )
        async with db.transaction(sessions) as session:
            unattached = await session.scalar(
                sa.select(sa.func.count()).select_from(StatusRecord).where(StatusRecord.message_id.is_(None))
            )
            rows = {
                r.id: r
                for r in await session.execute(sa.select(Message.id, Message.status, Message.possible_duplicate))
            }
            copies = set((await session.scalars(sa.select(MessageWamid.message_id))).all())
    finally:
        workers.stop()
        await engine.dispose()
    per_recipient = collections.Counter(m.to for m in fake.messages.values())
    twice = {ids[to] for to, count in per_recipient.items() if count > 1}
    assert set(per_recipient) == set(ids) and max(per_recipient.values()) <= 2
    assert twice, "nothing was sent twice: the stall tested nothing"
    assert copies == twice, "each message sent twice keeps its second copy's wamid"
    assert twice <= {i for i, r in rows.items() if r.possible_duplicate}
    assert unattached == 0
    assert all(r.status == "delivered" for r in rows.values())
