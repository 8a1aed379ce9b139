"""Forgetting what wahub keeps only for a while, once an hour, in the loop of the webhook deliverer (no loop of
its own: ``runner.Worker`` runs ``Pruner.run_due`` before the deliverer's steps):

- subscriber webhook deliveries done (delivered or failed) 30 days after they were written (``KEEP``);
- processed webhook bodies of the event journal ``WAHUB_RAW_EVENT_DAYS`` after they were processed (0: kept
  forever). Messages, statuses and account events keep their own raw JSON; only the journal's copy goes;
- live stream events (``store/stream.py``) after ``stream.KEEP`` (24 hours): a client that reconnects later is
  told to resync.

Each chunk (``events.prune``, ``subscriber_webhooks.prune``: at most 1,000 rows) is a transaction of its own, so the
SQLite writer is never held long: the webhook path writes to the events file too. Freed pages of a SQLite file
are reused by the rows that come next; the file does not shrink (``docs/architecture.md`` has the figures).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import db, events, stream, stream_events, subscriber_webhooks
from wahub.store.models import utcnow

log = logging.getLogger(__name__)

KEEP = timedelta(days=30)  # deliveries done are kept this long, to be listed and replayed
EVERY = 3600.0  # seconds between two prunes
PAUSE = 0.01  # seconds between two chunks


@dataclass(frozen=True, slots=True)
class Pruned:
    deliveries: int
    events: int
    stream_events: int = 0


class Pruner:
    """``sessions``: the main database's; ``event_sessions``: the journal's (the same on PostgreSQL)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        event_sessions: async_sessionmaker[AsyncSession],
        *,
        raw_event_days: int,
    ) -> None:
        self._sessions = sessions
        self._events = event_sessions
        self._raw_events_kept = timedelta(days=raw_event_days) if raw_event_days > 0 else None
        self._last = -EVERY

    async def run_due(self) -> None:
        """Prune if the last prune was an hour ago or more (or never, in this process)."""
        if time.monotonic() - self._last < EVERY:
            return
        self._last = time.monotonic()
        pruned = await self.prune(utcnow())
        if pruned.deliveries or pruned.events or pruned.stream_events:
            log.info(
                "forgot old subscriber webhook deliveries, webhook bodies and stream events",
                extra={
                    "deliveries": pruned.deliveries,
                    "webhook_events": pruned.events,
                    "stream_events": pruned.stream_events,
                },
            )

    async def prune(self, now: datetime) -> Pruned:
        """Delete, chunk after chunk, what is past its time at ``now``."""
        before = now - KEEP
        deliveries = await _in_chunks(self._sessions, lambda session: subscriber_webhooks.prune(session, before))
        forgotten = 0
        if self._raw_events_kept is not None:
            processed_before = now - self._raw_events_kept
            forgotten = await _in_chunks(self._events, lambda session: events.prune(session, processed_before))
        stream_before = now - stream.KEEP
        streamed = await _in_chunks(self._sessions, lambda session: stream_events.prune(session, stream_before))
        return Pruned(deliveries, forgotten, streamed)


async def _in_chunks(
    sessions: async_sessionmaker[AsyncSession], chunk: Callable[[AsyncSession], Awaitable[int]]
) -> int:
    total = 0
    while True:
        async with db.transaction(sessions) as session:
            done = await chunk(session)
        if done == 0:
            return total
        total += done
        # A breath between chunks, in which the webhook path (which retries every 2 ms at most) takes the lock.
        await asyncio.sleep(PAUSE)
