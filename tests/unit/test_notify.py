"""Wake-ups across processes: the parent's PipeWaker and the child's watch_pipe (over a real pipe)."""

from __future__ import annotations

import asyncio
import os

from wahub import wakeups
from wahub.wakeups import Channel, Notifier


async def test_notifications_in_one_loop_pass_become_one_byte() -> None:
    read_fd, write_fd = os.pipe()
    try:
        notifier = Notifier()
        waker = wakeups.PipeWaker(write_fd)
        notifier.forward(Channel.EVENTS, waker)
        for _ in range(500):
            notifier.notify(Channel.EVENTS)
        notifier.notify(Channel.OUTBOX)  # not forwarded
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert os.read(read_fd, 4096) == b"\0"
        notifier.unforward(Channel.EVENTS, waker)
        notifier.notify(Channel.EVENTS)
        await asyncio.sleep(0)
        os.set_blocking(read_fd, False)
        assert _pending(read_fd) == b""
    finally:
        os.close(read_fd)
        os.close(write_fd)


async def test_a_byte_wakes_the_channel_and_a_closed_pipe_stops_the_reader() -> None:
    read_fd, write_fd = os.pipe()
    notifier = Notifier()
    closed = asyncio.Event()
    try:
        wakeups.watch_pipe(read_fd, notifier, Channel.EVENTS, on_close=closed.set)
        waiting = asyncio.create_task(notifier.wait(Channel.EVENTS, timeout=5))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        os.write(write_fd, b"\0")
        await asyncio.wait_for(waiting, 1)
        assert not closed.is_set()
        os.close(write_fd)  # the parent is gone
        await asyncio.wait_for(closed.wait(), 1)
    finally:
        asyncio.get_running_loop().remove_reader(read_fd)
        os.close(read_fd)


async def test_a_full_pipe_does_not_block_the_writer() -> None:
    read_fd, write_fd = os.pipe()
    try:
        waker = wakeups.PipeWaker(write_fd)
        for _ in range(200_000):  # far more than a pipe holds (64 KiB)
            waker._write()
        assert len(_pending(read_fd)) > 0
    finally:
        os.close(read_fd)
        os.close(write_fd)


def _pending(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk
