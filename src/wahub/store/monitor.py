"""What ``wahub monitor`` shows: each account's sending state, the outbox, recent sends and failures, and the
webhook events waiting to be processed; and the gauges of ``/metrics`` (``gauges``; ``api/prometheus.py``
writes them out). Read-only queries, cheap enough to run every few seconds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.domain import Direction, MessageStatus
from wahub.store import events, stats, subscriber_webhooks, tokens
from wahub.store.models import Account, Media, Message, OutboxJob, SendLease, WebhookDelivery, utcnow

RECENT = timedelta(hours=1)
FAILURES = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class AccountState:
    phone_number_id: str
    name: str
    sandbox: bool
    send_rate: int | None
    paused: str | None  # why Meta stopped this account's sending, if it did
    sender: str | None  # the worker holding the send lease, while it is valid
    token_expires_at: datetime | None = None  # as Meta's debug_token last said (None: never, or not asked)


@dataclass(frozen=True, slots=True)
class Alert:
    """Something to act on before it stops sending: an access token lapsing within seven days (or lapsed)."""

    account: str
    code: str
    expires_at: str
    message: str


@dataclass(slots=True)
class Snapshot:
    at: datetime
    accounts: list[AccountState] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)  # job state -> count
    due: int = 0  # pending jobs due now
    sent_last_hour: dict[str, int] = field(default_factory=dict)  # outbound message status -> count
    failures: dict[str, int] = field(default_factory=dict)  # "code: title" -> count, last 24 h
    possible_duplicates_last_hour: int = 0
    events_waiting: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # subscriber webhook deliveries by state
    stats: stats.Stats | None = None  # the statistics of the last days, when asked for
    warnings: list[Alert] = field(default_factory=list)  # access tokens that lapse within seven days


async def snapshot(
    session: AsyncSession, event_session: AsyncSession, days: float = 0, now: datetime | None = None
) -> Snapshot:
    """The monitor's view at ``now`` (default: now); with ``days``, the statistics of that many days up to it
    too."""
    now = now or utcnow()
    snap = Snapshot(at=now)
    if days > 0:
        snap.stats = await stats.summary(session, now - timedelta(days=days), now)
    leases = {
        r.account_id: r.holder
        for r in await session.execute(sa.select(SendLease.account_id, SendLease.holder, SendLease.expires_at))
        if r.expires_at > now and r.holder
    }
    for a in (await session.scalars(sa.select(Account).order_by(Account.id))).all():
        snap.accounts.append(
            AccountState(
                a.phone_number_id or "-",
                a.name,
                a.sandbox,
                a.send_rate,
                a.sending_paused,
                leases.get(a.id),
                a.token_expires_at,
            )
        )
    snap.warnings = [
        Alert(
            w.phone_number_id,
            "access_token_expired" if w.lapsed else "access_token_expiring",
            subscriber_webhooks.timestamp(w.expires_at),
            w.message(now),
        )
        for w in await tokens.warnings(session, now)
    ]
    rows = await session.execute(sa.select(OutboxJob.state, sa.func.count()).group_by(OutboxJob.state))
    snap.outbox = {str(state): int(n) for state, n in rows}
    snap.due = int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxJob)
            .where(OutboxJob.state == "pending", OutboxJob.run_at <= now)
        )
        or 0
    )
    outbound_recent = sa.and_(Message.direction == Direction.OUTBOUND.value, Message.created_at >= now - RECENT)
    rows = await session.execute(
        sa.select(Message.status, sa.func.count()).where(outbound_recent).group_by(Message.status)
    )
    snap.sent_last_hour = {str(status): int(n) for status, n in rows}
    snap.possible_duplicates_last_hour = int(
        await session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(outbound_recent, Message.possible_duplicate.is_(True))
        )
        or 0
    )
    rows = await session.execute(
        sa.select(Message.error_code, Message.error_title, sa.func.count())
        .where(Message.status == MessageStatus.FAILED.value, Message.failed_at >= now - FAILURES)
        .group_by(Message.error_code, Message.error_title)
        .order_by(sa.func.count().desc())
        .limit(10)
    )
    snap.failures = {f"{code if code is not None else '-'}: {title or 'unknown'}": int(n) for code, title, n in rows}
    snap.events_waiting = await events.backlog(event_session)
    snap.deliveries = await _deliveries(session)
    return snap


async def _deliveries(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(sa.select(WebhookDelivery.state, sa.func.count()).group_by(WebhookDelivery.state))
    return {str(state): int(n) for state, n in rows}


def render(snap: Snapshot) -> str:
    """The snapshot as the terminal shows it."""
    lines = [f"wahub monitor  {snap.at:%Y-%m-%d %H:%M:%S} UTC", "", "accounts"]
    for a in snap.accounts:
        rate = f"{a.send_rate}/s" if a.send_rate else "default rate"
        state = f"PAUSED: {a.paused}" if a.paused else "sending" if a.sender else "idle"
        sandbox = " (sandbox)" if a.sandbox else ""
        lines.append(f"  {a.phone_number_id}  {a.name}{sandbox}  {rate}  {state}")
    if not snap.accounts:
        lines.append("  none: configure WAHUB_PHONE_NUMBER_ID or run the sandbox")
    if snap.warnings:
        lines += ["", "warnings"] + [f"  {w.message}" for w in snap.warnings]
    outbox = ", ".join(f"{k} {v:,}" for k, v in sorted(snap.outbox.items())) or "empty"
    lines += ["", f"outbox: {outbox}; due now {snap.due:,}"]
    sent = ", ".join(f"{k} {v:,}" for k, v in sorted(snap.sent_last_hour.items())) or "none"
    lines.append(f"sent in the last hour: {sent}; possible duplicates {snap.possible_duplicates_last_hour:,}")
    lines.append(f"webhook events waiting to be processed: {snap.events_waiting:,}")
    if snap.deliveries:
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(snap.deliveries.items()))
        lines.append(f"subscriber webhooks (last 30 days): {shown}")
    lines.append("failures in the last 24 h:" + ("" if snap.failures else " none"))
    lines += [f"  {n:,}  {reason}" for reason, n in snap.failures.items()]
    if snap.stats is not None:
        lines += ["", *stats.render(snap.stats)]
    return "\n".join(lines)


def as_json(snap: Snapshot) -> str:
    """The snapshot as JSON (``wahub monitor --format json``), the rates of the statistics included."""
    data = dataclasses.asdict(snap)
    if snap.stats is not None:
        data["stats"]["outbound"]["delivery_rate"] = snap.stats.outbound.delivery_rate
        data["stats"]["outbound"]["read_rate"] = snap.stats.outbound.read_rate
    return json.dumps(data, default=_jsonable, indent=2)


def _jsonable(value: object) -> str:
    if isinstance(value, date):  # datetimes too (a subclass); the statistics' days
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True, slots=True)
class Gauges:
    """What ``/metrics`` shows as gauges, read now (``api/prometheus.py`` renders them)."""

    media: dict[str, tuple[int, int]]  # media files by state -> (count, bytes)
    outbox: dict[str, int]  # outbox jobs by state
    outbound: dict[str, int]  # outbound messages by status
    events_waiting: int
    oldest_waiting_seconds: float  # 0: none waits
    deliveries: dict[str, int]  # subscriber webhook deliveries kept, by state
    accounts_paused: int


async def gauges(session: AsyncSession, event_session: AsyncSession) -> Gauges:
    """The gauges of ``/metrics``, read from the database, so every process's work counts whichever process is
    asked (the processor runs in a child process, senders may run elsewhere)."""
    media_rows = await session.execute(
        sa.select(Media.state, sa.func.count(), sa.func.coalesce(sa.func.sum(Media.size), 0)).group_by(Media.state)
    )
    outbox_rows = await session.execute(sa.select(OutboxJob.state, sa.func.count()).group_by(OutboxJob.state))
    sent_rows = await session.execute(
        sa.select(Message.status, sa.func.count())
        .where(Message.direction == Direction.OUTBOUND.value)
        .group_by(Message.status)
    )
    paused = await session.scalar(
        sa.select(sa.func.count()).select_from(Account).where(Account.sending_paused.is_not(None))
    )
    oldest = await events.oldest_waiting(event_session)
    return Gauges(
        media={str(state): (int(n), int(size)) for state, n, size in media_rows},
        outbox={str(state): int(n) for state, n in outbox_rows},
        outbound={str(status): int(n) for status, n in sent_rows},
        events_waiting=await events.backlog(event_session),
        oldest_waiting_seconds=max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0,
        deliveries=await _deliveries(session),
        accounts_paused=int(paused or 0),
    )
