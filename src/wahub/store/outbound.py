"""Queueing a message to send: the one way the API, the CLI and schedules send anything.

The message row and its outbox job are written in the caller's transaction, so either both commit or
neither does; only the sender (``worker/sender.py``) then talks to the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.store import contacts, conversations, messages, outbox
from wahub.store.models import Account, Contact, Message, OutboxJob, utcnow

BROADCAST_CHUNK = 1_000  # recipients per round of statements (SQLite caps the bound values of one statement)


async def queue_message(
    session: AsyncSession,
    account: Account,
    to: domain.ContactRef,
    message_type: domain.MessageType,
    content: dict[str, Any],
    *,
    reply_to: str | None = None,
    free_form: bool = True,
) -> tuple[Message, Contact]:
    """Create the contact and conversation if new, the ``queued`` message and its outbox job.

    A ``free_form`` message (anything but a template) needs the conversation's 24-hour customer-service window
    to be open: Meta would refuse it (131047), so it is refused here, before anything is stored."""
    contact = await contacts.upsert_contact(session, account.id, to)
    conversation = await conversations.get_or_create(session, account.id, contact.id)
    if free_form and not conversations.window_open(conversation, utcnow()):
        closes = conversations.window_closes_at(conversation)
        raise errors.WindowClosed(
            "the 24-hour customer-service window is closed "
            + (f"(it closed at {closes.isoformat()})" if closes else "(this contact has not written yet)")
            + ": only a template message can be sent; send one with type 'template'",
            window_closes_at=closes.isoformat() if closes else None,
        )
    message = await messages.create_outbound(
        session,
        account_id=account.id,
        contact=contact,
        conversation=conversation,
        message_type=message_type,
        content=content,
        reply_to=reply_to,
    )
    outbox.enqueue(session, message.id, account.id)
    return message, contact


async def queue_group_message(
    session: AsyncSession,
    account: Account,
    group_id: str,
    message_type: domain.MessageType,
    content: dict[str, Any],
    *,
    reply_to: str | None = None,
) -> tuple[Message, Contact]:
    """A message to a group (Meta's Groups API), in the group's conversation (``domain.group_contact``)."""
    group = domain.group_contact(group_id)
    # A group has no 24-hour window in Meta's Groups API.
    message, contact = await queue_message(
        session, account, group, message_type, content, reply_to=reply_to, free_form=False
    )
    message.group_id = group_id
    return message, contact


async def queue_broadcast(
    session: AsyncSession,
    account: Account,
    recipients: Sequence[domain.ContactRef],
    message_type: domain.MessageType,
    content: dict[str, Any],
    *,
    free_form: bool = False,
) -> list[int]:
    """The same message to each recipient (a campaign's), queued with a few statements per thousand; returns
    the message ids in the recipients' order. A ``free_form`` broadcast is refused whole if any recipient's
    window is closed."""
    ids: list[int] = []
    for start in range(0, len(recipients), BROADCAST_CHUNK):
        ids += await _queue_chunk(
            session, account, recipients[start : start + BROADCAST_CHUNK], message_type, content, free_form
        )
    return ids


async def _queue_chunk(
    session: AsyncSession,
    account: Account,
    recipients: Sequence[domain.ContactRef],
    message_type: domain.MessageType,
    content: dict[str, Any],
    free_form: bool,
) -> list[int]:
    resolved = await contacts.resolve_many(session, account.id, recipients)
    people = [resolved.get(r) for r in recipients]
    chats = await conversations.resolve_many(session, account.id, {c.id for c in people})
    now = utcnow()
    if free_form:
        closed = [
            r.key for r, c in zip(recipients, people, strict=True) if not conversations.window_open(chats[c.id], now)
        ]
        if closed:
            raise errors.WindowClosed(
                f"the 24-hour customer-service window is closed for {len(closed)} of the recipients (first: "
                f"{closed[0]}): only a template message can be sent to them; send one with type 'template'"
            )
    table: sa.Table = Message.__table__  # type: ignore[assignment]
    rows = [
        {
            "account_id": account.id,
            "conversation_id": chats[c.id].id,
            "contact_id": c.id,
            "direction": domain.Direction.OUTBOUND.value,
            "type": message_type.value,
            "status": domain.MessageStatus.QUEUED.value,
            "content": content,
            "created_at": now,
            "queued_at": now,
        }
        for c in people
    ]
    inserted = await session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    ids = list(inserted.scalars().all())
    jobs = [
        {
            "message_id": i,
            "account_id": account.id,
            "kind": outbox.JobKind.SEND.value,
            "state": outbox.JobState.PENDING.value,
            "attempts": 0,
            "run_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for i in ids
    ]
    await session.execute(sa.insert(OutboxJob), jobs)
    for chat in chats.values():
        conversations.record_activity(chat, now)
    return ids
