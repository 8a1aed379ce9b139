"""Bodies of ``/api/v1/canned-replies``: short texts agents insert into a conversation by their code."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from wahub.api.schemas.common import Joined
from wahub.store import canned_replies
from wahub.store.models import CannedReply

_FIELDS = ", ".join(f"`{{{{{name}}}}}` ({meaning})" for name, meaning in canned_replies.FIELDS.items())
_TEXT = f"the text, up to {canned_replies.TEXT_MAX} characters; it may name these fields: {_FIELDS}"
_CODE = "what agents type to find it: lower-case letters, digits, '_' and '-' (1-32)"
_PRINTABLE = r"^[^\x00]*$"  # PostgreSQL's text cannot hold U+0000


class CannedReplyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"code": "thanks", "text": "Thank you, {{contact.first_name}}!"}]},
    )

    code: str = Field(pattern=canned_replies.CODE, description=_CODE)
    text: str = Field(min_length=1, max_length=canned_replies.TEXT_MAX, pattern=_PRINTABLE, description=_TEXT)


class CannedReplyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "Thanks a lot!"}]})

    code: str | None = Field(default=None, pattern=canned_replies.CODE, description=_CODE)
    text: str | None = Field(
        default=None, min_length=1, max_length=canned_replies.TEXT_MAX, pattern=_PRINTABLE, description=_TEXT
    )


class CannedReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    text: str = Field(description="as written, with its fields")
    rendered: str | None = Field(
        description="the text with its fields filled for the conversation asked for (conversation_id); else null"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, reply: CannedReply, values: dict[str, str] | None = None) -> CannedReplyOut:
        rendered = None if values is None else canned_replies.render(reply.text, values)
        return cls.model_validate(Joined(reply, rendered=rendered))
