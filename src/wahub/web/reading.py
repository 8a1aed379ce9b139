"""What the inbox's pages show, read through the store with ``api/visibility`` applied: an agent's pages hold
only the conversations assigned to them or to nobody, as the API's answers do.

Each function takes a read session (the caller's transaction) and the principal looking; a conversation or
message the principal may not see is ``errors.NotFound``, exactly as in the API.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api import visibility
from wahub.api.deps import Principal
from wahub.store import conversations, messages, paging, stream
from wahub.store.models import Account, Contact, Conversation, Message
from wahub.web import bubble_extras, contents, views

LIST_PAGE = 50  # conversations per list page
MESSAGE_PAGE = 50  # messages per page of a conversation


class Filter(enum.StrEnum):
    """The list's filters: all open conversations, mine, the unassigned ones, the resolved ones."""

    ALL = "all"
    MINE = "mine"
    UNASSIGNED = "unassigned"
    RESOLVED = "resolved"

    @classmethod
    def named(cls, value: str | None) -> Filter:
        try:
            return cls(value or cls.ALL)
        except ValueError:
            return cls.ALL


FILTER_LABELS = {Filter.MINE: "Mine", Filter.UNASSIGNED: "Unassigned", Filter.ALL: "All", Filter.RESOLVED: "Resolved"}


@dataclass(frozen=True, slots=True)
class RowPage:
    rows: list[views.Row]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A page of a conversation, oldest first; ``older``: the id to load the page before it from, if any."""

    conversation_id: int
    bubbles: list[views.Bubble]
    older: int | None


async def stream_position(session: AsyncSession) -> int:
    """The live stream's last event id, read before a page's data: the page's script resumes the stream after
    it, so nothing written after the page was read is missed (something read twice is harmless)."""
    return await stream.last_id(session)


def _listed(principal: Principal, which: Filter) -> sa.Select[tuple[Conversation, Contact]]:
    stmt = sa.select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
    if (visible := visibility.conversation_filter(principal)) is not None:
        stmt = stmt.where(visible)
    if which is Filter.RESOLVED:
        return conversations.filtered(stmt, state=conversations.State.RESOLVED)
    stmt = conversations.filtered(stmt, state=conversations.State.OPEN)
    if which is Filter.MINE:
        return stmt.where(Conversation.assignee_user_id == principal.id) if principal.kind == "user" else stmt
    if which is Filter.UNASSIGNED:
        return conversations.filtered(stmt, unassigned=True)
    return stmt


async def rows(
    session: AsyncSession, principal: Principal, which: Filter, clock: views.Clock, cursor: str | None = None
) -> RowPage:
    """A page of the list, newest activity first (``InvalidInput`` for a cursor no page gave)."""
    after = conversations.decode_activity(cursor) if cursor else None
    stmt = conversations.by_activity(_listed(principal, which), after).limit(LIST_PAGE + 1)
    found = list((await session.execute(stmt)).tuples())
    more = len(found) > LIST_PAGE
    found = found[:LIST_PAGE]
    built = await _rows(session, found, clock)
    last = found[-1][0] if more and found else None
    next_cursor = conversations.encode_activity(last.last_message_at, last.id) if last is not None else None
    return RowPage(built, next_cursor)


async def row(
    session: AsyncSession, principal: Principal, which: Filter, conversation_id: int, clock: views.Clock
) -> views.Row | None:
    """One conversation's row, or None when it is not in this list (not visible, or filtered out)."""
    stmt = _listed(principal, which).where(Conversation.id == conversation_id)
    found = list((await session.execute(stmt)).tuples())
    built = await _rows(session, found, clock)
    return built[0] if built else None


async def _rows(
    session: AsyncSession, found: Sequence[tuple[Conversation, Contact]], clock: views.Clock
) -> list[views.Row]:
    last = await messages.latest_of(session, [conv.id for conv, _ in found])
    names = await conversations.user_names(session, (conv.assignee_user_id for conv, _ in found))
    return [
        views.row(conv, contact, last.get(conv.id), names.get(conv.assignee_user_id or 0), clock)
        for conv, contact in found
    ]


async def header(session: AsyncSession, principal: Principal, conversation_id: int, clock: views.Clock) -> views.Header:
    """The conversation's header (``NotFound`` when it does not exist or the principal may not see it)."""
    await visibility.check_conversation(session, principal, conversation_id)
    conversation = await conversations.get(session, conversation_id)
    contact = await session.get(Contact, conversation.contact_id)
    account = await session.get(Account, conversation.account_id)
    assert contact is not None and account is not None  # foreign keys
    names = await conversations.user_names(session, [conversation.assignee_user_id])
    last_inbound = (await messages.latest_of(session, [conversation.id], inbound_only=True)).get(conversation.id)
    assignee = names.get(conversation.assignee_user_id or 0)
    return views.header(conversation, contact, account.phone_number_id, assignee, last_inbound, clock)


async def chunk(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    clock: views.Clock,
    sign: contents.Signer,
    before: int | None = None,
) -> Chunk:
    """The newest page of a conversation, or the page before message ``before``, oldest first (``sign``: a
    stored file's signed link)."""
    await visibility.check_conversation(session, principal, conversation_id)
    cursor = paging.encode("m", before) if before is not None else None
    filters = messages.Filters(conversation_id=conversation_id)
    page = await messages.list_page(session, limit=MESSAGE_PAGE, cursor=cursor, filters=filters)
    found = [m for m, _ in reversed(page.items)]
    older = found[0].id if page.next_cursor is not None and found else None
    return Chunk(conversation_id, await _bubbles(session, principal, found, clock, sign), older)


async def bubble(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    message_id: int,
    clock: views.Clock,
    sign: contents.Signer,
) -> views.Bubble | None:
    """One message of the conversation as a bubble; None when it shows on another message instead."""
    await visibility.check_conversation(session, principal, conversation_id)
    message = await messages.get(session, message_id)
    if message.conversation_id != conversation_id:
        raise errors.NotFound(f"message {message_id} does not exist")
    built = await _bubbles(session, principal, [message], clock, sign)
    return built[0] if built else None


async def _bubbles(
    session: AsyncSession, principal: Principal, found: Sequence[Message], clock: views.Clock, sign: contents.Signer
) -> list[views.Bubble]:
    """The bubbles of these messages; each sent by another user than the one looking names them."""
    shown = [m for m in found if views.shown(m)]
    others = (m.sent_by_user_id for m in shown if m.sent_by_user_id != principal.id)
    senders = await conversations.user_names(session, others)
    extras = await bubble_extras.extras(session, shown, sign)
    return [views.bubble(m, clock, senders.get(m.sent_by_user_id or 0), extras.get(m.id)) for m in shown]
