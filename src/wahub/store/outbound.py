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
from wahub.store.columns import UTCDateTime
from wahub.store.keys import one_of
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
    # The contact ``to`` names, when the caller knows it already (a campaign's recipient): ``queue_ids`` does
    # not look it up again.
    contact_id: int | None = None

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
    results: list[tuple[Message, Contact] | errors.WindowClosed] = []
    for r in await _queue(session, items, whole, known=False):
        if isinstance(r, errors.WindowClosed):
            results.append(r)
        else:
            assert r.contact is not None  # looked up: ``known`` is off
            results.append((Message(**r.row), r.contact))
    return results


async def queue_ids(session: AsyncSession, items: Sequence[QueuedSend]) -> list[int | errors.WindowClosed]:
    """``queue_many``, answering each queued message's id only (no ``Message`` object built, and no contact
    looked up for an item that names its ``contact_id``: a campaign's chunk)."""
    return [r if isinstance(r, errors.WindowClosed) else r.row["id"] for r in await _queue(session, items, False)]


@dataclass(frozen=True, slots=True)
class _Queued:
    row: dict[str, Any]  # the message's columns as inserted, its id with them
    contact: Contact | None  # None: not looked up (``QueuedSend.contact_id``)


async def _queue(
    session: AsyncSession, items: Sequence[QueuedSend], whole: bool, *, known: bool = True
) -> list[_Queued | errors.WindowClosed]:
    """``known``: an item's ``contact_id`` stands for its contact (not looked up)."""
    refs: dict[int, list[domain.ContactRef]] = defaultdict(list)
    ids: dict[int, set[int]] = defaultdict(set)
    for item in items:
        if known and item.contact_id is not None:
            ids[item.account.id].add(item.contact_id)
        else:
            refs[item.account.id].append(item.chat)
    resolved = {account_id: await contacts.resolve_many(session, account_id, r) for account_id, r in refs.items()}
    for account_id, found in resolved.items():
        ids[account_id].update(c.id for c in found.all())
    chats = {
        account_id: await conversations.resolve_rows(session, account_id, cids) for account_id, cids in ids.items()
    }
    now = utcnow()
    results: list[_Queued | errors.WindowClosed] = []
    rows: list[dict[str, Any]] = []
    due: list[datetime] = []  # each row's job's run_at
    touched: dict[int, conversations.Chat] = {}
    for item in items:
        if known and item.contact_id is not None:
            contact, contact_id = None, item.contact_id
        else:
            contact = resolved[item.account.id].get(item.chat)
            contact_id = contact.id
        chat = chats[item.account.id][contact_id]
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
            "contact_id": contact_id,
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
        touched[chat.id] = chat
        results.append(_Queued(row, contact))
    closed = [item.to.key for item, r in zip(items, results, strict=True) if isinstance(r, errors.WindowClosed)]
    if whole and closed:
        raise errors.WindowClosed(
            f"the 24-hour customer-service window is closed for {len(closed)} of the recipients (first: "
            f"{closed[0]}): only a template message can be sent to them; send one with type 'template'"
        )
    if rows:
        # One statement for all the messages (the ORM's flush would insert them one by one), then their jobs,
        # then the conversations' last activity.
        table: sa.Table = Message.__table__  # type: ignore[assignment]
        for row, message_id in zip(rows, await db.new_ids(session, table, len(rows)), strict=True):
            row["id"] = message_id
        await session.execute(sa.insert(table), rows)
        await _insert_jobs(
            session,
            [(row, at, item.confirm) for (item, row), at in zip(_queued(items, results), due, strict=True)],
            now,
        )
        await conversations.record_activity_many(session, touched.values(), now)
        # The stream's events from what was inserted (nothing is read back at commit).
        stream.publish(
            session,
            [
                change
                for row in rows
                for change in stream.message_created(
                    row["id"],
                    row["conversation_id"],
                    "queued",
                    stream.created_view(row["id"], row),
                    touched[row["conversation_id"]],
                )
            ],
        )
        links = [(row["id"], entity) for item, row in _queued(items, results) for entity in item.entities]
        if links:
            await entities.link_messages(session, links)
    return results


def _queued(
    items: Sequence[QueuedSend], results: Sequence[_Queued | errors.WindowClosed]
) -> list[tuple[QueuedSend, dict[str, Any]]]:
    return [(item, r.row) for item, r in zip(items, results, strict=True) if not isinstance(r, errors.WindowClosed)]


def _uploaded_file(item: QueuedSend) -> int | None:
    """The media row of a file uploaded to wahub that the message sends (``wahub_media_id``): the message names
    it as its media, as an inbound media message names the file it brought."""
    obj = item.content.get(item.message_type.value)
    value = obj.get("wahub_media_id") if isinstance(obj, dict) else None
    return value if isinstance(value, int) else None


async def _insert_jobs(session: AsyncSession, jobs: list[tuple[dict[str, Any], datetime, bool]], now: datetime) -> None:
    """The messages' outbox jobs: (message row, run_at, confirm) each. When all are due at once and alike (a
    campaign's chunk, a broadcast), one ``INSERT … SELECT`` from the messages just inserted, whose values are bound
    once rather than once a row."""
    table: sa.Table = OutboxJob.__table__  # type: ignore[assignment]
    _, at, confirm = jobs[0]
    if len(jobs) == 1 or any(run_at != at or confirms != confirm for _, run_at, confirms in jobs):
        await session.execute(sa.insert(table), [_job(r["id"], r["account_id"], now, t, c) for r, t, c in jobs])
        return
    values = _job(0, 0, now, at, confirm)
    del values["message_id"], values["account_id"]
    when = UTCDateTime()
    columns = [sa.literal(v, when if isinstance(v, datetime) else None).label(k) for k, v in values.items()]
    ids = [r["id"] for r, _, _ in jobs]
    chosen = sa.select(Message.id, Message.account_id, *columns).where(one_of(Message.id, ids))
    await session.execute(sa.insert(table).from_select(["message_id", "account_id", *values], chosen))


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


def _window_closed(conversation: conversations.Chat) -> errors.WindowClosed:
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
