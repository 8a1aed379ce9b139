"""``/api/v1/messages``: queue a send (message row + outbox job in one transaction), list, fetch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from wahub import domain, errors
from wahub.api import schemas, visibility
from wahub.api.deps import (
    Ctx,
    EntityId,
    EntityType,
    Reader,
    ReadSession,
    RequiredEntityId,
    RequiredEntityType,
    Sender,
    entity_filter,
)
from wahub.store import conversations, db, entities, idempotency, messages, outbound, outbox, read_receipts, statuses
from wahub.store.models import utcnow
from wahub.wakeups import Channel

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])


@router.post(
    "",
    status_code=202,
    response_model=schemas.MessageOut,
    responses={409: {"description": "the Idempotency-Key was used with another body"}},
)
async def send_message(
    body: schemas.SendMessage,
    ctx: Ctx,
    principal: Sender,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=idempotency.KEY_MAX,
            description="Retry with the same key and body: the message is queued once, and the first result returned",
        ),
    ] = None,
) -> schemas.MessageOut:
    """Queue a message of any type Meta sends, in Meta's own body. It is sent by the worker; follow its
    ``status`` with ``GET /api/v1/messages/{id}``. Anything but a template needs the conversation's 24-hour
    window to be open (422 ``window_closed`` otherwise). An agent sends only where they may read: to a contact
    whose conversation is theirs, unassigned or not started yet (404 otherwise, as for a read)."""
    digest = idempotency.request_hash(body.model_dump(mode="json", by_alias=True, exclude_unset=True))
    if principal.key_hash is not None:
        queued = await ctx.intake.submit(body.to_request(), principal.key_hash, idempotency_key, digest)
    elif idempotency_key is not None:
        raise errors.InvalidInput("Idempotency-Key: only sends with an API key take one", field="Idempotency-Key")
    else:
        agent = visibility.agent_id(principal) is not None
        queued = await ctx.intake.submit(body.to_request(), None, None, digest, user_id=principal.id, agent=agent)
    if queued.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        ctx.notifier.notify(Channel.OUTBOX)
    request = body.to_request()
    if request.send_at is not None and request.free_form and request.send_at > utcnow():
        async with ctx.sessions() as session:
            warning = await outbound.window_warning(session, queued.message.conversation_id, request.send_at)
        queued.message.warnings = [warning] if warning else []  # type: ignore[attr-defined]  # an extra field
    return queued.message


@router.post(
    "/{message_id}/cancel",
    response_model=schemas.MessageOut,
    responses={409: {"description": "the message is being sent or was sent: too late to cancel"}},
)
async def cancel_message(message_id: schemas.Id, ctx: Ctx, principal: Sender) -> schemas.MessageOut:
    """Cancel a queued message before it is sent (one held by ``send_at``, or waiting its turn): it ends
    ``failed`` with the reason ``cancelled``. Too late once the worker has taken it (409)."""
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_message(session, principal, message_id)
        await outbox.cancel(session, message_id)
    async with ctx.sessions() as session:
        return await schemas.MessageOut.load(session, message_id)


@router.get("", response_model=schemas.MessagePage)
async def list_messages(
    session: ReadSession,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    direction: Annotated[Literal["inbound", "outbound"] | None, Query()] = None,
    type: Annotated[str | None, Query(max_length=24, description="Meta's message type, e.g. text, image")] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    contact_id: schemas.Id | None = None,
    conversation_id: schemas.Id | None = None,
    since: Annotated[datetime | None, Query(description="created at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="created before (ISO 8601)")] = None,
    entity_type: EntityType = None,
    entity_id: EntityId = None,
    order: Annotated[
        Literal["stored", "time"],
        Query(
            description="newest first by when wahub stored them (stored), or by when they were sent or received "
            "(time: a conversation's live, history and imported messages in the order they happened)"
        ),
    ] = "stored",
) -> schemas.MessagePage:
    """Messages, newest first, filtered. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    filters = messages.Filters(
        direction=direction,
        type=type,
        status=status,
        contact_id=contact_id,
        conversation_id=conversation_id,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        entity=entity_filter(entity_type, entity_id),
        visible_to=visibility.agent_id(principal),
        by_time=order == "time",
    )
    page = await messages.list_page(session, limit=limit, cursor=cursor, filters=filters)
    return schemas.MessagePage(items=await schemas.MessageOut.all_of(session, page.items), next_cursor=page.next_cursor)


