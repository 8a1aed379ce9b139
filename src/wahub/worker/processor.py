"""The processor: turns stored webhook events into contacts, conversations, messages, statuses and account
events, in batches, after the ack.

On PostgreSQL a batch is one transaction that holds its events locked (``FOR UPDATE SKIP LOCKED``), so a crash
replays it whole and a second worker, or this processor's second loop (``lanes``), takes other events. On
SQLite the events are journaled in a file of their own and are settled after the batch commits (see
``Processor``). It is applied in bulk (``worker/apply.py``); if that fails, each event is applied alone in a
savepoint, so one bad event cannot hold back its neighbours.
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
from wahub.store import accounts, counters, db, events, statuses, subscriber_webhooks
from wahub.store.models import utcnow
from wahub.webhook import meta, twilio
from wahub.webhook.sources import Source
from wahub.worker import apply
from wahub.worker.outcome import Held, Outcome

log = logging.getLogger(__name__)


BATCH = 1000
# While webhooks arrive in a storm (measured: arrivals per second above STORM times the rate of its last full
# batch), a processor that shares the machine with intake works BUSY_SHARE of the time and leaves the rest to
# the acks: it could not keep up anyway, the backlog is durable and is worked off at full speed once intake
# calms down. Below that it never pauses, however far behind a burst left it: pausing as soon as arrivals
# passed its rate (STORM 1) halved it exactly where it was nearly keeping up, and the sustained end-to-end rate
# fell to what it could do at half time (docs/decisions.md).
BUSY_SHARE = 0.5
STORM = 2.0
RATE_WINDOW = 0.5
# The sweep for statuses whose message got its wamid in a concurrent transaction runs when idle, this often.
SWEEP_EVERY = 2.0
# Batches in flight at once on PostgreSQL: while one waits on its backend, the next is claimed (SKIP LOCKED
# passes over the rows the first holds) and parsed, as two workers would. One batch alone keeps the process
# and its backend taking turns (docs/decisions.md). SQLite has one writer: one batch at a time.
LANES_POSTGRESQL = 2


class Processor:
    """``sessions`` are the main database's; ``event_sessions`` those of the events journal when it is a
    database of its own (``db.events_url``). Then a batch is claimed from the journal, applied in one main
    transaction, and settled in the journal afterwards: a crash in between replays the batch, which changes
    nothing (every insert is under a unique constraint), and the journal's writer never waits for the main
    transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        event_sessions: async_sessionmaker[AsyncSession] | None = None,
        batch_size: int = BATCH,
        busy: Callable[[], bool] | None = None,
        tally: counters.Tally | None = None,
    ) -> None:
        self._sessions = sessions
        self._tally = tally if tally is not None else counters.Tally()
        self._events: async_sessionmaker[AsyncSession] | None = None
        self._event_readers: async_sessionmaker[AsyncSession] | None = None
        if event_sessions is not None and db.engine_of(event_sessions) is not db.engine_of(sessions):
            self._events = event_sessions
            # Claiming only reads the journal, so it takes no write lock from the webhook path.
            self._event_readers = db.sessionmaker(db.engine_of(event_sessions), readonly=True)
        self._batch_size = batch_size
        self._busy = busy
        postgres = db.engine_of(sessions).dialect.name == "postgresql"
        self.lanes = LANES_POSTGRESQL if postgres and self._events is None else 1
        """How many ``run_once`` may run at once (the runner starts that many loops)."""
        self._mark: tuple[float, int] | None = None  # (when, newest event id) at the start of a rate window
        self._arrival_rate = 0.0
        self._swept = 0.0

    async def run_once(self) -> int:
        """Process one batch; returns how much it did (0 when there was nothing to do)."""
        started = time.monotonic()
        done = await self._step(self._batch_size)
        if self._busy is not None and done >= self._batch_size and self._busy():
            elapsed = time.monotonic() - started
            pause = pause_after(done, elapsed, await self._arrivals_per_s())
            if pause:
                await asyncio.sleep(pause)
        return done

    async def _arrivals_per_s(self) -> float:
        """How fast events have been arriving, over the last RATE_WINDOW seconds or more."""
        async with (self._event_readers or self._sessions)() as session, session.begin():
            newest = await events.last_id(session)
        now = time.monotonic()
        if self._mark is None:
            self._mark = (now, newest)
        elif now - self._mark[0] >= RATE_WINDOW:
            self._arrival_rate = (newest - self._mark[1]) / (now - self._mark[0])
            self._mark = (now, newest)
        return self._arrival_rate

    async def _step(self, limit: int) -> int:
        if self._events is not None:
            return await self._run_separate(limit)
        counts: apply.Counts = {}
        failed: set[int] = set()
        async with db.transaction(self._sessions) as session:
            batch = await events.claim_batch(session, limit)
            if batch:
                counts, failed = await self._process(session, batch)
                await events.settle(session, batch)
        if not batch:
            return await self._sweep()
        self._count(batch, counts, failed)
        return len(batch)

    async def _run_separate(self, limit: int) -> int:
        assert self._events is not None and self._event_readers is not None
        async with self._event_readers() as ev, ev.begin():
            batch = await events.claim_batch(ev, limit)
        if not batch:
            return await self._sweep()
        async with db.transaction(self._sessions) as session:
            counts, failed = await self._process(session, batch)
        async with db.transaction(self._events) as ev:
            await events.settle(ev, batch)
        self._count(batch, counts, failed)
        return len(batch)

    async def _sweep(self) -> int:
        """Now and then, attach statuses whose message got its wamid in a concurrent transaction."""
        if time.monotonic() - self._swept < SWEEP_EVERY:
            return 0
        self._swept = time.monotonic()
        async with db.transaction(self._sessions) as session:
            out = await subscriber_webhooks.collector(session)
            applied = await statuses.attach_waiting(session, out=out)
            await subscriber_webhooks.emit(session, out)
            return applied

    async def _process(self, session: AsyncSession, batch: Sequence[events.Claimed]) -> tuple[apply.Counts, set[int]]:
        """Apply ``batch``; returns what each event held and which events failed. The subscriber webhooks' events
        of what was applied are written in the same transaction (those of a rolled-back savepoint are not)."""
        known = apply.Accounts(await accounts.all_accounts(session))
        parsed: list[tuple[int, domain.ParsedWebhook]] = []
        refused: dict[int, int] = {}
        for index, event in enumerate(batch):
            try:
                value = parse(event)
            except MALFORMED as exc:
                log.warning("webhook event rejected", extra={"event_id": event.id, "reason": str(exc)[:200]})
                event.processed(f"rejected: {exc}")
                continue
            value, refused[index] = apply.signed_part(value, known, event.signed_by)
            if refused[index]:
                log.warning(
                    "webhook changes refused: signed with the app secret of another account",
                    extra={"event_id": event.id, "refused": refused[index]},
                )
                if apply.is_empty(value):
                    event.processed(_FOREIGN_EVENT.format(refused[index]))
                    continue
            parsed.append((index, value))
        out = await subscriber_webhooks.collector(session)
        failed: set[int] = set()
        try:
            async with session.begin_nested():
                counts = await apply.apply_batch(session, known, parsed, out)
        except Exception:
            log.exception("batch of %d events failed; applying them one by one", len(parsed))
            if out is not None:
                out.rollback_to(0)
            counts, failed = await self._one_by_one(session, known, batch, parsed, out)
        for index, n in refused.items():
            if n:
                counts.setdefault(index, Counter())[Held(Outcome.FOREIGN_CHANGE)] += n
        for index, _ in parsed:
            if index not in failed:
                batch[index].processed(_summary(counts.get(index, Counter())))
        await subscriber_webhooks.emit(session, out)
        return counts, failed

    def _count(self, batch: Sequence[events.Claimed], counts: apply.Counts, failed: set[int]) -> None:
        """What ``/metrics`` shows of this batch: each event's result, what it held, and its ingest lag."""
        now = utcnow()
        held: Counter[Held] = Counter()
        results: Counter[str] = Counter()
        lags: list[float] = []
        for index, event in enumerate(batch):
            if not event.done:
                result = "retried"
            elif index in failed:
                result = "gave_up"
            elif event.result is not None and event.result.startswith("rejected"):
                result = "rejected"
            else:
                result = "processed"
            results[result] += 1
            if event.done:
                lags.append((now - event.received_at).total_seconds())
            if index in counts:
                held.update(counts[index])
        for result, n in results.items():
            self._tally.bump(_EVENTS[result], n)
        self._tally.observe_many("wahub_webhook_ingest_lag_seconds", lags)
        for item, n in held.items():  # a batch holds a handful of kinds: labels spelled once each
            self._tally.count("wahub_webhook_items_total", _labels(item), n)

    async def _one_by_one(
        self,
        session: AsyncSession,
        known: apply.Accounts,
        batch: Sequence[events.Claimed],
        parsed: list[tuple[int, domain.ParsedWebhook]],
        out: subscriber_webhooks.Collector | None,
    ) -> tuple[apply.Counts, set[int]]:
        counts: apply.Counts = {}
        failed: set[int] = set()
        for index, value in parsed:
            mark = out.mark() if out is not None else 0
            try:
                async with session.begin_nested():
                    counts.update(await apply.apply_batch(session, known, [(index, value)], out))
            except Exception as exc:
                if out is not None:
                    out.rollback_to(mark)
                log.exception("webhook event failed", extra={"event_id": batch[index].id})
                batch[index].failed_attempt(f"{type(exc).__name__}: {exc}")
                failed.add(index)
        return counts, failed


