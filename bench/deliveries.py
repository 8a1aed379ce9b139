"""Subscriber webhooks benchmark: what the deliverer (``worker/deliverer.py``) costs per delivery and at rest.

1. A fresh SQLite database in a temporary folder with ``--subscriptions`` subscriptions (default 371, what a
   fuzzer once made) to one subscriber, a bare aiohttp server in a process of its own that answers every POST
   with ``--status`` (default 500, a failing subscriber).
2. ``--events`` events (default 20) are written as ``subscriber_webhooks.emit`` writes them: one delivery per
   (event, subscription).
3. **drain**: the deliverer tries every delivery once (its backoff then puts them an hour away): CPU seconds of
   this process, and CPU milliseconds per delivery.
4. **at rest**: the worker's deliverer loop runs for ``--idle`` seconds (default 10) with nothing due, woken
   ``--wakes`` times a second (default 50) as webhooks arriving wake it: the share of a core it takes.

Usage: ``.venv/bin/python bench/deliveries.py [--subscriptions 371] [--events 20] [--json]``. Only talks to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-0123456789"

SUBSCRIBER = """
import sys
from aiohttp import web

async def answer(request):
    await request.read()
    return web.Response(status=int(sys.argv[2]), text="busy")

app = web.Application()
app.router.add_post("/events", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


@dataclass
class Result:
    subscriptions: int
    deliveries: int
    drain_cpu_s: float
    drain_wall_s: float
    cpu_ms_per_delivery: float
    idle_core_share: float


def log(message: str) -> None:
    print(f"[deliveries] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit("the subscriber did not start")


async def run(args: argparse.Namespace, folder: Path, port: int) -> Result:
    from wahub.store import db, migrate, subscriber_webhooks
    from wahub.store.crypto import Vault
    from wahub.store.models import WebhookSubscription
    from wahub.wakeups import Channel, Notifier
    from wahub.worker.deliverer import Deliverer
    from wahub.worker.runner import Worker

    url = f"sqlite:///{folder / 'wahub.db'}"
    migrate.upgrade(url)
    engine = db.create_engine(url)
    sessions = db.sessionmaker(engine)
    vault = Vault(SECRET_KEY)
    try:
        await wait_listening(port)
        async with db.transaction(sessions) as session:
            # Written directly: the API refuses more than subscriber_webhooks.MAX_SUBSCRIPTIONS.
            for n in range(args.subscriptions):
                sealed = subscriber_webhooks.seal(vault, subscriber_webhooks.new_secret())
                url = f"http://127.0.0.1:{port}/events"
                session.add(WebhookSubscription(url=url, events=[], description=f"s{n}", secret=sealed))
        async with db.transaction(sessions) as session:
            collected = await subscriber_webhooks.collector(session)
            for n in range(args.events):
                assert collected is not None
                collected.add(subscriber_webhooks.MESSAGE_RECEIVED, {"message_id": n, "text": {"body": "x" * 200}})
            deliveries = await subscriber_webhooks.emit(session, collected)
        log(f"{args.subscriptions} subscriptions, {deliveries} deliveries to a subscriber answering {args.status}")

        async with aiohttp.ClientSession() as http:
            deliverer = Deliverer(sessions, http, vault, base_delay=3600.0)
            cpu, wall = time.process_time(), time.monotonic()
            tried = 0
            while done := await deliverer.run_once():
                tried += done
            drain_cpu, drain_wall = time.process_time() - cpu, time.monotonic() - wall
            log(f"drain: {tried} tries in {drain_wall:.2f} s, {drain_cpu:.2f} CPU s")

            notifier = Notifier()
            stop = asyncio.Event()
            worker = Worker(notifier, deliverer=deliverer)
            task = asyncio.create_task(worker.run(stop))
            cpu, wall = time.process_time(), time.monotonic()
            while time.monotonic() - wall < args.idle:
                notifier.notify(Channel.EVENTS)
                await asyncio.sleep(1 / args.wakes)
            idle_share = (time.process_time() - cpu) / (time.monotonic() - wall)
            stop.set()
            await task
            log(f"at rest: {idle_share:.3f} of a core")
    finally:
        await engine.dispose()
    return Result(
        subscriptions=args.subscriptions,
        deliveries=deliveries,
        drain_cpu_s=round(drain_cpu, 3),
        drain_wall_s=round(drain_wall, 3),
        cpu_ms_per_delivery=round(drain_cpu * 1000 / max(tried, 1), 3),
        idle_core_share=round(idle_share, 4),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=371)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--status", type=int, default=500)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--wakes", type=float, default=50.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port), str(args.status)])
    try:
        with tempfile.TemporaryDirectory(prefix="bench-deliveries-") as folder:
            result = asyncio.run(run(args, Path(folder), port))
    finally:
        server.terminate()
        server.wait()
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        for key, value in asdict(result).items():
            print(f"{key:>22}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
