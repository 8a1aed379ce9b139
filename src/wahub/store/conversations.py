"""Conversations: one per contact and account, carrying the 24-hour window, the unread count and the inbox's
workflow: a ``state`` (open, resolved: a new inbound message reopens a resolved one) and an assignee (a user)."""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from wahub import errors
from wahub.store import paging, stream, upsert
from wahub.store.keys import one_of
from wahub.store.models import Conversation, User, utcnow

WINDOW = timedelta(hours=24)


class State(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Changed:
    """What a workflow action (``assign``, ``resolve``, ``reopen``) did to a conversation: each field it changed,
    as ``(before, after)``; empty (and false) when the conversation was so already."""

    conversation: Conversation
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)


async def get_or_create(session: AsyncSession, account_id: int, contact_id: int) -> Conversation:
    stmt = sa.select(Conversation).where(Conversation.account_id == account_id, Conversation.contact_id == contact_id)
    conversation = (await session.scalars(stmt)).first()
    if conversation is not None:
        return conversation
    insert = upsert.insert_ignore(
        session,
        Conversation.__table__,  # type: ignore[arg-type]
        {"account_id": account_id, "contact_id": contact_id, "unread_count": 0, "created_at": utcnow()},
    )
    await session.execute(insert)
    conversation = (await session.scalars(stmt)).first()
    if conversation is None:  # pragma: no cover
        raise errors.Conflict("conversation could not be created")
    return conversation


@dataclass(slots=True)
class Chat:
    """A conversation's columns that queueing a message and the processor read (``resolve_rows``), without the ORM
    object; the stream shows it as it shows a ``Conversation`` (``stream.conversation_view``)."""

    id: int
    contact_id: int
    unread_count: int
    last_inbound_at: datetime | None
    last_message_at: datetime | None
    assignee_user_id: int | None
    state: str | None


_CHAT = (
    Conversation.id,
    Conversation.contact_id,
    Conversation.unread_count,
    Conversation.last_inbound_at,
    Conversation.last_message_at,
    Conversation.assignee_user_id,
    Conversation.state,
)


async def resolve_rows(session: AsyncSession, account_id: int, contact_ids: set[int]) -> dict[int, Chat]:
    """The conversation of each contact (created if new), by contact id, as ``Chat`` rows rather than ORM objects
    (cheaper by many rows)."""
    if not contact_ids:
        return {}
    stmt = sa.select(*_CHAT).where(Conversation.account_id == account_id, one_of(Conversation.contact_id, contact_ids))
    found = {row.contact_id: Chat(*row) for row in await session.execute(stmt)}
    missing = contact_ids - found.keys()
    if missing:
        now = utcnow()
        rows = [{"account_id": account_id, "contact_id": cid, "unread_count": 0, "created_at": now} for cid in missing]
        await upsert.insert_ignore_rows(session, Conversation.__table__, rows)  # type: ignore[arg-type]
        found = {row.contact_id: Chat(*row) for row in await session.execute(stmt)}
    return found


async def record_activity_many(session: AsyncSession, chats: Iterable[Chat], at: datetime) -> None:
    """``record_activity`` of each, in one statement. A ``Conversation`` of theirs that the session holds is
    given the new value too, as committed (it is not flushed again)."""
    moved = [c for c in chats if c.last_message_at is None or at > c.last_message_at]
    if not moved:
        return
    ids = [c.id for c in moved]
    await _lock_in_order(session, ids)
    await session.execute(
        sa.update(Conversation)
        .where(
            one_of(Conversation.id, ids),
            sa.or_(Conversation.last_message_at.is_(None), Conversation.last_message_at < at),
        )
        .values(last_message_at=at)
        .execution_options(synchronize_session=False)
    )
    held = session.sync_session.identity_map
    for chat in moved:
        chat.last_message_at = at
        obj = held.get(identity_key(Conversation, chat.id))
        if obj is not None and (obj.last_message_at is None or at > obj.last_message_at):
            set_committed_value(obj, "last_message_at", at)


async def _lock_in_order(session: AsyncSession, ids: list[int]) -> None:
    """On PostgreSQL, lock these conversations in the order of their ids, as the ORM's flush took them and as
    ``messages.lock_in_order`` does for messages, before a statement that writes them all: an UPDATE takes its
    rows in the order it finds them (the table's, on a scan), so two writers of the same conversations (two
    processors, a processor and a broadcast's queueing) could each hold one the other waits for. The lock is the
    UPDATE's own (FOR NO KEY UPDATE): FOR UPDATE would also wait for every transaction that inserted a message
    into one of them meanwhile (the foreign key's check holds the row FOR KEY SHARE until its commit)."""
    if len(ids) > 1 and session.get_bind().dialect.name == "postgresql":
        stmt = sa.select(Conversation.id).where(one_of(Conversation.id, ids)).order_by(Conversation.id)
        await session.execute(stmt.with_for_update(key_share=True))


