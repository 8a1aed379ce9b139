"""The live stream's fan-out in one web process: one reader of the stream's table (``store/stream.py``) hands each
new event to every open ``GET /api/v1/stream`` connection.

The table is the truth; wake-ups only say "read now":
- a commit in this process that wrote events (``stream.on_commit``: the API's sends, the sender's recorder, and
  the processor when it runs in this process);
- ``Channel.STREAM`` of the process's notifier: the processor child of ``wahub serve`` committed events (its
  pipe to the parent, ``wakeups.PipeWaker``, one byte per burst);
- on PostgreSQL, ``NOTIFY wahub_stream`` from any process (one listening psycopg connection per web process,
  reconnected when it drops);
- a poll (``WAHUB_STREAM_POLL_MS``, 1 s), a safety net: for notifications lost while the listening connection
  was down, a child killed between its commit and its byte, and processes on SQLite that ``wahub serve`` did
  not start (``--role web`` beside a ``--role worker``), which nothing else wakes.

Memory per connection is bounded: each has a queue of at most ``queue_size`` events; a connection that falls
further behind is told to resync (``Subscription.overflowed``) and closed, and its queue is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wahub.store import stream, stream_events
from wahub.wakeups import Channel, Notifier, wait_set

log = logging.getLogger(__name__)

PAGE = 500
RETRY = 1.0  # seconds before reading again after a failed read


class Subscription:
    """One connection's queue of events to send: bounded; past the bound it is ``overflowed`` for good."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._events: deque[stream_events.Event] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False

    def offer(self, events: Sequence[stream_events.Event]) -> None:
        if self.overflowed:
            return
        if len(self._events) + len(events) > self._size:
            self.overflowed = True
            self._events.clear()
        else:
            self._events.extend(events)
        self._ready.set()

    async def take(self, timeout: float) -> list[stream_events.Event]:
        """What arrived (waiting up to ``timeout`` seconds for something); empty after the timeout."""
        if not self._events and not self.overflowed:
            await wait_set(self._ready, timeout)
        self._ready.clear()
        taken = list(self._events)
        self._events.clear()
        return taken


class Hub:
    """Reads new stream events once per wake-up and offers them to every subscription. ``notifier``: the
    process's, whose ``Channel.STREAM`` wakes it; ``poll``, ``heartbeat``: seconds; ``queue_size``: events per
    subscription (the three from settings, ``WAHUB_STREAM_*``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        readers: async_sessionmaker[AsyncSession],
        notifier: Notifier,
        *,
        poll: float,
        queue_size: int,
        heartbeat: float,
    ) -> None:
        self._engine = engine
        self._readers = readers
        self._notifier = notifier
        self._postgres = engine.dialect.name == "postgresql"
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self.poll = poll
        self.last = 0
        self._subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._undo_commit: Callable[[], None] = lambda: None
        self.listening = asyncio.Event()  # set once the PostgreSQL listener is connected (tests wait for it)

    async def start(self) -> None:
        async with self._readers() as session, session.begin():
            self.last = await stream_events.last_id(session)
        loop = asyncio.get_running_loop()
        self._undo_commit = stream.on_commit(self._engine, lambda: _call_soon(loop, self._wake.set))
        self._notifier.forward(Channel.STREAM, self.wake)
        self._tasks.append(asyncio.create_task(self._run(), name="stream-hub"))
        if self._postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="stream-listen"))
        else:
            self.listening.set()

    async def stop(self) -> None:
        self._undo_commit()
        self._undo_commit = lambda: None
        with contextlib.suppress(ValueError):  # not started
            self._notifier.unforward(Channel.STREAM, self.wake)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # a cancellation of stop() itself still raises
        self._tasks.clear()

    @property
    def connections(self) -> int:
        """How many connections are subscribed."""
        return len(self._subscriptions)

    def subscribe(self) -> Subscription:
        """A new subscription: it receives every event read after now (ids above ``self.last``)."""
        subscription = Subscription(self.queue_size)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await wait_set(self._wake, self.poll)
            self._wake.clear()
            try:
                await self._read_new()
            except Exception:
                log.exception("reading the stream's events failed; trying again")
                await asyncio.sleep(min(self.poll, RETRY))

    async def _read_new(self) -> None:
        if not self._subscriptions:
            # No one to hand events to (the usual case during a campaign without an inbox open): only move past
            # them, by the counter, rather than reading and decoding each. A subscription made meanwhile gets
            # every event after the ``last`` it saw, read as usual.
            async with self._readers() as session, session.begin():
                last = await stream_events.last_id(session)
            if not self._subscriptions:
                self.last = max(self.last, last)
                return
        while True:
            async with self._readers() as session, session.begin():
                events = await stream_events.read(session, self.last, PAGE)
            if not events:
                return
            self.last = events[-1].id
            for subscription in list(self._subscriptions):
                subscription.offer(events)
                if subscription.overflowed:  # its connection ends (or never started): nothing more to queue
                    self._subscriptions.discard(subscription)
            if len(events) < PAGE:
                return

    async def _listen(self) -> None:
        """LISTEN on PostgreSQL, waking the reader on each notification; reconnects after a second."""
        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {stream.CHANNEL}")
                    self.listening.set()
                    self._wake.set()  # whatever was written while no one listened
                    async for _ in conn.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError):
                log.warning("the stream's LISTEN connection failed; reconnecting in 1 s", exc_info=True)
            self.listening.clear()
            await asyncio.sleep(1.0)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(callback)
