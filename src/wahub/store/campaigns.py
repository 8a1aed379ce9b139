"""Campaigns: one template sent to many contacts through the outbox, a chunk at a time, and what became of each.

States: ``draft`` → (start) ``scheduled`` (``start_at`` to come) → ``running`` → ``completed``; ``running`` or
``scheduled`` → (pause) ``paused`` → (resume) ``running``; any open → (cancel) ``cancelled``; else ``Conflict``.

A campaign is a job queue (``queues.py``): due while running, or scheduled and its time has come. The runner
(``automations/campaigns.py``) claims it, queues its next pending recipients (``outbound.queue_ids``) and marks
each ``queued`` with its message in that transaction: queued once even if the worker dies. Pausing holds the
campaign's outbox jobs not taken yet (``outbox.JobState.HELD``) in the pausing transaction, so only sends a
sender had already claimed still go out; resuming puts them back.

A recipient's result is its own (``pending``, ``skipped``) until queued, then its message's status by a join
(``queued`` … ``failed``; a failure for Meta's marketing limits 131049/131050 counts as ``skipped``, with a reason)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.store import outbox, queues, stream
from wahub.store.models import Campaign, CampaignRecipient, Contact, Message, OutboxJob, utcnow

CHUNK = 1_000  # rows per statement (SQLite caps the bound values of one statement)
# Meta's marketing limits: 131049 (the user's marketing-message limit, "to maintain healthy ecosystem
# engagement") and 131050 (the user stopped marketing messages). Such a recipient was skipped, not failed.
# https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
MARKETING_LIMITS = (131049, 131050)
CANCELLED = "cancelled"


class State(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Result(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    SKIPPED = "skipped"


# The results a recipient shows (``outcome``), in the order totals list them.
RESULTS = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped")
ENDED = frozenset({State.COMPLETED.value, State.CANCELLED.value})

_TABLE: sa.Table = Campaign.__table__  # type: ignore[assignment]
QUEUE = queues.Queue(
    _TABLE,
    due=lambda now: sa.and_(
        sa.or_(
            _TABLE.c.state == State.RUNNING.value,
            sa.and_(_TABLE.c.state == State.SCHEDULED.value, _TABLE.c.start_at <= now),
        ),
        sa.or_(_TABLE.c.locked_until.is_(None), _TABLE.c.locked_until < now),
    ),
    order=("id",),
    lease="locked_until",
    count_attempt=True,
    touched="updated_at",
)
_R = CampaignRecipient
_UNSENT = (outbox.JobState.PENDING.value, outbox.JobState.RUNNING.value, outbox.JobState.HELD.value)


@dataclass(frozen=True, slots=True)
class NewRecipient:
    contact_id: int
    parameters: list[Any] | None  # the send's ``template.components``


async def create(
    session: AsyncSession,
    *,
    name: str,
    account_id: int,
    template: tuple[str, str],
    audience: dict[str, Any],
    parameters: dict[str, Any] | None,
    recipients: Sequence[NewRecipient],
    start_at: datetime | None = None,
) -> Campaign:
    """A draft campaign with its recipients (each contact once: the first wins)."""
    now = utcnow()
    first: dict[int, NewRecipient] = {}
    for recipient in recipients:
        first.setdefault(recipient.contact_id, recipient)
    unique = list(first.values())
    campaign = Campaign(
        name=name,
        account_id=account_id,
        template_name=template[0],
        template_language=template[1],
        state=State.DRAFT.value,
        start_at=start_at,
        audience=audience,
        parameters=parameters,
        recipients=len(unique),
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    await session.flush()
    rows = [
        {
            "campaign_id": campaign.id,
            "contact_id": r.contact_id,
            "parameters": r.parameters,
            "result": Result.PENDING.value,
            "updated_at": now,
        }
        for r in unique
    ]
    for start in range(0, len(rows), CHUNK):
        await session.execute(sa.insert(CampaignRecipient), rows[start : start + CHUNK])
    return campaign


async def get(session: AsyncSession, campaign_id: int, *, lock: bool = False) -> Campaign:
    """The campaign; with ``lock``, its row locked for the transaction (PostgreSQL: a runner's claim and a
    pause wait for each other)."""
    stmt = sa.select(Campaign).where(Campaign.id == campaign_id).execution_options(populate_existing=True)
    campaign = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if campaign is None:
        raise errors.NotFound(f"campaign {campaign_id} does not exist")
    return campaign


async def list_all(session: AsyncSession, limit: int = 100, before: int | None = None) -> list[Campaign]:
    """The newest campaigns first."""
    stmt = sa.select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Campaign.id < before)
    return list((await session.scalars(stmt)).all())


def _refuse(campaign: Campaign, action: str) -> errors.Conflict:
    return errors.Conflict(f"campaign {campaign.id} is {campaign.state}: it cannot {action}")


async def start(session: AsyncSession, campaign_id: int, now: datetime | None = None) -> Campaign:
    """A draft starts: now, or at its ``start_at`` if that is to come (``scheduled``)."""
    now = now or utcnow()
    campaign = await get(session, campaign_id, lock=True)
    if campaign.state != State.DRAFT.value:
        raise _refuse(campaign, "start (only a draft starts; a paused one resumes)")
    later = campaign.start_at is not None and campaign.start_at > now
    campaign.state = State.SCHEDULED.value if later else State.RUNNING.value
    if not later:
        campaign.started_at = now
    campaign.updated_at = now
    return campaign


async def pause(session: AsyncSession, campaign_id: int, reason: str | None = None) -> Campaign:
    """Stop sending: the campaign's outbox jobs not taken by a sender yet are held (a send already claimed
    still goes out). ``reason``: why it paused by itself (a template no longer approved)."""
    campaign = await get(session, campaign_id, lock=True)
    if campaign.state not in (State.RUNNING.value, State.SCHEDULED.value):
        raise _refuse(campaign, "pause (only a running or scheduled one pauses)")
    campaign.state = State.PAUSED.value
    campaign.stopped_reason = reason
    campaign.updated_at = utcnow()
    await _move_jobs(session, campaign.id, outbox.JobState.PENDING, outbox.JobState.HELD)
    return campaign


async def resume(session: AsyncSession, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Go on where it stopped: held jobs are due again and the pending recipients are queued on."""
    now = now or utcnow()
    campaign = await get(session, campaign_id, lock=True)
    if campaign.state != State.PAUSED.value:
        raise _refuse(campaign, "resume (only a paused one resumes)")
    campaign.state = State.RUNNING.value
    campaign.started_at = campaign.started_at or now
    campaign.stopped_reason = None
    campaign.updated_at = now
    # Their due times stay: one waiting for its status before it may go again (``outbox.AWAITING_STATUS``) waits on.
    await _move_jobs(session, campaign.id, outbox.JobState.HELD, outbox.JobState.PENDING)
    return campaign


