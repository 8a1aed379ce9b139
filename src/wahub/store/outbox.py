"""The outbox: one job per outbound message (or read receipt), claimed by the sender that holds its account's
send lease (``leases.py``); a claim records its holder, and only that holder records the result."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.store import messages, queues, stream
from wahub.store.keys import one_of
from wahub.store.models import Account, Contact, Message, OutboxJob, SendLease, utcnow


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    HELD = "held"  # a paused campaign's: never claimed until its campaign resumes (``campaigns.py``)


class JobKind(enum.StrEnum):
    SEND = "send"
    READ = "read"  # mark an inbound message read (blue ticks)
    READ_TYPING = "read_typing"  # the same, and show the customer a typing indicator


# Core, not ORM, statements: executemany of one compiled UPDATE per batch.
_JOBS: sa.Table = OutboxJob.__table__  # type: ignore[assignment]
# Claimed by the sender holding the account's send lease (``locked_by``), for ``locked_until``; a claim that
# outlives its lease goes back through ``reclaim_stuck`` or ``requeue_abandoned``, flagged, never by itself.
QUEUE = queues.Queue(
    _JOBS,
    due=lambda now: sa.and_(_JOBS.c.state == JobState.PENDING.value, _JOBS.c.run_at <= now),
    lease="locked_until",
    holder="locked_by",
    count_attempt=True,
    claimed={"state": JobState.RUNNING.value},
    touched="updated_at",
)


async def for_message(session: AsyncSession, message_id: int) -> OutboxJob | None:
    return (await session.scalars(sa.select(OutboxJob).where(OutboxJob.message_id == message_id))).first()


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed job with what sending it needs: the message's content and the recipient's ids."""

    job_id: int
    message_id: int
    kind: str
    attempts: int
    message_type: str
    content: dict[str, Any]
    reply_to_wamid: str | None
    wamid: str | None
    group_id: str | None
    wa_id: str | None
    user_id: str | None
    confirm: bool = False


async def claim(
    session: AsyncSession,
    account_id: int,
    holder: str,
    limit: int,
    lease: timedelta,
    *,
    processed_until: datetime | None = None,
) -> list[Claimed]:
    """Take up to ``limit`` due jobs of the account for ``holder`` (who holds its send lease), in due order, for
    at most ``lease`` unrecorded (``reclaim_stuck``); the caller commits the claim before sending. A send awaiting
    its status is due only once ``processed_until`` (every webhook received before it processed) covers the end
    of its grace: its status may be among the webhooks still waiting (None: when due, as any job)."""
    where = [_JOBS.c.account_id == account_id]
    if processed_until is not None:
        where.append(sa.or_(~_JOBS.c.awaits_status, _JOBS.c.run_at <= processed_until))
    claimed = await QUEUE.claim(session, limit, lease=lease, holder=holder, where=where)
    if not claimed:
        return []
    rows = await session.execute(
        sa.select(
            OutboxJob.id,
            OutboxJob.message_id,
            OutboxJob.kind,
            OutboxJob.attempts,
            Message.type,
            Message.content,
            Message.reply_to_wamid,
            Message.wamid,
            Message.group_id,
            Contact.wa_id,
            Contact.user_id,
            OutboxJob.confirm,
        )
        .join(Message, Message.id == OutboxJob.message_id)
        .join(Contact, Contact.id == Message.contact_id)
        .where(one_of(OutboxJob.id, [row.id for row in claimed]))
        .order_by(OutboxJob.run_at, OutboxJob.id)
    )
    return [Claimed(*row) for row in rows]


async def due_accounts(session: AsyncSession) -> set[int]:
    """Accounts with jobs due now, or with claims left by a sender whose lease on the number ran out (it died:
    whoever takes the lease puts them back, ``requeue_abandoned``, even when nothing else waits). One indexed
    probe per account, however long the queue."""
    now = utcnow()
    due = (
        sa.select(OutboxJob.id)
        .where(
            OutboxJob.account_id == Account.id,
            OutboxJob.state == JobState.PENDING.value,
            OutboxJob.run_at <= now,
        )
        .exists()
    )
    claimed = (
        sa.select(OutboxJob.id)
        .where(OutboxJob.account_id == Account.id, OutboxJob.state == JobState.RUNNING.value)
        .exists()
    )
    held = (
        sa.select(SendLease.account_id).where(SendLease.account_id == Account.id, SendLease.expires_at > now).exists()
    )
    orphaned = sa.and_(claimed, ~held)
    return set((await session.scalars(sa.select(Account.id).where(sa.or_(due, orphaned)))).all())


