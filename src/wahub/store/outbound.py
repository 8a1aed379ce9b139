"""Queueing a message to send: the one way the API, the CLI and schedules send anything.

The message row and its outbox job are written in the caller's transaction, so either both commit or
neither does; only the sender (``worker/sender.py``) then talks to the provider.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.store import contacts, conversations, messages, outbox
from wahub.store.models import Account, Contact, Message, utcnow


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
