"""Statistics over a period (``GET /api/v1/stats``, ``wahub monitor``): messages by direction, type and status,
unique conversations and contacts, delivery and read rates of what was sent, and the error codes of what failed.

A message counts in the period of when it happened: Meta's timestamp for what Meta reported (inbound, echoes,
history shared at onboarding), else when wahub queued it. Delivered and read come from the status timestamps,
so a message read without a ``delivered`` webhook still counts as delivered (a read implies it). The series
by day (``Stats.by_day``, the admin dashboard's chart) cuts the period at UTC midnights, every day listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.domain import Direction, MessageStatus
from wahub.store.models import Account, Message

TOP_ERRORS = 20


@dataclass(frozen=True, slots=True)
class ErrorCount:
    code: int | None
    title: str | None
    count: int


@dataclass(slots=True)
class Outbound:
    """What became of the messages sent in the period. Rates are None when their denominator is 0."""

    accepted: int = 0  # the provider took them (they have its id: Meta's wamid, Twilio's MessageSid)
    delivered: int = 0  # reached the phone: delivered, read or played
    read: int = 0  # read or played
    failed: int = 0
    possible_duplicates: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered out of accepted by Meta."""
        return round(self.delivered / self.accepted, 4) if self.accepted else None

    @property
    def read_rate(self) -> float | None:
        """Read out of delivered."""
        return round(self.read / self.delivered, 4) if self.delivered else None


@dataclass(frozen=True, slots=True)
class Day:
    """The messages of one UTC day: received, sent (queued), and of those sent, delivered and read."""

    day: date
    inbound: int = 0
    outbound: int = 0
    delivered: int = 0
    read: int = 0


@dataclass(slots=True)
class Stats:
    since: datetime
    until: datetime
    total: int = 0
    by_direction: dict[str, int] = field(default_factory=dict)
    by_provider: dict[str, int] = field(default_factory=dict)  # meta, twilio
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)  # direction -> message type -> count
    conversations: int = 0  # distinct conversations with a message in the period
    contacts: int = 0  # distinct contacts (and groups) with a message in the period
    outbound: Outbound = field(default_factory=Outbound)
    errors: list[ErrorCount] = field(default_factory=list)  # failures by Meta's code, most frequent first
    by_day: list[Day] = field(default_factory=list)  # every UTC day of the period, oldest first


def _when() -> sa.ColumnElement[datetime]:
    return sa.func.coalesce(Message.provider_timestamp, Message.created_at)


async def summary(session: AsyncSession, since: datetime, until: datetime) -> Stats:
    """The statistics of the messages that happened in ``[since, until)``."""
    period = sa.and_(_when() >= since, _when() < until)
    stats = Stats(since=since, until=until)
    delivered = sa.func.coalesce(Message.delivered_at, Message.read_at, Message.played_at).is_not(None)
    read = sa.func.coalesce(Message.read_at, Message.played_at).is_not(None)
    rows = await session.execute(
        sa.select(
            Message.direction,
            Message.type,
            Message.status,
            sa.func.count(),
            sa.func.count(Message.wamid),
            sa.func.sum(sa.case((delivered, 1), else_=0)),
            sa.func.sum(sa.case((read, 1), else_=0)),
            sa.func.sum(sa.case((Message.possible_duplicate.is_(True), 1), else_=0)),
        )
        .where(period)
        .group_by(Message.direction, Message.type, Message.status)
    )
    out = stats.outbound
    for direction, kind, status, count, with_wamid, n_delivered, n_read, duplicates in rows:
        n = int(count)
        stats.total += n
        stats.by_direction[direction] = stats.by_direction.get(direction, 0) + n
        types = stats.by_type.setdefault(direction, {})
        types[kind] = types.get(kind, 0) + n
        if direction != Direction.OUTBOUND.value:
            continue
        out.by_status[status] = out.by_status.get(status, 0) + n
        out.accepted += int(with_wamid)
        out.delivered += int(n_delivered or 0)
        out.read += int(n_read or 0)
        out.possible_duplicates += int(duplicates or 0)
        if status == MessageStatus.FAILED.value:
            out.failed += n
    by_provider = await session.execute(
        sa.select(Account.provider, sa.func.count())
        .select_from(Message)
        .join(Account, Account.id == Message.account_id)
        .where(period)
        .group_by(Account.provider)
    )
    stats.by_provider = {provider: int(n) for provider, n in by_provider}
    conversations = sa.func.count(sa.distinct(Message.conversation_id))
    contacts = sa.func.count(sa.distinct(Message.contact_id))
    distinct = (await session.execute(sa.select(conversations, contacts).where(period))).one()
    stats.conversations, stats.contacts = int(distinct[0]), int(distinct[1])
    failures = await session.execute(
        sa.select(Message.error_code, sa.func.min(Message.error_title), sa.func.count())
        .where(period, Message.direction == Direction.OUTBOUND.value, Message.status == MessageStatus.FAILED.value)
        .group_by(Message.error_code)
        .order_by(sa.func.count().desc(), Message.error_code)
        .limit(TOP_ERRORS)
    )
    stats.errors = [ErrorCount(code, title, int(n)) for code, title, n in failures]
    stats.by_day = await _by_day(session, period, since, until, delivered, read)
    return stats


