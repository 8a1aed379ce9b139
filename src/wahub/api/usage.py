"""When each API key was last used, for ``wahub apikey list``: noted in memory on every authenticated request
and written every ``WRITE_EVERY`` seconds (and when the app stops), so a request never waits for the write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import apikeys, db
from wahub.store.models import utcnow

log = logging.getLogger(__name__)

WRITE_EVERY = 60.0


class KeyUsage:
    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}  # key hash -> last request
        self._task: asyncio.Task[None] | None = None

    def seen(self, key_hash: str) -> None:
        self._seen[key_hash] = utcnow()

    async def write(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Write what was noted since the last write; returns how many keys it updated."""
        if not self._seen:
            return 0
        taken, self._seen = self._seen, {}
        try:
            async with db.transaction(sessions) as session:
                return await apikeys.mark_used(session, taken)
        except Exception:
            for key_hash, at in taken.items():  # kept for the next write, unless a newer request came
                self._seen.setdefault(key_hash, at)
            raise

    def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(sessions), name="key-usage")

    async def stop(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.write(sessions)
        except Exception as exc:
            log.warning("could not write when API keys were last used (%s)", type(exc).__name__)

    async def _run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        while True:
            await asyncio.sleep(WRITE_EVERY)
            try:
                await self.write(sessions)
            except Exception as exc:
                log.warning("could not write when API keys were last used; trying later (%s)", type(exc).__name__)
