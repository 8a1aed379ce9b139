"""Queueing a message to send: the one way the API, the CLI and schedules send anything.

The message row and its outbox job are written in the caller's transaction, so either both commit or
neither does; only the sender (``worker/sender.py``) then talks to the provider.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.store import contacts, conversations, messages, outbox
from wahub.store.models import Account, Contact, Message


async def queue_message(
    session: AsyncSession,
    account: Account,
    to: domain.ContactRef,
    message_type: domain.MessageType,
    content: dict[str, Any],
    *,
    reply_to: str | None = None,
) -> tuple[Message, Contact]:
    """Create the contact and conversation if new, the ``queued`` message and its outbox job."""
    contact = await contacts.upsert_contact(session, account.id, to)
    conversation = await conversations.get_or_create(session, account.id, contact.id)
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
