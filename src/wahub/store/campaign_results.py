"""What became of a campaign's recipients (``campaigns.py``): each one's result, read from its row and, once
queued, from its message by a join (never copied), and the totals by result.

A recipient's result is ``pending`` or ``skipped`` (with the reason) until its message is queued; then the
message's status: ``queued``, ``sent``, ``delivered``, ``read`` (or played), ``failed`` with Meta's reason; a
failure for one of Meta's marketing limits (131049, 131050) shows as ``skipped`` with Meta's reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store.campaigns import MARKETING_LIMITS, RESULTS, Result
from wahub.store.models import CampaignRecipient, Contact, Message

_R = CampaignRecipient
_LIMITED = sa.and_(Message.status == "failed", Message.error_code.in_(MARKETING_LIMITS))

# The result as SQL, for counting and filtering in the database.
RESULT = sa.case(
    (_R.result != Result.QUEUED.value, _R.result),
    (Message.id.is_(None), Result.QUEUED.value),
    (_LIMITED, Result.SKIPPED.value),
    (Message.status == "played", "read"),
    (Message.status.in_(("sent", "delivered", "read", "failed")), Message.status),
    else_=Result.QUEUED.value,
)


@dataclass(frozen=True, slots=True)
class Row:
    """One recipient's line of the results."""

    id: int
    contact_id: int
    number: str | None  # E.164 with '+', or None for a contact known only by its user id
    name: str | None
    result: str
    reason: str | None
    message_id: int | None
    wamid: str | None
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None


def _select() -> sa.Select[tuple[object, ...]]:
    return (
        sa.select(
            _R.id,
            _R.contact_id,
            Contact.wa_id,
            Contact.saved_name,
            Contact.profile_name,
            RESULT.label("shown"),
            _R.reason,
            _R.message_id,
            Message.wamid,
            Message.error_code,
            Message.error_title,
            Message.error_details,
            Message.queued_at,
            Message.sent_at,
            Message.delivered_at,
            Message.read_at,
            Message.failed_at,
        )
        .join(Contact, Contact.id == _R.contact_id)
        .outerjoin(Message, Message.id == _R.message_id)
    )


def _row(raw: sa.Row[tuple[object, ...]]) -> Row:
    m = raw._mapping
    reason = m["reason"]
    if m["shown"] in ("failed", Result.SKIPPED.value) and m["message_id"] is not None and reason is None:
        parts = [str(m["error_code"]) if m["error_code"] else None, m["error_title"], m["error_details"]]
        reason = ": ".join(str(p) for p in parts if p) or None
    return Row(
        id=m["id"],
        contact_id=m["contact_id"],
        number=f"+{m['wa_id']}" if m["wa_id"] else None,
        name=m["saved_name"] or m["profile_name"],
        result=m["shown"],
        reason=reason,
        message_id=m["message_id"],
        wamid=m["wamid"],
        queued_at=m["queued_at"],
        sent_at=m["sent_at"],
        delivered_at=m["delivered_at"],
        read_at=m["read_at"],
        failed_at=m["failed_at"],
    )


async def totals(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """How many recipients show each result (each recipient counted once, by where it is now), and
    ``recipients``, their sum."""
    stmt = (
        sa.select(RESULT, sa.func.count())
        .select_from(_R)
        .outerjoin(Message, Message.id == _R.message_id)
        .where(_R.campaign_id == campaign_id)
        .group_by(RESULT)
    )
    counts = dict.fromkeys(RESULTS, 0)
    for result, count in await session.execute(stmt):
        counts[str(result)] = counts.get(str(result), 0) + int(count)
    return {"recipients": sum(counts.values()), **counts}


def check_result(value: str | None) -> None:
    if value is not None and value not in RESULTS:
        raise errors.InvalidInput(f"result: one of {', '.join(RESULTS)}", field="result")


async def page(
    session: AsyncSession, campaign_id: int, *, result: str | None = None, after: int = 0, limit: int = 100
) -> list[Row]:
    """Recipients in the order they were added, from after recipient id ``after``, those with ``result``."""
    check_result(result)
    stmt = _select().where(_R.campaign_id == campaign_id, _R.id > after).order_by(_R.id).limit(limit)
    if result is not None:
        stmt = stmt.where(RESULT.__eq__(result))
    return [_row(r) for r in await session.execute(stmt)]


async def every(session: AsyncSession, campaign_id: int, chunk: int = 1_000) -> list[Sequence[Row]]:
    """All the recipients' rows, in pages of ``chunk`` (for the CSV export)."""
    pages: list[Sequence[Row]] = []
    after = 0
    while rows := await page(session, campaign_id, after=after, limit=chunk):
        pages.append(rows)
        after = rows[-1].id
    return pages


CSV_COLUMNS = (
    "number",
    "name",
    "result",
    "reason",
    "message_id",
    "wamid",
    "queued_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
)


def csv_cells(row: Row) -> list[str]:
    """A row as the CSV export's cells (``CSV_COLUMNS``)."""

    def when(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    return [
        row.number or "",
        _inert(row.name or ""),
        row.result,
        _inert(row.reason or ""),
        str(row.message_id or ""),
        row.wamid or "",
        when(row.queued_at),
        when(row.sent_at),
        when(row.delivered_at),
        when(row.read_at),
        when(row.failed_at),
    ]


def _inert(text: str) -> str:
    """Text a contact or Meta wrote, kept from being read as a formula by a spreadsheet that opens the file."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
