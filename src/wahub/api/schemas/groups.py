"""Bodies of ``/api/v1/groups``: WhatsApp groups (Meta's Groups API) as wahub keeps them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wahub.store.models import Group

SUBJECT_MAX, DESCRIPTION_MAX, MAX_PARTICIPANTS = 128, 2048, 8
Subject = Field(min_length=1, max_length=SUBJECT_MAX, pattern=r"\S", examples=["Night shift"])


class GroupIn(BaseModel):
    """A new group: Meta answers at once and names the group (its id and invite link) by webhook a moment
    later; until then the group is ``creating``."""

    model_config = ConfigDict(extra="forbid")

    account_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="the Meta account (number) it belongs to"
    )
    subject: str = Subject
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    join_approval_mode: Literal["auto_approve", "approval_required"] = Field(
        default="auto_approve", description="approval_required: who opens the invite link asks to join"
    )


class GroupPatch(BaseModel):
    """A new subject and/or description."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, min_length=1, max_length=SUBJECT_MAX, pattern=r"\S")
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)

    @model_validator(mode="after")
    def _something(self) -> GroupPatch:
        if self.subject is None and self.description is None:
            raise ValueError("give a subject or a description")
        return self


class ParticipantOut(BaseModel):
    wa_id: str
    user_id: str | None = None
    joined_at: str | None = None


class JoinRequestOut(BaseModel):
    join_request_id: str
    wa_id: str | None = None
    user_id: str | None = None
    at: str | None = None


class GroupOut(BaseModel):
    """A group: Meta's id (``group_id``, empty while ``creating``), its subject, description, join mode, invite
    link, state (creating, active, suspended, deleted, failed), participants and open join requests."""

    id: int
    account_id: int
    group_id: str | None
    subject: str
    description: str | None
    join_approval_mode: str
    invite_link: str | None
    state: str
    participants: list[ParticipantOut]
    join_requests: list[JoinRequestOut]
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Group) -> GroupOut:
        members: dict[str, Any] = row.participants or {}
        requests: dict[str, Any] = row.join_requests or {}
        return cls(
            id=row.id,
            account_id=row.account_id,
            group_id=row.group_id,
            subject=row.subject,
            description=row.description,
            join_approval_mode=row.join_approval_mode,
            invite_link=row.invite_link,
            state=row.state,
            participants=[ParticipantOut(wa_id=w, **(m or {})) for w, m in members.items()],
            join_requests=[JoinRequestOut(join_request_id=r, **(v or {})) for r, v in requests.items()],
            error=row.error,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class GroupList(BaseModel):
    items: list[GroupOut]


class InviteLinkOut(BaseModel):
    invite_link: str


class UsersIn(BaseModel):
    """Participants to remove: phone numbers (E.164) or WhatsApp ids, at most 8."""

    model_config = ConfigDict(extra="forbid")

    participants: list[str] = Field(min_length=1, max_length=MAX_PARTICIPANTS)

    @model_validator(mode="after")
    def _numbers(self) -> UsersIn:
        for user in self.participants:
            digits = user.lstrip("+")
            if not (digits.isascii() and digits.isdigit() and 5 <= len(digits) <= 15):
                raise ValueError(f"participants: {user[:32]!r} is not a phone number or WhatsApp id")
        if len(set(self.participants)) != len(self.participants):
            raise ValueError("participants: a participant is named twice")
        return self


class JoinRequestsIn(BaseModel):
    """Open join requests (their ids, from the group's ``join_requests``)."""

    model_config = ConfigDict(extra="forbid")

    join_requests: list[str] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _ids(self) -> JoinRequestsIn:
        if any(not r or len(r) > 256 for r in self.join_requests):
            raise ValueError("join_requests: each id is 1 to 256 characters")
        return self


class JoinAnswerOut(BaseModel):
    done: list[str]
    failed: list[dict[str, Any]]