def pause_after(done: int, elapsed: float, arrivals_per_s: float) -> float:
    """How long a processor that shares the machine with a busy intake rests after a full batch of ``done``
    events that took ``elapsed`` seconds, webhooks arriving at ``arrivals_per_s``: 0 unless they come in a storm."""
    if elapsed <= 0 or arrivals_per_s <= STORM * done / elapsed:
        return 0.0
    return elapsed * (1 - BUSY_SHARE) / BUSY_SHARE


MALFORMED = (meta.MalformedPayload, twilio.MalformedPayload)


def parse(event: events.Claimed) -> domain.ParsedWebhook:
    """The event read by its source's parser (raises one of ``MALFORMED``)."""
    if event.provider == Source.META:
        return meta.parse(event.body)
    return twilio.parse(event.body, event.provider, event.received_at)


_FOREIGN_EVENT = "rejected: signed with the app secret of another account ({} changes refused)"
_EVENTS = {
    result: ("wahub_webhook_events_total", counters.labels_text({"result": result}))
    for result in ("processed", "rejected", "retried", "gave_up")
}
# What an event held as the (item, result) labels of ``wahub_webhook_items_total``; an item of None is the
# outcome's subject (an account event's field; the type of a reaction, edit or revoke).
ITEM_LABELS: dict[Outcome, tuple[str | None, str]] = {
    Outcome.MESSAGE: ("message", "stored"),
    Outcome.UNKNOWN_MESSAGE: ("message", "stored_unknown_type"),
    Outcome.DUPLICATE_MESSAGE: ("message", "duplicate"),
    Outcome.MESSAGE_FOR_UNKNOWN_NUMBER: ("message", "unknown_number"),
    Outcome.NUMBER_CHANGE: ("message", "number_change"),
    Outcome.PLACEHOLDER_FILLED: ("message", "filled_history_placeholder"),
    Outcome.RETYPED: ("message", "retyped"),
    Outcome.IMPORT_TAKEN_OVER: ("message", "took_over_imported"),
    Outcome.STATUS: ("status", "stored"),
    Outcome.UNKNOWN_STATUS: ("status", "stored_unknown_status"),
    Outcome.STATUS_FOR_UNKNOWN_NUMBER: ("status", "unknown_number"),
    Outcome.PREFERENCE: ("user_preference", "stored"),
    Outcome.ERROR_REPORT: ("error", "stored"),
    Outcome.FOREIGN_CHANGE: ("change", "wrong_signer"),
    Outcome.ACCOUNT_EVENT: (None, "stored"),
    Outcome.UNKNOWN_TARGET: (None, "unknown_target"),
}


def _labels(held: Held) -> dict[str, str]:
    item, result = ITEM_LABELS[held.outcome]
    return {"item": item if item is not None else held.subject, "result": result}


def _summary(counts: Counter[Held]) -> str:
    if not counts:
        return "ok: nothing to store"
    return "ok" + "".join(f"; {n} {words}" for words, n in sorted((held.words, n) for held, n in counts.items()))
