"""Periodic flushing: what a process notes in memory on a hot path (metric counts, when each API key was last
used) is written to the database every few seconds, in a short transaction of its own, and once more when the
process stops. The hot path never waits for a write; a write that fails gives what it took back, to go with
the next one. wahub's one such mechanism: ``counters.Flusher`` and ``api/usage.KeyUsage`` are built on it.

A new kind of gathered state is its three functions::

    periodic = flushing.Periodic(
        take=gathered.take,                  # what was noted since the last write (falsy: nothing to write)
        write=store_module.add,              # (session, taken) -> result, inside the flush's transaction
        give_back=gathered.give_back,        # the write failed: keep ``taken`` for the next one
        every=5.0, name="metric-flusher", what="metrics",
    )
    periodic.start(sessions); ...; await periodic.stop(sessions)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import db

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Periodic(Generic[T, R]):
    """Writes what ``take`` gives every ``every`` seconds (a task named ``name``) and at ``stop``."""

    def __init__(
        self,
        *,
        take: Callable[[], T],
        write: Callable[[AsyncSession, T], Awaitable[R]],
        give_back: Callable[[T], None],
        every: float,
        name: str,
        what: str,
    ) -> None:
        self._take = take
        self._write = write
        self._give_back = give_back
        self.every = every
        self._name = name
        self._what = what  # for the log: "could not write <what>"
        self._task: asyncio.Task[None] | None = None

    async def flush(self, sessions: async_sessionmaker[AsyncSession]) -> R | None:
        """Write what was gathered since the last write, now; None when there was nothing. Raises if the write
        failed, having given it back."""
        taken = self._take()
        if not taken:
            return None
        try:
            async with db.transaction(sessions) as session:
                return await self._write(session, taken)
        except Exception:
            # The database is away for now; what was taken waits in memory for the next flush.
            self._give_back(taken)
            raise

    def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(sessions), name=self._name)

    async def stop(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Stop the timer and write what is left (raises if that last write fails)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(sessions)

    async def _run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.flush(sessions)
            except Exception as exc:
                log.warning("could not write %s; keeping them for the next try (%s)", self._what, type(exc).__name__)
