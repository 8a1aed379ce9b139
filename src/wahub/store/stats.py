"""Statistics over a period (``GET /api/v1/stats``, ``wahub monitor``): messages by direction, type and status,
unique conversations and contacts, delivery and read rates of what was sent, and the error codes of what failed.

A message counts in the period of when it happened: Meta's timestamp for what Meta reported (inbound, echoes,
history shared at onboarding), else when wahub queued it. Delivered and read come from the status timestamps,
so a message read without a ``delivered`` webhook still counts as delivered (a read implies it). The series
by day (``Stats.by_day``, the admin dashboard's chart) cuts the period at UTC midnights, every day listed.
Messages of erased people still count, from what ``ErasedMessage`` kept of them (``facts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.domain import Direction, MessageStatus
from wahub.store.models import Account, ErasedMessage, Message

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


def _flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.case((condition, 1), else_=0)


def facts(since: datetime, until: datetime) -> sa.Subquery:
    """One row per message that happened in ``[since, until)``: the stored messages, and the erased ones'
    statistics (``ErasedMessage``), so that erasing a person leaves every count as it was."""
    stored = (
        sa.select(
            _when().label("happened_at"),
            Message.direction,
            Message.type,
            Message.status,
            _flag(Message.wamid.is_not(None)).label("accepted"),
            _flag(sa.func.coalesce(Message.delivered_at, Message.read_at, Message.played_at).is_not(None)).label(
                "delivered"
            ),
            _flag(sa.func.coalesce(Message.read_at, Message.played_at).is_not(None)).label("read"),
            _flag(Message.possible_duplicate.is_(True)).label("duplicate"),
            Message.error_code,
            Message.error_title,
            Message.conversation_id,
            Message.contact_id,
            Account.provider,
        )
        .join(Account, Account.id == Message.account_id)
        .where(_when() >= since, _when() < until)
    )
    erased = sa.select(
        ErasedMessage.happened_at,
        ErasedMessage.direction,
        ErasedMessage.type,
        ErasedMessage.status,
        _flag(ErasedMessage.accepted.is_(True)),
        _flag(ErasedMessage.delivered.is_(True)),
        _flag(ErasedMessage.read.is_(True)),
        _flag(ErasedMessage.possible_duplicate.is_(True)),
        ErasedMessage.error_code,
        ErasedMessage.error_title,
        ErasedMessage.conversation_id,
        ErasedMessage.contact_id,
        ErasedMessage.provider,
    ).where(ErasedMessage.happened_at >= since, ErasedMessage.happened_at < until)
    return sa.union_all(stored, erased).subquery("facts")


async def summary(session: AsyncSession, since: datetime, until: datetime) -> Stats:
    """The statistics of the messages that happened in ``[since, until)``."""
    f = facts(since, until).c
    stats = Stats(since=since, until=until)
    rows = await session.execute(
        sa.select(
            f.direction,
            f.type,
            f.status,
            sa.func.count(),
            sa.func.sum(f.accepted),
            sa.func.sum(f.delivered),
            sa.func.sum(f.read),
            sa.func.sum(f.duplicate),
        ).group_by(f.direction, f.type, f.status)
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
        out.accepted += int(with_wamid or 0)
        out.delivered += int(n_delivered or 0)
        out.read += int(n_read or 0)
        out.possible_duplicates += int(duplicates or 0)
        if status == MessageStatus.FAILED.value:
            out.failed += n
    by_provider = await session.execute(sa.select(f.provider, sa.func.count()).group_by(f.provider))
    stats.by_provider = {provider: int(n) for provider, n in by_provider}
    distinct = (
        await session.execute(
            sa.select(sa.func.count(sa.distinct(f.conversation_id)), sa.func.count(sa.distinct(f.contact_id)))
        )
    ).one()
    stats.conversations, stats.contacts = int(distinct[0]), int(distinct[1])
    failures = await session.execute(
        sa.select(f.error_code, sa.func.min(f.error_title), sa.func.count())
        .where(f.direction == Direction.OUTBOUND.value, f.status == MessageStatus.FAILED.value)
        .group_by(f.error_code)
        .order_by(sa.func.count().desc(), f.error_code)
        .limit(TOP_ERRORS)
    )
    stats.errors = [ErrorCount(code, title, int(n)) for code, title, n in failures]
    stats.by_day = await _by_day(session, f, since, until)
    return stats


async def _by_day(
    session: AsyncSession, f: sa.ColumnCollection[str, sa.ColumnElement[Any]], since: datetime, until: datetime
) -> list[Day]:
    """Each UTC day from ``since``'s to the one before ``until`` (empty days too), with its counts."""
    # date() of a timestamp: a date on PostgreSQL, 'YYYY-MM-DD' on SQLite (timestamps are stored as naive UTC).
    day = sa.func.date(f.happened_at)
    outbound = f.direction == Direction.OUTBOUND.value
    rows = await session.execute(
        sa.select(
            day,
            sa.func.sum(_flag(f.direction == Direction.INBOUND.value)),
            sa.func.sum(_flag(outbound)),
            sa.func.sum(sa.case((outbound, f.delivered), else_=0)),
            sa.func.sum(sa.case((outbound, f.read), else_=0)),
        ).group_by(day)
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
