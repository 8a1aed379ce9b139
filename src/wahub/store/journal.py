"""The event journal: webhook bodies appended in groups, one transaction (one fsync) for every body that
arrived while the previous group was being written.

The webhook route awaits ``append`` and answers 200 only once its body is committed, so an acked event is
durable; grouping is what makes that cheap. There is no timer: a group is whatever queued up during the
last commit, so a lone webhook is written at once and a burst is written in a few large transactions.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from wahub.store import db
from wahub.store.models import WebhookEvent, utcnow

log = logging.getLogger(__name__)

MAX_GROUP = 2000


class JournalClosed(RuntimeError):
    """The journal is not running; the event was not stored."""


class EventJournal:
    def __init__(self, engine: AsyncEngine, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._max_group = max_group
        self._queue: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="event-journal")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def append(self, provider: str, body: bytes) -> None:
        """Return once ``body`` is committed; raise if it could not be (the caller must not ack then)."""
        if self._task is None or self._closing:
            raise JournalClosed("the event journal is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((provider, body, future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
                await self._write(group)
            if self._closing:
                return

    async def _write(self, group: list[tuple[str, bytes, asyncio.Future[None]]]) -> None:
        now = utcnow()
        rows = [{"provider": provider, "body": body, "received_at": now, "attempts": 0} for provider, body, _ in group]
        try:
            async with db.gate(self._engine).turn(), self._engine.begin() as conn:
                await conn.execute(sa.insert(WebhookEvent), rows)
        except Exception as exc:
            log.exception("could not store %d webhook events", len(group))
            for _, _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, _, future in group:
            if not future.done():
                future.set_result(None)

    @property
    def queued(self) -> int:
        return len(self._queue)
