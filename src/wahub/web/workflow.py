"""The open conversation's workflow bar: who it is assigned to (and whom it may be assigned to), its state, and
the ERP records it is linked to. The bar's buttons call the API (``POST /api/v1/conversations/{id}/assign``,
``/resolve``, ``/reopen``, ``/entities``), as any client does; the live stream then renews the header and the
list (``static/js/workflow.js``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.api.deps import Principal
from wahub.store import entities
from wahub.store.models import Conversation, User


@dataclass(frozen=True, slots=True)
class Bar:
    conversation_id: int
    assignee_id: int | None
    mine: bool  # assigned to the user looking
    resolved: bool
    links: list[tuple[str, str, str]]  # (entity_type, entity_id, its page), in the order they were linked
    people: list[tuple[int, str]]  # the users it may be assigned to: (id, name), the enabled ones by name


async def bar(session: AsyncSession, principal: Principal, conversation: Conversation) -> Bar:
    linked = await entities.of_conversations(session, [conversation.id])
    stmt = sa.select(User.id, User.name).where(User.disabled_at.is_(None)).order_by(User.name, User.id).limit(200)
    people = [(int(user_id), str(name)) for user_id, name in await session.execute(stmt)]
    mine = principal.kind == "user" and conversation.assignee_user_id == principal.id
    return Bar(
        conversation_id=conversation.id,
        assignee_id=conversation.assignee_user_id,
        mine=mine,
        resolved=conversation.state == "resolved",
        links=[(kind, key, record_path(kind, key)) for kind, key in linked.get(conversation.id, [])],
        people=people,
    )


def record_path(entity_type: str, entity_id: str) -> str:
    """The inbox's page of an ERP record: ``/e/{entity_type}/{entity_id}``, each part quoted whole."""
    return f"/e/{quote(entity_type, safe='')}/{quote(entity_id, safe='')}"
