"""Bodies of ``/api/v1/messages`` answers, read from their rows (the send body is ``send.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.api.schemas.common import ContactRefOut, EntityRef, ErrorOut, Joined
from wahub.store import accounts, conversations, entities, messages
from wahub.store.models import ApiKey, Contact, Message, StatusRecord

Senders = Mapping[tuple[str, int], str]
"""The names of the users and API keys that sent messages, by ``("user", id)`` and ``("api_key", id)``."""


# Who queued an outbound message (no docstring: it would become its OpenAPI description).
class SentByOut(BaseModel):
    kind: Literal["user", "api_key"]
    id: int
    name: str | None = Field(description="the user's or the API key's name (null: deleted since)")

    @classmethod
    def of(cls, message: Message, senders: Senders | None) -> SentByOut | None:
        if message.sent_by_user_id is not None:
            kind, sender = "user", message.sent_by_user_id
        elif message.sent_by_api_key_id is not None:
            kind, sender = "api_key", message.sent_by_api_key_id
        else:
            return None
        return cls(kind=kind, id=sender, name=(senders or {}).get((kind, sender)))


async def sender_names(session: AsyncSession, rows: Iterable[Message]) -> dict[tuple[str, int], str]:
    """The names of who sent ``rows`` (``Senders``): two small queries at most."""
    rows = list(rows)
    users = await conversations.user_names(session, (m.sent_by_user_id for m in rows))
    found = {("user", user_id): name for user_id, name in users.items()}
    keys = {m.sent_by_api_key_id for m in rows if m.sent_by_api_key_id is not None}
    if keys:
        for key_id, name in await session.execute(sa.select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(keys))):
            found[("api_key", key_id)] = name
    return found


class StatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    timestamp: datetime
    recipient: str
    error: ErrorOut | None
    pricing: dict[str, Any] | None
    conversation: dict[str, Any] | None

    @classmethod
    def of(cls, r: StatusRecord) -> StatusOut:
        return cls.model_validate(Joined(r, error=r if r.error_code else None))


class MessageOut(BaseModel):
    """A message; its typed content sits under its type's key, as in Meta's payloads (``text.body``)."""

    model_config = ConfigDict(extra="allow", from_attributes=True)

    id: int
    account_id: int
    provider: str = Field(description="the provider of its account: meta or twilio (whose id 'wamid' is)")
    wamid: str | None
    direction: Literal["inbound", "outbound"]
    type: str
    status: str
    contact: ContactRefOut
    conversation_id: int
    reply_to: str | None = Field(validation_alias="reply_to_wamid")
    target: str | None = Field(
        validation_alias="target_wamid", description="the message an edit, revoke or reaction acts on"
    )
    group_id: str | None
    media_id: int | None
    reactions: dict[str, str] = Field(description="emoji by who reacted (contact id key or 'business')")
    edited_at: datetime | None
    revoked_at: datetime | None
    history: list[dict[str, Any]] = Field(description="earlier contents, oldest first, after edits or a revoke")
    error: ErrorOut | None
    possible_duplicate: bool = Field(
        description="an outbound message that may have reached the recipient twice: its send was in flight when "
        "its worker died, or timed out, and was sent again"
    )
    imported: bool = Field(
        default=False,
        description="read from a chat export (wahub import chat, POST /api/v1/imports), not received or sent here",
    )
    created_at: datetime
    timestamp: datetime | None = Field(
        validation_alias="provider_timestamp", description="when the provider says the message was sent (inbound)"
    )
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    played_at: datetime | None
    failed_at: datetime | None
    entities: list[EntityRef] = Field(description="the other systems' entities it is linked to")
    sent_by: SentByOut | None = Field(
        description="who queued an outbound message: a user or an API key; null for inbound messages and for what "
        "wahub sent by itself (the CLI, campaigns)"
    )

    @field_validator("reactions", mode="before")
    @classmethod
    def _no_reactions(cls, value: dict[str, str] | None) -> dict[str, str]:
        return value or {}

    @field_validator("imported", mode="before")
    @classmethod
    def _not_imported(cls, value: bool | None) -> bool:
        return bool(value)  # a message just queued, not yet flushed, has no value yet

    @field_validator("history", mode="before")
    @classmethod
    def _no_history(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return value or []

    @classmethod
    def of(
        cls,
        message: Message,
        contact: Contact,
        providers: Mapping[int, str],
        linked: list[tuple[str, str]] | None = None,
        senders: Senders | None = None,
    ) -> MessageOut:
        """The message as the API shows it; ``providers`` is each account's (``accounts.providers``),
        ``senders`` names who sent it (``sender_names``)."""
        failed = message.error_code is not None or message.error_title
        out = cls.model_validate(
            Joined(
                message,
                provider=providers.get(message.account_id, "unknown"),
                contact=contact,
                error=message if failed else None,
                entities=EntityRef.all_of(linked or []),
                sent_by=SentByOut.of(message, senders),
            )
        )
        return out.model_copy(update=cls._content_at_top(message.content))

    @classmethod
    def _content_at_top(cls, content: dict[str, Any]) -> dict[str, Any]:
        """Typed content sits at the top level as in Meta's payloads; a key that would shadow one of our fields
        (an unknown future type named like one) goes under "content" instead."""
        top = {k: v for k, v in content.items() if k not in cls.model_fields}
        shadowing = {k: v for k, v in content.items() if k in cls.model_fields}
        if shadowing:
            top["content"] = shadowing
        return top

    @classmethod
    async def load(cls, session: AsyncSession, message_id: int) -> MessageOut:
        """The message ``message_id`` as the API shows it (``NotFound`` if there is none)."""
        message = await messages.get(session, message_id)
        contact = await session.get(Contact, message.contact_id)
        assert contact is not None  # a foreign key guarantees it
        linked = await entities.of_messages(session, [message.id])
        names = await sender_names(session, [message])
        return cls.of(message, contact, await accounts.providers(session), linked.get(message.id), names)

    @classmethod
    async def all_of(cls, session: AsyncSession, rows: list[tuple[Message, Contact]]) -> list[MessageOut]:
        """A page of messages with their contacts, as the API shows them (their links and senders looked up
        together)."""
        linked = await entities.of_messages(session, [m.id for m, _ in rows])
        names = await sender_names(session, [m for m, _ in rows])
        providers = await accounts.providers(session) if rows else {}
        return [cls.of(m, c, providers, linked.get(m.id), names) for m, c in rows]


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None
