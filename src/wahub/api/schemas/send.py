"""The body of ``POST /api/v1/messages`` (and of ``wahub send --json``): Meta's own send body, checked against
Meta's limits before queueing (the contents' limits are in ``content.py`` and ``interactive.py``).

Limits are Meta's (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages and the
interactive and template pages): a body that breaks one gets a 422 naming the field and the limit, instead
of a ``failed`` message minutes later. ``to_request`` turns a checked body into the domain's ``SendRequest``.

What is queued is the content exactly as the client wrote it (``SendMessage.content``): no defaults are
added, so the JSON Meta receives is the JSON the client sent, with ``to`` normalised to E.164 digits.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from wahub import domain
from wahub.api.schemas.common import EntityRef
from wahub.api.schemas.content import (
    Audio,
    ContactCard,
    Context,
    Document,
    Image,
    Location,
    Reaction,
    Sticker,
    Template,
    Text,
    Video,
)
from wahub.api.schemas.interactive import Interactive
from wahub.sending.request import SendRequest

CALLBACK_DATA_MAX = 512
ENTITIES_MAX = 10  # entities one message may be linked to as it is sent
CONTACTS_MAX = 5  # maxItems of ContactsMessage in Meta's OpenAPI description

MessageKind = Literal[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "template",
]
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageKind)
# What Meta's Groups API sends to a group: text, media and templates.
GROUP_TYPES = ("text", "image", "video", "audio", "document", "template")
GROUP_ID = re.compile(r"[A-Za-z0-9._@-]{1,128}")
# A wa_id as Meta writes it: digits only. One phonenumbers does not know may still be a contact Meta gave us.
WA_ID = re.compile(r"[0-9]{7,15}")
# How far ahead ``send_at`` may be: further is most likely a mistaken year, and a window or template may be gone.
SEND_AT_MAX = timedelta(days=366)


class SendMessage(BaseModel):
    """A message to send, as Meta's ``POST /{phone_number_id}/messages`` body (``type`` defaults to text)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}]},
    )

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual", "group"] = "individual"
    to: str = Field(
        description="The recipient's phone number in E.164 (with or without '+'), or a group id from Meta's "
        "Groups API when recipient_type is 'group'",
        min_length=1,
        max_length=128,
    )
    type: MessageKind = "text"
    text: Text | None = None
    image: Image | None = None
    audio: Audio | None = None
    video: Video | None = None
    document: Document | None = None
    sticker: Sticker | None = None
    location: Location | None = None
    contacts: list[ContactCard] | None = Field(default=None, min_length=1, max_length=CONTACTS_MAX)
    reaction: Reaction | None = None
    interactive: Interactive | None = None
    template: Template | None = None
    context: Context | None = None
    biz_opaque_callback_data: str | None = Field(default=None, max_length=CALLBACK_DATA_MAX)
    sender: str | None = Field(
        default=None,
        alias="from",
        description="the account to send from, when several are configured: a Meta phone_number_id or a Twilio "
        "sender (whatsapp:+E164)",
    )
    entities: list[EntityRef] | None = Field(
        default=None,
        max_length=ENTITIES_MAX,
        description="wahub's own: link the message to these entities of your systems (not sent to Meta)",
    )
    send_at: datetime | None = Field(
        default=None,
        description="wahub's own: send it at this time (ISO 8601 with a time zone, at most 366 days ahead; a past "
        "time sends it now). Until then it can be cancelled (POST /api/v1/messages/{id}/cancel)",
    )

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-24T09:00:00+01:00 or 2026-12-24T08:00:00Z")
        if value - datetime.now(tz=UTC) > SEND_AT_MAX:
            raise ValueError(f"at most {SEND_AT_MAX.days} days ahead")
        return value.astimezone(UTC)

    @field_validator("to")
    @classmethod
    def _recipient_id(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("recipient_type", "individual") == "individual":
            return _number_or_wa_id(value)
        if not GROUP_ID.fullmatch(value):
            raise ValueError("not a group id (letters, digits, '.', '-', '_' or '@'), as a group message needs")
        return value

    @model_validator(mode="after")
    def _group_types(self) -> SendMessage:
        if self.recipient_type == "group" and self.type not in GROUP_TYPES:
            raise ValueError(
                f"a group message can be one of {', '.join(GROUP_TYPES)} (Meta's Groups API), not {self.type}"
            )
        return self

    @model_validator(mode="after")
    def _one_content(self) -> SendMessage:
        if getattr(self, self.type) is None:
            raise ValueError(f"a {self.type} message needs a '{self.type}' object")
        others = [t for t in MESSAGE_TYPES if t != self.type and getattr(self, t) is not None]
        if others:
            raise ValueError(f"a {self.type} message cannot also carry {', '.join(repr(o) for o in others)}")
        return self

    def content(self) -> Any:
        """The type's object exactly as the client gave it (nothing added, unknown fields of rich types kept)."""
        value = getattr(self, self.type)
        if isinstance(value, list):
            return [item.model_dump(mode="json", exclude_unset=True) for item in value]
        return value.model_dump(mode="json", exclude_unset=True)

    def to_request(self) -> SendRequest:
        """What the body asks to send, as the domain value ``sending/service.py`` checks and queues."""
        return SendRequest(
            to=self.to,
            type=domain.MessageType(self.type),
            content=self.content(),
            group=self.recipient_type == "group",
            sender=self.sender,
            reply_to=self.context.message_id if self.context else None,
            callback_data=self.biz_opaque_callback_data,
            entities=tuple(e.key for e in self.entities or ()),
            send_at=self.send_at,
        )


def _number_or_wa_id(value: str) -> str:
    """E.164 digits of a valid number; digits that phonenumbers doubts but that may be a wa_id Meta gave (its
    metadata lags Meta's) are kept as they are, for ``sending.service`` to check against the contacts."""
    try:
        return domain.e164_digits(value)
    except ValueError:
        digits = value.strip().removeprefix("+")
        if WA_ID.fullmatch(digits):
            return digits
        raise
