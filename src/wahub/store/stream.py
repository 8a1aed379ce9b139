"""The live event stream's table (``GET /api/v1/stream``): what changed, for the people watching the inbox.

Kinds: ``message.created`` (a message stored: inbound, an echo, or a send queued), ``message.updated`` (a status
tick, an edit, a reaction, a revoke), ``conversation.updated`` (its unread count, window, assignee or state).
Each event's payload is the thing as it stands when the change commits (built from its row then), so a client
can show it without asking again; or, when the publisher holds it already (``Change.view``: a message it has just
inserted), as the publisher built it, which saves reading the row back. A status tick (``message.updated`` with
``why="status"``) carries the message's status fields only (``message_id``, ``conversation_id``, ``wamid``,
``status``, ``status_at``: the status's time, ``error``), not its content: a client has the content from
``message.created`` or from the message's page, and a tick is three quarters of the webhooks Meta sends.

Work publishes what it changed (``publish``, usually through ``subscriber_webhooks.Collector``); the events are
written in the same transaction, at its very end (a ``before_commit`` hook), so an event is never lost, nor
written for a change that rolled back. A transaction's events are one row (``stream_batches``: its ids and a
JSON array of the events), because a row per event cost the processor more than building the events.

Ids, and why a reader can never skip one: every id comes from one counter row (``stream_counter``), taken with
``UPDATE … RETURNING`` as the last statement of the transaction. On PostgreSQL the row stays locked until that
transaction commits, so the next writer gets its ids only after the previous one's are committed: ids become
visible in the order they were given (commit order), with no gap (a rolled-back transaction gives its ids back
with the counter's update). A reader that has seen id N has therefore seen every id below N, and reads
``id > N`` without a safety window. The cost is that transactions writing events commit one after another from
that last statement on; the statement is last so that the lock is held only for the commit itself. On SQLite,
write transactions are serial already (BEGIN IMMEDIATE), and the same counter gives the same order.

Wake-ups: on PostgreSQL the writer sends ``NOTIFY wahub_stream`` in its transaction (delivered at commit to
every listening web process); in the writing process, ``on_commit`` callbacks run after the commit. The table
stays the truth: a lost wake-up costs the readers' poll interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from wahub.store import jsontext
from wahub.store.models import Conversation, Message, StreamBatch, StreamCounter, utcnow

if TYPE_CHECKING:
    from wahub.store.conversations import Chat

log = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CONVERSATION_UPDATED = "conversation.updated"
KINDS = (MESSAGE_CREATED, MESSAGE_UPDATED, CONVERSATION_UPDATED)
CHANNEL = "wahub_stream"  # PostgreSQL's NOTIFY channel
KEEP = timedelta(hours=24)  # at least this long, so a client that reconnects within a day misses nothing
WINDOW = timedelta(hours=24)  # the customer-service window (as conversations.WINDOW)
_PENDING = "wahub.stream"


@dataclass(frozen=True, slots=True)
class Change:
    """Something the stream reports: a message (``message_id``) or a conversation (``conversation_id``)
    changed; ``why`` says how (``status``, ``edit``, ``reaction``, ``revoke``, ``inbound``, ``queued``…).
    ``view``: a message's payload, ready (the row is not read back; its ``conversation_id`` is, when the
    change has none). ``conversation``: the conversation's row as the publisher holds it in this transaction
    (its view is built from it at commit, after the flush, rather than read again)."""

    kind: str
    message_id: int | None = None
    conversation_id: int | None = None
    why: str | None = None
    view: dict[str, Any] | None = None
    conversation: Conversation | Chat | None = None


def message_created(
    message_id: int,
    conversation_id: int,
    why: str,
    view: dict[str, Any] | None = None,
    conversation: Conversation | Chat | None = None,
) -> list[Change]:
    """A new message (``view``: its payload, when the caller has it), and what it does to its conversation
    (last activity; unread and window when inbound; ``conversation``: its row, when the caller holds it)."""
    return [
        Change(MESSAGE_CREATED, message_id, conversation_id, why, view),
        Change(CONVERSATION_UPDATED, None, conversation_id, why, conversation=conversation),
    ]


def status_tick(
    message_id: int,
    conversation_id: int | None,
    wamid: str | None,
    status: str,
    at: datetime | str | None,
    error: tuple[int | None, str | None] | None = None,
) -> Change:
    """A message's status moved (``at``: when, a time or already as ``timestamp`` writes it; ``error``: code and
    title of a failure): the tick's whole payload, no read-back."""
    code, title = error or (None, None)
    view = {
        "message_id": message_id,
        "conversation_id": conversation_id,
        "wamid": wamid,
        "status": status,
        "status_at": _at(at) if isinstance(at, datetime) else at,
        "error": {"code": code, "title": title} if code or title else None,
    }
    return Change(MESSAGE_UPDATED, message_id, conversation_id, "status", view)


