"""``/api/v1/conversations``: threads with their unread count and 24-hour window state."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import ApiKeyId, ReadSession
from wahub.store import paging
from wahub.store.models import Contact, Conversation, utcnow

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.get("", response_model=schemas.ConversationPage)
async def list_conversations(
    session: ReadSession,
    _key: ApiKeyId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    unread: Annotated[bool | None, Query(description="only conversations with unread messages")] = None,
    contact_id: Annotated[int | None, Query(ge=1)] = None,
) -> schemas.ConversationPage:
    """Conversations, newest first."""
    stmt = sa.select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
    if unread:
        stmt = stmt.where(Conversation.unread_count > 0)
    if contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == contact_id)
    page = await paging.page(session, stmt, Conversation.id, kind="v", limit=limit, cursor=cursor)
    now = utcnow()
    return schemas.ConversationPage(
        items=[schemas.ConversationOut.of(conv, contact, now) for conv, contact in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{conversation_id}", response_model=schemas.ConversationOut)
async def get_conversation(conversation_id: int, session: ReadSession, _key: ApiKeyId) -> schemas.ConversationOut:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise errors.NotFound(f"conversation {conversation_id} does not exist")
    contact = await session.get(Contact, conversation.contact_id)
    assert contact is not None
    return schemas.ConversationOut.of(conversation, contact, utcnow())
