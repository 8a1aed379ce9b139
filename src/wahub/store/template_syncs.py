"""When each WhatsApp Business Account's templates are read from Meta: one row per WABA in ``template_syncs``,
a job queue on ``queues.py``'s claim/lease path. ``request`` makes a WABA's sync due (at start, on demand, on a
template webhook); ``claim`` hands due ones to a worker, for ``LEASE``, and puts the next one a day ahead (the
daily sync); ``done`` records what it read, ``failed`` puts the next one at the retry's time. Two workers never
read one WABA at once: the claim locks the row and moves its lease ahead, and a claim whose worker died is due
again once the lease has run out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import queues, upsert
from wahub.store.models import TemplateSync, utcnow

DAILY = timedelta(days=1)
LEASE = timedelta(minutes=5)

START, DAILY_REASON, REQUESTED, WEBHOOK = "start", "daily", "requested", "webhook"

QUEUE = queues.Queue(
    TemplateSync.__table__,  # type: ignore[arg-type]
    due=lambda now: sa.and_(
        TemplateSync.run_at <= now,
        sa.or_(TemplateSync.locked_until.is_(None), TemplateSync.locked_until <= now),
    ),
    lease="locked_until",
    count_attempt=True,
)


async def request(session: AsyncSession, waba_ids: Iterable[str], reason: str, *, now: datetime | None = None) -> None:
    """Make these WABAs' syncs due at ``now`` (sooner than planned; a sync already due sooner keeps its time)."""
    now = now or utcnow()
    table: sa.Table = TemplateSync.__table__  # type: ignore[assignment]
    ids = sorted(set(waba_ids))
    rows = [{"waba_id": w, "run_at": now, "attempts": 0, "reason": reason} for w in ids]
    await upsert.insert_ignore_rows(session, table, rows)
    if ids:
        await session.execute(
            sa.update(TemplateSync)
            .where(TemplateSync.waba_id.in_(ids), TemplateSync.run_at > now)
            .values(run_at=now, reason=reason, attempts=0)
            .execution_options(synchronize_session=False)
        )


async def claim(session: AsyncSession, limit: int = 10, *, now: datetime | None = None) -> list[tuple[int, str, int]]:
    """Claim due syncs: (id, waba_id, attempts so far including this one), for ``LEASE``. The next sync is put a
    day ahead now, not when this one ends: a request arriving while it runs (a webhook about a template it may
    have read already) brings it back to now, and is not lost when this one finishes."""
    now = now or utcnow()
    rows = await QUEUE.claim(session, limit, lease=LEASE, columns=("waba_id", "attempts"), now=now)
    if rows:
        await session.execute(
            sa.update(TemplateSync)
            .where(TemplateSync.id.in_([row.id for row in rows]))
            .values(run_at=now + DAILY, reason=DAILY_REASON)
            .execution_options(synchronize_session=False)
        )
    return [(row.id, row.waba_id, row.attempts + 1) for row in rows]


async def begin(session: AsyncSession, waba_id: str, *, now: datetime | None = None) -> int:
    """A sync on request starts (not through the queue): as a claim does, the next is put a day ahead. Returns
    the row's id, for ``done``."""
    now = now or utcnow()
    await request(session, [waba_id], DAILY_REASON, now=now)
    row = await get(session, waba_id)
    assert row is not None
    row.run_at, row.reason = now + DAILY, DAILY_REASON
    await session.flush()
    return row.id


async def done(session: AsyncSession, sync_id: int, count: int, *, now: datetime | None = None) -> None:
    """A sync read ``count`` templates (the next is due when its claim or a request since has said)."""
    values = {"attempts": 0, "synced_at": now or utcnow(), "synced": count, "last_error": None}
    await QUEUE.settle(session, [{"b_id": sync_id}], values)


async def failed(session: AsyncSession, sync_id: int, error: str, retry_at: datetime | None) -> None:
    """A sync failed: try again at ``retry_at``, or (no retry left) at the next daily time, set by the claim."""
    values: dict[str, object] = {"last_error": error[:2000]}
    if retry_at is None:
        values["attempts"] = 0
    else:
        values["run_at"] = retry_at
    await QUEUE.settle(session, [{"b_id": sync_id}], values)


async def get(session: AsyncSession, waba_id: str) -> TemplateSync | None:
    return (await session.scalars(sa.select(TemplateSync).where(TemplateSync.waba_id == waba_id))).first()


async def last_synced(session: AsyncSession, waba_id: str) -> datetime | None:
    """When this WABA's templates were last read from Meta in full (None: never)."""
    return await session.scalar(sa.select(TemplateSync.synced_at).where(TemplateSync.waba_id == waba_id))
