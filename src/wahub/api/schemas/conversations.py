"""Bodies of ``/api/v1/conversations``, read from their rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wahub.api.schemas.common import ContactRefOut, EntityRef, Id, Joined
from wahub.store import conversations
from wahub.store.models import Contact, Conversation


# A user as a conversation or a message names them (no docstring: it would become its OpenAPI description).
class UserRefOut(BaseModel):
    id: int
    name: str | None = Field(description="the user's name (null: the user was deleted)")


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    provider: str = Field(description="the provider of its account: meta or twilio")
    contact: ContactRefOut
    state: Literal["open", "resolved"] = Field(description="resolved until reopened, or until the contact writes again")
    assignee: UserRefOut | None = Field(description="the user it is assigned to; null: no one")
    unread_count: int
    last_message_at: datetime | None
    last_inbound_at: datetime | None
    window_closes_at: datetime | None = Field(description="when the 24-hour customer-service window closes")
    window_open: bool = Field(description="free-form messages can be sent now; otherwise a template is needed")
    entities: list[EntityRef] = Field(description="the other systems' entities it is linked to")

    @classmethod
    def of(
        cls,
        conversation: Conversation,
        contact: Contact,
        now: datetime,
        providers: Mapping[int, str],
        linked: list[tuple[str, str]] | None = None,
        users: Mapping[int, str] | None = None,
    ) -> ConversationOut:
        """The conversation as the API shows it; ``providers`` is each account's (``accounts.providers``),
        ``users`` names its assignee (``conversations.user_names``)."""
        assignee = conversation.assignee_user_id
        return cls.model_validate(
            Joined(
                conversation,
                provider=providers.get(conversation.account_id, "unknown"),
                contact=contact,
                assignee=None if assignee is None else UserRefOut(id=assignee, name=(users or {}).get(assignee)),
                window_closes_at=conversations.window_closes_at(conversation),
                window_open=conversations.window_open(conversation, now),
                entities=EntityRef.all_of(linked or []),
            )
        )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class AssignIn(BaseModel):
    """Who the conversation is assigned to."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"user_id": 3}, {"user_id": None}]})

    user_id: Id | Literal["me"] | None = Field(
        description="a user's id; 'me': the signed-in user (not an API key); null: no one"
    )
