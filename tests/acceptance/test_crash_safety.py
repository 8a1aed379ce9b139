"""``kill -9`` of wahub during a burst of 10,000 signed webhooks: after a restart, every event that was
answered 200 is stored once and processed once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.support import free_port
from wahub.webhook.signature import meta_signature

APP_SECRET = "crash-test-app-secret"
PHONE_NUMBER_ID = "1122334455667"
EVENTS = 10_000
KILL_AFTER = 3_000


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
    env.update(
        WAHUB_DATA_DIR=str(data_dir),
        WAHUB_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WAHUB_WABA_ID="1234567890987654321",
        WAHUB_ACCESS_TOKEN="crash-test-token",
        WAHUB_APP_SECRET=APP_SECRET,
        WAHUB_SECRET_KEY="crash-test-secret-key-0123456789",
        WAHUB_GRAPH_URL="http://127.0.0.1:9",
        WAHUB_LOG_LEVEL="WARNING",
    )
    return env


def start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "wahub", "serve", "--port", str(port)],
        cwd=data_dir.parent,
        env=server_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "wahub exited"
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("wahub did not become ready")


def body(n: int) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1234567890987654321",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": f"User {n % 50}"}, "wa_id": f"1415555{n % 50:04d}"}],
                            "messages": [
                                {
                                    "from": f"1415555{n % 50:04d}",
                                    "id": f"wamid.crash{n:06d}",
                                    "timestamp": "1700000000",
                                    "type": "text",
                                    "text": {"body": f"message {n}"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


async def burst(url: str, proc: subprocess.Popen[bytes]) -> set[int]:
    """Post EVENTS webhooks, 64 at a time; kill -9 the server once KILL_AFTER are acked. Returns the acked."""
    acked: set[int] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(EVENTS):
        queue.put_nowait(n)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            raw = body(n)
            headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
            try:
                async with http.post(f"{url}/webhooks/meta", data=raw, headers=headers) as response:
                    if response.status == 200:
                        acked.add(n)
            except (TimeoutError, aiohttp.ClientError):
                continue
            if len(acked) >= KILL_AFTER and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=64)) as http:
        await asyncio.gather(*(worker(http) for _ in range(64)))
    return acked


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux's /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


async def processor_child(proc: subprocess.Popen[bytes]) -> int:
    """The pid of the webhook processor that ``wahub serve`` starts as its child."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for pid in children(proc.pid):
            if "processor" in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        await asyncio.sleep(0.1)
    raise AssertionError("wahub serve started no processor child")


def unprocessed(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_events WHERE processed_at IS NULL").fetchone()[0])


async def test_kill_9_during_a_burst_loses_no_acked_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start(data_dir, port)
    try:
        await wait_ready(url, first)
        child = await processor_child(first)
        acked = await burst(url, first)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    assert KILL_AFTER <= len(acked) < EVENTS, len(acked)
    # Its processor notices that the parent is gone (the wake-up pipe closes) and stops: no orphan keeps running.
    deadline = time.monotonic() + 15
    while alive(child) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not alive(child), "the processor child outlived its killed parent"

    second = start(data_dir, port)
    try:
        await wait_ready(url, second)
        db_path = data_dir / "wahub.db"
        events_path = data_dir / "wahub-events.db"  # the events journal's own file (db.events_url)
        deadline = time.monotonic() + 60
        while unprocessed(events_path) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert unprocessed(events_path) == 0
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=15)

    with sqlite3.connect(events_path) as conn:
        stored = [bytes(row[0]) for row in conn.execute("SELECT body FROM webhook_events")]
        results = {row[0].split(";")[0] for row in conn.execute("SELECT result FROM webhook_events")}
    with sqlite3.connect(db_path) as conn:
        wamids = [row[0] for row in conn.execute("SELECT wamid FROM messages")]
    assert len(stored) == len(set(stored)), "an event was stored twice"
    missing = [n for n in acked if body(n) not in set(stored)]
    assert not missing, f"{len(missing)} acked events were lost, e.g. {missing[:5]}"
    assert len(wamids) == len(set(wamids)), "a message was stored twice"
    assert {f"wamid.crash{n:06d}" for n in acked} <= set(wamids)
    assert results == {"ok"}
