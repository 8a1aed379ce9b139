"""Domain values: what a message, a status and a contact are, independent of any wire format. No I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
    EDIT = "edit"
    REVOKE = "revoke"
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


def e164_digits(value: str) -> str:
    """The number's E.164 digits without '+' (Meta's ``wa_id`` form); ValueError if it is not a valid number."""
    import phonenumbers  # here, not at the top: most of what imports the domain never parses a number

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


# Characters a chat export carries and a webhook does not: invisible direction marks (dropped), spaces of other
# widths (read as spaces) and non-breaking hyphens (read as hyphens).
INVISIBLE_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"))
ODD_SPACES = {ord(c): " " for c in "\u00a0\u202f\u2007\u2009"} | {ord("\u2011"): "-", ord("\u2010"): "-"}


def comparable(text: str) -> str:
    """``text`` as one message's text is compared across an export and a webhook: without the invisible marks,
    spaces of any width and line breaks as one space, hyphens as hyphens."""
    return " ".join(text.translate(INVISIBLE_MARKS | ODD_SPACES).split())


def group_contact(group_id: str) -> ContactRef:
    """A WhatsApp group as a contact of its own (``group:<id>``): it has its own conversation, as WhatsApp shows
    a group as one chat; its members' messages are theirs (``contact``) but sit in the group's conversation."""
    return ContactRef(wa_id=None, user_id=f"group:{group_id}")


_REFERENCE_PREFIX = "wahub:"


def send_reference(message_id: int) -> str:
    """What wahub asks the provider to echo in a message's statuses, so a status names the message even when the
    send's answer never came back (``referenced_message``)."""
    return f"{_REFERENCE_PREFIX}{message_id}"


def referenced_message(reference: str | None) -> int | None:
    """The message id a ``send_reference`` names, or None for anything else (a client's own callback data)."""
    if reference is None or not reference.startswith(_REFERENCE_PREFIX):
        return None
    digits = reference[len(_REFERENCE_PREFIX) :]
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