def window_closes_at(conversation: Conversation | Chat) -> datetime | None:
    """When the 24-hour customer-service window closes (free-form messages need an open window)."""
    if conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + WINDOW


async def mark_read(session: AsyncSession, conversation_id: int | None) -> None:
    """The business has read the conversation: nothing in it is unread any more."""
    if conversation_id is not None:
        await session.execute(sa.update(Conversation).where(Conversation.id == conversation_id).values(unread_count=0))
        stream.publish(
            session, [stream.Change(stream.CONVERSATION_UPDATED, conversation_id=conversation_id, why="read")]
        )


def window_open(conversation: Conversation | Chat, now: datetime) -> bool:
    closes = window_closes_at(conversation)
    return closes is not None and closes > now


@dataclass(slots=True)
class Arrivals:
    """What a batch's new messages do to their conversations, gathered in memory (``inbound``, ``activity``) and
    written by ``record_arrivals`` as one statement relative to what the rows hold then, so a concurrent writer of
    the same conversation (an agent marking it read, a second processor) loses nothing: an inbound message opens
    (or extends) the 24-hour window, counts as unread and reopens a resolved conversation; any message moves its
    last activity. The processor records only messages it really inserted, so a redelivery changes nothing."""

    chats: dict[int, Chat] = field(default_factory=dict)
    unread: dict[int, int] = field(default_factory=dict)
    inbound_at: dict[int, datetime] = field(default_factory=dict)
    active_at: dict[int, datetime] = field(default_factory=dict)

    def inbound(self, chat: Chat, at: datetime) -> None:
        self.unread[chat.id] = self.unread.get(chat.id, 0) + 1
        _later(self.inbound_at, chat.id, at)
        self.activity(chat, at)

    def activity(self, chat: Chat, at: datetime) -> None:
        self.chats[chat.id] = chat
        _later(self.active_at, chat.id, at)


def _later(times: dict[int, datetime], key: int, at: datetime) -> None:
    if key not in times or at > times[key]:
        times[key] = at


async def record_arrivals(session: AsyncSession, arrivals: Arrivals) -> None:
    """Write ``arrivals`` in one UPDATE … FROM their rows, and give each ``Chat`` (and any ``Conversation`` the
    session holds) what its row holds afterwards, for the live stream's view of it."""
    if not arrivals.chats:
        return
    table: sa.Table = Conversation.__table__  # type: ignore[assignment]
    columns = [
        ("target_id", table.c.id.type),
        ("unread", sa.Integer()),
        ("inbound_at", table.c.last_inbound_at.type),
        ("active_at", table.c.last_message_at.type),
    ]
    rows = [
        (cid, arrivals.unread.get(cid, 0), arrivals.inbound_at.get(cid), arrivals.active_at[cid])
        for cid in sorted(arrivals.chats)
    ]
    await _lock_in_order(session, [row[0] for row in rows])
    after = (table.c.id, table.c.unread_count, table.c.last_inbound_at, table.c.last_message_at, table.c.state)
    source = upsert.rows_source(session, columns, rows)
    if source is not None:
        moves = source.subquery("arrivals")
        values = _arrived(table, moves.c.unread, moves.c.inbound_at, moves.c.active_at)
        stmt = sa.update(table).where(table.c.id == moves.c.target_id).values(values).returning(*after)
        written = list(await session.execute(stmt.execution_options(synchronize_session=False)))
    else:  # one conversation (or a value no JSON row carries): a statement each
        written = []
        for cid, unread, inbound_at, active_at in rows:
            inbound = _bound(table.c.last_inbound_at, inbound_at)
            values = _arrived(table, sa.literal(unread), inbound, _bound(table.c.last_message_at, active_at))
            stmt = sa.update(table).where(table.c.id == cid).values(values).returning(*after)
            written.extend(await session.execute(stmt.execution_options(synchronize_session=False)))
    held = session.sync_session.identity_map
    for row in written:
        chat = arrivals.chats[row.id]
        chat.unread_count, chat.last_inbound_at, chat.last_message_at = row[1:4]
        chat.state = row.state
        obj = held.get(identity_key(Conversation, row.id))
        if obj is not None:
            for name in ("unread_count", "last_inbound_at", "last_message_at", "state"):
                set_committed_value(obj, name, getattr(chat, name))


def _bound(column: sa.Column[Any], value: Any) -> Any:
    return sa.literal(value, column.type)  # a None too: a parameter, so the comparisons below stay SQL


def _arrived(table: sa.Table, unread: Any, inbound_at: Any, active_at: Any) -> dict[str, Any]:
    """The SET of ``record_arrivals``: each value relative to the row's own."""
    c = table.c

    def later(column: sa.Column[Any], at: Any) -> Any:
        moves = sa.and_(at.is_not(None), sa.or_(column.is_(None), column < at))
        return sa.case((moves, at), else_=column)

    return {
        "unread_count": c.unread_count + unread,
        "last_inbound_at": later(c.last_inbound_at, inbound_at),
        "last_message_at": later(c.last_message_at, active_at),
        "state": sa.case((unread > 0, State.OPEN.value), else_=c.state),
    }


