"""Request and response bodies of the REST API, in Meta's own shapes where Meta has one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wahub.store.models import Contact, Message

TEXT_MAX = 4096


class TextContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=TEXT_MAX)
    preview_url: bool = False


class Context(BaseModel):
    message_id: str = Field(min_length=1, max_length=256)


class SendMessage(BaseModel):
    """A message to send, as Meta's ``POST /{phone_number_id}/messages`` body."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}]},
    )

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str = Field(description="The recipient's phone number in E.164 (with or without '+')")
    type: Literal["text"] = Field(description="Message type (more types follow)")
    text: TextContent
    context: Context | None = None
    sender: str | None = Field(
        default=None, alias="from", description="phone_number_id to send from, when several are configured"
    )

    @field_validator("to")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164_digits(value)


def e164_digits(value: str) -> str:
    """The number's E.164 digits without '+' (Meta's ``wa_id`` form); ValueError if it is not a valid number."""
    cleaned = value.strip()
    if not cleaned.startswith("+"):
        cleaned = "+" + cleaned
    try:
        number = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {value!r}") from exc
    # phonenumbers formats invalid input too, so check validity first.
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number: {value!r} (use E.164, e.g. +14155550101)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


class ContactOut(BaseModel):
    id: int
    wa_id: str | None
    user_id: str | None
    name: str | None


class ErrorOut(BaseModel):
    code: int | None
    title: str | None
    details: str | None


class MessageOut(BaseModel):
    """A message; its typed content sits under its type's key, as in Meta's payloads (``text.body``)."""

    model_config = ConfigDict(extra="allow")

    id: int
    wamid: str | None
    direction: Literal["inbound", "outbound"]
    type: str
    status: str
    contact: ContactOut
    conversation_id: int
    reply_to: str | None
    error: ErrorOut | None
    created_at: datetime
    timestamp: datetime | None = Field(description="when the provider says the message was sent (inbound)")
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    played_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, message: Message, contact: Contact) -> MessageOut:
        content: dict[str, Any] = dict(message.content)
        return cls(
            id=message.id,
            wamid=message.wamid,
            direction=message.direction,
            type=message.type,
            status=message.status,
            contact=ContactOut(id=contact.id, wa_id=contact.wa_id, user_id=contact.user_id, name=contact.profile_name),
            conversation_id=message.conversation_id,
            reply_to=message.reply_to_wamid,
            error=(
                ErrorOut(code=message.error_code, title=message.error_title, details=message.error_details)
                if message.error_code is not None or message.error_title
                else None
            ),
            created_at=message.created_at,
            timestamp=message.provider_timestamp,
            queued_at=message.queued_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            read_at=message.read_at,
            played_at=message.played_at,
            failed_at=message.failed_at,
            **content,
        )


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None
