"""The sender's results, recorded in batches: whatever finished while the previous transaction ran goes in the
next, so at 1,000 sends/s there is one transaction per ~50 sends instead of one per few. Moved as it was from
``worker/sender.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import batcher, errors
from wahub.store import accounts, db, messages, outbox, subscriber_webhooks

log = logging.getLogger(__name__)

# Results are written at most this often: one transaction per ~50 sends at 1,000/s instead of one per few.
RECORD_EVERY = 0.05
MAX_BATCH = 10_000  # results per transaction: far more than finish in RECORD_EVERY


@dataclass(frozen=True, slots=True)
class Done:
    job_id: int
    message_id: int
    wamid: str | None  # None for a read receipt


@dataclass(frozen=True, slots=True)
class Again:
    job_id: int
    message_id: int
    when: datetime
    error: str | None
    counted: bool  # False when nothing was sent: the claim gives its attempt back
    maybe_sent: bool = False  # the provider's answer was lost: the message may arrive twice
    awaits_status: bool = False  # and it waits for its status before it goes again (``outbox.claim``)


@dataclass(frozen=True, slots=True)
class Failed:
    job_id: int
    message_id: int | None  # None for a read receipt: the inbound message stays as it is
    error: errors.ProviderError


@dataclass(frozen=True, slots=True)
class Paused:
    account_id: int
    reason: str


Result = Done | Again | Failed | Paused


class Recorder:
    """Writes results in batches (``batcher.Batcher``, lingering ``RECORD_EVERY`` after the first result): a
    batch that fails to write is kept and written again a second later, ahead of newer results. ``written``, if
    set, is called after each batch is committed (it must not block)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], holder: str) -> None:
        self._sessions = sessions
        self._holder = holder
        self.written: Callable[[], None] | None = None
        self._batcher: batcher.Batcher[Result, None] = batcher.Batcher(
            self._write, max_batch=MAX_BATCH, linger=RECORD_EVERY, retry_after=1.0, name="sender-recorder"
        )
        self._last: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Nothing to start: the writer starts with the first result."""

    def put(self, item: Result) -> None:
        try:
            self._last = self._batcher.put(item)
        except batcher.BatcherClosed:
            # A send cancelled at stop, reporting after the last write: its job stays claimed, and the next holder
            # of the number sends it again, flagged as a possible duplicate (as for a send cut off mid-flight).
            log.warning("a send result came after the sender stopped; its job is left to the next holder")

    @property
    def last(self) -> asyncio.Future[None] | None:
        """Resolved once the last result put so far is written, and with it every one put before it (batches
        are written in order, a failed one again first)."""
        return self._last

    async def close(self) -> None:
        """Write every result put so far."""
        await self._batcher.close()

    async def _write(self, batch: list[Result]) -> None:
        done = [r for r in batch if isinstance(r, Done)]
        again = [r for r in batch if isinstance(r, Again)]
        failed = [r for r in batch if isinstance(r, Failed)]
        written = {r.message_id for r in done if r.wamid is not None} | {r.message_id for r in again if r.maybe_sent}
        written |= {r.message_id for r in failed if r.message_id is not None}
        async with db.transaction(self._sessions) as session:
            await messages.lock_in_order(session, written)
            out = await subscriber_webhooks.collector(session)
            await messages.record_accepted(session, [(r.message_id, r.wamid) for r in done if r.wamid is not None], out)
            await outbox.complete_many(session, self._holder, [r.job_id for r in done])
            await outbox.pending_again(
                session, self._holder, [(r.job_id, r.when, r.error, r.counted, r.awaits_status) for r in again]
            )
            await messages.flag_possible_duplicates(session, [r.message_id for r in again if r.maybe_sent])
            for r in failed:
                if r.message_id is not None:
                    message = await messages.get(session, r.message_id)
                    messages.record_failure(message, r.error.code, r.error.title, r.error.details_text)
                    if out is not None:
                        error = (r.error.code, r.error.title, r.error.details_text)
                        data = subscriber_webhooks.message_status(
                            message.id, message.wamid, "failed", message.failed_at, error
                        )
                        out.add(subscriber_webhooks.MESSAGE_STATUS, data)
            await outbox.fail_many(
                session, self._holder, [(r.job_id, f"{r.error.code or '-'}: {r.error.message}") for r in failed]
            )
            for paused in (r for r in batch if isinstance(r, Paused)):
                await accounts.pause_sending(session, paused.account_id, paused.reason)
            await subscriber_webhooks.emit(session, out)
        if self.written is not None:
            self.written()
