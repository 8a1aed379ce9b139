"""When each API key was last used, for ``wahub apikey list``: noted in memory on every authenticated request
and written every ``WRITE_EVERY`` seconds (and when the app stops), so a request never waits for the write
(``store/flushing.Periodic``)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import apikeys, flushing
from wahub.store.models import utcnow

log = logging.getLogger(__name__)

WRITE_EVERY = 60.0


class KeyUsage:
    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}  # key hash -> last request
        self._periodic: flushing.Periodic[dict[str, datetime], int] = flushing.Periodic(
            take=self._take,
            write=apikeys.mark_used,
            give_back=self._give_back,
            every=WRITE_EVERY,
            name="key-usage",
            what="when API keys were last used",
        )

    def seen(self, key_hash: str) -> None:
        self._seen[key_hash] = utcnow()

    def _take(self) -> dict[str, datetime]:
        taken, self._seen = self._seen, {}
        return taken

    def _give_back(self, taken: dict[str, datetime]) -> None:
        for key_hash, at in taken.items():  # kept for the next write, unless a newer request came
            self._seen.setdefault(key_hash, at)

    async def write(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Write what was noted since the last write; returns how many keys it updated."""
        return await self._periodic.flush(sessions) or 0

    def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._periodic.start(sessions)

    async def stop(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        try:
            await self._periodic.stop(sessions)
        except Exception as exc:
            log.warning("could not write when API keys were last used (%s)", type(exc).__name__)
