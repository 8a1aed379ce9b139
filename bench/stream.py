"""Live stream fan-out benchmark (issue 14 item 5): delivery latency of ``GET /api/v1/stream`` events.

1. A fresh database (SQLite in a temporary folder, or ``--database postgresql``: a database of its own on
   127.0.0.1:5432, dropped after), one account, one message, one API key.
2. The wahub app (``create_app``) served by uvicorn on a loopback port in this process, and ``--clients`` (50)
   SSE clients (aiohttp) connected to ``/api/v1/stream``.
3. **wahub**: ``--events`` (1,000) events, each written in a transaction of its own through the store
   (``stream.publish``, as the API's sends and the sender's recorder write them), paced at ``--rate`` (500) a
   second. Latency of an event at a client: from just before its transaction began to the moment the client
   parsed it; every client must get every event once, in order.
4. **baseline** (the same run): the same fan-out from a bare asyncio queue per client (no database, no HTTP):
   what the event loop alone costs at the same pace.

Everything runs in one process (one core: writer, app and clients share it), so the figures are an upper bound
of what a separate client would see. Usage: ``.venv/bin/python bench/stream.py [--database postgresql]
[--clients 50] [--events 1000] [--rate 500] [--json]``. Only talks to 127.0.0.1.

``--processor N`` measures instead what writing the events costs the processor: N inbound texts drained from the
journal on SQLite, with stream events and with ``stream.publish`` made a no-op (the baseline), each in a fresh
process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

from wahub import listen

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-secret-key-0123456789"


@dataclass
class Figures:
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Result:
    database: str
    clients: int
    events: int
    rate: float
    wahub: Figures
    baseline: Figures
    complete: bool


def log(message: str) -> None:
    print(f"[stream] {message}", file=sys.stderr, flush=True)


def figures(latencies: list[float]) -> Figures:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Figures(round(statistics.median(ordered) * 1000, 2), round(p99 * 1000, 2), round(ordered[-1] * 1000, 2))


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    sock = listen.loopback(512)

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            yield

    server = Quiet(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def client(
    http: aiohttp.ClientSession,
    url: str,
    key: str,
    started: dict[int, float],
    got: list[float],
    order: list[int],
    events: int,
) -> None:
    async with http.get(f"{url}/api/v1/stream", headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 200
        while len(order) < events:
            line = (await response.content.readline()).decode().rstrip("\r\n")
            if not line.startswith("data:"):
                continue
            n = int(json.loads(line[5:])["why"])
            got.append(time.perf_counter() - started[n])
            order.append(n)


async def wahub_run(args: argparse.Namespace, url: str, folder: Path) -> tuple[Figures, bool]:
    from wahub import config
    from wahub.api.app import create_app
    from wahub.api.context import AppContext
    from wahub.domain import ContactRef
    from wahub.store import accounts, apikeys, contacts, conversations, db, migrate, stream
    from wahub.store.crypto import Vault
    from wahub.store.models import Message, utcnow

    migrate.upgrade(url)
    engine = db.create_engine(url)
    events_engine = db.create_events_engine(url, engine)
    sessions = db.sessionmaker(engine)
    vault = Vault(SECRET_KEY)
    async with db.transaction(sessions) as session:
        account = await accounts.upsert_meta(
            session,
            vault,
            name="bench",
            phone_number_id="100000000000001",
            waba_id="200000000000001",
            credentials=accounts.Credentials("token", "secret", "verify"),
        )
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id="14155550101"))
        thread = await conversations.get_or_create(session, account.id, contact.id)
        message = Message(
            account_id=account.id,
            conversation_id=thread.id,
            contact_id=contact.id,
            direction="inbound",
            type="text",
            status="received",
            content={"text": {"body": "hi"}},
            created_at=utcnow(),
        )
        session.add(message)
        await session.flush()
        message_id = message.id
        _row, key = await apikeys.create(session, "bench")
    settings = config.load(data_dir=folder / "data", database_url=url, api_rate_limit=0)
    app = create_app(AppContext.build(settings, engine, events_engine, vault))
    started: dict[int, float] = {}
    latencies: list[list[float]] = [[] for _ in range(args.clients)]
    orders: list[list[int]] = [[] for _ in range(args.clients)]
    try:
        async with serving(app) as base, aiohttp.ClientSession() as http:
            hub = app.api.state.stream_hub
            tasks = [
                asyncio.create_task(client(http, base, key, started, latencies[i], orders[i], args.events))
                for i in range(args.clients)
            ]
            while hub.connections < args.clients:
                await asyncio.sleep(0.01)
            log(f"{args.clients} clients connected; writing {args.events} events at {args.rate}/s")
            gap = 1 / args.rate
            begin = time.perf_counter()
            for n in range(args.events):
                await asyncio.sleep(max(0.0, begin + n * gap - time.perf_counter()))
                started[n] = time.perf_counter()
                async with db.transaction(sessions) as session:
                    stream.publish(session, [stream.Change(stream.MESSAGE_UPDATED, message_id, why=str(n))])
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
    finally:
        await engine.dispose()
        if events_engine is not engine:
            await events_engine.dispose()
    complete = all(order == list(range(args.events)) for order in orders)
    return figures([x for per in latencies for x in per]), complete


async def over_http(
    base_url: str, key: str, *, clients: int = 50, events: int = 1_000, rate: float = 200.0
) -> list[float]:
    """The fan-out through a running ``wahub serve`` (``bench/inbox_api.py`` calls it): ``clients`` SSE clients,
    then ``events`` read receipts (``POST /api/v1/messages/{id}/read`` of as many inbound messages, one
    ``conversation.updated`` each, written by the server itself) posted one after another at ``rate`` a second.
    Returns each event's delivery latency at each client in ms (from just before its POST)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(base_url=base_url, headers=headers) as http:
        ids: list[int] = []
        cursor = None
        while len(ids) < events:
            params = {"direction": "inbound", "limit": "200", **({"cursor": cursor} if cursor else {})}
            async with http.get("/api/v1/messages", params=params) as response:
                page = await response.json()
            ids += [item["id"] for item in page["items"] if item.get("wamid")]  # a read receipt names it
            cursor = page.get("next_cursor")
            if not cursor:
                break
        ids = ids[:events]
        started: list[float] = []
        latencies: list[float] = []

        async def listen(ready: asyncio.Event) -> None:
            async with http.get("/api/v1/stream") as response:
                ready.set()
                n = 0
                while n < len(ids):
                    line = (await response.content.readline()).decode()
                    if line.startswith("data:") and json.loads(line[5:]).get("why") == "read":
                        latencies.append((time.perf_counter() - started[n]) * 1000)
                        n += 1

        readies = [asyncio.Event() for _ in range(clients)]
        tasks = [asyncio.create_task(listen(ready)) for ready in readies]
        await asyncio.gather(*(ready.wait() for ready in readies))
        gap = 1 / rate
        begin = time.perf_counter()
        for n, message_id in enumerate(ids):
            await asyncio.sleep(max(0.0, begin + n * gap - time.perf_counter()))
            started.append(time.perf_counter())
            async with http.post(f"/api/v1/messages/{message_id}/read", json={}) as response:
                if response.status != 202:
                    raise RuntimeError(f"read receipt answered {response.status}: {await response.text()}")
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return latencies


