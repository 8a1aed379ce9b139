"""Helpers the tiers share: free ports, in-loop HTTP servers, signing, waiting, reading server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from wahub import listen

DATA = Path(__file__).parent / "data"


def payload(file: str, name: str) -> dict[str, Any]:
    """A named real payload from tests/data/meta-webhooks/<file>.json."""
    value: dict[str, Any] = json.loads((DATA / "meta-webhooks" / f"{file}.json").read_text())[name]
    return value


def payload_sources() -> dict[str, dict[str, Any]]:
    """Every named real payload of tests/data by source: each meta-webhooks file by its stem, Meta's OpenAPI
    examples as "openapi", the payloads written from Meta's reference pages as "docs"."""
    sources: dict[str, dict[str, Any]] = {
        path.stem: json.loads(path.read_text()) for path in sorted((DATA / "meta-webhooks").glob("*.json"))
    }
    sources["openapi"] = json.loads((DATA / "meta-openapi-webhooks.json").read_text())
    sources["docs"] = json.loads((DATA / "meta-docs-webhooks.json").read_text())
    return sources


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its signal handlers, and quick to stop. uvicorn looks at ``should_exit`` every
    0.1 s, then sleeps 0.1 s before it waits for open connections in steps of 0.1 s: 0.2-0.3 s for each of the
    two or three servers a test runs, a fifth of the parallel run's time (docs/decisions.md)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield

    async def main_loop(self) -> None:
        # should_exit is looked at every 10 ms; on_tick's own work (the Date header) still runs every 0.1 s.
        ticks = 0
        while not self.should_exit:
            if ticks % 10 == 0 and await self.on_tick(ticks // 10):
                return
            ticks += 1
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # closes an idle connection; one mid-response closes once it is answered
        deadline = time.monotonic() + 10
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in self.server_state.tasks:
            task.cancel()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@contextlib.asynccontextmanager
async def running(app: Any, port: int | None = None, *, proxy_headers: bool = True) -> AsyncIterator[str]:
    """Serve ``app`` on a loopback port inside the test's event loop; yields its base URL. ``proxy_headers``:
    uvicorn's own (``wahub serve`` turns them off and lets its app apply them: ``App.trust_proxies``)."""
    sock = listen.tcp_socket()  # as wahub's own: without it each response waited 40 ms for a delayed ACK
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    sock.listen(512)
    server = _QuietServer(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", proxy_headers=proxy_headers)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy; fail with its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def prometheus_samples(text: str) -> dict[tuple[str, str], float]:
    """The samples of a Prometheus text exposition, by (name, labels as written); fails on a malformed line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            matched = _SAMPLE.match(line)
            assert matched is not None, f"not a Prometheus sample line: {line!r}"
            name, labels, value = matched.groups()
            found[name, labels or ""] = float(value)
    return found


@dataclass(frozen=True, slots=True)
class Sse:
    id: int | None
    event: str
    data: dict[str, Any]


class SseReader:
    """Reads server-sent events off a streaming response (comments, such as heartbeats, skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 15.0) -> Sse | None:
        """The next event; None when the server closed the stream."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Sse | None:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if not line:
                if "data" in fields:
                    raw_id = fields.get("id")
                    return Sse(
                        int(raw_id) if raw_id else None, fields.get("event", "message"), json.loads(fields["data"])
                    )
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        return None

    async def until(self, found: Any, timeout: float = 20.0) -> list[Sse]:
        """Events up to and including the first for which ``found(event)`` is true."""
        seen: list[Sse] = []

        async def read() -> list[Sse]:
            while True:
                event = await self._next()
                assert event is not None, f"the stream ended; seen: {seen}"
                seen.append(event)
                if found(event):
                    return seen

        return await asyncio.wait_for(read(), timeout)


@contextlib.contextmanager
def running_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` on a loopback port from a thread of its own (for synchronous tests that run the CLI, whose
    commands start their own event loop); yields its base URL."""
    sock = listen.loopback(128)
    server = _QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped while starting")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