@dataclass(frozen=True, slots=True)
class ProviderErrorInfo:
    code: int | None
    title: str | None
    details: str | None


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media object a message carries: Meta's media id and what Meta says of the file (downloaded later)."""

    media_id: str
    mime_type: str | None = None
    sha256: str | None = None
    filename: str | None = None
    caption: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message in a ``messages`` change (a user wrote to us), or in ``smb_message_echoes`` (the business wrote
    from the WhatsApp Business app: ``direction`` is OUTBOUND and ``contact`` is the recipient)."""

    phone_number_id: str
    provider_id: str
    contact: ContactRef
    type: MessageType
    timestamp: datetime
    content: JSON
    raw: JSON
    reply_to: str | None = None
    direction: Direction = Direction.INBOUND
    # The wamid this message acts on: the edited or revoked message, or the message reacted to.
    target: str | None = None
    media: MediaRef | None = None
    # For user_changed_number system messages: the contact's new wa_id.
    new_wa_id: str | None = None
    # For messages in a group: the group's id (the sender is still ``contact``).
    group_id: str | None = None
    # From a ``history`` change: a message of the past, which an imported chat export may hold already.
    history: bool = False


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A status Meta reports for a message we sent. For a group message ``recipient`` is the group and
    ``participant`` the member the status is about."""

    phone_number_id: str
    provider_id: str
    status: MessageStatus
    timestamp: datetime
    recipient: ContactRef
    raw: JSON
    errors: tuple[ProviderErrorInfo, ...] = ()
    pricing: JSON | None = None
    conversation: JSON | None = None
    recipient_type: str = "individual"
    participant: ContactRef | None = None
    # The reference wahub gave the message when it sent it (``send_reference``), which the provider echoes in its
    # statuses: it names the message even when the send's answer, with the provider's id, was lost.
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class UserPreference:
    """A user's marketing-message preference change (``user_preferences`` field): ``value`` is stop/resume/..."""

    phone_number_id: str
    contact: ContactRef
    category: str
    value: str
    detail: str | None
    timestamp: datetime
    raw: JSON


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """Any other change (template, quality, account updates, calls, unknown future fields): kept whole.
    ``waba_id`` is the entry's id; ``phone_number_id`` is set when the change names one."""

    field: str
    waba_id: str
    raw: JSON
    phone_number_id: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChangeError:
    """An ``errors`` array at the value level of a change (Meta could not deliver a webhook's content)."""

    phone_number_id: str | None
    errors: tuple[ProviderErrorInfo, ...]
    raw: JSON


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What Meta says of an access token (``debug_token``): whether it is valid, of which kind (``USER``,
    ``SYSTEM_USER``, ``PAGE``...), and when it expires (None: never, as a System User's token)."""

    valid: bool
    type: str | None
    expires_at: datetime | None
    data_access_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    app_id: str | None = None
    error: str | None = None  # why it is not valid, in Meta's words

    @property
    def system_user(self) -> bool:
        return self.type == "SYSTEM_USER"


@dataclass(frozen=True, slots=True)
class GroupEvent:
    """One item of a group webhook (``group_lifecycle_update``, ``group_participants_update``,
    ``group_settings_update``, ``group_status_update``): ``kind`` is Meta's ``type`` (``group_create``,
    ``group_participants_add``, ``group_suspend``...), kept as given; what it changes is read from the other
    fields, and ``raw`` keeps the item whole (fields wahub does not read included)."""

    field: str
    kind: str
    phone_number_id: str
    group_id: str | None
    timestamp: datetime
    raw: JSON
    request_id: str | None = None
    subject: str | None = None
    description: str | None = None
    join_approval_mode: str | None = None
    invite_link: str | None = None
    added: tuple[ContactRef, ...] = ()
    removed: tuple[ContactRef, ...] = ()
    join_request_id: str | None = None
    requester: ContactRef | None = None
    errors: tuple[ProviderErrorInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    preferences: list[UserPreference] = field(default_factory=list)
    account_events: list[AccountEvent] = field(default_factory=list)
    errors: list[ChangeError] = field(default_factory=list)
    groups: list[GroupEvent] = field(default_factory=list)


MB = 1024 * 1024
# What Meta accepts as media, by MIME type: the message types it may be sent as, and its size limit.
# https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types
MEDIA_TYPES: dict[str, tuple[frozenset[str], int]] = {
    **{m: (frozenset({"audio"}), 16 * MB) for m in ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg")},
    **{
        m: (frozenset({"document"}), 100 * MB)
        for m in (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        )
    },
    "image/jpeg": (frozenset({"image", "document"}), 5 * MB),
    "image/png": (frozenset({"image", "document"}), 5 * MB),
    "image/webp": (frozenset({"sticker"}), 500 * 1024),  # animated stickers; static ones are at most 100 KB
    "video/mp4": (frozenset({"video", "document"}), 16 * MB),
    "video/3gpp": (frozenset({"video", "document"}), 16 * MB),
}


# The types of Meta's list by file name extension: what a file declared as nothing, or as the generic
# application/octet-stream that browsers, curl and S3 give files they do not know, is taken to be.
MEDIA_EXTENSIONS = {
    ".aac": "audio/aac",
    ".amr": "audio/amr",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".3gp": "video/3gpp",
}
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


def media_type(declared: str | None, filename: str | None) -> str:
    """A file's MIME type, lower case without parameters: the one declared, unless it says nothing (missing, or
    octet-stream), in which case the one its name's extension gives among Meta's types."""
    mime = (declared or "").split(";")[0].strip().lower()
    if mime in GENERIC_TYPES and filename and "." in filename:
        return MEDIA_EXTENSIONS.get(filename[filename.rindex(".") :].lower(), mime)
    return mime


def is_media_placeholder(message_type: str, content: Mapping[str, Any] | None) -> bool:
    """A history sync's stand-in for a media message whose content comes later, under the same wamid."""
    return message_type == MessageType.UNKNOWN.value and (content or {}).get("original_type") == "media_placeholder"
