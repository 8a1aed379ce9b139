"""Statuses: every status Meta reports is recorded once (a unique constraint, not a check), then moves its
message forward. A status whose message is not known yet stays unattached until the message's wamid is.
A group message's statuses come per participant (kept apart by ``recipient``); the message itself is
delivered or read once every participant of the stored group has delivered or read it (``_whole_group``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.domain import MessageStatus
from wahub.store import audiences, stream, subscriber_webhooks, upsert
from wahub.store.keys import one_of, pairs_in
from wahub.store.models import Group, Message, MessageWamid, StatusRecord, utcnow

_STAMP = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.PLAYED: "played_at",
    MessageStatus.FAILED: "failed_at",
}


@dataclass(frozen=True, slots=True)
class Reached:
    """One status reached by a message, as far as moving the message goes."""

    status: MessageStatus
    at: datetime
    error_code: int | None = None
    error_title: str | None = None
    error_details: str | None = None


_COLUMNS = (
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "played_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_details",
)


def changes(state: Mapping[str, Any], reached: Reached) -> dict[str, Any]:
    """What ``reached`` changes in a message whose status columns are ``state``: the status's time is
    recorded once, and the status moves only forward (a failure also records Meta's error)."""
    out: dict[str, Any] = {}
    column = _STAMP.get(reached.status)
    if column is not None and state[column] is None:
        out[column] = reached.at
    if domain.moves_forward(MessageStatus(state["status"]), reached.status):
        out["status"] = reached.status.value
        if reached.status is MessageStatus.FAILED:
            out |= {
                "error_code": reached.error_code,
                "error_title": reached.error_title,
                "error_details": reached.error_details,
            }
    return out


def advance(message: Message, reached: Reached) -> None:
    """Move an ORM message (see ``changes``)."""
    state = {name: getattr(message, name) for name in _COLUMNS}
    for name, value in changes(state, reached).items():
        setattr(message, name, value)


def _row(account_id: int, update: domain.StatusUpdate, message_id: int | None, now: datetime) -> dict[str, Any]:
    first = update.errors[0] if update.errors else None
    who = update.participant if update.participant is not None else update.recipient
    return {
        "account_id": account_id,
        "wamid": update.provider_id,
        "status": update.status.value,
        "recipient": (who.wa_id or who.user_id or "")[:128],
        "timestamp": update.timestamp,
        "message_id": message_id,
        "error_code": first.code if first else None,
        "error_title": first.title if first else None,
        "error_details": first.details if first else None,
        "pricing": update.pricing,
        "conversation": update.conversation,
        "raw": update.raw,
        "created_at": now,
    }


async def record_many(
    session: AsyncSession,
    updates: Sequence[tuple[int, domain.StatusUpdate]],
    out: subscriber_webhooks.Collector | None = None,
) -> None:
    """Record statuses once each (the unique constraint drops repeats) and move their messages; ``out``
    collects a ``message.status`` event for each move.

    The messages are read first, so a status whose message is known is inserted attached to it: attaching
    afterwards was an UPDATE of every status row (never a HOT update on PostgreSQL: ``message_id`` is indexed).
    Moving a message is idempotent (a time is recorded once, the status only moves forward), so a repeated
    status is applied again harmlessly instead of asking the database which rows were new: RETURNING on
    a bulk insert costs PostgreSQL three times the insert."""
    if not updates:
        return
    keys = {(account_id, update.provider_id) for account_id, update in updates}
    states, copies = await _states(session, keys)
    now = utcnow()
    ids = {key: state["id"] for key, state in states.items()}
    rows = [_row(account_id, update, ids.get((account_id, update.provider_id)), now) for account_id, update in updates]
    await upsert.insert_ignore_rows(session, StatusRecord.__table__, rows)  # type: ignore[arg-type]
    found = {key for key in keys if key in states}
    earlier = await _to_apply(session, found)
    changed: dict[int, set[str]] = {}  # message id -> the columns this batch moved
    stopped: list[tuple[int, datetime]] = []  # messages the user's marketing stop failed (131050)
    for record in _in_order([row for row in rows if row["message_id"] is not None] + earlier):
        state = states[(record["account_id"], record["wamid"])]
        reached = _reached(record)
        if state["group_id"] and not await _whole_group(
            session, record["account_id"], record["wamid"], state["group_id"], state["created_at"], reached.status
        ):
            continue
        delta = changes(state, reached)
        if delta:
            state.update(delta)
            changed.setdefault(state["id"], set()).update(delta)
            if out is not None and "status" in delta:
                _report(out, state, reached)
            if _stops_marketing(delta.get("status"), reached):
                stopped.append((state["id"], reached.at))
    await _write_moves(session, changed, {state["id"]: state for state in states.values()})
    if stopped:
        await audiences.opt_out_by_messages(session, stopped)
    waiting = {(record["account_id"], record["wamid"]) for record in earlier}
    if waiting - copies:
        await _attach_records(session, waiting - copies)
    if waiting & copies:
        await _attach_records(session, waiting & copies, copy=True)


async def _write_moves(session: AsyncSession, changed: dict[int, set[str]], states: dict[int, dict[str, Any]]) -> None:
    """Write the moved columns of these messages: one statement per set of columns (a batch has a handful:
    status with its time, mostly), each row only what moved: an UPDATE … FROM the rows."""
    by_columns: dict[tuple[str, ...], list[int]] = {}
    for mid, moved in changed.items():
        by_columns.setdefault(tuple(sorted(moved)), []).append(mid)
    table: sa.Table = Message.__table__  # type: ignore[assignment]
    for columns, mids in by_columns.items():
        names = [("target_id", table.c.id.type), *((f"new_{c}", table.c[c].type) for c in columns)]
        source = upsert.rows_source(session, names, [(mid, *(states[mid][c] for c in columns)) for mid in mids])
        if source is not None:
            moves = source.subquery("moves")
            values = {c: moves.c[f"new_{c}"] for c in columns}
            await session.execute(sa.update(table).where(table.c.id == moves.c.target_id).values(values))
        else:
            update = sa.update(table).where(table.c.id == sa.bindparam("target_id"))
            update = update.values({c: sa.bindparam(f"new_{c}") for c in columns})
            params = [{"target_id": mid, **{f"new_{c}": states[mid][c] for c in columns}} for mid in mids]
            await session.execute(update, params)


_STATE_COLUMNS = (
    Message.id,
    Message.account_id,
    Message.wamid,
    Message.conversation_id,
    Message.group_id,
    Message.created_at,
)


async def _states(
    session: AsyncSession, keys: set[tuple[int, str]]
) -> tuple[dict[tuple[int, str], dict[str, Any]], set[tuple[int, str]]]:
    """The status columns of the messages these (account, wamid) pairs name, by pair (one dict per message,
    shared by its wamids), and which pairs are a second copy's wamid."""
    columns = [*_STATE_COLUMNS, *(getattr(Message, c) for c in _COLUMNS)]
    stmt = sa.select(*columns).where(pairs_in(Message.account_id, Message.wamid, keys))
    states = {(row.account_id, row.wamid): dict(row._mapping) for row in await session.execute(stmt)}
    copies: set[tuple[int, str]] = set()
    if missing := keys - states.keys():
        # A second copy's wamid (rare, and only looked up for wamids no message has): the same message's state.
        by_id = {state["id"]: state for state in states.values()}
        stmt = (
            sa.select(MessageWamid.wamid.label("copy"), *columns)
            .join(Message, Message.id == MessageWamid.message_id)
            .where(pairs_in(MessageWamid.account_id, MessageWamid.wamid, missing))
        )
        for copy in await session.execute(stmt):
            shared = by_id.setdefault(copy.id, {k: v for k, v in copy._mapping.items() if k != "copy"})
            states[(copy.account_id, copy.copy)] = shared
            copies.add((copy.account_id, copy.copy))
    return states, copies


def _in_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Meta's times are whole seconds: within one, the further status comes last, so each step is a move.
    return sorted(records, key=lambda r: (r["timestamp"], MessageStatus(r["status"]).rank))


async def _to_apply(session: AsyncSession, found: set[tuple[int, str]]) -> list[dict[str, Any]]:
    """Every unattached record of these (account, wamid) pairs, whose message is known: recorded before the
    message's wamid was known, or whose ``attach_to`` ran in a transaction that could not see it yet (almost
    always none). All are applied before they are attached: attached unapplied, a status would be lost (the
    sweep looks for unattached records only)."""
    if not found:
        return []
    stmt = sa.select(
        StatusRecord.account_id,
        StatusRecord.wamid,
        StatusRecord.status,
        StatusRecord.timestamp,
        StatusRecord.error_code,
        StatusRecord.error_title,
        StatusRecord.error_details,
    ).where(StatusRecord.message_id.is_(None), pairs_in(StatusRecord.account_id, StatusRecord.wamid, found))
    return [dict(row._mapping) for row in await session.execute(stmt)]


async def _attach_records(session: AsyncSession, keys: set[tuple[int, str]], *, copy: bool = False) -> None:
    """Point the unattached records of these (account, wamid) pairs at their message, in one statement;
    ``copy``: the wamids are messages' second copies (``MessageWamid``)."""
    named_by: Any = MessageWamid if copy else Message
    message = (
        sa.select(MessageWamid.message_id if copy else Message.id)
        .where(named_by.account_id == StatusRecord.account_id, named_by.wamid == StatusRecord.wamid)
        .scalar_subquery()
    )
    stmt = (
        sa.update(StatusRecord)
        .where(StatusRecord.message_id.is_(None), pairs_in(StatusRecord.account_id, StatusRecord.wamid, keys))
        .values(message_id=message)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)


def _reached(record: Any) -> Reached:
    """A status as Reached, from a StatusRecord or its row dict."""
    if isinstance(record, dict):
        return Reached(
            MessageStatus(record["status"]),
            record["timestamp"],
            record["error_code"],
            record["error_title"],
            record["error_details"],
        )
    return Reached(
        MessageStatus(record.status), record.timestamp, record.error_code, record.error_title, record.error_details
    )


def _unattached(*where: Any, limit: int | None = None) -> tuple[Any, Any]:
    """Unattached statuses with their message, found by the message's wamid and by a second copy's."""
    unattached = StatusRecord.message_id.is_(None)
    by_wamid = (
        sa.select(StatusRecord, Message)
        .join(Message, sa.and_(Message.account_id == StatusRecord.account_id, Message.wamid == StatusRecord.wamid))
        .where(unattached, *where)
        .limit(limit)
    )
    by_copy = (
        sa.select(StatusRecord, Message)
        .join(
            MessageWamid,
            sa.and_(MessageWamid.account_id == StatusRecord.account_id, MessageWamid.wamid == StatusRecord.wamid),
        )
        .join(Message, Message.id == MessageWamid.message_id)
        .where(unattached, *where)
        .limit(limit)
    )
    return by_wamid, by_copy


async def _apply_unattached(
    session: AsyncSession, *where: Any, limit: int | None = None, out: subscriber_webhooks.Collector | None = None
) -> int:
    count = 0
    stopped: list[tuple[int, datetime]] = []
    for query in _unattached(*where, limit=limit):
        rows = (await session.execute(query)).tuples().all()
        for record, message in sorted(rows, key=lambda r: (r[0].timestamp, MessageStatus(r[0].status).rank)):
            before = message.status
            reached = _reached(record)
            if not message.group_id or await _whole_group(
                session, message.account_id, record.wamid, message.group_id, message.created_at, reached.status
            ):
                advance(message, reached)
            record.message_id = message.id
            if message.status != before and _stops_marketing(message.status, reached):
                stopped.append((message.id, reached.at))
            if out is not None and message.status != before:
                out.add(subscriber_webhooks.MESSAGE_STATUS, _moved(message.id, message.wamid, reached))
        count += len(rows)
    if stopped:
        await audiences.opt_out_by_messages(session, stopped)
    return count


# A group message is delivered (read) once each participant's phone has said so: Meta reports these per
# participant (``recipient_participant_id``), and one member's read is not the group's.
_REACHED_BY = {
    MessageStatus.DELIVERED: (MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.PLAYED),
    MessageStatus.READ: (MessageStatus.READ, MessageStatus.PLAYED),
    MessageStatus.PLAYED: (MessageStatus.PLAYED,),
}


async def _whole_group(
    session: AsyncSession, account_id: int, wamid: str, group_id: str, sent_at: datetime, status: MessageStatus
) -> bool:
    """Whether a group message may take ``status``: sent and failed as Meta reports them; delivered, read and
    played once every participant wahub knows the group to have (and who had joined when the message was
    queued, at ``sent_at``: a later member never receives it) has reached it. A group whose participants wahub
    does not know (not created through it, no webhook yet) moves with its first participant, as before."""
    if (statuses_for := _REACHED_BY.get(status)) is None:
        return True
    members_stmt = sa.select(Group.participants).where(Group.account_id == account_id, Group.group_id == group_id)
    participants: dict[str, Any] = (await session.scalar(members_stmt)) or {}
    members = {wa_id for wa_id, member in participants.items() if _joined_by(member, sent_at)}
    if not members:
        return True
    reached_stmt = sa.select(sa.distinct(StatusRecord.recipient)).where(
        StatusRecord.account_id == account_id,
        StatusRecord.wamid == wamid,
        StatusRecord.status.in_([s.value for s in statuses_for]),
    )
    return members <= set((await session.scalars(reached_stmt)).all())


def _joined_by(member: Any, when: datetime) -> bool:
    """Whether a participant (``groups.participants``' value) had joined by ``when``; unknown: yes."""
    joined = member.get("joined_at") if isinstance(member, dict) else None
    try:
        at = datetime.fromisoformat(joined) if isinstance(joined, str) else None
    except ValueError:
        return True
    if at is None or at.tzinfo is None or when.tzinfo is None:
        return True
    return at <= when


def _stops_marketing(status: str | None, reached: Reached) -> bool:
    """The message failed because its user stopped marketing messages (131050): they opt out."""
    return status == MessageStatus.FAILED.value and reached.error_code == audiences.MARKETING_STOPPED


def _report(out: subscriber_webhooks.Collector, state: dict[str, Any], reached: Reached) -> None:
    """A message moved: its tick on the live stream, and ``message.status`` for the subscriptions that want it
    (whose data is built only then: this runs for most webhooks Meta sends)."""
    failed = reached.status is MessageStatus.FAILED
    failure = (reached.error_code, reached.error_title) if failed else None
    tick = stream.status_tick(
        state["id"], state["conversation_id"], state["wamid"], reached.status.value, reached.at, failure
    )
    if out.wants(subscriber_webhooks.MESSAGE_STATUS):
        out.add(subscriber_webhooks.MESSAGE_STATUS, _moved(state["id"], state["wamid"], reached), live=[tick])
    else:
        out.live([tick])


def _moved(message_id: int, wamid: str | None, reached: Reached) -> dict[str, Any]:
    failed = reached.status is MessageStatus.FAILED
    error = (reached.error_code, reached.error_title, reached.error_details) if failed else None
    return subscriber_webhooks.message_status(message_id, wamid, reached.status.value, reached.at, error)


async def attach_to(
    session: AsyncSession, message_ids: Sequence[int], out: subscriber_webhooks.Collector | None = None
) -> None:
    """These messages' wamids are now known: apply the statuses that arrived before them. Almost always none
    did: one light query tells, and the two that load them run only when it finds some."""
    which = one_of(Message.id, message_ids)
    waiting = [query.with_only_columns(StatusRecord.id).exists() for query in _unattached(which)]
    if await session.scalar(sa.select(sa.or_(*waiting))):
        await _apply_unattached(session, which, out=out)


async def attach_waiting(
    session: AsyncSession, limit: int = 500, out: subscriber_webhooks.Collector | None = None
) -> int:
    """Apply unattached statuses whose message has its wamid by now: ``attach_to`` does it at once in the common
    case; this sweep closes the race where a status is recorded while the send's result is committed in another
    transaction (under READ COMMITTED each misses the other)."""
    return await _apply_unattached(session, limit=limit, out=out)


async def for_message(session: AsyncSession, message_id: int) -> list[StatusRecord]:
    stmt = sa.select(StatusRecord).where(StatusRecord.message_id == message_id).order_by(StatusRecord.timestamp)
    return list((await session.scalars(stmt)).all())
