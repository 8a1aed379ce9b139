"""Wake-ups across processes: PipeWaker, the writing end, and watch_pipe, the reading end (over a real pipe)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

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


async def test_with_a_gap_bytes_are_that_far_apart_and_the_last_wake_up_still_comes() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    waker = wakeups.PipeWaker(write_fd, gap=0.2)
    try:
        waker()
        await asyncio.sleep(0.01)
        assert _pending(read_fd) == b"\0"  # the first at once
        for _ in range(5):  # a stream of wake-ups within the gap
            waker()
            await asyncio.sleep(0.01)
        assert _pending(read_fd) == b""
        await asyncio.sleep(0.25)
        assert _pending(read_fd) == b"\0"  # one byte for all of them, once the gap has passed
        await asyncio.sleep(0.25)
        assert _pending(read_fd) == b""
        waker()  # after a quiet gap: at once again
        await asyncio.sleep(0.01)
        assert _pending(read_fd) == b"\0"
    finally:
        waker.close()
        os.close(read_fd)


async def test_a_byte_wakes_the_channel_and_a_closed_pipe_stops_the_reader() -> None:
    read_fd, write_fd = os.pipe()
    notifier = Notifier()
    closed = asyncio.Event()
    unwatch = wakeups.watch_pipe(read_fd, notifier, Channel.EVENTS, on_close=closed.set)
    try:
        waiting = asyncio.create_task(notifier.wait(Channel.EVENTS, timeout=5))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        os.write(write_fd, b"\0")
        await asyncio.wait_for(waiting, 1)
        assert not closed.is_set()
        os.close(write_fd)  # the parent is gone
        await asyncio.wait_for(closed.wait(), 1)
        with pytest.raises(OSError):  # the reader closed its end
            os.fstat(read_fd)
    finally:
        unwatch()  # done already: nothing happens


async def test_unwatching_stops_the_wake_ups_and_closes_the_pipe() -> None:
    read_fd, write_fd = os.pipe()
    notifier = Notifier()
    try:
        unwatch = wakeups.watch_pipe(read_fd, notifier, Channel.STREAM)
        os.write(write_fd, b"\0")
        await asyncio.wait_for(notifier.wait(Channel.STREAM, timeout=5), 1)  # watched: it wakes
        unwatch()
        unwatch()
        with pytest.raises(BrokenPipeError):  # no reader is left
            os.write(write_fd, b"\0")
    finally:
        os.close(write_fd)


async def test_a_writer_whose_reader_is_gone_neither_raises_nor_blocks() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # the other process died
    waker = wakeups.PipeWaker(write_fd)
    try:
        waker()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        waker._write()  # nothing raised
    finally:
        waker.close()


async def test_a_wake_up_pending_when_the_writer_closes_is_not_written_to_another_file(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    waker = wakeups.PipeWaker(write_fd)
    waker()  # its byte is written at the next loop pass
    waker.close()
    other = tmp_path / "other"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT)  # takes the lowest free number: the closed writer's
    try:
        assert fd == write_fd
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert other.read_bytes() == b""
    finally:
        os.close(fd)
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


async def test_a_wait_cancelled_as_its_event_is_set_is_cancelled() -> None:
    """asyncio.wait_for (Python 3.11) returns the event's result instead: a loop stopped that way runs on."""
    event = asyncio.Event()
    returned: list[bool] = []

    async def loop() -> None:
        while True:
            returned.append(await wakeups.wait_set(event, 1.0))
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    event.set()
    task.cancel()
    await asyncio.sleep(0.05)
    assert task.cancelled(), f"the loop ran on after its cancellation, its waits returning {returned}"


async def test_a_wait_says_whether_its_event_was_set() -> None:
    event = asyncio.Event()
    assert await wakeups.wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wakeups.wait_set(event, 5.0) is True