# How long a send whose answer was lost waits for its status before it is sent again, if it asked to be confirmed
# (``OutboxJob.confirm``): Meta's ``sent`` status comes within seconds; a status late by more than this is taken
# as never coming, and the message goes again, flagged.
CONFIRM_GRACE = timedelta(minutes=5)
AWAITING_STATUS = "outcome unknown: waiting for the message's status before sending it again"


async def requeue_abandoned(
    session: AsyncSession, account_id: int, holder: str, confirm_grace: timedelta = CONFIRM_GRACE
) -> int:
    """The account's lease just passed to ``holder``: jobs another holder claimed and never recorded go back
    in the queue, due now, and their messages are flagged: they may have reached the provider already."""
    return await _requeue(
        session,
        sa.and_(
            OutboxJob.account_id == account_id,
            OutboxJob.state == JobState.RUNNING.value,
            sa.or_(OutboxJob.locked_by.is_(None), OutboxJob.locked_by != holder),
        ),
        confirm_grace,
    )


async def reclaim_stuck(session: AsyncSession, holder: str, confirm_grace: timedelta = CONFIRM_GRACE) -> int:
    """Our own claims whose lease ran out (a send that never finished) go back in the queue, flagged."""
    return await _requeue(
        session,
        sa.and_(
            OutboxJob.state == JobState.RUNNING.value,
            OutboxJob.locked_by == holder,
            OutboxJob.locked_until < utcnow(),
        ),
        confirm_grace,
    )


async def _requeue(session: AsyncSession, which: sa.ColumnElement[bool], confirm_grace: timedelta) -> int:
    """Claims whose result never came back go back in the queue. A send whose message got its provider id
    meanwhile (its status named it: ``confirm_sent``) is done; one that asked to be confirmed waits
    ``confirm_grace`` for its status; the others are due now. Those that may go again are flagged."""
    # Their messages are locked first, as a status naming one locks it (``confirm_sent``, message then job), so
    # the two cannot cross: either the status's provider id is seen here, or its settling sees the job pending.
    await messages.lock_in_order(session, sa.select(OutboxJob.message_id).where(which))
    rows = await QUEUE.release(
        session, which, {"state": JobState.PENDING.value, "run_at": utcnow()}, columns=("message_id", "kind", "confirm")
    )
    sends = [r for r in rows if r.kind == JobKind.SEND.value]
    if sends:
        sent = set(
            (
                await session.scalars(
                    sa.select(Message.id).where(
                        Message.id.in_([r.message_id for r in sends]), Message.wamid.is_not(None)
                    )
                )
            ).all()
        )
        await _settle_confirmed(session, sent)
        waiting = [r.id for r in sends if r.confirm and r.message_id not in sent]
        if waiting:
            await session.execute(
                sa.update(OutboxJob)
                .where(OutboxJob.id.in_(waiting))
                .values(run_at=utcnow() + confirm_grace, last_error=AWAITING_STATUS, awaits_status=True)
                .execution_options(synchronize_session=False)
            )
        await messages.flag_possible_duplicates(session, [r.message_id for r in sends if r.message_id not in sent])
    return len(rows)


async def confirm_sent(session: AsyncSession, updates: Sequence[tuple[int, domain.StatusUpdate]]) -> None:
    """Statuses that name a message by wahub's reference (``domain.send_reference``), (account id, status). A message
    without its provider id yet takes this one (the send's answer was lost, or is still on its way, and then
    brings the same id), and its send job, if it waits to be sent again, is done: the message arrived once.
    One read finds the few that need it: almost always the send's answer came first."""
    found = [
        (account_id, message_id, update.provider_id)
        for account_id, update in updates
        if (message_id := domain.referenced_message(update.reference)) is not None
    ]
    if not found:
        return
    unnamed = set(
        (
            await session.execute(
                sa.select(Message.id, Message.account_id).where(
                    Message.id.in_({message_id for _, message_id, _ in found}),
                    Message.direction == domain.Direction.OUTBOUND.value,
                    Message.wamid.is_(None),
                )
            )
        )
        .tuples()
        .all()
    )
    named = set()
    for account_id, message_id, wamid in found:
        if (message_id, account_id) not in unnamed or message_id in named:
            continue
        named.add(message_id)
        await session.execute(
            sa.update(Message)
            .where(Message.id == message_id, Message.wamid.is_(None))
            .values(wamid=wamid)
            .execution_options(synchronize_session=False)
        )
    await _settle_confirmed(session, named)


