"""Statuses: every status Meta reports is recorded once (a unique constraint, not a check), then moves its
message forward. A status whose message is not known yet stays unattached until the message's wamid is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.domain import MessageStatus
from wahub.store import upsert
from wahub.store.models import Message, StatusRecord, utcnow

_STAMP = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.PLAYED: "played_at",
    MessageStatus.FAILED: "failed_at",
}
_RETURNED = ("id", "account_id", "wamid", "status", "timestamp", "error_code", "error_title", "error_details")


@dataclass(frozen=True, slots=True)
class Reached:
    """One status reached by a message, as far as moving the message goes."""

    status: MessageStatus
    at: datetime
    error_code: int | None = None
    error_title: str | None = None
    error_details: str | None = None


def advance(message: Message, reached: Reached) -> None:
    """Record the status's time once, and move the message's status only forward."""
    column = _STAMP.get(reached.status)
    if column is not None and getattr(message, column) is None:
        setattr(message, column, reached.at)
    if domain.moves_forward(MessageStatus(message.status), reached.status):
        message.status = reached.status.value
        if reached.status is MessageStatus.FAILED:
            message.error_code = reached.error_code
            message.error_title = reached.error_title
            message.error_details = reached.error_details


def _row(account_id: int, update: domain.StatusUpdate) -> dict[str, Any]:
    first = update.errors[0] if update.errors else None
    who = update.participant if update.participant is not None else update.recipient
    return {
        "account_id": account_id,
        "wamid": update.provider_id,
        "status": update.status.value,
        "recipient": (who.wa_id or who.user_id or "")[:128],
        "timestamp": update.timestamp,
        "message_id": None,
        "error_code": first.code if first else None,
        "error_title": first.title if first else None,
        "error_details": first.details if first else None,
        "pricing": update.pricing,
        "conversation": update.conversation,
        "raw": update.raw,
        "created_at": utcnow(),
    }


async def record_many(session: AsyncSession, updates: Sequence[tuple[int, domain.StatusUpdate]]) -> tuple[int, int]:
    """Record statuses and apply the new ones. Returns (new, duplicates)."""
    rows = [_row(account_id, update) for account_id, update in updates]
    inserted = await upsert.insert_ignore_many(session, StatusRecord.__table__, rows, _RETURNED)  # type: ignore[arg-type]
    await _apply(session, inserted)
    return len(inserted), len(rows) - len(inserted)


async def _apply(session: AsyncSession, records: Sequence[sa.Row[Any]]) -> None:
    if not records:
        return
    keys = {(r.account_id, r.wamid) for r in records}
    found = await session.scalars(sa.select(Message).where(sa.tuple_(Message.account_id, Message.wamid).in_(keys)))
    by_key = {(m.account_id, m.wamid): m for m in found}
    attached = []
    for record in records:
        message = by_key.get((record.account_id, record.wamid))
        if message is None:
            continue
        advance(message, _reached(record))
        attached.append({"id": record.id, "message_id": message.id})
    if attached:
        await session.execute(sa.update(StatusRecord), attached)


def _reached(record: Any) -> Reached:
    return Reached(
        MessageStatus(record.status), record.timestamp, record.error_code, record.error_title, record.error_details
    )


async def attach(session: AsyncSession, message: Message) -> None:
    """The message's wamid is now known: apply the statuses that arrived before it."""
    stmt = sa.select(StatusRecord).where(
        StatusRecord.account_id == message.account_id,
        StatusRecord.wamid == message.wamid,
        StatusRecord.message_id.is_(None),
    )
    for record in (await session.scalars(stmt)).all():
        advance(message, _reached(record))
        record.message_id = message.id


async def attach_waiting(session: AsyncSession, limit: int = 500) -> int:
    """Apply unattached statuses whose message has its wamid by now.

    ``attach`` does it at once in the common case; this sweep closes the race where a status is recorded
    while the send's result is committed in another transaction (under READ COMMITTED each misses the other)."""
    stmt = (
        sa.select(StatusRecord, Message)
        .join(Message, sa.and_(Message.account_id == StatusRecord.account_id, Message.wamid == StatusRecord.wamid))
        .where(StatusRecord.message_id.is_(None))
        .limit(limit)
    )
    rows = (await session.execute(stmt)).tuples().all()
    for record, message in rows:
        advance(message, _reached(record))
        record.message_id = message.id
    return len(rows)


async def for_message(session: AsyncSession, message_id: int) -> list[StatusRecord]:
    stmt = sa.select(StatusRecord).where(StatusRecord.message_id == message_id).order_by(StatusRecord.timestamp)
    return list((await session.scalars(stmt)).all())
