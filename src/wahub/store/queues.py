"""Tables used as job queues: claim due rows with ``FOR UPDATE SKIP LOCKED``, lease them, settle them. wahub's
one claim/lease code path, for the outbox (``outbox.py``), webhook events (``events.py``), media to fetch
(``media.py``) and subscriber webhook deliveries (``subscriber_webhooks.py``). Each keeps its own table and columns; a
``Queue`` names them.

Claiming is two statements in the caller's transaction: the ids of the first ``limit`` due rows in queue order,
locked (PostgreSQL skips rows another worker's open transaction holds; SQLite has no row locks and ignores the
clause, but its write transaction, begun IMMEDIATE, already excludes every other writer), then one UPDATE that
marks them claimed: the lease (``lease`` column, until now + the lease given), the holder, one more attempt, and
any state the queue sets on a claim. A queue with no lease column is claimed for its transaction only (the
webhook events: processed and settled in it). The caller commits the claim, works, and settles the rows in one
statement (``settle``: an executemany, or one UPDATE when they differ only by id): the lease is cleared with the
outcome, and with a holder column only the holder's own claims are touched, so a claim another worker has taken
over since is left alone.

A further queue (campaign recipients, schedules, reports) is a few lines::

    CAMPAIGN_SENDS = queues.Queue(
        CampaignSend.__table__,
        due=lambda now: sa.and_(CampaignSend.state == "pending", CampaignSend.run_at <= now),
        lease="locked_until", count_attempt=True, claimed={"state": "running"},
    )

    async def claim(session, limit, lease) -> list[int]:      # in campaigns.py
        return [row.id for row in await CAMPAIGN_SENDS.claim(session, limit, lease=lease)]

    async def done(session, ids):
        await CAMPAIGN_SENDS.settle(session, [{"b_id": i} for i in ids], {"state": "done"})

and the job's retry is ``worker/retry.py``'s decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store.keys import one_of
from wahub.store.models import utcnow


@dataclass(frozen=True, slots=True)
class Queue:
    """A table used as a job queue.

    ``due(now)``: the rows ready to be claimed (a lease that ran out may make a row due again: the queue says).
    ``order``: claim order, by column names. ``lease``: the column holding the claim's end (None: claimed for
    the transaction). ``holder``: the column naming who claimed it (None: anyone may settle it).
    ``count_attempt``: a claim counts one more attempt in ``attempts``. ``claimed``: values a claim sets
    (``{"state": "running"}``). ``touched``: a column set to now whenever a claim or a settle writes the row."""

    table: sa.Table
    due: Callable[[datetime], sa.ColumnElement[bool]]
    order: Sequence[str] = ("run_at", "id")
    lease: str | None = None
    holder: str | None = None
    count_attempt: bool = False
    claimed: Mapping[str, Any] = field(default_factory=dict)
    touched: str | None = None

    async def claim(
        self,
        session: AsyncSession,
        limit: int,
        *,
        lease: timedelta | None = None,
        holder: str | None = None,
        where: Iterable[sa.ColumnElement[bool]] = (),
        columns: Sequence[str] = (),
        now: datetime | None = None,
    ) -> list[sa.Row[Any]]:
        """Claim up to ``limit`` due rows (and matching ``where``) in queue order, for ``holder`` until now +
        ``lease``; returns them in that order: their ``id`` and ``columns`` as they were before the claim (read
        by the same statement that locks them). The caller reads what else it needs and commits."""
        now = now or utcnow()
        c = self.table.c
        stmt = (
            sa.select(c.id, *(c[name] for name in columns))
            .where(self.due(now), *where)
            .order_by(*(c[name] for name in self.order))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list((await session.execute(stmt)).all())
        values: dict[str, Any] = dict(self.claimed)
        if self.lease is not None and lease is not None:
            values[self.lease] = now + lease
        if self.holder is not None:
            values[self.holder] = holder
        if self.count_attempt:
            values["attempts"] = c.attempts + 1
        if self.touched is not None:
            values[self.touched] = now
        if rows and values:
            await session.execute(sa.update(self.table).where(one_of(c.id, [row.id for row in rows])).values(values))
        return rows

    async def settle(
        self,
        session: AsyncSession,
        rows: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        *,
        holder: str | None = None,
    ) -> None:
        """Write what became of claimed rows, in one executemany: ``rows`` give each row's id as ``b_id`` and
        its own bound values (``sa.bindparam`` in ``values``); the lease is cleared. With a ``holder`` column,
        only ``holder``'s claims are written. Rows that give nothing but their id take one UPDATE of them all
        (``keys.one_of``) instead: an executemany costs a Bind and an Execute per row."""
        if not rows:
            return
        c = self.table.c
        done: dict[str, Any] = {self.lease: None} if self.lease is not None else {}
        if self.touched is not None:
            done[self.touched] = utcnow()
        mine = [c[self.holder] == holder] if self.holder is not None else []
        if all(row.keys() == {"b_id"} for row in rows):
            which = one_of(c.id, [row["b_id"] for row in rows])
            await session.execute(sa.update(self.table).where(which, *mine).values({**done, **values}))
            return
        stmt = sa.update(self.table).where(c.id == sa.bindparam("b_id"), *mine)
        await session.execute(stmt.values({**done, **values}), list(rows))

    async def release(
        self,
        session: AsyncSession,
        which: sa.ColumnElement[bool],
        values: Mapping[str, Any],
        *,
        columns: Sequence[str] = (),
    ) -> list[sa.Row[Any]]:
        """Put the claimed rows ``which`` selects back in the queue (their holder is gone, or their lease ran
        out) with ``values`` (a state, a new ``run_at``), lease and holder cleared; returns those rows: their
        id and ``columns``."""
        c = self.table.c
        rows = list((await session.execute(sa.select(c.id, *(c[name] for name in columns)).where(which))).all())
        if rows:
            cleared: dict[str, Any] = {name: None for name in (self.lease, self.holder) if name is not None}
            if self.touched is not None:
                cleared[self.touched] = utcnow()
            await session.execute(
                sa.update(self.table)
                .where(one_of(c.id, [row.id for row in rows]))
                .values({**cleared, **values})
                .execution_options(synchronize_session=False)
            )
        return rows
