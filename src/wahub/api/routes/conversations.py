"""``/api/v1/conversations``: threads with their unread count and 24-hour window state, and the inbox's workflow
(assign to a user, resolve, reopen)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api import schemas, visibility
from wahub.api.context import AppContext
from wahub.api.deps import (
    Ctx,
    EntityId,
    EntityType,
    Principal,
    Reader,
    ReadSession,
    RequiredEntityId,
    RequiredEntityType,
    Sender,
    entity_filter,
)
from wahub.exports import bundle
from wahub.storage.base import READ_CHUNK
from wahub.store import accounts, conversations, db, entities, paging, search, stream
from wahub.store.models import Contact, Conversation, utcnow
from wahub.store.search_text import parse

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])

ASSIGNEE = r"^(me|none|[1-9][0-9]{0,9})$"  # a user id, "me" (the signed-in user) or "none" (unassigned)


@router.get("", response_model=schemas.ConversationPage)
async def list_conversations(
    session: ReadSession,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    unread: Annotated[bool | None, Query(description="only conversations with unread messages")] = None,
    contact_id: schemas.Id | None = None,
    entity_type: EntityType = None,
    entity_id: EntityId = None,
    state: Annotated[Literal["open", "resolved"] | None, Query(description="only open, or only resolved, ones")] = None,
    assignee: Annotated[
        str | None,
        Query(pattern=ASSIGNEE, description="only those assigned to 'me' (a signed-in user), to a user id, or 'none'"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="only those whose contact's name or number holds what is typed, or that hold a message "
            "matching it (as GET /api/v1/search)",
        ),
    ] = None,
) -> schemas.ConversationPage:
    """Conversations, newest first."""
    stmt = sa.select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
    if (visible := visibility.conversation_filter(principal)) is not None:
        stmt = stmt.where(visible)
    if unread:
        stmt = stmt.where(Conversation.unread_count > 0)
    if contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == contact_id)
    if (entity := entity_filter(entity_type, entity_id)) is not None:
        stmt = stmt.where(Conversation.id.in_(entities.linked_conversations(entity)))
    if q is not None:
        stmt = stmt.where(search.conversation_match(session, parse(q)))
    user_id = _user_id(principal, assignee) if assignee is not None and assignee != "none" else None
    wanted = conversations.State(state) if state is not None else None
    stmt = conversations.filtered(stmt, state=wanted, assignee=user_id, unassigned=assignee == "none")
    page = await paging.page(session, stmt, Conversation.id, kind="v", limit=limit, cursor=cursor)
    now = utcnow()
    linked = await entities.of_conversations(session, [conv.id for conv, _ in page.items])
    users = await conversations.user_names(session, (conv.assignee_user_id for conv, _ in page.items))
    providers = await accounts.providers(session) if page.items else {}
    return schemas.ConversationPage(
        items=[
            schemas.ConversationOut.of(conv, contact, now, providers, linked.get(conv.id), users)
            for conv, contact in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get("/{conversation_id}", response_model=schemas.ConversationOut)
async def get_conversation(
    conversation_id: schemas.Id, session: ReadSession, principal: Reader
) -> schemas.ConversationOut:
    await visibility.check_conversation(session, principal, conversation_id)
    return await _conversation_out(session, conversation_id)


@router.get(
    "/{conversation_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the export: a zip (HTML always; txt and JSON when the conversation has files), else the "
            "bare .txt or .json",
            "content": {"application/zip": {}, "text/plain": {}, "application/json": {}},
        }
    },
)
async def export_conversation(
    conversation_id: schemas.Id,
    ctx: Ctx,
    session: ReadSession,
    principal: Reader,
    format: Annotated[
        Literal["html", "txt", "json"],
        Query(description="html (readable offline), txt (WhatsApp's Android export layout) or json (everything)"),
    ],
    tz: Annotated[
        str | None, Query(max_length=64, description="the time zone times are written in (default UTC)")
    ] = None,
) -> StreamingResponse:
    """The conversation as a file to keep: every message with its time, author, status, reply, reactions and
    files. Agents may export the conversations they may see."""
    zone = bundle.zone_named(tz)
    await visibility.check_conversation(session, principal, conversation_id)
    chosen = await bundle.plan(session, conversation_id, bundle.Format(format))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response once sent
    try:
        await bundle.write(ctx.sessions, ctx.storage, chosen, spool, zone=zone, now=utcnow())
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    return StreamingResponse(
        _read(spool),
        media_type=bundle.MEDIA_TYPES[chosen.extension],
        headers={
            "Content-Disposition": f'attachment; filename="{chosen.filename}"',
            "Content-Length": str(size),
        },
    )


async def _read(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := spool.read(READ_CHUNK):
            yield chunk
    finally:
        spool.close()


@router.post(
    "/{conversation_id}/entities",
    status_code=201,
    response_model=schemas.ConversationOut,
    responses={200: {"description": "the conversation was linked to this entity already"}},
)
async def link_conversation(
    conversation_id: schemas.Id, body: schemas.EntityRef, ctx: Ctx, principal: Reader, response: Response
) -> schemas.ConversationOut:
    """Link the conversation to an entity of another system (a customer account, a project), to find it again
    with ``GET /api/v1/conversations?entity_type=…&entity_id=…``."""
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_conversation(session, principal, conversation_id)
        await _conversation_out(session, conversation_id)  # 404 first
        if not await entities.link(session, body.key, conversation_id=conversation_id):
            response.status_code = 200
        else:
            _linked(session, conversation_id, "linked")
        return await _conversation_out(session, conversation_id)


@router.delete("/{conversation_id}/entities", status_code=204, response_class=Response)
async def unlink_conversation(
    conversation_id: schemas.Id,
    ctx: Ctx,
    principal: Reader,
    entity_type: RequiredEntityType,
    entity_id: RequiredEntityId,
) -> Response:
    """Remove the conversation's link to one entity."""
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_conversation(session, principal, conversation_id)
        await _conversation_out(session, conversation_id)
        if not await entities.unlink(session, (entity_type, entity_id), conversation_id=conversation_id):
            raise errors.NotFound(f"conversation {conversation_id} is not linked to {entity_type} {entity_id}")
        _linked(session, conversation_id, "unlinked")
    return Response(status_code=204)