@router.get("/{message_id}", response_model=schemas.MessageOut)
async def get_message(message_id: schemas.Id, session: ReadSession, principal: Reader) -> schemas.MessageOut:
    await visibility.check_message(session, principal, message_id)
    return await schemas.MessageOut.load(session, message_id)


@router.post(
    "/{message_id}/entities",
    status_code=201,
    response_model=schemas.MessageOut,
    responses={200: {"description": "the message was linked to this entity already"}},
)
async def link_message(
    message_id: schemas.Id, body: schemas.EntityRef, ctx: Ctx, principal: Reader, response: Response
) -> schemas.MessageOut:
    """Link the message to an entity of another system (an invoice, a deal, a ticket), to find it again with
    ``GET /api/v1/messages?entity_type=…&entity_id=…``."""
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_message(session, principal, message_id)
        await messages.get(session, message_id)
        if not await entities.link(session, body.key, message_id=message_id):
            response.status_code = 200
        return await schemas.MessageOut.load(session, message_id)


@router.delete("/{message_id}/entities", status_code=204, response_class=Response)
async def unlink_message(
    message_id: schemas.Id, ctx: Ctx, principal: Reader, entity_type: RequiredEntityType, entity_id: RequiredEntityId
) -> Response:
    """Remove the message's link to one entity."""
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_message(session, principal, message_id)
        await messages.get(session, message_id)
        if not await entities.unlink(session, (entity_type, entity_id), message_id=message_id):
            raise errors.NotFound(f"message {message_id} is not linked to {entity_type} {entity_id}")
    return Response(status_code=204)


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    typing_indicator: bool = Field(
        default=False, description="also show the customer that you are typing (until you answer, at most ~25 s)"
    )


class ReadQueued(BaseModel):
    message_id: int
    typing_indicator: bool
    state: str = Field(description="the read receipt's job: pending, running, done or failed")


@router.post("/{message_id}/read", status_code=202, response_model=ReadQueued)
async def mark_read(message_id: schemas.Id, ctx: Ctx, principal: Sender, body: MarkRead | None = None) -> ReadQueued:
    """Mark an inbound message read: the customer sees blue ticks, and the conversation's unread count is
    cleared. Sent through the outbox like a message; asking again for the same message changes nothing, except
    ``typing_indicator``: the receipt goes again with the indicator (Meta shows it up to 25 s), at most once
    every 20 s per message, so a page may ask while someone types."""
    typing = body.typing_indicator if body is not None else False
    async with db.transaction(ctx.sessions) as session:
        await visibility.check_message(session, principal, message_id)
        message = await messages.get(session, message_id)
        if message.direction != domain.Direction.INBOUND.value or not message.wamid:
            raise errors.InvalidInput("only an inbound message can be marked read", field="message_id")
        job, new = await read_receipts.queue(session, message.id, message.account_id, typing=typing)
        if new:
            await conversations.mark_read(session, message.conversation_id)
        elif typing:
            read_receipts.show_typing(job, utcnow())
        state, typing = job.state, job.kind == outbox.JobKind.READ_TYPING.value
    ctx.notifier.notify(Channel.OUTBOX)
    return ReadQueued(message_id=message_id, typing_indicator=typing, state=state)


@router.get("/{message_id}/statuses", response_model=list[schemas.StatusOut])
async def message_statuses(message_id: schemas.Id, session: ReadSession, principal: Reader) -> list[schemas.StatusOut]:
    """Every status Meta reported for the message, oldest first, with pricing and errors."""
    await visibility.check_message(session, principal, message_id)
    await messages.get(session, message_id)
    return [schemas.StatusOut.of(r) for r in await statuses.for_message(session, message_id)]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise errors.InvalidInput(f"{name}: give a time zone, e.g. 2026-11-01T00:00:00Z", field=name)
    return value
