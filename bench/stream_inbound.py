"""Inbound webhook to live stream latency through a real ``wahub serve`` (issue 14 item 5; SPEC.md §7: live events
to 50 clients, p99 <= 200 ms): how long a customer's message takes from Meta's webhook to the inbox's screen.

1. A fresh data folder (SQLite), a configured account, an API key (``wahub apikey create``), and
   ``wahub serve`` (role ``all``: the processor runs in a child process) on a loopback port.
2. ``--clients`` (5) SSE clients (aiohttp) connected to ``/api/v1/stream``.
3. A warm-up: one message from each of ``--contacts`` (20) contacts (their contact rows and conversations are
   made), not measured.
4. ``--messages`` (300) signed inbound text webhooks posted to ``/webhooks/meta`` at ``--rate`` (50) a second,
   from the same contacts. Latency of a message at a client: from just before its POST to the moment the client
   parsed its ``message.created``; every client must get every message. Two parts are timed too: the
   webhook's ack (POST to its 200: before the processor), and ``written``: from the stream event's row being
   written (its ``at``, in the processor's transaction) to the client (the wake-up, the reader, SSE).
5. Same run, baseline: with ``--baseline-src DIR`` the same measurement runs first with ``PYTHONPATH=DIR``
   (another checkout's ``src``, e.g. a worktree of main before a change), then with this one's, ``--rounds``
   times alternately, so both see the same machine.

Prints p50/p95/p99/max per run and the 1-minute load average at its start and end (other work on the machine
shows there). Extra settings for the server: ``--setting WAHUB_X=V`` (repeatable; a checkout that does not
know a setting ignores it). Usage: ``.venv/bin/python bench/stream_inbound.py [--baseline-src
/tmp/wt-main/src] [--rounds 2] [--json]``. Only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
from serving import BenchError, free_port, wait_port  # bench/serving.py

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    src: str
    messages: int
    clients: int
    rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    written_p50_ms: float  # from the stream event's row written (its ``at``) to the client
    written_p99_ms: float
    load_start: float
    load_end: float
    complete: bool


def log(message: str) -> None:
    print(f"[stream_inbound] {message}", file=sys.stderr, flush=True)


def quantile(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def webhook(n: int, contact: int) -> bytes:
    sender = f"1415555{contact:04d}"
    message = {"from": sender, "id": f"wamid.bench{n:07d}", "timestamp": str(int(time.time())), "type": "text"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": f"Contact {contact}"}, "wa_id": sender}],
        "messages": [{**message, "text": {"body": f"bench {n}"}}],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def server_env(data_dir: Path, src: str | None, settings: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
    if src is not None:
        env["PYTHONPATH"] = src
    env.update(
        WAHUB_DATA_DIR=str(data_dir),
        WAHUB_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WAHUB_WABA_ID=WABA_ID,
        WAHUB_ACCESS_TOKEN="bench-token",
        WAHUB_APP_SECRET=APP_SECRET,
        WAHUB_SECRET_KEY="bench-secret-key-0123456789",
        WAHUB_GRAPH_URL="http://127.0.0.1:9",  # never called: nothing is sent
        WAHUB_LOG_LEVEL="WARNING",
        WAHUB_API_RATE_LIMIT="0",
    )
    for setting in settings:
        name, _, value = setting.partition("=")
        env[name] = value
    return env


async def measure(args: argparse.Namespace, base_url: str, key: str, src: str) -> Run:
    received: list[dict[int, float]] = [{} for _ in range(args.clients)]
    since_written: list[float] = []
    total = args.contacts + args.messages
    started: dict[int, float] = {}
    acks: list[float] = []
    load_start = os.getloadavg()[0]

    async def listen(http: aiohttp.ClientSession, mine: dict[int, float], ready: asyncio.Event) -> None:
        async with http.get("/api/v1/stream") as response:
            if response.status != 200:
                raise BenchError(f"the stream answered {response.status}")
            ready.set()
            kind = b""
            while len(mine) < total:
                line = await response.content.readline()
                if line.startswith(b"event:"):
                    kind = line[6:].strip()
                if kind != b"message.created" or not line.startswith(b"data:"):
                    continue  # the other kinds are not parsed: the clients share the bench's one core
                data = json.loads(line[5:])
                body = (data.get("content") or {}).get("text", {}).get("body", "")
                if data.get("kind") == "message.created" and body.startswith("bench "):
                    mine[int(body[6:])] = time.perf_counter()
                    written = datetime.fromisoformat(data["at"].replace("Z", "+00:00")).timestamp()
                    since_written.append(time.time() - written)

    async def post(http: aiohttp.ClientSession, n: int) -> None:
        body = webhook(n, n % args.contacts)
        started[n] = time.perf_counter()
        async with http.post("/webhooks/meta", data=body, headers=signed(body)) as response:
            if response.status != 200:
                raise BenchError(f"a webhook answered {response.status}: {await response.text()}")
        acks.append(time.perf_counter() - started[n])

    auth = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(base_url, headers=auth) as http, aiohttp.ClientSession(base_url) as meta:
        readies = [asyncio.Event() for _ in range(args.clients)]
        clients = [asyncio.create_task(listen(http, received[i], readies[i])) for i in range(args.clients)]
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 30)
        for n in range(args.contacts):  # warm-up: each contact's first message
            await post(meta, n)
        while min(len(mine) for mine in received) < args.contacts:
            await asyncio.sleep(0.05)
        acks.clear()
        since_written.clear()
        log(f"{args.clients} clients, warmed up; posting {args.messages} inbound messages at {args.rate:.0f}/s")
        posts = []
        begin = time.perf_counter()
        for i in range(args.messages):
            await asyncio.sleep(max(0.0, begin + i / args.rate - time.perf_counter()))
            posts.append(asyncio.create_task(post(meta, args.contacts + i)))
        await asyncio.gather(*posts)
        with contextlib.suppress(TimeoutError):  # an incomplete run is reported as such
            await asyncio.wait_for(asyncio.gather(*clients), 60)
    measured = range(args.contacts, total)
    latencies = sorted((mine[n] - started[n]) * 1000 for mine in received for n in measured if n in mine)
    if not latencies:
        raise BenchError("no client received a measured message")
    complete = all(all(n in mine for n in measured) for mine in received)
    ack = sorted(a * 1000 for a in acks)
    written = sorted(w * 1000 for w in since_written)
    return Run(
        src=src,
        messages=args.messages,
        clients=args.clients,
        rate=args.rate,
        p50_ms=round(statistics.median(latencies), 1),
        p95_ms=quantile(latencies, 0.95),
        p99_ms=quantile(latencies, 0.99),
        max_ms=round(latencies[-1], 1),
        ack_p50_ms=round(statistics.median(ack), 1),
        ack_p99_ms=quantile(ack, 0.99),
        written_p50_ms=round(statistics.median(written), 1),
        written_p99_ms=quantile(written, 0.99),
        load_start=round(load_start, 2),
        load_end=round(os.getloadavg()[0], 2),
        complete=complete,
    )


def one_run(args: argparse.Namespace, src: str | None) -> Run:
    work = Path(tempfile.mkdtemp(prefix="wahub-bench-stream-inbound-"))
    env = server_env(work / "data", src, args.setting)
    wahub = [sys.executable, "-m", "wahub"]
    where = subprocess.run([*wahub[:1], "-c", "import wahub; print(wahub.__file__)"], env=env, capture_output=True)
    shown = where.stdout.decode().strip().removesuffix("/wahub/__init__.py")
    try:
        for command in (["db", "upgrade"], ["apikey", "create", "--name", "bench"]):
            made = subprocess.run([*wahub, *command], env=env, cwd=work, capture_output=True)
            if made.returncode != 0:
                raise BenchError(f"wahub {' '.join(command)} failed: {made.stderr.decode()[-2000:]}")
        key = made.stdout.decode().strip().splitlines()[-1]
        port = free_port()
        logfile = work / "wahub.log"
        with open(logfile, "wb") as out:
            proc = subprocess.Popen([*wahub, "serve", "--port", str(port)], env=env, cwd=work, stdout=out, stderr=out)
        try:
            wait_port(port, proc, logfile, timeout=60)
            return asyncio.run(measure(args, f"http://127.0.0.1:{port}", key, shown))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--contacts", type=int, default=20)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-src", help="another checkout's src folder, measured first in each round")
    parser.add_argument("--setting", action="append", default=[], metavar="WAHUB_X=V")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs: list[Run] = []
    try:
        for _ in range(args.rounds):
            if args.baseline_src:
                runs.append(one_run(args, args.baseline_src))
            runs.append(one_run(args, os.environ.get("PYTHONPATH") or None))
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([asdict(run) for run in runs]))
    else:
        print(f"{args.messages} inbound messages at {args.rate:.0f}/s to {args.clients} SSE clients, ms")
        head = f"{'wahub from':30} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'ack p50/99':>11}"
        print(f"{head} {'written p50/99':>15}  load     all")
        for run in runs:
            ack = f"{run.ack_p50_ms}/{run.ack_p99_ms}"
            written = f"{run.written_p50_ms}/{run.written_p99_ms}"
            print(
                f"{run.src[-30:]:30} {run.p50_ms:7} {run.p95_ms:7} {run.p99_ms:7} {run.max_ms:7} {ack:>11} "
                f"{written:>15}  {run.load_start:.1f}-{run.load_end:.1f}  {run.complete}"
            )
    return 0 if all(run.complete for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
