"""Webhook events: raw bodies appended before the ack (``journal.py``), claimed by the processor in batches,
never dropped on failure (a failing event is retried, then kept with its reason), and deleted only once
processed and older than ``WAHUB_RAW_EVENT_DAYS`` (``prune``; messages keep their own raw JSON)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import keys, queues
from wahub.store.models import WebhookEvent, utcnow

MAX_ATTEMPTS = 5
# One prune step deletes at most this many events and, past the first, bodies of this many bytes: a short
# write transaction (on SQLite the webhook path waits for the events file's one writer).
PRUNE_ROWS = 1_000
PRUNE_BYTES = 1024 * 1024
SETTLE_GROUPS = 20  # more distinct outcomes in a batch than this: settled by one executemany


@dataclass(slots=True)
class Claimed:
    """An event taken by the processor, and what became of it (``result``; ``done`` once it is settled)."""

    id: int
    body: bytes
    attempts: int
    received_at: datetime
    # ``signature.key_id`` of the app secret that verified it (None: journaled before wahub recorded it).
    signed_by: str | None
    # The route it came to (``webhook/sources.Source``): which parser reads it.
    provider: str = "meta"
    result: str | None = None
    done: bool = False

    def processed(self, result: str) -> None:
        self.result = result[:1000]
        self.done = True

    def failed_attempt(self, error: str) -> None:
        """Retried on the next pass; given up (kept, with the reason) after MAX_ATTEMPTS."""
        self.attempts += 1
        self.result = f"error: {error}"[:1000]
        if self.attempts >= MAX_ATTEMPTS:
            self.processed(f"failed after {self.attempts} attempts: {error}")


_EVENTS: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
# No lease: an event is claimed for the processor's transaction, and settled in it or right after (the events
# file on SQLite has one processor); attempts are counted when an event fails (``Claimed.failed_attempt``).
QUEUE = queues.Queue(_EVENTS, due=lambda now: _EVENTS.c.processed_at.is_(None), order=("id",))


async def claim_batch(session: AsyncSession, limit: int) -> list[Claimed]:
    """Unprocessed events, oldest first, locked for this transaction (other workers skip them)."""
    rows = await QUEUE.claim(session, limit, columns=("body", "attempts", "received_at", "signed_by", "provider"))
    return [Claimed(row.id, row.body, row.attempts, row.received_at, row.signed_by, row.provider) for row in rows]


async def settle(session: AsyncSession, claimed: list[Claimed]) -> None:
    """Write back what became of each claimed event: one UPDATE per distinct outcome (a batch has a handful,
    "ok; 1 status stored" and the like), which costs a fraction of an executemany of one row per event; when
    outcomes are mostly distinct (failures carry their error), one executemany."""
    now = utcnow()
    groups: dict[tuple[bool, str | None, int], list[int]] = defaultdict(list)
    for c in claimed:
        groups[(c.done, c.result, c.attempts)].append(c.id)
    if len(groups) > SETTLE_GROUPS:
        await QUEUE.settle(
            session,
            [
                {"b_id": c.id, "done_at": now if c.done else None, "outcome": c.result, "tries": c.attempts}
                for c in claimed
            ],
            {
                "processed_at": sa.bindparam("done_at"),
                "result": sa.bindparam("outcome"),
                "attempts": sa.bindparam("tries"),
            },
        )
        return
    for (done, result, attempts), ids in groups.items():
        await session.execute(
            sa.update(_EVENTS)
            .where(keys.one_of(_EVENTS.c.id, ids))
            .values(processed_at=now if done else None, result=result, attempts=attempts)
        )


async def last_id(session: AsyncSession) -> int:
    """The newest event's id (0 when there is none)."""
    return int(await session.scalar(sa.select(sa.func.max(WebhookEvent.id))) or 0)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) or 0)


async def backlog(session: AsyncSession) -> int:
    stmt = sa.select(sa.func.count()).select_from(WebhookEvent).where(WebhookEvent.processed_at.is_(None))
    return int(await session.scalar(stmt) or 0)


async def oldest_waiting(session: AsyncSession) -> datetime | None:
    """When the oldest event not processed yet was acknowledged (None when none waits)."""
    stmt = (
        sa.select(WebhookEvent.received_at)
        .where(WebhookEvent.processed_at.is_(None))
        .order_by(WebhookEvent.id)
        .limit(1)
    )
    found: datetime | None = await session.scalar(stmt)
    return found


async def prune(
    session: AsyncSession, before: datetime, *, limit: int = PRUNE_ROWS, max_bytes: int = PRUNE_BYTES
) -> int:
    """Delete one chunk of the events processed before ``before``, oldest first: at most ``limit`` of them,
    whose bodies add up to at most ``max_bytes`` (one at least). Returns how many; 0 when none is left.
    Unprocessed events are never deleted."""
    stmt = (
        sa.select(WebhookEvent.id, sa.func.length(WebhookEvent.body))
        .where(WebhookEvent.processed_at < before)  # the index on (processed_at, id): no body is read
        .order_by(WebhookEvent.processed_at, WebhookEvent.id)
        .limit(limit)
    )
    ids: list[int] = []
    total = 0
    for event_id, size in await session.execute(stmt):
        total += int(size or 0)
        if ids and total > max_bytes:
            break
        ids.append(event_id)
    if not ids:
        return 0
    await session.execute(sa.delete(WebhookEvent).where(WebhookEvent.id.in_(ids), WebhookEvent.processed_at < before))
    return len(ids)
