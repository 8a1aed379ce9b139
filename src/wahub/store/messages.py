"""Messages: recording inbound ones once, creating outbound ones, moving statuses forward only."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.domain import Direction, MessageStatus
from wahub.store import conversations, upsert
from wahub.store.models import Contact, Conversation, Message, PendingStatus, utcnow


async def record_inbound(
    session: AsyncSession,
    account_id: int,
    contact: Contact,
    conversation: Conversation,
    inbound: domain.InboundMessage,
) -> Message | None:
    """Store an inbound message once. Returns None when this ``wamid`` is already stored (a redelivery)."""
    now = utcnow()
    stmt = upsert.insert_ignore(
        session,
        Message.__table__,  # type: ignore[arg-type]
        {
            "account_id": account_id,
            "conversation_id": conversation.id,
            "contact_id": contact.id,
            "direction": Direction.INBOUND.value,
            "type": inbound.type.value,
            "wamid": inbound.provider_id,
            "status": MessageStatus.RECEIVED.value,
            "content": inbound.content,
            "raw": inbound.raw,
            "reply_to_wamid": inbound.reply_to,
            "created_at": now,
            "provider_timestamp": inbound.timestamp,
        },
    )
    new_id = (await session.execute(stmt)).scalar()
    if new_id is None:
        return None
    conversations.record_inbound(conversation, inbound.timestamp)
    return await session.get(Message, new_id)


async def create_outbound(
    session: AsyncSession,
    *,
    account_id: int,
    contact: Contact,
    conversation: Conversation,
    message_type: domain.MessageType,
    content: dict[str, Any],
    reply_to: str | None = None,
) -> Message:
    """A new outbound message in state ``queued``; the caller adds its outbox job in the same transaction."""
    now = utcnow()
    message = Message(
        account_id=account_id,
        conversation_id=conversation.id,
        contact_id=contact.id,
        direction=Direction.OUTBOUND.value,
        type=message_type.value,
        status=MessageStatus.QUEUED.value,
        content=content,
        reply_to_wamid=reply_to,
        created_at=now,
        queued_at=now,
    )
    session.add(message)
    conversations.record_activity(conversation, now)
    await session.flush()
    return message


async def record_accepted(session: AsyncSession, message: Message, wamid: str) -> None:
    """The provider accepted the send and named it ``wamid``; statuses that came early apply now."""
    message.wamid = wamid
    if domain.moves_forward(MessageStatus(message.status), MessageStatus.ACCEPTED):
        message.status = MessageStatus.ACCEPTED.value
    await session.flush()
    await _apply_pending(session, message)


def record_failure(message: Message, code: int | None, title: str, details: str | None) -> None:
    """The send failed for good: the message ends ``failed`` with the provider's code and reason."""
    message.status = MessageStatus.FAILED.value
    message.failed_at = utcnow()
    message.error_code = code
    message.error_title = title
    message.error_details = details


async def apply_status(session: AsyncSession, account_id: int, update: domain.StatusUpdate) -> bool:
    """Apply a status webhook. Returns False when the message is not known yet: the status is kept aside
    and applied by ``record_accepted`` when it is."""
    stmt = (
        sa.select(Message)
        .where(Message.account_id == account_id, Message.wamid == update.provider_id)
        .with_for_update()
    )
    message = (await session.scalars(stmt)).first()
    first_error = update.errors[0] if update.errors else None
    status = _Status(
        update.status,
        update.timestamp,
        first_error.code if first_error else None,
        first_error.title if first_error else None,
        first_error.details if first_error else None,
    )
    if message is None:
        session.add(
            PendingStatus(
                account_id=account_id,
                wamid=update.provider_id,
                status=status.status.value,
                timestamp=status.at,
                error_code=status.error_code,
                error_title=status.error_title,
                error_details=status.error_details,
            )
        )
        return False
    _move(message, status)
    return True


@dataclass(frozen=True, slots=True)
class _Status:
    status: MessageStatus
    at: datetime
    error_code: int | None = None
    error_title: str | None = None
    error_details: str | None = None


_STAMP = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.PLAYED: "played_at",
    MessageStatus.FAILED: "failed_at",
}


def _move(message: Message, status: _Status) -> None:
    """Record the status's timestamp once, and move the message's status only forward."""
    column = _STAMP.get(status.status)
    if column is not None and getattr(message, column) is None:
        setattr(message, column, status.at)
    if domain.moves_forward(MessageStatus(message.status), status.status):
        message.status = status.status.value
        if status.status is MessageStatus.FAILED:
            message.error_code = status.error_code
            message.error_title = status.error_title
            message.error_details = status.error_details


async def _apply_pending(session: AsyncSession, message: Message) -> None:
    stmt = sa.select(PendingStatus).where(
        PendingStatus.account_id == message.account_id, PendingStatus.wamid == message.wamid
    )
    for pending in (await session.scalars(stmt)).all():
        _move(
            message,
            _Status(
                MessageStatus(pending.status),
                pending.timestamp,
                pending.error_code,
                pending.error_title,
                pending.error_details,
            ),
        )
        await session.delete(pending)


async def resolve_pending(session: AsyncSession, limit: int = 500) -> int:
    """Apply kept-aside statuses whose message has its ``wamid`` by now.

    ``record_accepted`` applies them at once in the common case; this sweep closes the race where a status
    is kept aside while the send's result is being committed in another transaction (READ COMMITTED lets
    each miss the other's row)."""
    stmt = (
        sa.select(Message)
        .join(
            PendingStatus, sa.and_(PendingStatus.account_id == Message.account_id, PendingStatus.wamid == Message.wamid)
        )
        .distinct()
        .limit(limit)
    )
    found = list((await session.scalars(stmt)).all())
    for message in found:
        await _apply_pending(session, message)
    return len(found)


async def get(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise errors.NotFound(f"message {message_id} does not exist")
    return message


@dataclass(frozen=True, slots=True)
class Page:
    items: list[tuple[Message, Contact]]
    next_cursor: str | None


async def list_page(session: AsyncSession, *, limit: int, cursor: str | None) -> Page:
    """Messages newest first; ``cursor`` is the opaque value a previous page returned."""
    stmt = (
        sa.select(Message, Contact)
        .join(Contact, Contact.id == Message.contact_id)
        .order_by(Message.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        stmt = stmt.where(Message.id < decode_cursor(cursor))
    rows = [(m, c) for m, c in (await session.execute(stmt)).tuples().all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(rows[-1][0].id) if more and rows else None)


def encode_cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(f"m:{message_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "m":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput("cursor is not valid", field="cursor") from exc
