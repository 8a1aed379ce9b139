"""Domain values: what a message, a status and a contact are, independent of any wire format. No I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON = dict[str, Any]


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageType(enum.StrEnum):
    """Meta's message types. A type wahub does not know yet becomes UNKNOWN, and its raw JSON is kept."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    TEMPLATE = "template"
    REQUEST_WELCOME = "request_welcome"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> MessageType:
        return cls.UNKNOWN


class MessageStatus(enum.StrEnum):
    """Where a message is. Statuses only move forward (see ``rank``); ``failed`` ends an outbound message."""

    QUEUED = "queued"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> MessageStatus:
        return cls.UNKNOWN

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    MessageStatus.UNKNOWN: -1,
    MessageStatus.QUEUED: 0,
    MessageStatus.RECEIVED: 0,
    # Meta answered the send with a wamid; its "sent" webhook comes later.
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
    # A failure can follow "sent" (Meta accepted, then could not deliver) but never a delivery.
    MessageStatus.FAILED: 3,
}

# Statuses that carry their own timestamp column on a message.
TIMESTAMPED_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.PLAYED,
    MessageStatus.FAILED,
)


def moves_forward(current: MessageStatus, new: MessageStatus) -> bool:
    """True when ``new`` is a later status than ``current`` (a late or repeated status changes nothing)."""
    if current is MessageStatus.FAILED:
        return False
    return new.rank > current.rank


@dataclass(frozen=True, slots=True)
class ContactRef:
    """A WhatsApp user as a webhook names them: phone-based ``wa_id`` and/or business-scoped ``user_id``."""

    wa_id: str | None
    user_id: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        return self.wa_id or self.user_id or ""


@dataclass(frozen=True, slots=True)
class ProviderErrorInfo:
    code: int | None
    title: str | None
    details: str | None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a user sent to one of our numbers."""

    phone_number_id: str
    provider_id: str
    contact: ContactRef
    type: MessageType
    timestamp: datetime
    content: JSON
    raw: JSON
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A status Meta reports for a message we sent."""

    phone_number_id: str
    provider_id: str
    status: MessageStatus
    timestamp: datetime
    recipient: ContactRef
    raw: JSON
    errors: tuple[ProviderErrorInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A webhook change wahub keeps but does not turn into messages yet (account events, calls...)."""

    field: str
    raw: JSON


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    others: list[OtherEvent] = field(default_factory=list)