async def _settle_confirmed(session: AsyncSession, message_ids: set[int]) -> None:
    """These messages reached the provider (they have its id): a send job of theirs still pending is done, and
    they are no possible duplicates (they were not sent again)."""
    if not message_ids:
        return
    settled = await session.execute(
        sa.update(OutboxJob)
        .where(
            OutboxJob.message_id.in_(message_ids),
            OutboxJob.kind == JobKind.SEND.value,
            OutboxJob.state.in_([JobState.PENDING.value, JobState.HELD.value]),  # held: its campaign paused
        )
        .values(state=JobState.DONE.value, last_error=None, updated_at=utcnow())
        .returning(OutboxJob.message_id)
        .execution_options(synchronize_session=False)
    )
    done = list(settled.scalars().all())
    if done:
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_(done))
            .values(
                possible_duplicate=False,
                status=sa.case(
                    (Message.status == domain.MessageStatus.QUEUED.value, domain.MessageStatus.ACCEPTED.value),
                    else_=Message.status,
                ),
            )
            .execution_options(synchronize_session=False)
        )


async def complete_many(session: AsyncSession, holder: str, job_ids: Sequence[int]) -> None:
    """These claims of ``holder`` are done (a claim another holder has taken over since is left alone)."""
    await QUEUE.settle(session, [{"b_id": i} for i in job_ids], {"state": JobState.DONE.value}, holder=holder)


async def pending_again(
    session: AsyncSession, holder: str, rows: Sequence[tuple[int, datetime, str | None, bool, bool]]
) -> None:
    """Put claims back in the queue: (job id, when, last error, counted, awaits status). ``counted`` False
    gives the attempt back: nothing was sent (paced, paused, lease lost). ``awaits status``: the send may have
    arrived, and it waits for its status (``claim``'s ``processed_until``)."""
    await QUEUE.settle(
        session,
        [
            {"b_id": i, "b_when": when, "b_error": err, "b_uncount": 0 if counted else 1, "b_awaits": awaits}
            for i, when, err, counted, awaits in rows
        ],
        {
            "state": JobState.PENDING.value,
            "run_at": sa.bindparam("b_when"),
            "awaits_status": sa.bindparam("b_awaits", type_=sa.Boolean),
            "locked_by": None,
            "last_error": sa.func.coalesce(sa.bindparam("b_error", type_=sa.Text), _JOBS.c.last_error),
            "attempts": _JOBS.c.attempts - sa.bindparam("b_uncount", type_=sa.Integer),
        },
        holder=holder,
    )


async def fail_many(session: AsyncSession, holder: str, rows: Sequence[tuple[int, str]]) -> None:
    """These claims failed for good: (job id, error)."""
    await QUEUE.settle(
        session,
        [{"b_id": i, "b_error": err} for i, err in rows],
        {"state": JobState.FAILED.value, "last_error": sa.bindparam("b_error")},
        holder=holder,
    )


CANCELLED = "cancelled before it was sent"


async def cancel(session: AsyncSession, message_id: int) -> None:
    """Take a message's pending send job out of the queue: the message ends ``failed``, ``cancelled``. Raises
    ``NotFound`` (no such message to send) or ``Conflict`` (the worker has taken it, or it was sent)."""
    job = await for_message(session, message_id)
    if job is None or job.kind != JobKind.SEND.value:
        raise errors.NotFound(f"message {message_id} is not an outbound message")
    taken = await session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.id == job.id, OutboxJob.state == JobState.PENDING.value)
        .values(state=JobState.FAILED.value, last_error=CANCELLED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.Conflict(f"message {message_id} is being sent or was sent: too late to cancel it")
    message = await messages.get(session, message_id)
    messages.record_failure(message, None, "cancelled", CANCELLED)
    tick = stream.status_tick(
        message.id, message.conversation_id, None, "failed", message.failed_at, (None, "cancelled")
    )
    stream.publish(session, [tick])  # the inbox shows it failed at once


async def due_now(session: AsyncSession, account_id: int) -> None:
    """Every pending job of the account is due now (its sending was paused, and may go on)."""
    await session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.account_id == account_id, OutboxJob.state == JobState.PENDING.value)
        .values(run_at=utcnow())
    )


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
