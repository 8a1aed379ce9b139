"""``/api/v1/canned-replies``: texts agents insert into a conversation by a short code, with ``{{contact.name}}``-
style fields filled for the conversation. Everyone may list them; admins write them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.api import schemas, visibility
from wahub.api.deps import Admin, Ctx, Principal, Reader, ReadSession
from wahub.store import canned_replies, conversations, db
from wahub.store.models import Contact

router = APIRouter(prefix="/api/v1/canned-replies", tags=["canned replies"])

_CONVERSATION: dict[int | str, dict[str, Any]] = {
    404: {"description": "no conversation (that the caller may see) has the conversation_id"}
}
_TAKEN: dict[int | str, dict[str, Any]] = {409: {"description": "another canned reply has this code"}}


@router.get("", response_model=list[schemas.CannedReplyOut], responses=_CONVERSATION)
async def list_canned_replies(
    session: ReadSession, who: Reader, conversation_id: schemas.Id | None = None
) -> list[schemas.CannedReplyOut]:
    """Every canned reply, by code. With ``conversation_id``, each one's ``rendered`` text has its fields filled
    for that conversation (its contact, and the user asking as the agent)."""
    values = None if conversation_id is None else await _values(session, who, conversation_id)
    return [schemas.CannedReplyOut.of(reply, values) for reply in await canned_replies.all_replies(session)]


@router.get("/{reply_id}", response_model=schemas.CannedReplyOut, responses=_CONVERSATION)
async def get_canned_reply(
    reply_id: schemas.Id, session: ReadSession, who: Reader, conversation_id: schemas.Id | None = None
) -> schemas.CannedReplyOut:
    """One canned reply; with ``conversation_id``, rendered for that conversation."""
    reply = await canned_replies.get(session, reply_id)
    values = None if conversation_id is None else await _values(session, who, conversation_id)
    return schemas.CannedReplyOut.of(reply, values)


@router.post("", status_code=201, response_model=schemas.CannedReplyOut, responses=_TAKEN)
async def create_canned_reply(body: schemas.CannedReplyIn, ctx: Ctx, _admin: Admin) -> schemas.CannedReplyOut:
    """A new canned reply (admins). A text naming a field that does not exist is refused (422)."""
    async with db.transaction(ctx.sessions) as session:
        return schemas.CannedReplyOut.of(await canned_replies.create(session, body.code, body.text))


@router.patch("/{reply_id}", response_model=schemas.CannedReplyOut, responses=_TAKEN)
async def update_canned_reply(
    reply_id: schemas.Id, body: schemas.CannedReplyPatch, ctx: Ctx, _admin: Admin
) -> schemas.CannedReplyOut:
    """Change a canned reply's code or text (admins); what the body leaves out stays as it is."""
    async with db.transaction(ctx.sessions) as session:
        reply = await canned_replies.update(session, reply_id, code=body.code, text=body.text)
        return schemas.CannedReplyOut.of(reply)


@router.delete("/{reply_id}", status_code=204, response_class=Response)
async def delete_canned_reply(reply_id: schemas.Id, ctx: Ctx, _admin: Admin) -> Response:
    async with db.transaction(ctx.sessions) as session:
        await canned_replies.delete(session, reply_id)
    return Response(status_code=204)


async def _values(session: AsyncSession, who: Principal, conversation_id: int) -> dict[str, str]:
    """The fields' values in the conversation: its contact's, and the agent's (the signed-in user; for an API
    key, the conversation's assignee)."""
    await visibility.check_conversation(session, who, conversation_id)
    conversation = await conversations.get(session, conversation_id)
    contact = await session.get(Contact, conversation.contact_id)
    assert contact is not None  # a foreign key guarantees it
    agent = who.id if who.kind == "user" else conversation.assignee_user_id
    names = await conversations.user_names(session, [agent])
    return canned_replies.values(contact, names.get(agent) if agent is not None else None)
