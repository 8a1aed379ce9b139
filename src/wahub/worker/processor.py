"""The processor: turns stored webhook events into contacts, conversations, messages, statuses and account
events, in batches, after the ack.

A batch is one transaction that holds its events locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a
crash replays it whole and a second worker takes other events. It is applied in bulk (``worker/apply.py``);
if that fails, each event is applied alone in a savepoint, so one bad event cannot hold back its neighbours.
Nothing is stored twice: messages, statuses and account events are inserted under unique constraints.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain
from wahub.store import accounts, db, events, statuses
from wahub.webhook import meta
from wahub.worker import apply

log = logging.getLogger(__name__)


BATCH = 1000
# While webhooks are arriving, batches stay small so that a processor transaction (which holds SQLite's write
# lock and the event loop in between its awaits) delays an ack by a few milliseconds at most; the backlog is
# durable and is worked off at full batch size as soon as intake calms down.
BUSY_BATCH = 32
BUSY_PAUSE = 0.05
# The sweep for statuses whose message got its wamid in a concurrent transaction runs when idle, this often.
SWEEP_EVERY = 2.0


class Processor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        batch_size: int = BATCH,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self._sessions = sessions
        self._batch_size = batch_size
        self._busy = busy
        self._swept = 0.0

    async def run_once(self) -> int:
        """Process one batch; returns how much it did (0 when there was nothing to do)."""
        busy = self._busy is not None and self._busy()
        if busy:
            await asyncio.sleep(BUSY_PAUSE)
        async with db.transaction(self._sessions) as session:
            batch = await events.claim_batch(session, min(BUSY_BATCH, self._batch_size) if busy else self._batch_size)
            if batch:
                await self._process(session, batch)
                await events.settle(session, batch)
                return len(batch)
            if time.monotonic() - self._swept < SWEEP_EVERY:
                return 0
            self._swept = time.monotonic()
            return await statuses.attach_waiting(session)

    async def _process(self, session: AsyncSession, batch: Sequence[events.Claimed]) -> None:
        parsed: list[tuple[int, domain.ParsedWebhook]] = []
        for index, event in enumerate(batch):
            try:
                parsed.append((index, meta.parse(event.body)))
            except meta.MalformedPayload as exc:
                log.warning("webhook event rejected", extra={"event_id": event.id, "reason": str(exc)[:200]})
                event.processed(f"rejected: {exc}")
        known = apply.Accounts(await accounts.all_accounts(session))
        failed: set[int] = set()
        try:
            async with session.begin_nested():
                counts = await apply.apply_batch(session, known, parsed)
        except Exception:
            log.exception("batch of %d events failed; applying them one by one", len(parsed))
            counts, failed = await self._one_by_one(session, known, batch, parsed)
        for index, _ in parsed:
            if index not in failed:
                batch[index].processed(_summary(counts.get(index, Counter())))

    async def _one_by_one(
        self,
        session: AsyncSession,
        known: apply.Accounts,
        batch: Sequence[events.Claimed],
        parsed: list[tuple[int, domain.ParsedWebhook]],
    ) -> tuple[apply.Counts, set[int]]:
        counts: apply.Counts = {}
        failed: set[int] = set()
        for index, value in parsed:
            try:
                async with session.begin_nested():
                    counts.update(await apply.apply_batch(session, known, [(index, value)]))
            except Exception as exc:
                log.exception("webhook event failed", extra={"event_id": batch[index].id})
                batch[index].failed_attempt(f"{type(exc).__name__}: {exc}")
                failed.add(index)
        return counts, failed


def _summary(counts: Counter[str]) -> str:
    if not counts:
        return "ok: nothing to store"
    return "ok" + "".join(f"; {n} {what}" for what, n in sorted(counts.items()))
