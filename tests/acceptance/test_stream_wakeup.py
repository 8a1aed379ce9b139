"""``wahub serve`` on SQLite streams what its processor child writes at once: the child wakes the parent's
stream reader through a pipe (``wakeups.PipeWaker``), not the reader's poll. The poll is set to an hour here, so
an event that the pipe did not announce would not arrive within the test's time."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_crash_safety import alive, children
from tests.acceptance.test_sandbox import Wahub, started
from tests.support import Sse, SseReader, free_port

NO_POLL = {"WAHUB_STREAM_POLL_MS": str(3_600_000)}  # an hour: only a wake-up brings an event in time
CONTACT = "14155550101"  # a simulated contact of the sandbox


@pytest.fixture
def wahub(tmp_path: Path) -> Iterator[Wahub]:
    process = Wahub(tmp_path, free_port(), NO_POLL)
    yield process
    process.stop()


def fakegraph_url(process: Wahub) -> str:
    """The sandbox's fakegraph, from the banner (it comes before the API key that ``started`` waits for)."""
    return process.wait_for(r"fake Meta Cloud API at (http://[^\s)]+)\)").group(1)


async def inbound_arrives(process: Wahub, key: str, fake: str, text: str) -> Sse:
    """Open a stream, have the simulated contact write ``text`` (a signed webhook from fakegraph), and return
    its ``message.created`` as the stream sent it."""
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=process.url, headers=auth) as client,
        client.stream("GET", "/api/v1/stream", timeout=90) as response,
    ):
        assert response.status_code == 200, await response.aread()
        events = SseReader(response)
        async with httpx.AsyncClient(base_url=fake) as graph:
            sent = await graph.post("/_fake/inbound", json={"from": CONTACT, "text": text})
            assert sent.status_code == 200, sent.text
        seen = await events.until(
            lambda e: e.event == "message.created" and e.data["content"].get("text", {}).get("body") == text,
            timeout=60,
        )
    return seen[-1]


async def processor_child(process: Wahub, other_than: int | None = None) -> int:
    """The pid of the live webhook processor child of ``process`` (another than ``other_than``)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in children(process.proc.pid):
            if pid != other_than and alive(pid) and "processor" in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        await asyncio.sleep(0.1)
    raise AssertionError("wahub serve runs no processor child")


async def test_an_inbound_message_written_by_the_processor_child_is_streamed_without_waiting_for_a_poll(
    wahub: Wahub,
) -> None:
    fake = fakegraph_url(wahub)
    key = started(wahub)
    got = await inbound_arrives(wahub, key, fake, "woken by the pipe")
    assert got.data["direction"] == "inbound" and got.data["why"] == "inbound"


async def test_a_processor_child_killed_and_restarted_still_wakes_the_stream(wahub: Wahub) -> None:
    fake = fakegraph_url(wahub)
    key = started(wahub)
    first = await processor_child(wahub)
    await inbound_arrives(wahub, key, fake, "before the kill")
    os.kill(first, signal.SIGKILL)
    second = await processor_child(wahub, other_than=first)  # the supervisor started another, with a new pipe
    got = await inbound_arrives(wahub, key, fake, "after the restart")
    assert got.data["direction"] == "inbound"
    assert wahub.proc.poll() is None and second in children(wahub.proc.pid)
