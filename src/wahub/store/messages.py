"""Messages: recording inbound ones once, creating outbound ones, moving statuses forward only."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.domain import MessageStatus
from wahub.store import entities, paging, reach, statuses, stream, subscriber_webhooks, upsert
from wahub.store.keys import one_of
from wahub.store.keys import pairs_in as keys_in
from wahub.store.models import Contact, Conversation, Message, MessageWamid, utcnow
from wahub.store.search_text import indexed_text


async def insert_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert messages that carry a provider id, once: rows whose (account, wamid) is stored already are
    skipped by the database. Returns the new rows' ids by (account_id, wamid)."""
    inserted = await upsert.insert_ignore_many(
        session,
        Message.__table__,  # type: ignore[arg-type]
        rows,
        ("id", "account_id", "wamid"),
    )
    return {(r.account_id, r.wamid): r.id for r in inserted}


async def existing_wamids(session: AsyncSession, keys: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (account_id, wamid) pairs are stored already."""
    if not keys:
        return set()
    stmt = sa.select(Message.account_id, Message.wamid).where(keys_in(Message.account_id, Message.wamid, keys))
    return {(row.account_id, row.wamid) for row in await session.execute(stmt)}


async def by_wamids(
    session: AsyncSession, keys: set[tuple[int, str]], *, lock: bool = False
) -> dict[tuple[int, str], Message]:
    """The messages these (account_id, wamid) pairs name, by the message's wamid or a second copy's. ``lock``:
    locked in the order of their ids (``lock_in_order``) and read afresh, for a change to their reactions or
    history, which are written whole (two processors applying reactions to one message at once)."""
    if not keys:
        return {}
    stmt = sa.select(Message).where(keys_in(Message.account_id, Message.wamid, keys))
    found = {(m.account_id, m.wamid or ""): m for m in await session.scalars(stmt)}
    if missing := keys - found.keys():
        copies = (
            sa.select(MessageWamid.wamid, Message)
            .join(Message, Message.id == MessageWamid.message_id)
            .where(keys_in(MessageWamid.account_id, MessageWamid.wamid, missing))
        )
        for wamid, message in (await session.execute(copies)).tuples():
            found[(message.account_id, wamid)] = message
    if lock and found:
        ids = {m.id for m in found.values()}
        await lock_in_order(session, ids)
        stmt = sa.select(Message).where(one_of(Message.id, ids)).execution_options(populate_existing=True)
        (await session.scalars(stmt)).all()  # the objects above, refreshed
    return found


def apply_reaction(target: Message, who: str, emoji: str | None) -> None:
    """One reaction per person per message: a new emoji replaces theirs, an empty one removes it."""
    reactions = dict(target.reactions or {})
    if emoji:
        reactions[who] = emoji
    else:
        reactions.pop(who, None)
    target.reactions = reactions


def apply_edit(target: Message, new_content: dict[str, Any], at: datetime) -> None:
    """The sender edited the message: the old content goes to its history."""
    target.history = [*(target.history or []), {"kind": "edit", "at": at.isoformat(), "content": target.content}]
    target.content = new_content
    target.search_text = indexed_text(target.type, new_content)  # found by its new text, not the old
    target.edited_at = at


def apply_revoke(target: Message, at: datetime) -> None:
    """The sender deleted the message for everyone: its content is kept in its history, not destroyed."""
    target.history = [*(target.history or []), {"kind": "revoke", "at": at.isoformat(), "content": target.content}]
    target.content = {}
    target.search_text = None  # found no more
    target.revoked_at = at


async def lock_in_order(
    session: AsyncSession, ids: Collection[int] | sa.Select[tuple[int]] = (), wamids: Collection[tuple[int, str]] = ()
) -> None:
    """Before a transaction writes several messages: on PostgreSQL, lock these (by id, or by (account id, wamid)),
    in the order of their ids. Every writer of several messages at once (the sender's results, the processor's
    statuses, a takeover's requeue) takes them in this one order, so none can hold a row another waits for
    while it waits for one that other holds: with two workers and a web process on one database such
    deadlocks were seen, each costing a batch. The state a batch reads afterwards is also the latest (no move
    computed from a status another processor has just changed). SQLite has one writer at a time: no locks."""
    if session.get_bind().dialect.name != "postgresql":
        return
    which: list[sa.ColumnElement[bool]] = []
    if isinstance(ids, sa.Select):
        which.append(Message.id.in_(ids))
    elif ids:
        which.append(one_of(Message.id, ids))
    if wamids:
        which.append(keys_in(Message.account_id, Message.wamid, wamids))
    if which:
        await session.execute(sa.select(Message.id).where(sa.or_(*which)).order_by(Message.id).with_for_update())


async def record_accepted(
    session: AsyncSession, accepted: Sequence[tuple[int, str]], out: subscriber_webhooks.Collector | None = None
) -> None:
    """The provider accepted these sends, (message id, wamid): each message gets its wamid and moves to
    ``accepted`` (if nothing moved it further); statuses that came before the wamid was known apply now.
    ``out`` collects a ``message.status`` event ``accepted`` for each (not for a second copy)."""
    if not accepted:
        return
    table: sa.Table = Message.__table__  # type: ignore[assignment]
    ids = [mid for mid, _ in accepted]
    status = sa.case((table.c.status == MessageStatus.QUEUED.value, MessageStatus.ACCEPTED.value), else_=table.c.status)
    # A message that has a wamid keeps it: a second acceptance is a second copy. What the rows hold after the
    # update, which waited for any other writer of them: a wamid that did not stick is a copy sent by another
    # holder of the number's lease, kept beside the message so its statuses count.
    after = (table.c.id, table.c.account_id, table.c.wamid, table.c.conversation_id)
    source = upsert.rows_source(session, [("id", sa.Integer()), ("wamid", sa.String())], accepted)
    if source is not None:  # one UPDATE … FROM the rows, RETURNING what they hold now
        rows = source.subquery("r")
        stmt = (
            sa.update(table)
            .where(table.c.id == rows.c.id)
            .values(wamid=sa.func.coalesce(table.c.wamid, rows.c.wamid), status=status)
            .returning(*after)
        )
        kept = {row.id: row for row in await session.execute(stmt)}
    else:
        moved = {"wamid": sa.func.coalesce(table.c.wamid, sa.bindparam("b_wamid")), "status": status}
        params = [{"b_id": mid, "b_wamid": wamid} for mid, wamid in accepted]
        await session.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(moved), params)
        kept = {row.id: row for row in await session.execute(sa.select(*after).where(one_of(table.c.id, ids)))}
    copies = [
        {"account_id": kept[mid].account_id, "wamid": wamid, "message_id": mid, "created_at": utcnow()}
        for mid, wamid in accepted
        if mid in kept and kept[mid].wamid != wamid
    ]
    await upsert.insert_ignore_rows(session, MessageWamid.__table__, copies)  # type: ignore[arg-type]
    if out is not None:
        now = utcnow()
        accepted_ = MessageStatus.ACCEPTED.value
        for mid, wamid in accepted:
            if mid in kept and kept[mid].wamid == wamid:
                # The live stream's tick with its conversation, which the stream would otherwise read back.
                tick = stream.status_tick(mid, kept[mid].conversation_id, wamid, accepted_, now)
                data = subscriber_webhooks.message_status(mid, wamid, accepted_, now)
                out.add(subscriber_webhooks.MESSAGE_STATUS, data, [tick])
    await statuses.attach_to(session, ids, out)


async def flag_possible_duplicates(session: AsyncSession, message_ids: Sequence[int]) -> None:
    """These messages may reach the recipient twice (a send timed out, and is tried again)."""
    if message_ids:
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_(message_ids))
            .values(possible_duplicate=True)
            .execution_options(synchronize_session=False)
        )


def record_failure(message: Message, code: int | None, title: str, details: str | None) -> None:
    """The send failed for good: the message ends ``failed`` with the provider's code and reason."""
    message.status = MessageStatus.FAILED.value
    message.failed_at = utcnow()
    message.error_code = code
    message.error_title = title
    message.error_details = details


async def get(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise errors.NotFound(f"message {message_id} does not exist")
    return message


@dataclass(frozen=True, slots=True)
class Filters:
    direction: str | None = None
    type: str | None = None
    status: str | None = None
    contact_id: int | None = None
    conversation_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    entity: tuple[str, str] | None = None  # (entity_type, entity_id) the messages are linked to
    visible_to: int | None = None  # an agent's user id: only conversations assigned to them or to nobody
    # Newest first by when the message was sent or received (history, imports and live messages of a chat
    # interleave), rather than by when wahub stored it.
    by_time: bool = False


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None, filters: Filters | None = None
) -> paging.Page[Any]:
    """(Message, Contact) rows newest first; ``cursor`` is the opaque value a previous page returned."""
    stmt = sa.select(Message, Contact).join(Contact, Contact.id == Message.contact_id)
    f = filters or Filters()
    for column, value in (
        (Message.direction, f.direction),
        (Message.type, f.type),
        (Message.status, f.status),
        (Message.contact_id, f.contact_id),
        (Message.conversation_id, f.conversation_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.since is not None:
        stmt = stmt.where(Message.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Message.created_at < f.until)
    if f.entity is not None:
        stmt = stmt.where(Message.id.in_(entities.linked_messages(f.entity)))
    if f.visible_to is not None:
        visible = sa.select(Conversation.id).where(reach.sees_conversation(f.visible_to))
        stmt = stmt.where(Message.conversation_id.in_(visible))
    if f.by_time:
        return await _page_by_time(session, stmt, limit=limit, cursor=cursor)
    return await paging.page(session, stmt, Message.id, kind="m", limit=limit, cursor=cursor)


def happened_at() -> sa.ColumnElement[Any]:
    """When a message was sent or received: Meta's timestamp (live, echoes, history), else when it was stored
    (a message queued here and not yet sent)."""
    return sa.func.coalesce(Message.provider_timestamp, Message.created_at)


async def _page_by_time(
    session: AsyncSession, stmt: sa.Select[Any], *, limit: int, cursor: str | None
) -> paging.Page[Any]:
    """Keyset paging on (time, id), newest first; the cursor names the last message shown, whose time is read
    back, so it stays as opaque as the id cursors."""
    when = happened_at()
    if cursor:
        last = paging.decode("mt", cursor)
        at = await session.scalar(sa.select(when).where(Message.id == last))
        if at is None:
            raise errors.InvalidInput("cursor is not valid", field="cursor")
        stmt = stmt.where(sa.or_(when < at, sa.and_(when == at, Message.id < last)))
    rows = (await session.execute(stmt.order_by(when.desc(), Message.id.desc()).limit(limit + 1))).all()
    items = list(rows[:limit])
    more = len(rows) > limit
    return paging.Page(items=items, next_cursor=paging.encode("mt", items[-1][0].id) if more and items else None)


async def latest_of(
    session: AsyncSession, conversation_ids: Sequence[int], *, inbound_only: bool = False
) -> dict[int, Message]:
    """The newest message of each of these conversations (``inbound_only``: the newest inbound one with a
    wamid, the one a read receipt names), by conversation id. One indexed look-up per conversation
    (``ix_messages_conversation_id_id``), however long it is."""
    if not conversation_ids:
        return {}
    newest = sa.select(sa.func.max(Message.id)).where(Message.conversation_id == Conversation.id)
    if inbound_only:
        newest = newest.where(Message.direction == "inbound", Message.wamid.is_not(None))
    ids_stmt = sa.select(newest.scalar_subquery()).where(Conversation.id.in_(conversation_ids))
    ids = [i for i in await session.scalars(ids_stmt) if i is not None]
    if not ids:
        return {}
    return {
        m.conversation_id: m
        for m in await session.scalars(sa.select(Message).where(Message.id.in_(ids)).options(orm.defer(Message.raw)))
    }
