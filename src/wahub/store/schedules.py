"""Recurring schedules: a message to send at the times a cron expression names (``cron.py``), and the history
of their firings.

A schedule is a job queue (``queues.py``, the claim/lease path the outbox and the webhook deliveries share):
due when active and its ``next_run_at`` has come, or when a claim's lease ran out (its worker died). The worker
(``automations/schedules.py``) claims it, queues its message, records the firing and moves ``next_run_at`` to
the first time after now, all in one transaction: two workers never fire one time twice (the claim's row lock
on PostgreSQL, the one writer of SQLite, and the firing's unique (schedule, due time) behind both), and a
schedule that was due several times while nothing ran fires once, for the latest time it missed."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import cron, errors
from wahub.store import queues
from wahub.store.models import Schedule, ScheduleFiring, utcnow


class State(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


_TABLE: sa.Table = Schedule.__table__  # type: ignore[assignment]
QUEUE = queues.Queue(
    _TABLE,
    due=lambda now: sa.and_(
        _TABLE.c.state == State.ACTIVE.value,
        _TABLE.c.next_run_at <= now,
        sa.or_(_TABLE.c.locked_until.is_(None), _TABLE.c.locked_until < now),
    ),
    order=("next_run_at", "id"),
    lease="locked_until",
    count_attempt=True,
    touched="updated_at",
)


def _checked(expression: str, tz: str) -> None:
    try:
        cron.check(expression, tz)
    except cron.CronError as exc:
        raise errors.InvalidInput(str(exc), field="cron" if "cron" in str(exc) else "tz") from None


async def create(
    session: AsyncSession,
    *,
    cron_expression: str,
    tz: str,
    message: dict[str, Any],
    name: str | None = None,
    now: datetime | None = None,
) -> Schedule:
    """A new active schedule, first due at the first time after ``now``; raises ``InvalidInput`` for an
    expression or a time zone that cannot be read."""
    _checked(cron_expression, tz)
    now = now or utcnow()
    schedule = Schedule(
        name=name,
        cron=cron_expression,
        tz=tz,
        message=message,
        state=State.ACTIVE.value,
        next_run_at=cron.next_after(cron_expression, tz, now),
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    await session.flush()
    return schedule


async def get(session: AsyncSession, schedule_id: int) -> Schedule:
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise errors.NotFound(f"schedule {schedule_id} does not exist")
    return schedule


async def list_all(session: AsyncSession) -> list[Schedule]:
    return list((await session.scalars(sa.select(Schedule).order_by(Schedule.id))).all())


async def of_report(session: AsyncSession, report: str) -> list[Schedule]:
    """The schedules that run report ``report`` (their message is ``{"report": NAME}``), oldest first. Read in
    Python: schedules are few, and a JSON field is queried differently by each database."""
    return [s for s in await list_all(session) if s.message.get("report") == report]


async def pause(session: AsyncSession, schedule_id: int) -> Schedule:
    """Stop firing; a firing already under way still queues its message."""
    schedule = await get(session, schedule_id)
    schedule.state = State.PAUSED.value
    schedule.updated_at = utcnow()
    return schedule


async def resume(session: AsyncSession, schedule_id: int, now: datetime | None = None) -> Schedule:
    """Fire again from the next time after now: the times that passed while it was paused are not made up."""
    schedule = await get(session, schedule_id)
    now = now or utcnow()
    if schedule.state != State.ACTIVE.value:
        schedule.state = State.ACTIVE.value
        schedule.next_run_at = cron.next_after(schedule.cron, schedule.tz, now)
    schedule.updated_at = now
    return schedule


async def delete(session: AsyncSession, schedule_id: int) -> None:
    """The schedule and its history go; the messages it queued stay."""
    await session.delete(await get(session, schedule_id))


async def history(session: AsyncSession, schedule_id: int, limit: int = 100) -> list[ScheduleFiring]:
    """The latest firings, newest first."""
    await get(session, schedule_id)
    stmt = (
        sa.select(ScheduleFiring)
        .where(ScheduleFiring.schedule_id == schedule_id)
        .order_by(ScheduleFiring.due_at.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def claim(session: AsyncSession, limit: int, lease: timedelta, now: datetime) -> list[Schedule]:
    """Up to ``limit`` due schedules, leased until now + ``lease`` (the caller fires them in this transaction;
    the lease only matters if it dies with them claimed)."""
    rows = await QUEUE.claim(session, limit, lease=lease, now=now)
    if not rows:
        return []
    found = await session.scalars(
        sa.select(Schedule)
        .where(Schedule.id.in_([row.id for row in rows]))
        .order_by(Schedule.next_run_at, Schedule.id)
        .execution_options(populate_existing=True)
    )
    return list(found.all())


async def fired(
    session: AsyncSession, schedule: Schedule, now: datetime, *, message_id: int | None, error: str | None
) -> ScheduleFiring:
    """Record that ``schedule`` fired for its due time (the message queued, or why none was) and settle its
    claim: next due at the first time after ``now``, so missed times are not fired one by one."""
    assert schedule.next_run_at is not None
    firing = ScheduleFiring(
        schedule_id=schedule.id, due_at=schedule.next_run_at, fired_at=now, message_id=message_id, error=error
    )
    session.add(firing)
    await QUEUE.settle(
        session,
        [{"b_id": schedule.id}],
        {
            "next_run_at": cron.next_after(schedule.cron, schedule.tz, now),
            "attempts": 0,
            "last_error": error,
        },
    )
    await session.flush()
    return firing


async def later(session: AsyncSession, schedule: Schedule, when: datetime, error: str) -> None:
    """The firing failed for a passing reason: the same due time is tried again at ``when`` (its lease until
    then), its attempts counted."""
    await QUEUE.settle(session, [{"b_id": schedule.id}], {"locked_until": when, "last_error": error})


async def due_count(session: AsyncSession, now: datetime) -> int:
    stmt = sa.select(sa.func.count()).select_from(_TABLE).where(QUEUE.due(now))
    return int(await session.scalar(stmt) or 0)