def _linked(session: AsyncSession, conversation_id: int, why: str) -> None:
    """Tell the live stream that the conversation's links changed (an inbox's list by entity moves it)."""
    stream.publish(session, [stream.Change(stream.CONVERSATION_UPDATED, conversation_id=conversation_id, why=why)])


async def _conversation_out(session: AsyncSession, conversation_id: int) -> schemas.ConversationOut:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise errors.NotFound(f"conversation {conversation_id} does not exist")
    contact = await session.get(Contact, conversation.contact_id)
    assert contact is not None
    linked = await entities.of_conversations(session, [conversation.id])
    users = await conversations.user_names(session, [conversation.assignee_user_id])
    providers = await accounts.providers(session)
    return schemas.ConversationOut.of(conversation, contact, utcnow(), providers, linked.get(conversation.id), users)


@router.post("/{conversation_id}/assign", response_model=schemas.ConversationOut)
async def assign_conversation(
    conversation_id: schemas.Id, body: schemas.AssignIn, ctx: Ctx, principal: Sender
) -> schemas.ConversationOut:
    """Assign the conversation to a user (an active one: 422 otherwise), to ``"me"`` (the signed-in user), or
    to no one (``null``)."""
    user_id = None if body.user_id is None else _user_id(principal, body.user_id, "user_id")
    return await _workflow(ctx, principal, conversation_id, lambda s: conversations.assign(s, conversation_id, user_id))


@router.post("/{conversation_id}/resolve", response_model=schemas.ConversationOut)
async def resolve_conversation(conversation_id: schemas.Id, ctx: Ctx, principal: Sender) -> schemas.ConversationOut:
    """Mark the conversation resolved: it stays so until it is reopened or the contact writes again."""
    return await _workflow(ctx, principal, conversation_id, lambda s: conversations.resolve(s, conversation_id))


@router.post("/{conversation_id}/reopen", response_model=schemas.ConversationOut)
async def reopen_conversation(conversation_id: schemas.Id, ctx: Ctx, principal: Sender) -> schemas.ConversationOut:
    return await _workflow(ctx, principal, conversation_id, lambda s: conversations.reopen(s, conversation_id))


async def _workflow(
    ctx: AppContext,
    principal: Principal,
    conversation_id: int,
    action: Callable[[AsyncSession], Awaitable[conversations.Changed]],
) -> schemas.ConversationOut:
    """Apply a workflow action (assign, resolve, reopen) to a conversation the principal may see; the answer is
    the conversation as it is then. ``Changed`` says what changed (nothing: it was so already)."""
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_conversation(session, principal, conversation_id)
        await action(session)
        return await _conversation_out(session, conversation_id)


def _user_id(principal: Principal, value: int | str, name: str = "assignee") -> int:
    """A user's id as a client gives it: a number, or "me" (the signed-in user)."""
    if value == "me":
        if principal.kind != "user":
            raise errors.InvalidInput(f"{name}: 'me' is the signed-in user; an API key names a user by id", field=name)
        return principal.id
    user_id = int(value)
    if user_id > paging.ID_MAX:
        raise errors.InvalidInput(f"{name}: no user has id {user_id}", field=name)
    return user_id
