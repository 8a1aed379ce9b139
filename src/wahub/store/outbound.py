"""Queueing a message to send: the one way the API, the CLI and schedules send anything.

The message row and its outbox job are written in the caller's transaction, so either both commit or
neither does; only the sender (``worker/sender.py``) then talks to the provider.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.store import contacts, conversations, db, entities, outbox, stream
from wahub.store.models import Account, Contact, Conversation, Message, OutboxJob, utcnow
from wahub.store.search_text import indexed_text

BROADCAST_CHUNK = 1_000  # recipients per round of statements (SQLite caps the bound values of one statement)


@dataclass(frozen=True, slots=True)
class QueuedSend:
    """One message to queue. ``free_form`` (anything but a template) needs the conversation's 24-hour window
    open; a message to a group (``group_id``) has no window and goes to the group's conversation."""

    account: Account
    to: domain.ContactRef
    message_type: domain.MessageType
    content: dict[str, Any]
    reply_to: str | None = None
    free_form: bool = True
    group_id: str | None = None
    entities: tuple[tuple[str, str], ...] = ()  # linked to the message as it is queued (``store/entities.py``)
    # Who queues it: a signed-in user or an API key (neither: wahub itself, e.g. the CLI or a campaign).
    sent_by_user_id: int | None = None
    sent_by_api_key_id: int | None = None
    send_at: datetime | None = None  # its job is due then (None or a past time: now)
    # Sent at most once where the provider can confirm it: a send whose answer was lost is not sent again until
    # the grace for its status has passed (``store/outbox.py``, ``OutboxJob.confirm``). Campaigns ask for it.
    confirm: bool = False

    def later(self, now: datetime) -> bool:
        """Held until a time still to come: the window is the one at that time, not now (``window_warning``)."""
        return self.send_at is not None and self.send_at > now

    @property
    def chat(self) -> domain.ContactRef:
        return domain.group_contact(self.group_id) if self.group_id else self.to


async def queue_many(
    session: AsyncSession, items: Sequence[QueuedSend], *, whole: bool = False
) -> list[tuple[Message, Contact] | errors.WindowClosed]:
    """Queue each item (its ``queued`` message and outbox job) in the caller's transaction with a few
    statements for all of them: contacts and conversations found or created together, then one insert of the
    messages and one of their jobs. An item whose window is closed is refused (its ``WindowClosed`` in its
    place: Meta would refuse it, 131047) and the others are queued; with ``whole``, nothing is queued then and
    ``WindowClosed`` is raised, counting them."""
    refs: dict[int, list[domain.ContactRef]] = defaultdict(list)
    for item in items:
        refs[item.account.id].append(item.chat)
    resolved = {account_id: await contacts.resolve_many(session, account_id, r) for account_id, r in refs.items()}
    chats = {
        account_id: await conversations.resolve_many(session, account_id, {c.id for c in found.all()})
        for account_id, found in resolved.items()
    }
    now = utcnow()
    results: list[tuple[Message, Contact] | errors.WindowClosed] = []
    rows = []
    due: list[datetime] = []  # each row's job's run_at
    for item in items:
        contact = resolved[item.account.id].get(item.chat)
        chat = chats[item.account.id][contact.id]
        if (
            item.free_form
            and item.group_id is None
            and not item.later(now)
            and not conversations.window_open(chat, now)
        ):
            results.append(_window_closed(chat))
            continue
        row = {
            "account_id": item.account.id,
            "conversation_id": chat.id,
            "contact_id": contact.id,
            "direction": domain.Direction.OUTBOUND.value,
            "type": item.message_type.value,
            "status": domain.MessageStatus.QUEUED.value,
            "content": item.content,
            "search_text": indexed_text(item.message_type.value, item.content),  # indexed in the same insert
            "media_id": _uploaded_file(item),
            "reply_to_wamid": item.reply_to,
            "group_id": item.group_id,
            "possible_duplicate": False,
            "sent_by_user_id": item.sent_by_user_id,
            "sent_by_api_key_id": item.sent_by_api_key_id,
            "created_at": now,
            "queued_at": now,
        }
        rows.append(row)
        due.append(item.send_at if item.later(now) and item.send_at else now)
        conversations.record_activity(chat, now)
        results.append((Message(**row), contact))
    closed = [item.to.key for item, r in zip(items, results, strict=True) if isinstance(r, errors.WindowClosed)]
    if whole and closed:
        raise errors.WindowClosed(
            f"the 24-hour customer-service window is closed for {len(closed)} of the recipients (first: "
            f"{closed[0]}): only a template message can be sent to them; send one with type 'template'"
        )
    if rows:
        # One statement for all the messages (the ORM's flush would insert them one by one), then their jobs.
        table: sa.Table = Message.__table__  # type: ignore[assignment]
        new = [r for r in results if not isinstance(r, errors.WindowClosed)]
        for row, (message, _), message_id in zip(rows, new, await db.new_ids(session, table, len(rows)), strict=True):
            row["id"] = message.id = message_id
        await session.execute(sa.insert(table), rows)
        await session.execute(
            sa.insert(OutboxJob),
            [
                _job(m.id, m.account_id, now, at, item.confirm)
                for (item, (m, _)), at in zip(_queued(items, results), due, strict=True)
            ],
        )
        stream.publish(session, [c for m, _ in new for c in stream.message_created(m.id, m.conversation_id, "queued")])
        links = [(message.id, entity) for item, (message, _) in _queued(items, results) for entity in item.entities]
        if links:
            await entities.link_messages(session, links)
    return results


