"""Wake-ups between the parts of wahub: the webhook route wakes the processor, the API wakes the sender.
Not part of store/: nothing here is persisted; it imports nothing of wahub, so api/ and worker/ both may use it.

Within one process a wake-up is an ``asyncio.Event``. ``wahub serve`` runs the processor in a child process
(see ``runtime.py``), with a pipe each way: the parent forwards ``Channel.EVENTS`` (webhooks to process) to the
child, and the child tells the parent ``Channel.STREAM`` (it committed live stream events, which the parent's
stream reader, ``api/live.Hub``, sends to its clients). A writer (``PipeWaker``) sends one byte per event-loop
pass however many wake-ups came in it (or, given a gap, per gap), and never blocks; the reader (``watch_pipe``)
turns bytes back into wake-ups. Parts in other processes poll, so a lost wake-up only costs a poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections.abc import Callable


async def wait_set(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it is set. Every wait on an event with a
    timeout goes through here, not ``asyncio.wait_for``: on Python 3.11, wait_for swallows a cancellation that
    arrives in the loop pass where the event is set (it returns the event's result instead), and a task stopped
    by cancelling it then runs on, and whoever awaits it waits forever."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


class Channel(enum.StrEnum):
    EVENTS = "events"
    OUTBOX = "outbox"
    STREAM = "stream"  # live stream events committed in another process (the processor child)


class Notifier:
    def __init__(self) -> None:
        self._events = {channel: asyncio.Event() for channel in Channel}
        self._listeners: dict[Channel, list[Callable[[], None]]] = {channel: [] for channel in Channel}
        self._last: dict[Channel, float] = {channel: 0.0 for channel in Channel}

    def notify(self, channel: Channel) -> None:
        self._events[channel].set()
        self._last[channel] = time.monotonic()
        for listener in self._listeners[channel]:
            listener()

    def since_last(self, channel: Channel) -> float:
        """Seconds since ``channel`` was last notified."""
        return time.monotonic() - self._last[channel]

    def forward(self, channel: Channel, listener: Callable[[], None]) -> None:
        """Also call ``listener`` on every notification of ``channel`` (it must not block)."""
        self._listeners[channel].append(listener)

    def unforward(self, channel: Channel, listener: Callable[[], None]) -> None:
        self._listeners[channel].remove(listener)

    async def wait(self, channel: Channel, timeout: float) -> None:
        """Return when ``channel`` is notified or ``timeout`` seconds pass, whichever comes first."""
        event = self._events[channel]
        await wait_set(event, timeout)
        event.clear()


class PipeWaker:
    """The writing end of a wake-up pipe (call it in the event loop's thread). Calls within one event-loop pass
    are coalesced into one byte, and with a ``gap`` (seconds) bytes are at least that far apart: a call sooner
    writes its byte when the gap has passed, so the last wake-up is never lost, only delayed. It never blocks
    nor raises: a full pipe already holds a wake-up, and a closed one means the reader is gone (it is restarted
    elsewhere, or the process is stopping)."""

    def __init__(self, fd: int, gap: float = 0.0) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._gap = gap
        self._pending = False
        self._written = -gap  # time.monotonic() of the last byte

    def __call__(self) -> None:
        if not self._pending and self._fd >= 0:
            self._pending = True
            loop = asyncio.get_running_loop()
            wait = self._written + self._gap - time.monotonic()
            if wait > 0:
                loop.call_later(wait, self._write)
            else:
                loop.call_soon(self._write)

    def _write(self) -> None:
        self._pending = False
        if self._fd < 0:  # closed since the call: its number may belong to another file by now
            return
        if self._gap:
            self._written = time.monotonic()
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._fd, b"\0")

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def watch_pipe(
    fd: int, notifier: Notifier, channel: Channel, on_close: Callable[[], None] | None = None
) -> Callable[[], None]:
    """Notify ``channel`` whenever bytes arrive on ``fd``. When the writer has gone (the pipe reads end-of-file:
    the process at the other end exited, even by ``kill -9``), stop watching, close ``fd`` and call
    ``on_close``. Returns what stops watching and closes ``fd`` sooner (it may be called more than once)."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    watching = True

    def unwatch() -> None:
        nonlocal watching
        if watching:
            watching = False
            loop.remove_reader(fd)
            os.close(fd)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if data:
            notifier.notify(channel)
            return
        unwatch()
        if on_close is not None:
            on_close()

    loop.add_reader(fd, readable)
    return unwatch
