"""The outbox: one send job per outbound message, claimed with a lease so a crashed worker's jobs come back."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store.models import OutboxJob, utcnow


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobKind(enum.StrEnum):
    SEND = "send"
    READ = "read"  # mark an inbound message read (blue ticks)
    READ_TYPING = "read_typing"  # the same, and show the customer a typing indicator


def enqueue(session: AsyncSession, message_id: int, account_id: int, kind: JobKind = JobKind.SEND) -> OutboxJob:
    job = OutboxJob(
        message_id=message_id, account_id=account_id, kind=kind.value, state=JobState.PENDING.value, run_at=utcnow()
    )
    session.add(job)
    return job


async def for_message(session: AsyncSession, message_id: int) -> OutboxJob | None:
    return (await session.scalars(sa.select(OutboxJob).where(OutboxJob.message_id == message_id))).first()


async def claim(
    session: AsyncSession, limit: int, lease: timedelta, *, reclaim_expired: bool = True
) -> list[OutboxJob]:
    """Take up to ``limit`` due jobs: pending ones, and (with ``reclaim_expired``) running ones whose lease
    ran out (a dead worker's). They stay ours until ``lease`` passes; the caller commits the claim before
    sending. Two indexed queries rather than one OR, which no index serves."""
    now = utcnow()
    pending = (
        sa.select(OutboxJob)
        .where(OutboxJob.state == JobState.PENDING.value, OutboxJob.run_at <= now)
        .order_by(OutboxJob.run_at, OutboxJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    jobs = list((await session.scalars(pending)).all())
    if reclaim_expired and len(jobs) < limit:
        expired = (
            sa.select(OutboxJob)
            .where(OutboxJob.state == JobState.RUNNING.value, OutboxJob.locked_until < now)
            .order_by(OutboxJob.id)
            .limit(limit - len(jobs))
            .with_for_update(skip_locked=True)
        )
        jobs += (await session.scalars(expired)).all()
    for job in jobs:
        job.state = JobState.RUNNING.value
        job.locked_until = now + lease
        job.attempts += 1
        job.updated_at = now
    return jobs


def complete(job: OutboxJob) -> None:
    job.state = JobState.DONE.value
    job.locked_until = None
    job.updated_at = utcnow()


def retry_at(job: OutboxJob, when: datetime, error: str) -> None:
    job.state = JobState.PENDING.value
    job.run_at = when
    job.locked_until = None
    job.last_error = error
    job.updated_at = utcnow()


def defer(job: OutboxJob, when: datetime) -> None:
    """Put a claimed job off until ``when`` without counting the claim as an attempt (nothing was sent)."""
    job.state = JobState.PENDING.value
    job.run_at = when
    job.locked_until = None
    job.attempts = max(0, job.attempts - 1)
    job.updated_at = utcnow()


async def due_now(session: AsyncSession, account_id: int) -> None:
    """Every pending job of the account is due now (its sending was paused, and may go on)."""
    await session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.account_id == account_id, OutboxJob.state == JobState.PENDING.value)
        .values(run_at=utcnow())
    )


def fail(job: OutboxJob, error: str) -> None:
    job.state = JobState.FAILED.value
    job.locked_until = None
    job.last_error = error
    job.updated_at = utcnow()


async def depth(session: AsyncSession) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(OutboxJob)
        .where(OutboxJob.state.in_([JobState.PENDING.value, JobState.RUNNING.value]))
    )
    return int(await session.scalar(stmt) or 0)


async def next_run_at(session: AsyncSession) -> datetime | None:
    stmt = sa.select(sa.func.min(OutboxJob.run_at)).where(OutboxJob.state == JobState.PENDING.value)
    value = await session.scalar(stmt)
    return value if isinstance(value, datetime) else None