DRAIN = """
import asyncio, copy, json, sys, tempfile, time
from pathlib import Path

async def main(mode, n):
    from wahub.store import accounts, db, migrate, stream
    from wahub.store.crypto import Vault
    from wahub.webhook.journal import EventJournal
    from wahub.worker.processor import Processor

    if mode == "without":
        stream.publish = lambda session, changes: None
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'w.db'}"
    migrate.upgrade(url)
    engine = db.create_engine(url)
    events = db.create_events_engine(url, engine)
    sessions = db.sessionmaker(engine)
    async with db.transaction(sessions) as session:
        credentials = accounts.Credentials("token", "secret", "verify")
        await accounts.upsert_meta(session, Vault("k" * 32), name="b", phone_number_id="1", waba_id="2",
                                   credentials=credentials)
    journal = EventJournal(events)
    await journal.start()
    for i in range(n):
        sender = f"1555{2000000 + i % 300:07d}"
        message = {"from": sender, "id": f"wamid.b{i}", "timestamp": "1764547200", "type": "text",
                   "text": {"body": f"hello {i}"}}
        value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "1"},
                 "contacts": [{"profile": {"name": "N"}, "wa_id": sender}], "messages": [message]}
        body = {"object": "whatsapp_business_account",
                "entry": [{"id": "2", "changes": [{"field": "messages", "value": value}]}]}
        await journal.append("meta", json.dumps(body).encode(), None)
    await journal.stop()
    processor = Processor(sessions, db.sessionmaker(events))
    began, cpu = time.perf_counter(), time.process_time()
    while await processor.run_once():
        pass
    print(json.dumps([n / (time.perf_counter() - began), (time.process_time() - cpu) / n * 1e6]))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def processor_cost(n: int) -> dict[str, tuple[float, float]]:
    """What writing stream events costs the processor: ``n`` inbound texts (from 300 contacts) drained from the
    journal on SQLite, with stream events and with ``stream.publish`` made a no-op, each in a fresh process:
    (events/s, CPU microseconds per event)."""
    import subprocess

    out = {}
    for mode in ("without", "with"):
        done = subprocess.run([sys.executable, "-c", DRAIN, mode, str(n)], capture_output=True, text=True, check=True)
        rate, cpu = json.loads(done.stdout.strip().splitlines()[-1])
        out[mode] = (round(rate), round(cpu))
    return out


async def baseline_run(args: argparse.Namespace) -> Figures:
    queues: list[asyncio.Queue[tuple[int, float]]] = [asyncio.Queue() for _ in range(args.clients)]
    latencies: list[float] = []

    async def consume(queue: asyncio.Queue[tuple[int, float]]) -> None:
        for _ in range(args.events):
            _n, at = await queue.get()
            latencies.append(time.perf_counter() - at)

    consumers = [asyncio.create_task(consume(q)) for q in queues]
    gap = 1 / args.rate
    begin = time.perf_counter()
    for n in range(args.events):
        await asyncio.sleep(max(0.0, begin + n * gap - time.perf_counter()))
        at = time.perf_counter()
        for queue in queues:
            queue.put_nowait((n, at))
    await asyncio.gather(*consumers)
    return figures(latencies)


async def main_async(args: argparse.Namespace) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="wahub-bench-stream-"))
    pg_name = None
    url = f"sqlite:///{folder / 'wahub.db'}"
    if args.database == "postgresql":
        import psycopg

        pg_name = f"bench_stream_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    try:
        baseline = await baseline_run(args)
        wahub, complete = await wahub_run(args, url, folder)
    finally:
        if pg_name is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    return Result(args.database, args.clients, args.events, args.rate, wahub, baseline, complete)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--processor", type=int, metavar="N", help="instead: the processor's drain of N inbound texts")
    args = parser.parse_args()
    if args.processor:
        cost = processor_cost(args.processor)
        for mode, (rate, cpu) in cost.items():
            print(f"{mode} stream events: {rate} events/s, {cpu} us CPU per event")
        return 0
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(
            f"{result.database}: {result.events} events to {result.clients} clients at {result.rate:.0f}/s, "
            f"every event once and in order: {result.complete}\n"
            f"  wahub    p50 {result.wahub.p50_ms} ms, p99 {result.wahub.p99_ms} ms, max {result.wahub.max_ms} ms\n"
            f"  baseline p50 {result.baseline.p50_ms} ms, p99 {result.baseline.p99_ms} ms, "
            f"max {result.baseline.max_ms} ms (bare asyncio queues, same pace)"
        )
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
