"""``kill -9`` of the sending worker in the middle of a campaign, two workers on PostgreSQL, and its restart: no
recipient gets two messages and none is missed (issue 17). The sends the killed worker had on the wire are not
sent again blindly (as other messages are, flagged): each waits for its status, which names it
(``OutboxJob.confirm``); only one that never reached fakegraph goes again.

Real processes (one ``wahub serve --role web`` that takes fakegraph's signed status webhooks, two ``--role
worker``), a real PostgreSQL, fakegraph on a loopback port with 20 ms of latency."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import fakegraph
from fakegraph.state import FakeState
from tests.acceptance.test_send_crash import PHONE_NUMBER_ID, TOKEN, Workers, fresh_pg, until
from tests.support import free_port, running
from wahub.store import apikeys, db
from wahub.store.models import OutboxJob, SendLease

# Three processes, 3,000 sends, a takeover and a 10 s grace: minutes on a slow or loaded machine, not seconds.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

RECIPIENTS = 3_000
KILL_AFTER = 1_000
APP_SECRET = "campaign-crash-app-secret"
WABA_ID = "200000000000009"  # as Workers configures wahub


@pytest.fixture
def pg_database() -> Iterator[str]:
    with fresh_pg(f"wahub_campaign_crash_{os.getpid()}") as url:
        yield url


@pytest.fixture
def web_port() -> int:
    return free_port()


@pytest.fixture
async def graph(web_port: int) -> AsyncIterator[tuple[str, FakeState]]:
    """fakegraph with 20 ms of latency (sends are on the wire when the worker dies), posting each message's
    statuses to the web process as Meta does."""
    config = fakegraph.FakeGraphConfig(
        access_token=TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        waba_id=WABA_ID,
        callback_url=f"http://127.0.0.1:{web_port}/webhooks/meta",
        app_secret=APP_SECRET,
        reply=False,
        seed=5,
        speed=1000,
    )
    app = fakegraph.create_app(config)
    app.state.fake.faults.latency_ms = 20.0
    async with running(app) as url:
        yield url, app.state.fake


class Processes(Workers):
    """``Workers`` with a web process beside them, and sends confirmed within 10 s."""

    def __init__(self, database_url: str, graph_url: str, tmp_path: Path, web_port: int) -> None:
        super().__init__(database_url, graph_url, tmp_path)
        self.env.update(WAHUB_APP_SECRET=APP_SECRET, WAHUB_SEND_CONFIRM_SECONDS="10", WAHUB_VERIFY_TOKEN="verify")
        self.web_port = web_port

    def start_web(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / "web.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "wahub", "serve", "--role", "web", "--port", str(self.web_port)],
            cwd=self.tmp_path,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        web = self.tmp_path / "web.log"
        return super().logs() + ("\n" + web.read_text(errors="replace")[-3000:] if web.exists() else "")


async def test_kill_9_of_the_sending_worker_mid_campaign_sends_no_recipient_twice(
    pg_database: str, graph: tuple[str, FakeState], web_port: int, tmp_path: Path
) -> None:
    graph_url, fake = graph
    procs = Processes(pg_database, graph_url, tmp_path, web_port)
    engine = db.create_engine(pg_database)
    sessions = db.sessionmaker(engine)
    try:
        procs.start_web()
        procs.start()
        procs.start()
        async with db.transaction(sessions) as session:
            _, key = await apikeys.create(session, "campaign-crash")
        api = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{web_port}", headers={"Authorization": f"Bearer {key}"}, timeout=120
        )

        async def synced() -> bool:  # a worker syncs the account's templates at start
            try:
                listed = (await api.get("/api/v1/templates")).json().get("items", [])
            except httpx.TransportError:
                return False
            return any(t["name"] == "hello_world" and t["status"] == "APPROVED" for t in listed)

        await until(synced, 60, "the templates were not synced", procs)
        numbers = [f"+1777{i:07d}" for i in range(RECIPIENTS)]
        body = {
            "name": "crash",
            "template": {"name": "hello_world", "language": "en_US"},
            "audience": {"numbers": numbers},
        }
        created = await api.post("/api/v1/campaigns", json=body)
        assert created.status_code == 201, created.text
        campaign = created.json()["id"]
        assert (await api.post(f"/api/v1/campaigns/{campaign}/start")).status_code == 200

        async def enough_sent() -> bool:
            return len(fake.messages) >= KILL_AFTER

        await until(enough_sent, 60, f"fakegraph did not see {KILL_AFTER} sends", procs)
        async with db.transaction(sessions) as session:
            holder = await session.scalar(sa.select(SendLease.holder))
        assert holder is not None
        victim = next(p for p in procs.procs if holder.startswith(f"{p.pid}-"))
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
        assert sent_at_kill < RECIPIENTS, "the campaign ended before the kill: nothing was tested"
        assert in_flight, "nothing was in flight at the kill: the test tested nothing"
        procs.start()  # the killed worker comes back; the other took the number over meanwhile

        async def completed() -> bool:
            shown = (await api.get(f"/api/v1/campaigns/{campaign}")).json()
            return bool(shown["state"] == "completed")

        await until(completed, 120, "the campaign did not complete after the kill", procs)

        # Completed means every message reached Meta; the statuses Meta sends for the last of them come after
        # (on a slow machine the processor is a few hundred behind then): each recipient's result follows them.
        async def every_result_in() -> bool:
            totals = (await api.get(f"/api/v1/campaigns/{campaign}")).json()["totals"]
            return bool(totals["queued"] == 0)

        await until(every_result_in, 60, "the statuses of the campaign's messages did not all arrive", procs)
        shown = (await api.get(f"/api/v1/campaigns/{campaign}")).json()
        await api.aclose()
    finally:
        procs.stop()
        await engine.dispose()

    per_recipient = collections.Counter(m.to for m in fake.messages.values())
    assert set(per_recipient) == {n.lstrip("+") for n in numbers}, "a recipient was never sent its message"
    assert max(per_recipient.values()) == 1, "a recipient got two messages of the campaign"
    totals = shown["totals"]
    assert totals["recipients"] == RECIPIENTS
    assert totals["pending"] == totals["queued"] == totals["failed"] == totals["skipped"] == 0, totals
