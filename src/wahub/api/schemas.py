"""Request and response bodies of the REST API, in Meta's own shapes where Meta has one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wahub.store import conversations, paging, stats
from wahub.store.models import (
    AccountEvent,
    Contact,
    Conversation,
    Media,
    Message,
    StatusRecord,
    WebhookDelivery,
    WebhookSubscription,
)

Id = Annotated[int, Field(ge=1, le=paging.ID_MAX)]
"""A row's id, wherever a client gives one: in a path (out of range: 404, see ``api/errors.py``), a filter or a
body (out of range: 422). Beyond ``paging.ID_MAX`` no row can have it, and the database would refuse the query."""


class ErrorDetail(BaseModel):
    code: str = Field(description="what went wrong, for programs: not_found, invalid_input, rate_limited…")
    message: str = Field(description="what went wrong, for people")
    details: dict[str, Any] = Field(description="more about it: for invalid input, 'errors' names each field")


class ErrorBody(BaseModel):
    """Every error answer of the API (4xx and 5xx)."""

    error: ErrorDetail


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


class ContactRefOut(BaseModel):
    id: int
    wa_id: str | None
    user_id: str | None
    name: str | None


class ContactOut(ContactRefOut):
    previous_wa_ids: list[str]
    marketing_preference: str | None
    marketing_preference_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Contact) -> ContactOut:
        return cls(
            id=c.id,
            wa_id=c.wa_id,
            user_id=c.user_id,
            name=c.profile_name,
            previous_wa_ids=c.previous_wa_ids or [],
            marketing_preference=c.marketing_preference,
            marketing_preference_at=c.marketing_preference_at,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


ENTITY_TYPE = r"^[A-Za-z0-9_.:-]{1,64}$"
ENTITY_ID = r"^[^\x00-\x1f\x7f]{1,128}$"  # anything printable: an ERP's own ids


class EntityRef(BaseModel):
    """A thing of another system (an ERP's invoice, a CRM's deal) that a message or conversation concerns."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"entity_type": "invoice", "entity_id": "INV-123"}]}
    )

    entity_type: str = Field(pattern=ENTITY_TYPE, description="letters, digits, '_', '.', ':' or '-' (1-64)")
    entity_id: str = Field(pattern=ENTITY_ID, description="1-128 printable characters")

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity_type, self.entity_id)

    @classmethod
    def all_of(cls, found: list[tuple[str, str]]) -> list[EntityRef]:
        return [cls(entity_type=t, entity_id=i) for t, i in found]


