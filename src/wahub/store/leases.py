"""Send leases: one sender at a time sends for an account (one phone number).

A number's rate limit is a sliding window kept in one process's memory; the lease makes that process the only
one sending for the number, however many workers run. A holder renews its leases every few seconds and stops
sending before they could run out; another worker takes over a lease only once it has expired, and then puts
the jobs the old holder had claimed back in the queue, flagged as possible duplicates. Taking a lease is a
compare-and-set on (holder, expires_at), so two workers racing for it cannot both win, on SQLite as on
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import upsert
from wahub.store.models import SendLease, utcnow

_NOBODY = ""
_EPOCH = datetime(1970, 1, 1, tzinfo=utcnow().tzinfo)


@dataclass(frozen=True, slots=True)
class Acquired:
    account_id: int
    # True when this holder did not hold the lease just before: what another holder claimed may be in flight.
    new: bool


async def acquire(
    session: AsyncSession, holder: str, account_ids: Iterable[int], ttl: timedelta, now: datetime | None = None
) -> list[Acquired]:
    """Take or renew the leases of these accounts that are free, expired or already ours, until now + ttl."""
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
    for row in rows:
        if row.holder != holder and row.expires_at > now:
            continue  # someone else's, still valid
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
            won.append(Acquired(row.account_id, new=row.holder != holder))
    return won


async def release(session: AsyncSession, holder: str, account_ids: Iterable[int], after: timedelta) -> None:
    """Give up our leases; another holder may take them once ``after`` has passed (a rate window, so the two
    holders' sends never share one)."""
    ids = list(account_ids)
    if ids:
        await session.execute(
            sa.update(SendLease)
            .where(SendLease.account_id.in_(ids), SendLease.holder == holder)
            .values(expires_at=utcnow() + after)
        )


async def holders(session: AsyncSession) -> dict[int, tuple[str, datetime]]:
    """Every lease: account id -> (holder, expires_at)."""
    rows = await session.execute(sa.select(SendLease.account_id, SendLease.holder, SendLease.expires_at))
    return {r.account_id: (r.holder, r.expires_at) for r in rows}
