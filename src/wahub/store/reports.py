"""Reports made through the API (``reports``) and the runs of every report (``report_runs``).

A run is a job on ``queues.py``'s claim/lease path: queued by ``POST /api/v1/reports/{name}/run`` or by a
report schedule's firing (``automations/schedules.py``), due at ``run_at``, claimed by the worker's report
runner (``automations/reports.py``) for ``LEASE``, which counts an attempt; a run whose worker died is due again
once its lease has run out. ``wahub report run`` records its run the same way without the queue (``begin``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import db, queues, schedules
from wahub.store.models import Report, ReportRun, utcnow

LEASE = timedelta(minutes=10)  # a build reads a database or a URL and writes a file: minutes at most


class State(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_TABLE: sa.Table = ReportRun.__table__  # type: ignore[assignment]
QUEUE = queues.Queue(
    _TABLE,
    due=lambda now: sa.and_(
        _TABLE.c.state.in_((State.QUEUED.value, State.RUNNING.value)),
        _TABLE.c.run_at <= now,
        sa.or_(_TABLE.c.locked_until.is_(None), _TABLE.c.locked_until < now),
    ),
    lease="locked_until",
    count_attempt=True,
    claimed={"state": State.RUNNING.value},
    touched="updated_at",
)


# Definitions made through the API.


async def find(session: AsyncSession, name: str) -> Report | None:
    return (await session.scalars(sa.select(Report).where(Report.name == name))).first()


async def create(session: AsyncSession, name: str, definition: dict[str, Any]) -> Report:
    """A new stored report; ``Conflict`` if one has this name."""
    taken = errors.Conflict(f"a report named '{name}' exists already: delete it first to replace it")
    if await find(session, name) is not None:
        raise taken
    report = Report(name=name, definition=definition)
    session.add(report)
    await db.flush_unique(session, taken)  # two at once: both looks found none
    return report


async def list_all(session: AsyncSession) -> list[Report]:
    return list((await session.scalars(sa.select(Report).order_by(Report.name))).all())


async def delete(session: AsyncSession, name: str, *, with_schedules: bool = False) -> list[int]:
    """The definition goes; its runs stay, as the messages they queued do. A report that has schedules is
    refused (``Conflict`` naming them: each of their firings would queue a run that fails), unless
    ``with_schedules``: they go with it. Returns the ids of the schedules deleted."""
    report = await find(session, name)
    if report is None:
        raise errors.NotFound(f"report '{name}' does not exist")
    scheduled = [s.id for s in await schedules.of_report(session, name)]
    if scheduled and not with_schedules:
        ids = ", ".join(str(i) for i in scheduled)
        raise errors.Conflict(
            f"report '{name}' has schedules ({ids}): delete them first, or with it (?with_schedules=true)",
            schedules=scheduled,
        )
    for schedule_id in scheduled:
        await schedules.delete(session, schedule_id)
    await session.delete(report)
    return scheduled


# Runs.


async def queue_run(session: AsyncSession, report: str, trigger: str, now: datetime | None = None) -> ReportRun:
    """A run of ``report``, due now, for the worker."""
    now = now or utcnow()
    run = ReportRun(report=report, trigger=trigger, state=State.QUEUED.value, run_at=now, attempts=0, created_at=now)
    run.updated_at = now
    session.add(run)
    await session.flush()
    return run


async def begin(session: AsyncSession, report: str, trigger: str, now: datetime | None = None) -> ReportRun:
    """A run made here and now (``wahub report run``), outside the queue: running, one attempt."""
    now = now or utcnow()
    run = ReportRun(report=report, trigger=trigger, state=State.RUNNING.value, run_at=now, attempts=1, started_at=now)
    run.created_at = run.updated_at = now
    session.add(run)
    await session.flush()
    return run


async def claim(session: AsyncSession, limit: int, now: datetime) -> list[ReportRun]:
    """Up to ``limit`` due runs, leased for ``LEASE``, oldest first."""
    rows = await QUEUE.claim(session, limit, lease=LEASE, now=now)
    if not rows:
        return []
    found = await session.scalars(
        sa.select(ReportRun)
        .where(ReportRun.id.in_([row.id for row in rows]))
        .order_by(ReportRun.run_at, ReportRun.id)
        .execution_options(populate_existing=True)
    )
    runs = list(found.all())
    for run in runs:
        run.started_at = run.started_at or now
    return runs


async def done(
    session: AsyncSession,
    run_id: int,
    *,
    storage_key: str,
    size: int,
    message_ids: list[int],
    error: str | None,
    now: datetime | None = None,
) -> None:
    """The run built and stored its file and queued ``message_ids``; ``error`` names recipients it could not
    send to (a closed window), if any."""
    values = {
        "state": State.DONE.value,
        "finished_at": now or utcnow(),
        "storage_key": storage_key,
        "size": size,
        "message_ids": message_ids,
        "error": error,
    }
    await QUEUE.settle(session, [{"b_id": run_id}], values)


async def later(session: AsyncSession, run_id: int, when: datetime, error: str) -> None:
    """The run failed for a passing reason: tried again at ``when``."""
    await QUEUE.settle(session, [{"b_id": run_id}], {"state": State.QUEUED.value, "run_at": when, "error": error})


async def failed(session: AsyncSession, run_id: int, error: str, now: datetime | None = None) -> None:
    """The run failed for good (or ran out of attempts): ``error`` says why."""
    values = {"state": State.FAILED.value, "finished_at": now or utcnow(), "error": error[:4000]}
    await QUEUE.settle(session, [{"b_id": run_id}], values)


async def runs(session: AsyncSession, report: str, limit: int = 50) -> list[ReportRun]:
    """The latest runs of ``report``, newest first."""
    stmt = sa.select(ReportRun).where(ReportRun.report == report).order_by(ReportRun.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def get_run(session: AsyncSession, run_id: int) -> ReportRun:
    run = await session.get(ReportRun, run_id)
    if run is None:
        raise errors.NotFound(f"report run {run_id} does not exist")
    return run


async def due_count(session: AsyncSession, now: datetime) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(_TABLE).where(QUEUE.due(now))) or 0)