class ConversationOut(BaseModel):
    id: int
    account_id: int
    contact: ContactRefOut
    unread_count: int
    last_message_at: datetime | None
    last_inbound_at: datetime | None
    window_closes_at: datetime | None = Field(description="when the 24-hour customer-service window closes")
    window_open: bool = Field(description="free-form messages can be sent now; otherwise a template is needed")
    entities: list[EntityRef] = Field(description="the other systems' entities it is linked to")

    @classmethod
    def of(
        cls, conversation: Conversation, contact: Contact, now: datetime, linked: list[tuple[str, str]] | None = None
    ) -> ConversationOut:
        closes = conversations.window_closes_at(conversation)
        return cls(
            id=conversation.id,
            account_id=conversation.account_id,
            contact=ContactRefOut(
                id=contact.id, wa_id=contact.wa_id, user_id=contact.user_id, name=contact.profile_name
            ),
            unread_count=conversation.unread_count,
            last_message_at=conversation.last_message_at,
            last_inbound_at=conversation.last_inbound_at,
            window_closes_at=closes,
            window_open=conversations.window_open(conversation, now),
            entities=EntityRef.all_of(linked or []),
        )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class EventOut(BaseModel):
    """An account event: a webhook change about templates, numbers, the account, preferences or calls."""

    id: int
    field: str
    account_id: int | None
    waba_id: str | None
    phone_number_id: str | None
    occurred_at: datetime | None
    received_at: datetime
    value: dict[str, Any]

    @classmethod
    def of(cls, e: AccountEvent) -> EventOut:
        return cls(
            id=e.id,
            field=e.field,
            account_id=e.account_id,
            waba_id=e.waba_id,
            phone_number_id=e.phone_number_id,
            occurred_at=e.occurred_at,
            received_at=e.created_at,
            value=e.raw,
        )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class StatusOut(BaseModel):
    status: str
    timestamp: datetime
    recipient: str
    error: ErrorOut | None
    pricing: dict[str, Any] | None
    conversation: dict[str, Any] | None

    @classmethod
    def of(cls, r: StatusRecord) -> StatusOut:
        error = ErrorOut(code=r.error_code, title=r.error_title, details=r.error_details) if r.error_code else None
        return cls(
            status=r.status,
            timestamp=r.timestamp,
            recipient=r.recipient,
            error=error,
            pricing=r.pricing,
            conversation=r.conversation,
        )


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
    contact: ContactRefOut
    conversation_id: int
    reply_to: str | None
    target: str | None = Field(description="the message an edit, revoke or reaction acts on")
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
    created_at: datetime
    timestamp: datetime | None = Field(description="when the provider says the message was sent (inbound)")
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    played_at: datetime | None
    failed_at: datetime | None
    entities: list[EntityRef] = Field(description="the other systems' entities it is linked to")

    @classmethod
    def of(cls, message: Message, contact: Contact, linked: list[tuple[str, str]] | None = None) -> MessageOut:
        # Typed content sits at the top level as in Meta's payloads; a key that would shadow one of our fields
        # (an unknown future type named like one) goes under "content" instead.
        content = {k: v for k, v in message.content.items() if k not in cls.model_fields}
        shadowing = {k: v for k, v in message.content.items() if k in cls.model_fields}
        if shadowing:
            content["content"] = shadowing
        return cls(
            id=message.id,
            wamid=message.wamid,
            direction=message.direction,
            type=message.type,
            status=message.status,
            contact=ContactRefOut(
                id=contact.id, wa_id=contact.wa_id, user_id=contact.user_id, name=contact.profile_name
            ),
            conversation_id=message.conversation_id,
            reply_to=message.reply_to_wamid,
            target=message.target_wamid,
            group_id=message.group_id,
            media_id=message.media_id,
            reactions=message.reactions or {},
            edited_at=message.edited_at,
            revoked_at=message.revoked_at,
            history=message.history or [],
            error=(
                ErrorOut(code=message.error_code, title=message.error_title, details=message.error_details)
                if message.error_code is not None or message.error_title
                else None
            ),
            possible_duplicate=message.possible_duplicate,
            created_at=message.created_at,
            timestamp=message.provider_timestamp,
            queued_at=message.queued_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            read_at=message.read_at,
            played_at=message.played_at,
            failed_at=message.failed_at,
            entities=EntityRef.all_of(linked or []),
            **content,
        )


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class MediaOut(BaseModel):
    """A media file a message carries: fetched from the provider into wahub's storage."""

    id: int
    provider_media_id: str
    state: str = Field(description="pending (being fetched), stored, or failed (see error)")
    mime_type: str | None
    filename: str | None
    size: int | None
    sha256: str | None
    error: str | None
    download_url: str | None = Field(description="once stored: a link that streams the file, no API key needed")
    download_expires_in: int | None = Field(description="seconds the link stays valid")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: Media, link: str | None, ttl: int | None) -> MediaOut:
        return cls(
            id=item.id,
            provider_media_id=item.provider_media_id,
            state=item.state,
            mime_type=item.mime_type,
            filename=item.filename,
            size=item.size,
            sha256=item.sha256,
            error=item.error,
            download_url=link,
            download_expires_in=ttl,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


class ErrorCountOut(BaseModel):
    code: int | None = Field(description="Meta's error code (None: wahub refused it before sending)")
    title: str | None
    count: int


class OutboundStatsOut(BaseModel):
    accepted: int = Field(description="messages Meta accepted (they have a wamid)")
    delivered: int = Field(description="messages that reached the phone (delivered, read or played)")
    read: int = Field(description="messages read (or played)")
    failed: int
    possible_duplicates: int = Field(description="messages that may have reached Meta twice (see MessageOut)")
    delivery_rate: float | None = Field(description="delivered / accepted; null when nothing was accepted")
    read_rate: float | None = Field(description="read / delivered; null when nothing was delivered")
    by_status: dict[str, int]


class StatsOut(BaseModel):
    """Messages that happened in ``[since, until)``: Meta's timestamp for what Meta reported, else when queued."""

    since: datetime
    until: datetime
    days: int
    total: int
    by_direction: dict[str, int]
    by_type: dict[str, dict[str, int]] = Field(description="direction -> message type -> count")
    conversations: int = Field(description="distinct conversations with a message in the period")
    contacts: int = Field(description="distinct contacts (and groups) with a message in the period")
    outbound: OutboundStatsOut
    errors: list[ErrorCountOut] = Field(description="failed outbound messages by error code, most frequent first")

    @classmethod
    def of(cls, found: stats.Stats, days: int) -> StatsOut:
        out = found.outbound
        return cls(
            since=found.since,
            until=found.until,
            days=days,
            total=found.total,
            by_direction=found.by_direction,
            by_type=found.by_type,
            conversations=found.conversations,
            contacts=found.contacts,
            outbound=OutboundStatsOut(
                accepted=out.accepted,
                delivered=out.delivered,
                read=out.read,
                failed=out.failed,
                possible_duplicates=out.possible_duplicates,
                delivery_rate=out.delivery_rate,
                read_rate=out.read_rate,
                by_status=out.by_status,
            ),
            errors=[ErrorCountOut(code=e.code, title=e.title, count=e.count) for e in found.errors],
        )


class SubscriptionIn(BaseModel):
    """A program to POST wahub's events to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://erp.example.com/wahub-events", "events": ["message.received"]}]
        },
    )

    url: str = Field(
        max_length=2048,
        description="http(s) URL that receives the events (private addresses are allowed: your own systems)",
    )
    events: list[Literal["message.received", "message.status", "account.event"]] = Field(
        default_factory=list, max_length=10, description="the events to send; empty: all of them"
    )
    description: str | None = Field(default=None, max_length=200)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("an http:// or https:// URL with a host")
        return value.strip()


class SubscriptionOut(BaseModel):
    id: int
    url: str
    events: list[str] = Field(description="the events sent; empty: all of them")
    description: str | None
    created_at: datetime
    secret: str | None = Field(
        default=None,
        description="only in the answer that created it: the key of X-Wahub-Signature-256, "
        "HMAC-SHA256 of '<X-Wahub-Timestamp>.<body>'",
    )

    @classmethod
    def of(cls, row: WebhookSubscription, secret: str | None = None) -> SubscriptionOut:
        return cls(
            id=row.id,
            url=row.url,
            events=list(row.events or []),
            description=row.description,
            created_at=row.created_at,
            secret=secret,
        )


class DeliveryOut(BaseModel):
    id: int
    event: str
    state: str = Field(description="pending (to be tried at run_at), delivered, or failed (attempts ran out)")
    attempts: int
    run_at: datetime
    last_status: int | None = Field(description="the subscriber's last HTTP status (none: no answer)")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="the body sent, less its 'id' (the delivery's id)")

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=row.id,
            event=row.event,
            state=row.state,
            attempts=row.attempts,
            run_at=row.run_at,
            last_status=row.last_status,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            payload=row.payload,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


DeliveryState = Literal["failed", "delivered", "pending"]
FAILED_STATE: DeliveryState = "failed"


class ReplayIn(BaseModel):
    """Which deliveries to send again: by default every failed one."""

    model_config = ConfigDict(extra="forbid")

    states: list[DeliveryState] = Field(default_factory=lambda: [FAILED_STATE], min_length=1)
    since: datetime | None = Field(default=None, description="only deliveries written at or after (ISO 8601)")
    ids: list[Id] = Field(default_factory=list, max_length=1000, description="only these deliveries")


class ReplayOut(BaseModel):
    replayed: int