async def cancel(session: AsyncSession, campaign_id: int) -> Campaign:
    """End it: its messages not taken by a sender yet are cancelled and their recipients, with those still
    pending, are skipped as ``cancelled``."""
    campaign = await get(session, campaign_id, lock=True)
    if campaign.state in ENDED:
        raise _refuse(campaign, "be cancelled (it has ended)")
    now = utcnow()
    campaign.state = State.CANCELLED.value
    campaign.finished_at = campaign.updated_at = now
    await stop_jobs(session, campaign.id, CANCELLED)
    await session.execute(
        sa.update(CampaignRecipient)
        .where(_R.campaign_id == campaign.id, _R.result == Result.PENDING.value)
        .values(result=Result.SKIPPED.value, reason=CANCELLED, updated_at=now)
    )
    return campaign


def _campaign_messages(campaign_id: int) -> sa.Select[tuple[int | None]]:
    return sa.select(_R.message_id).where(_R.campaign_id == campaign_id, _R.message_id.is_not(None))


async def _move_jobs(session: AsyncSession, campaign_id: int, old: outbox.JobState, new: outbox.JobState) -> None:
    await session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.state == old.value, OutboxJob.message_id.in_(_campaign_messages(campaign_id)))
        .values(state=new.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def stop_jobs(session: AsyncSession, campaign_id: int, reason: str) -> int:
    """Cancel the campaign's messages no sender has taken (pending or held jobs): each message ends ``failed``
    (``cancelled``, with ``reason``) and its recipient ``skipped`` with ``reason``. Returns how many. A send
    whose answer was lost and that waits for its status (``outbox.AWAITING_STATUS``) may have arrived: it is
    left to its status (or its resend after the grace), never marked cancelled."""
    stmt = (
        sa.select(OutboxJob.id, OutboxJob.message_id)
        .where(
            OutboxJob.state.in_([outbox.JobState.PENDING.value, outbox.JobState.HELD.value]),
            sa.or_(OutboxJob.last_error.is_(None), OutboxJob.last_error != outbox.AWAITING_STATUS),
            OutboxJob.message_id.in_(_campaign_messages(campaign_id)),
        )
        .with_for_update()
    )
    rows = list((await session.execute(stmt)).all())
    now = utcnow()
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        job_ids, message_ids = [r.id for r in part], [r.message_id for r in part]
        await session.execute(
            sa.update(OutboxJob)
            .where(OutboxJob.id.in_(job_ids))
            .values(state=outbox.JobState.FAILED.value, last_error=outbox.CANCELLED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_(message_ids))
            .values(
                status=domain.MessageStatus.FAILED.value,
                failed_at=now,
                error_code=None,
                error_title=CANCELLED,
                error_details=reason,
            )
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            sa.update(CampaignRecipient)
            .where(_R.campaign_id == campaign_id, _R.message_id.in_(message_ids))
            .values(result=Result.SKIPPED.value, reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        conversations = dict(
            (await session.execute(sa.select(Message.id, Message.conversation_id).where(Message.id.in_(message_ids))))
            .tuples()
            .all()
        )
        ticks = [
            stream.status_tick(mid, conversations[mid], None, "failed", now, (None, CANCELLED))
            for mid in message_ids
            if mid in conversations
        ]
        stream.publish(session, ticks)  # the inbox shows them failed at once
    return len(rows)


# --- the runner's side (``automations/campaigns.py``) ---


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending recipient as its chunk is queued."""

    id: int
    contact_id: int
    wa_id: str | None
    user_id: str | None
    opted_out_at: datetime | None
    opt_out_source: str | None
    parameters: list[Any] | None


async def claim(session: AsyncSession, limit: int, lease: timedelta, now: datetime) -> list[Campaign]:
    """Up to ``limit`` due campaigns, leased until now + ``lease`` (the caller works on them and settles them
    in this transaction; the lease only matters if it dies with them claimed)."""
    rows = await QUEUE.claim(session, limit, lease=lease, now=now)
    if not rows:
        return []
    found = await session.scalars(
        sa.select(Campaign)
        .where(Campaign.id.in_([row.id for row in rows]))
        .order_by(Campaign.id)
        .execution_options(populate_existing=True)
    )
    return list(found.all())


async def due_count(session: AsyncSession, now: datetime) -> int:
    stmt = sa.select(sa.func.count()).select_from(_TABLE).where(QUEUE.due(now))
    return int(await session.scalar(stmt) or 0)


async def release(session: AsyncSession, campaign: Campaign, values: dict[str, Any] | None = None) -> None:
    """Settle the runner's claim: the lease cleared, attempts back to 0, and ``values`` written."""
    await QUEUE.settle(session, [{"b_id": campaign.id}], {"attempts": 0, **(values or {})})


async def later(session: AsyncSession, campaign: Campaign, when: datetime, error: str) -> None:
    """The runner failed for a passing reason: the campaign is looked at again at ``when``."""
    await QUEUE.settle(session, [{"b_id": campaign.id}], {"locked_until": when, "last_error": error})


async def unsent(session: AsyncSession, campaign_id: int) -> int:
    """The campaign's messages still in the outbox (pending, being sent, or held). From the outbox's side (a
    look-up of each unsent job's recipient), so it costs what is unsent, not what the campaign has queued."""
    mine = sa.select(_R.id).where(_R.message_id == OutboxJob.message_id, _R.campaign_id == campaign_id)
    stmt = sa.select(sa.func.count()).select_from(OutboxJob).where(OutboxJob.state.in_(_UNSENT), mine.exists())
    return int(await session.scalar(stmt) or 0)


async def due_sends(session: AsyncSession, account_id: int) -> int:
    """The account's sends due now and not done (pending or being sent): what its sender has before it.
    One index range (``ix_outbox_jobs_account_id_state_run_at``)."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(OutboxJob)
        .where(
            OutboxJob.account_id == account_id,
            OutboxJob.state.in_((outbox.JobState.PENDING.value, outbox.JobState.RUNNING.value)),
            OutboxJob.run_at <= utcnow(),
        )
    )
    return int(await session.scalar(stmt) or 0)


async def next_pending(session: AsyncSession, campaign_id: int, limit: int) -> list[Pending]:
    """The next ``limit`` pending recipients, in the order they were added, with their contact's opt-out."""
    stmt = (
        sa.select(
            _R.id,
            _R.contact_id,
            Contact.wa_id,
            Contact.user_id,
            Contact.opted_out_at,
            Contact.opt_out_source,
            _R.parameters,
        )
        .join(Contact, Contact.id == _R.contact_id)
        .where(_R.campaign_id == campaign_id, _R.result == Result.PENDING.value)
        .order_by(_R.id)
        .limit(limit)
    )
    return [Pending(*row) for row in await session.execute(stmt)]


async def any_pending(session: AsyncSession, campaign_id: int) -> bool:
    stmt = sa.select(_R.id).where(_R.campaign_id == campaign_id, _R.result == Result.PENDING.value).limit(1)
    return (await session.scalar(stmt)) is not None


async def mark_queued(session: AsyncSession, rows: Sequence[tuple[int, int]]) -> None:
    """Recipients queued: (recipient id, message id), in the transaction that queued the messages."""
    await _mark(session, [{"b_id": r, "b_message": m, "b_reason": None} for r, m in rows], Result.QUEUED)


async def mark_skipped(session: AsyncSession, rows: Sequence[tuple[int, str]]) -> None:
    """Recipients skipped: (recipient id, reason)."""
    await _mark(session, [{"b_id": r, "b_message": None, "b_reason": why} for r, why in rows], Result.SKIPPED)


async def _mark(session: AsyncSession, rows: list[dict[str, Any]], result: Result) -> None:
    if not rows:
        return
    table: sa.Table = CampaignRecipient.__table__  # type: ignore[assignment]
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values(
            result=result.value,
            message_id=sa.bindparam("b_message", type_=sa.Integer),
            reason=sa.bindparam("b_reason", type_=sa.Text),
            updated_at=utcnow(),
        )
    )
    await session.execute(stmt, rows)