async def _by_day(
    session: AsyncSession,
    period: sa.ColumnElement[bool],
    since: datetime,
    until: datetime,
    delivered: sa.ColumnElement[bool],
    read: sa.ColumnElement[bool],
) -> list[Day]:
    """Each UTC day from ``since``'s to the one before ``until`` (empty days too), with its counts."""
    # date() of a timestamp: a date on PostgreSQL, 'YYYY-MM-DD' on SQLite (timestamps are stored as naive UTC).
    day = sa.func.date(_when())
    outbound = Message.direction == Direction.OUTBOUND.value
    rows = await session.execute(
        sa.select(
            day,
            sa.func.sum(sa.case((Message.direction == Direction.INBOUND.value, 1), else_=0)),
            sa.func.sum(sa.case((outbound, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(outbound, delivered), 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(outbound, read), 1), else_=0)),
        )
        .where(period)
        .group_by(day)
    )
    found = {}
    for raw, inbound, sent, n_delivered, n_read in rows:
        d = _as_date(raw)
        found[d] = Day(d, int(inbound or 0), int(sent or 0), int(n_delivered or 0), int(n_read or 0))
    first, last = _utc_day(since), _utc_day(until - timedelta(microseconds=1))
    return [found.get(d) or Day(d) for d in (first + timedelta(days=n) for n in range((last - first).days + 1))]


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def render(stats: Stats) -> list[str]:
    """The statistics as ``wahub monitor`` shows them."""
    days = (stats.until - stats.since).total_seconds() / 86400
    period = f"{days:g} day{'s' if days != 1 else ''}"
    if not stats.total:
        return [f"statistics, last {period}: no messages"]
    out = stats.outbound
    directions = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.by_direction.items()))
    lines = [
        f"statistics, last {period}: {stats.total:,} messages ({directions}) in {stats.conversations:,} "
        f"conversations with {stats.contacts:,} contacts",
    ]
    if len(stats.by_provider) > 1:
        lines.append("  by provider: " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.by_provider.items())))
    for direction, types in sorted(stats.by_type.items()):
        most_first = sorted(types.items(), key=lambda t: (-t[1], t[0]))
        lines.append(f"  {direction}: " + ", ".join(f"{k} {v:,}" for k, v in most_first))
    if stats.by_direction.get(Direction.OUTBOUND.value):
        lines.append(
            f"  sent: accepted by the provider {out.accepted:,}, delivered {out.delivered:,} "
            f"({_percent(out.delivery_rate)}), read {out.read:,} ({_percent(out.read_rate)} of delivered), "
            f"failed {out.failed:,}"
        )
    for e in stats.errors:
        lines.append(f"  failed {e.count:,}  {e.code if e.code is not None else '-'}: {e.title or 'unknown'}")
    return lines


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"
