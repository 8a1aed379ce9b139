"""Send leases: one sender at a time sends for an account (one phone number).

A number's rate limit is a sliding window kept in one process's memory; the lease makes that process the only
one sending for the number, however many workers run. A holder renews its leases every few seconds and stops
sending before they could run out; another worker takes over a lease only once it has expired, and then puts
the jobs the old holder had claimed back in the queue, flagged as possible duplicates. Taking a lease is a
compare-and-set on (holder, expires_at), so two workers racing for it cannot both win, on SQLite as on
PostgreSQL.

The leases of the numbers with work are shared out among the senders alive: each sender says it is alive with
its renewals (``fair_share``) and takes at most its share; one holding more than its share hands the rest over
once their sends are recorded (``worker/sender.py``). The share is only a policy: which worker sends for a
number is still decided by the compare-and-set alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import upsert
from wahub.store.models import Sender, SendLease, utcnow

_NOBODY = ""
_EPOCH = datetime(1970, 1, 1, tzinfo=utcnow().tzinfo)


@dataclass(frozen=True, slots=True)
class Acquired:
    account_id: int
    # True when this holder did not hold the lease just before: what another holder claimed may be in flight.
    new: bool


async def fair_share(
    session: AsyncSession, holder: str, due: Iterable[int], ttl: timedelta, now: datetime | None = None
) -> int:
    """Say that ``holder`` is alive until now + ttl, and return how many leases it should hold: the numbers with
    due work or a valid lease, shared out among the senders alive (rounded up)."""
    now = now or utcnow()
    seen = await session.execute(sa.update(Sender).where(Sender.holder == holder).values(seen_until=now + ttl))
    if seen.rowcount == 0:  # type: ignore[attr-defined]
        await session.execute(sa.insert(Sender).values(holder=holder, seen_until=now + ttl))
    await session.execute(sa.delete(Sender).where(Sender.seen_until < now - timedelta(days=1)))  # long gone
    alive = await session.scalar(sa.select(sa.func.count()).select_from(Sender).where(Sender.seen_until > now))
    held = set((await session.scalars(sa.select(SendLease.account_id).where(SendLease.expires_at > now))).all())
    return math.ceil(len(held | set(due)) / max(1, alive or 0))


async def acquire(
    session: AsyncSession,
    holder: str,
    account_ids: Iterable[int],
    ttl: timedelta,
    now: datetime | None = None,
    *,
    most_new: int | None = None,
) -> list[Acquired]:
    """Take or renew the leases of these accounts that are free, expired or already ours, until now + ttl: ours
    all, and at most ``most_new`` that were not ours (None: every one free)."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    now = now or utcnow()
    await upsert.insert_ignore_rows(
        session,
        SendLease.__table__,  # type: ignore[arg-type]
        [{"account_id": i, "holder": _NOBODY, "expires_at": _EPOCH} for i in ids],
    )
    rows = (
        await session.execute(
            sa.select(SendLease.account_id, SendLease.holder, SendLease.expires_at).where(SendLease.account_id.in_(ids))
        )
    ).all()
    won = []
    new = 0
    for row in sorted(rows, key=lambda r: (r.holder != holder, r.account_id)):
        if row.holder != holder and row.expires_at > now:
            continue  # someone else's, still valid
        if row.holder != holder and most_new is not None and new >= most_new:
            continue
        taken = await session.execute(
            sa.update(SendLease)
            .where(
                SendLease.account_id == row.account_id,
                SendLease.holder == row.holder,
                SendLease.expires_at == row.expires_at,
            )
            .values(holder=holder, expires_at=now + ttl)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            new += row.holder != holder
            won.append(Acquired(row.account_id, new=row.holder != holder))
    return won


async def release(session: AsyncSession, holder: str, account_ids: Iterable[int], after: timedelta) -> None:
    """Give up our leases: nobody's, not even ours, until ``after`` has passed (a rate window, so the two
    holders' sends never share one); then anyone may take them."""
    ids = list(account_ids)
    if ids:
        await session.execute(
            sa.update(SendLease)
            .where(SendLease.account_id.in_(ids), SendLease.holder == holder)
            .values(holder=_NOBODY, expires_at=utcnow() + after)
        )


async def leave(session: AsyncSession, holder: str) -> None:
    """The sender stops: it no longer counts among the senders alive, so the others' shares grow at once."""
    await session.execute(sa.delete(Sender).where(Sender.holder == holder))


async def holders(session: AsyncSession) -> dict[int, tuple[str, datetime]]:
    """Every lease: account id -> (holder, expires_at)."""
    rows = await session.execute(sa.select(SendLease.account_id, SendLease.holder, SendLease.expires_at))
    return {r.account_id: (r.holder, r.expires_at) for r in rows}