async def record_inbound(session: AsyncSession, conversation: Conversation, at: datetime) -> None:
    """One inbound message into a conversation the caller holds as an ORM object: ``record_arrivals`` of one,
    which gives the object what its row holds afterwards."""
    c = conversation
    arrivals = Arrivals()
    chat = Chat(c.id, c.contact_id, c.unread_count, c.last_inbound_at, c.last_message_at, c.assignee_user_id, c.state)
    arrivals.inbound(chat, at)
    await record_arrivals(session, arrivals)


def record_activity(conversation: Conversation, at: datetime) -> None:
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at


async def get(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation ``conversation_id``; ``NotFound`` if there is none."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise errors.NotFound(f"conversation {conversation_id} does not exist")
    return conversation


async def assign(session: AsyncSession, conversation_id: int, user_id: int | None) -> Changed:
    """Assign the conversation to the user ``user_id`` (an active one: ``InvalidInput`` otherwise), or to no one."""
    conversation = await get(session, conversation_id)
    if user_id is not None:
        user = await session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            raise errors.InvalidInput(f"user_id: no active user has id {user_id}", field="user_id")
    return _reported(session, _change(conversation, assignee_user_id=user_id), "assigned")


async def resolve(session: AsyncSession, conversation_id: int) -> Changed:
    """Mark the conversation resolved (the next inbound message reopens it)."""
    return _reported(session, _change(await get(session, conversation_id), state=State.RESOLVED.value), "resolved")


async def reopen(session: AsyncSession, conversation_id: int) -> Changed:
    return _reported(session, _change(await get(session, conversation_id), state=State.OPEN.value), "reopened")


def _change(conversation: Conversation, **values: Any) -> Changed:
    changed = {}
    for name, value in values.items():
        before = getattr(conversation, name)
        if before != value:
            setattr(conversation, name, value)
            changed[name] = (before, value)
    return Changed(conversation, changed)


def _reported(session: AsyncSession, changed: Changed, why: str) -> Changed:
    """A change, told to the live stream (``store/stream.py``) when there was one."""
    if changed:
        stream.publish(
            session, [stream.Change(stream.CONVERSATION_UPDATED, conversation_id=changed.conversation.id, why=why)]
        )
    return changed


def filtered(
    stmt: sa.Select[Any], *, state: State | None = None, assignee: int | None = None, unassigned: bool = False
) -> sa.Select[Any]:
    """``stmt`` (a select of conversations) narrowed to one state, one assignee's or the unassigned ones."""
    if state is not None:
        stmt = stmt.where(Conversation.state == state.value)
    if unassigned:
        stmt = stmt.where(Conversation.assignee_user_id.is_(None))
    elif assignee is not None:
        stmt = stmt.where(Conversation.assignee_user_id == assignee)
    return stmt


async def user_names(session: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    """The names of these users (assignees, senders), by id."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(sa.select(User.id, User.name).where(User.id.in_(wanted)))
    return {row.id: row.name for row in rows}


# --- the inbox's list: newest activity first ----------------------------------------------------------------

Activity = tuple[datetime | None, int]
"""Where a list by activity stopped: the last row's ``last_message_at`` and id (its keyset cursor)."""


def by_activity(stmt: sa.Select[Any], after: Activity | None = None) -> sa.Select[Any]:
    """``stmt`` (a select of conversations) newest activity first (``last_message_at``, indexed; a conversation
    without a message last), after ``after`` when given."""
    if after is not None:
        at, last_id = after
        if at is None:
            stmt = stmt.where(Conversation.last_message_at.is_(None), Conversation.id < last_id)
        else:
            stmt = stmt.where(
                sa.or_(
                    Conversation.last_message_at < at,
                    sa.and_(Conversation.last_message_at == at, Conversation.id < last_id),
                    Conversation.last_message_at.is_(None),
                )
            )
    return stmt.order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())


def encode_activity(at: datetime | None, conversation_id: int) -> str:
    """The opaque cursor of ``by_activity`` after this row."""
    stamp = "" if at is None else at.astimezone(UTC).isoformat()
    return base64.urlsafe_b64encode(f"a:{stamp}|{conversation_id}".encode()).decode().rstrip("=")


def decode_activity(cursor: str) -> Activity:
    """The row an ``encode_activity`` cursor names; ``InvalidInput`` for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, rest = text.partition(":")
        stamp, _, last = rest.rpartition("|")
        at = datetime.fromisoformat(stamp) if stamp else None
        last_id = int(last) if last.isascii() and last.isdigit() and len(last) <= 10 else 0
    except ValueError as exc:  # bad base64, UTF-8 or time
        raise errors.InvalidInput("cursor is not valid", field="cursor") from exc
    if kind != "a" or not 1 <= last_id <= paging.ID_MAX or (at is not None and at.tzinfo is None):
        raise errors.InvalidInput("cursor is not valid", field="cursor")
    return at, last_id
