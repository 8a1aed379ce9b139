"""What the inbox's pages show, read through the store with ``api/visibility`` applied: an agent's pages hold
only the conversations assigned to them or to nobody, as the API's answers do.

Each function takes a read session (the caller's transaction) and the principal looking; a conversation or
message the principal may not see is ``errors.NotFound``, exactly as in the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api import visibility
from wahub.api.deps import Principal
from wahub.store import conversations, entities, messages, paging, search, stream_events
from wahub.store.models import Account, Contact, Conversation, Message
from wahub.store.search_text import parse
from wahub.web import bubble_extras, contents, views, workflow
from wahub.web.listing import Filter, ListView, MessageHit, hit

LIST_PAGE = 50  # conversations per list page
MESSAGE_PAGE = 50  # messages per page of a conversation
HITS = 20  # messages a search shows under the conversations it found


@dataclass(frozen=True, slots=True)
class RowPage:
    rows: list[views.Row]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A page of a conversation, oldest first; ``older``: the id to load the page before it from, if any;
    ``newer``: the id to load the page after it from (a page opened at a message, ``target``, deep in it)."""

    conversation_id: int
    bubbles: list[views.Bubble]
    older: int | None
    newer: int | None = None
    target: int | None = None


async def stream_position(session: AsyncSession) -> int:
    """The live stream's last event id, read before a page's data: the page's script resumes the stream after
    it, so nothing written after the page was read is missed (something read twice is harmless)."""
    return await stream_events.last_id(session)


def _scope(principal: Principal, view: ListView) -> list[sa.ColumnElement[bool]]:
    """Conditions on ``Conversation``: what the principal may see, in the view's account and entity."""
    found = []
    if (visible := visibility.conversation_filter(principal)) is not None:
        found.append(visible)
    if view.account is not None:
        found.append(Conversation.account_id == view.account)
    if view.entity is not None:
        found.append(Conversation.id.in_(entities.linked_conversations(view.entity)))
    return found


def _listed(session: AsyncSession, principal: Principal, view: ListView) -> sa.Select[tuple[Conversation, Contact]]:
    stmt = sa.select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
    stmt = stmt.where(*_scope(principal, view))
    if view.q:
        stmt = stmt.where(search.conversation_match(session, parse(view.q)))
    if view.which is Filter.RESOLVED:
        return conversations.filtered(stmt, state=conversations.State.RESOLVED)
    if view.which is Filter.ALL and view.entity is not None:
        return stmt
    stmt = conversations.filtered(stmt, state=conversations.State.OPEN)
    if view.which is Filter.MINE:
        return stmt.where(Conversation.assignee_user_id == principal.id) if principal.kind == "user" else stmt
    if view.which is Filter.UNASSIGNED:
        return conversations.filtered(stmt, unassigned=True)
    return stmt


async def rows(
    session: AsyncSession, principal: Principal, view: ListView, clock: views.Clock, cursor: str | None = None
) -> RowPage:
    """A page of the list, newest activity first (``InvalidInput`` for a cursor no page gave)."""
    after = conversations.decode_activity(cursor) if cursor else None
    stmt = conversations.by_activity(_listed(session, principal, view), after).limit(LIST_PAGE + 1)
    found = list((await session.execute(stmt)).tuples())
    more = len(found) > LIST_PAGE
    found = found[:LIST_PAGE]
    built = await _rows(session, found, clock)
    last = found[-1][0] if more and found else None
    next_cursor = conversations.encode_activity(last.last_message_at, last.id) if last is not None else None
    return RowPage(built, next_cursor)


async def row(
    session: AsyncSession, principal: Principal, view: ListView, conversation_id: int, clock: views.Clock
) -> views.Row | None:
    """One conversation's row, or None when it is not in this list (not visible, or filtered out)."""
    stmt = _listed(session, principal, view).where(Conversation.id == conversation_id)
    found = list((await session.execute(stmt)).tuples())
    built = await _rows(session, found, clock)
    return built[0] if built else None


async def hits(session: AsyncSession, principal: Principal, view: ListView, clock: views.Clock) -> list[MessageHit]:
    """The newest messages matching the view's search, in the conversations of its account and entity."""
    if not view.q:
        return []
    scope = _scope(principal, view)
    page = await search.find_messages(session, parse(view.q), limit=HITS, visible=sa.and_(*scope) if scope else None)
    return [hit(found, clock) for found in page.items]


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
    built = views.header(conversation, contact, account.phone_number_id, assignee, last_inbound, clock)
    return replace(built, workflow=await workflow.bar(session, principal, conversation))


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


async def around(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    message_id: int,
    clock: views.Clock,
    sign: contents.Signer,
) -> Chunk:
    """The page of a conversation around message ``message_id`` (half before it, half after), to open the
    conversation at that message (a search's result); ``NotFound`` when it is not a message of this one."""
    await visibility.check_conversation(session, principal, conversation_id)
    message = await messages.get(session, message_id)
    if message.conversation_id != conversation_id:
        raise errors.NotFound(f"message {message_id} is not in conversation {conversation_id}")
    half = MESSAGE_PAGE // 2
    filters = messages.Filters(conversation_id=conversation_id)
    up_to = await messages.list_page(session, limit=half, cursor=paging.encode("m", message_id + 1), filters=filters)
    found = [m for m, _ in reversed(up_to.items)]
    later, newer = await _after(session, conversation_id, message_id, half)
    older = found[0].id if up_to.next_cursor is not None and found else None
    bubbles = await _bubbles(session, principal, found + later, clock, sign)
    return Chunk(conversation_id, bubbles, older, newer, message_id)


async def newer_chunk(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    after: int,
    clock: views.Clock,
    sign: contents.Signer,
) -> Chunk:
    """The page of messages after message ``after`` (scrolling down a conversation opened at a message)."""
    await visibility.check_conversation(session, principal, conversation_id)
    later, newer = await _after(session, conversation_id, after, MESSAGE_PAGE)
    return Chunk(conversation_id, await _bubbles(session, principal, later, clock, sign), None, newer)


async def _after(
    session: AsyncSession, conversation_id: int, after: int, limit: int
) -> tuple[list[Message], int | None]:
    """Up to ``limit`` messages after message ``after``, oldest first, and the id to go on from if there are more."""
    stmt = (
        sa.select(Message)
        .where(Message.conversation_id == conversation_id, Message.id > after)
        .order_by(Message.id)
        .limit(limit + 1)
    )
    found = list((await session.scalars(stmt)).all())
    more = len(found) > limit
    found = found[:limit]
    return found, found[-1].id if more and found else None


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