def publish(session: AsyncSession, changes: Iterable[Change]) -> None:
    """Write ``changes`` as stream events when ``session``'s transaction commits (dropped if it rolls back)."""
    changes = list(changes)
    if not changes:
        return
    sync = session.sync_session
    root = sync.get_transaction() or sync.begin()  # begin emits nothing: the connection is taken when used
    pending: tuple[SessionTransaction | None, list[Change]] | None = sync.info.get(_PENDING)
    if pending is None or pending[0] is not root:  # left over from a transaction that ended without commit
        pending = sync.info[_PENDING] = (root, [])
    pending[1].extend(changes)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if pending is None or pending[0] is not session.get_transaction():
        return
    session.flush()  # every other row first: the counter's lock must be the transaction's last
    if _write(session, pending[1]):
        session.info[_WROTE] = True


_WROTE = "wahub.stream.wrote"
# Per engine, what to call after a commit that wrote events (the local readers' wake-ups).
_on_commit: dict[sa.Engine, list[Callable[[], None]]] = {}


@event.listens_for(Session, "after_commit")
def _wake(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        bind = session.get_bind()
        engine = bind.engine if isinstance(bind, sa.Connection) else bind
        for callback in _on_commit.get(engine, ()):
            callback()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WROTE, None)


def on_commit(engine: AsyncEngine, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (it must not block) after each commit through ``engine`` in this process that wrote
    stream events; returns what undoes it."""
    callbacks = _on_commit.setdefault(engine.sync_engine, [])
    callbacks.append(callback)

    def undo() -> None:
        callbacks.remove(callback)
        if not callbacks:
            _on_commit.pop(engine.sync_engine, None)

    return undo


def _write(session: Session, changes: Sequence[Change]) -> int:
    """Build and insert the events of ``changes`` (sync: it runs inside the commit)."""
    changes = _coalesced(changes)
    message_ids = {c.message_id for c in changes if c.message_id is not None and c.view is None}
    # Ready views without their conversation (a status tick from a subscriber webhook's data): only that is read.
    owners = {c.message_id for c in changes if c.view is not None and c.conversation_id is None} - message_ids
    # A conversation whose every change came with its row is shown from that row; one changed by anyone else
    # (a bulk update, say) is read again.
    conversation_ids = {c.conversation_id for c in changes if c.kind == CONVERSATION_UPDATED and c.conversation is None}
    threads: dict[int, Conversation | Chat] = {
        c.conversation.id: c.conversation
        for c in changes
        if c.kind == CONVERSATION_UPDATED and c.conversation is not None and c.conversation.id not in conversation_ids
    }
    fresh = {"populate_existing": True}  # as flushed, whatever bulk updates did behind the ORM's back
    found: dict[int, Any] = {}
    if message_ids:  # the columns a view needs, not the ORM objects (``raw`` can be large)
        found = {m.id: m for m in session.execute(sa.select(*_MESSAGE_COLUMNS).where(Message.id.in_(message_ids)))}
    owner_of: dict[int, int] = {m.id: m.conversation_id for m in found.values()}
    if owners:
        stmt_o = sa.select(Message.id, Message.conversation_id).where(Message.id.in_(owners))
        owner_of.update({mid: cid for mid, cid in session.execute(stmt_o)})
    if conversation_ids:
        stmt_c = sa.select(Conversation).where(Conversation.id.in_(conversation_ids)).execution_options(**fresh)
        threads.update({c.id: c for c in session.scalars(stmt_c)})
    # One conversation.updated per conversation and transaction, where its last change stands: it shows the row
    # as committed.
    last_of = {c.conversation_id: i for i, c in enumerate(changes) if c.kind == CONVERSATION_UPDATED}
    events: list[tuple[str, int | None, dict[str, Any]]] = []
    for i, change in enumerate(changes):
        if change.kind == CONVERSATION_UPDATED:
            thread = threads.get(change.conversation_id or 0)
            if thread is not None and last_of[change.conversation_id] == i:
                events.append((CONVERSATION_UPDATED, thread.id, {**conversation_view(thread), "why": change.why}))
        elif change.view is not None:
            cid = change.conversation_id if change.conversation_id is not None else owner_of.get(change.message_id or 0)
            if cid is None:  # the message is gone
                continue
            events.append((change.kind, cid, {**change.view, "conversation_id": cid, "why": change.why}))
        else:
            message = found.get(change.message_id or 0)
            if message is None:
                continue
            events.append((change.kind, message.conversation_id, {**message_view(message), "why": change.why}))
    if not events:
        return 0
    _insert(session, len(events), jsontext.dumps([list(e) for e in events]))
    return len(events)


def _insert(session: Session, n: int, events: str) -> None:
    """Take ``n`` ids from the counter (locking its row until commit) and write them as one batch row. On
    PostgreSQL that and the readers' NOTIFY are one statement (``_BATCH``): as three, they were a third of the
    statements of the sender's result transaction."""
    row = {"n": n, "events": events, "created_at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        if session.scalar(_BATCH, row) is None:  # no counter row: see ``_take_ids``
            _take_ids(session, 0)
            session.execute(_BATCH, row)
        return
    last = _take_ids(session, n)
    table: sa.Table = StreamBatch.__table__  # type: ignore[assignment]
    session.execute(table.insert(), {"id": last - n + 1, "last_id": last, **row})


def _batch_statement() -> sa.Insert:
    counter: sa.Table = StreamCounter.__table__  # type: ignore[assignment]
    table: sa.Table = StreamBatch.__table__  # type: ignore[assignment]
    n = sa.bindparam("n", type_=sa.BigInteger())
    taken = sa.update(counter).where(counter.c.id == 1).values(last=counter.c.last + n).returning(counter.c.last)
    ids = taken.cte("taken")
    rows = sa.select(
        ids.c.last - n + 1,
        ids.c.last,
        sa.bindparam("events", type_=table.c.events.type),
        sa.bindparam("created_at", type_=table.c.created_at.type),
    )
    notify = sa.func.pg_notify(CHANNEL, sa.cast(table.c.last_id, sa.Text))
    insert = table.insert().from_select(["id", "last_id", "events", "created_at"], rows)
    return insert.returning(table.c.last_id, notify)


_BATCH = _batch_statement()  # built once: its cache key too


def _coalesced(changes: Sequence[Change]) -> Sequence[Change]:
    """Without the status ticks that a later tick of the same message in this transaction supersedes: a status
    only moves forward, so a client shown the last has lost nothing (sent, delivered and read often arrive
    within one batch)."""
    last_tick = {c.message_id: i for i, c in enumerate(changes) if c.why == "status" and c.kind == MESSAGE_UPDATED}
    if len(last_tick) == sum(1 for c in changes if c.why == "status" and c.kind == MESSAGE_UPDATED):
        return changes
    return [
        c
        for i, c in enumerate(changes)
        if not (c.why == "status" and c.kind == MESSAGE_UPDATED and last_tick[c.message_id] != i)
    ]


def _take_ids(session: Session, n: int) -> int:
    """Take ``n`` ids from the counter (locking its row until commit); returns the last of them."""
    counter: sa.Table = StreamCounter.__table__  # type: ignore[assignment]
    take = sa.update(counter).where(counter.c.id == 1).values(last=counter.c.last + n).returning(counter.c.last)
    last = session.scalar(take)
    if last is None:  # a database built from the models rather than the migration, which adds the row
        session.execute(sa.text("INSERT INTO stream_counter (id, last) VALUES (1, 0) ON CONFLICT DO NOTHING"))
        last = session.scalar(take)
    return int(last or 0)


def timestamp(at: datetime) -> str:
    """A time as the API writes it (pydantic's form): UTC, ISO 8601, ``Z`` (``2026-11-30T09:15:02Z``). A naive
    time, as SQLite gives back, is UTC. (Called for most events the processor handles: kept cheap.)"""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat() + "Z"


def _at(at: datetime | None) -> str | None:
    return timestamp(at) if at is not None else None


_MESSAGE_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.contact_id,
    Message.direction,
    Message.type,
    Message.status,
    Message.wamid,
    Message.content,
    Message.reactions,
    Message.edited_at,
    Message.revoked_at,
    Message.error_code,
    Message.error_title,
    Message.created_at,
)


def message_view(m: Any) -> dict[str, Any]:
    """A message (a ``Message`` or a row of ``_MESSAGE_COLUMNS``) as the stream shows it: what a bubble needs."""
    return {
        "message_id": m.id,
        "conversation_id": m.conversation_id,
        "contact_id": m.contact_id,
        "direction": m.direction,
        "type": m.type,
        "status": m.status,
        "wamid": m.wamid,
        "content": m.content,
        "reactions": m.reactions or {},
        "edited_at": _at(m.edited_at),
        "revoked_at": _at(m.revoked_at),
        "error": {"code": m.error_code, "title": m.error_title} if m.error_code or m.error_title else None,
        "created_at": _at(m.created_at),
    }


def created_view(message_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """A message just inserted (``row``: the values inserted) as ``message_view`` shows it, without reading it."""
    return {
        "message_id": message_id,
        "conversation_id": row["conversation_id"],
        "contact_id": row["contact_id"],
        "direction": row["direction"],
        "type": row["type"],
        "status": row["status"],
        "wamid": row.get("wamid"),
        "content": row["content"],
        "reactions": row.get("reactions") or {},
        "edited_at": None,
        "revoked_at": None,
        "error": None,
        "created_at": _at(row["created_at"]),
    }


def conversation_view(c: Conversation | Chat) -> dict[str, Any]:
    """A conversation as the stream shows it (what the inbox list needs)."""
    closes = c.last_inbound_at + WINDOW if c.last_inbound_at is not None else None
    return {
        "conversation_id": c.id,
        "contact_id": c.contact_id,
        "unread_count": c.unread_count,
        "last_message_at": _at(c.last_message_at),
        "window_closes_at": _at(closes),
        "window_open": closes is not None and closes > utcnow(),
        "assignee_user_id": c.assignee_user_id,
        "state": getattr(c, "state", None),
    }