def _queued(
    items: Sequence[QueuedSend], results: Sequence[tuple[Message, Contact] | errors.WindowClosed]
) -> list[tuple[QueuedSend, tuple[Message, Contact]]]:
    return [(item, r) for item, r in zip(items, results, strict=True) if not isinstance(r, errors.WindowClosed)]


def _uploaded_file(item: QueuedSend) -> int | None:
    """The media row of a file uploaded to wahub that the message sends (``wahub_media_id``): the message names
    it as its media, as an inbound media message names the file it brought."""
    obj = item.content.get(item.message_type.value)
    value = obj.get("wahub_media_id") if isinstance(obj, dict) else None
    return value if isinstance(value, int) else None


def _job(message_id: int, account_id: int, now: datetime, run_at: datetime, confirm: bool) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "account_id": account_id,
        "kind": outbox.JobKind.SEND.value,
        "confirm": confirm,
        "state": outbox.JobState.PENDING.value,
        "attempts": 0,
        "run_at": run_at,
        "created_at": now,
        "updated_at": now,
    }


async def window_warning(session: AsyncSession, conversation_id: int, send_at: datetime) -> str | None:
    """What to tell who queues a free-form message for ``send_at``: that its conversation's 24-hour window will
    be closed by then (it is sent anyway, and fails with the window's reason unless the contact writes first)."""
    chat = await session.get(Conversation, conversation_id)
    closes = conversations.window_closes_at(chat) if chat is not None else None
    if closes is not None and closes > send_at:
        return None
    when = f"closes at {closes.isoformat()}" if closes else "is not open (this contact has not written yet)"
    return (
        f"the 24-hour customer-service window {when}, before send_at: unless the contact writes before then, the "
        "message will fail with window_closed; send a template instead"
    )


def _window_closed(conversation: Conversation) -> errors.WindowClosed:
    closes = conversations.window_closes_at(conversation)
    return errors.WindowClosed(
        "the 24-hour customer-service window is closed "
        + (f"(it closed at {closes.isoformat()})" if closes else "(this contact has not written yet)")
        + ": only a template message can be sent; send one with type 'template'",
        window_closes_at=closes.isoformat() if closes else None,
    )


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
    """Queue one message (``queue_many``); raises ``WindowClosed`` if it needs a window that is closed."""
    (result,) = await queue_many(session, [QueuedSend(account, to, message_type, content, reply_to, free_form)])
    if isinstance(result, errors.WindowClosed):
        raise result
    return result


async def queue_broadcast(
    session: AsyncSession,
    account: Account,
    recipients: Sequence[domain.ContactRef],
    message_type: domain.MessageType,
    content: dict[str, Any],
    *,
    free_form: bool = False,
) -> list[int]:
    """The same message to each recipient (a campaign's), queued by ``queue_many`` in chunks; returns the
    message ids in the recipients' order. A ``free_form`` broadcast is refused whole if any recipient's window
    is closed."""
    ids: list[int] = []
    for start in range(0, len(recipients), BROADCAST_CHUNK):
        chunk = [
            QueuedSend(account, to, message_type, content, free_form=free_form)
            for to in recipients[start : start + BROADCAST_CHUNK]
        ]
        for result in await queue_many(session, chunk, whole=True):
            assert not isinstance(result, errors.WindowClosed)  # ``whole`` raised instead
            ids.append(result[0].id)
    return ids
