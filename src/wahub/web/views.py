"""What the inbox's templates show, built from rows: a conversation's list row, its header, a message bubble.

Pure (no database, no request): ``reading.py`` reads the rows and calls these. Every string that came from
WhatsApp (names, bodies, captions, filenames…) stays a plain string here; the templates escape it (Jinja2's
autoescape), and nothing here marks anything safe.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wahub.domain import MessageStatus
from wahub.store import conversations
from wahub.store.models import Contact, Conversation, Message
from wahub.store.search_text import search_text
from wahub.web import contents, template_forms

if TYPE_CHECKING:
    from wahub.web.workflow import Bar

# The rank of each status (``domain.MessageStatus.rank``): ticks only ever move to a higher one. The pages hand
# this table to their script (``static/js/ticks.js``) so that both sides order statuses the same way.
RANKS = {status.value: status.rank for status in MessageStatus}
TICK_LABELS = {
    "queued": "waiting to be sent",
    "accepted": "accepted by WhatsApp",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
    "failed": "not delivered",
}
# What a message of each type says before its text (a text says nothing more).
TYPE_LABELS = {
    "image": "📷 Photo",
    "video": "🎥 Video",
    "audio": "🎵 Audio",
    "document": "📄 Document",
    "sticker": "Sticker",
    "location": "📍 Location",
    "contacts": "👤 Contact card",
    "interactive": "Interactive message",
    "button": "Button reply",
    "template": "Template",
    "reaction": "Reaction",
    "order": "🛒 Order",
    "system": "System message",
    "request_welcome": "👋 Opened the chat",
    "edit": "Edit",
    "revoke": "Deleted a message",
    "unsupported": "⚠ A message type WhatsApp does not support here",
    "unknown": "⚠ A message of a type wahub does not know",
}
# Types whose effect shows on the message they name (a reaction's emoji, an edit's new text, a deletion):
# not bubbles of their own when they name one.
ACTING_TYPES = frozenset({"reaction", "edit", "revoke"})
CLOSING_SOON = timedelta(hours=4)  # from then on a row says when the 24-hour window closes
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


def zone_named(name: str | None) -> tzinfo:
    """The time zone a browser named (an IANA name such as ``Europe/Berlin``), or UTC when it names none."""
    if not name or len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@dataclass(frozen=True, slots=True)
class Clock:
    """Times as the person looking at the page reads them: in their time zone, relative to ``now``."""

    zone: tzinfo
    now: datetime

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def time(self, at: datetime) -> str:
        return self.local(at).strftime("%H:%M")

    def day(self, at: datetime) -> str:
        return self.local(at).date().isoformat()

    def day_label(self, at: datetime) -> str:
        """A day separator: Today, Yesterday, a weekday within the week, else the date."""
        day, today = self.local(at).date(), self.local(self.now).date()
        ago = (today - day).days
        if ago == 0:
            return "Today"
        if ago == 1:
            return "Yesterday"
        if 1 < ago < 7:
            return day.strftime("%A")
        return f"{day.day} {day:%B %Y}"

    def stamp(self, at: datetime | None) -> str:
        """A list row's time: the time today, else the day."""
        if at is None:
            return ""
        label = self.day_label(at)
        return self.time(at) if label == "Today" else label


@dataclass(frozen=True, slots=True)
class Window:
    """The 24-hour customer-service window as a row shows it: ``state`` open, closing (soon) or closed."""

    state: str
    label: str
    open: bool


def window(conversation: Conversation, now: datetime) -> Window:
    closes = conversations.window_closes_at(conversation)
    if closes is None or closes <= now:
        return Window("closed", "window closed", False)
    left = closes - now
    if left >= CLOSING_SOON:
        return Window("open", "window open", True)
    if left >= timedelta(hours=1):
        return Window("closing", f"closes in {math.floor(left / timedelta(hours=1))} h", True)
    return Window("closing", f"closes in {max(1, math.ceil(left / timedelta(minutes=1)))} min", True)


def contact_name(contact: Contact) -> str:
    return contact.profile_name or number(contact) or "Unknown contact"


def number(contact: Contact) -> str:
    if contact.wa_id:
        return f"+{contact.wa_id}"
    return contact.user_id or ""


@dataclass(frozen=True, slots=True)
class Row:
    """A conversation in the list."""

    id: int
    name: str
    number: str
    preview: str
    preview_status: str | None  # the last message's status when it is ours (its tick)
    last_id: int | None  # the last message's id
    unread: int
    activity: str  # ISO time of the last activity (the list's order)
    stamp: str
    window: Window
    assignee: str | None
    state: str


def row(conversation: Conversation, contact: Contact, last: Message | None, assignee: str | None, clock: Clock) -> Row:
    at = conversation.last_message_at
    outbound = last is not None and last.direction == "outbound"
    return Row(
        id=conversation.id,
        name=contact_name(contact),
        number=number(contact),
        preview=preview(last),
        preview_status=last.status if outbound and last is not None else None,
        last_id=last.id if last is not None else None,
        unread=conversation.unread_count,
        activity=at.astimezone(UTC).isoformat() if at is not None else "",
        stamp=clock.stamp(at),
        window=window(conversation, clock.now),
        assignee=assignee,
        state=conversation.state,
    )


def preview(message: Message | None) -> str:
    """One line saying what a message is: its type's label and its first words."""
    if message is None:
        return ""
    if message.revoked_at is not None:
        return "🚫 This message was deleted"
    label = _label(message)
    first = next(iter(_lines(message)), "")
    return " ".join(part for part in (label, first) if part)


@dataclass(frozen=True, slots=True)
class Header:
    """The open conversation's header and what its composer needs."""

    id: int
    name: str
    number: str
    window: Window
    assignee: str | None
    state: str
    unread: int
    to: str | None  # whom a message goes to (the contact's number), None when it has none
    sender: str | None  # the account's phone_number_id a message goes from (None: the account has no Meta number)
    last_inbound_id: int | None  # the message a read receipt names
    window_note: str  # why free text is disabled and since when (empty while the window is open)
    workflow: Bar | None = None  # assign, resolve or reopen, the linked records (``workflow.py``)


def header(
    conversation: Conversation,
    contact: Contact,
    sender: str | None,
    assignee: str | None,
    last_inbound: Message | None,
    clock: Clock,
) -> Header:
    return Header(
        id=conversation.id,
        name=contact_name(contact),
        number=number(contact),
        window=window(conversation, clock.now),
        assignee=assignee,
        state=conversation.state,
        unread=conversation.unread_count,
        to=contact.wa_id,
        sender=sender,
        last_inbound_id=last_inbound.id if last_inbound is not None else None,
        window_note=window_note(conversation, clock),
    )


def window_note(conversation: Conversation, clock: Clock) -> str:
    """What the composer says while the 24-hour window is closed: since when, and what can be sent."""
    closes = conversations.window_closes_at(conversation)
    if closes is None:
        return "The customer has not written yet: only a template can start the conversation."
    if closes > clock.now:
        return ""
    day = clock.day_label(closes)
    when = {"Today": "today", "Yesterday": "yesterday"}.get(day, f"on {day}")
    return (
        f"The 24-hour window closed {when} at {clock.time(closes)}: free text is disabled until the customer "
        "writes again. Send a template."
    )


@dataclass(frozen=True, slots=True)
class Bubble:
    """A message in the conversation."""

    id: int
    direction: str
    type: str
    label: str | None  # what it is, when not plain text ("📷 Photo")
    lines: list[str]  # what it says, one paragraph each
    time: str
    iso: str
    day: str
    day_label: str
    status: str
    rank: int
    status_label: str
    error: str | None  # why it failed, as Meta said
    edited: bool
    revoked: bool
    reactions: list[str]
    map_url: str | None
    sender: str | None  # the user who sent it, for outbound messages a person sent
    wamid: str | None  # what a reply to it names (Meta's context.message_id)
    media: contents.MediaView | None
    cards: list[contents.Card]
    quote: contents.Quote | None
    template: template_forms.Filled | None
    imported: bool = False  # read from a chat export, not received or sent through wahub


@dataclass(frozen=True, slots=True)
class Extras:
    """What a bubble shows that other rows hold: its file, the message it quotes, its template's text."""

    media: contents.MediaView | None = None
    quote: contents.Quote | None = None
    template: template_forms.Filled | None = None


def bubble(message: Message, clock: Clock, sender: str | None = None, extras: Extras | None = None) -> Bubble:
    at = message.provider_timestamp or message.created_at
    revoked = message.revoked_at is not None
    extras = Extras() if revoked or extras is None else extras
    return Bubble(
        id=message.id,
        direction=message.direction,
        type=message.type,
        label=None if revoked else _label(message),
        lines=[] if revoked or extras.template is not None else _lines(message, with_file=extras.media is not None),
        time=clock.time(at),
        iso=at.astimezone(UTC).isoformat(),
        day=clock.day(at),
        day_label=clock.day_label(at),
        status=message.status,
        rank=RANKS.get(message.status, -1),
        status_label=TICK_LABELS.get(message.status, message.status),
        error=failure(message),
        edited=message.edited_at is not None,
        revoked=revoked,
        reactions=[str(e) for e in (message.reactions or {}).values() if e],
        map_url=None if revoked else _map_url(message.content),
        sender=sender,
        wamid=message.wamid,
        media=extras.media,
        cards=[] if revoked else contents.cards(message),
        quote=extras.quote,
        template=extras.template,
        imported=bool(message.imported),
    )


def shown(message: Message) -> bool:
    """Whether a message is a bubble: a reaction, edit or deletion of a message shows on that message."""
    return message.type not in ACTING_TYPES or not message.target_wamid


def failure(message: Message) -> str | None:
    if message.status != "failed" and message.error_code is None and not message.error_title:
        return None
    parts = [message.error_title or "the message could not be sent"]
    if message.error_details and message.error_details != message.error_title:
        parts.append(message.error_details)
    text = ": ".join(parts)
    return f"{text} (code {message.error_code})" if message.error_code is not None else text


def _label(message: Message) -> str | None:
    if message.type == "audio" and _obj(message.content, "audio").get("voice"):
        return "🎤 Voice message"
    return TYPE_LABELS.get(message.type, TYPE_LABELS["unknown"] if message.type != "text" else None)


def _lines(message: Message, *, with_file: bool = False) -> list[str]:
    if message.type == "text":  # the body as written, its line breaks kept (the page shows them)
        body = _obj(message.content, "text").get("body")
        return [body] if isinstance(body, str) and body else []
    if with_file and message.type in contents.MEDIA_TYPES:  # a document's name shows on its chip
        return contents.caption(message)
    if message.type == "contacts":  # shown as cards
        return []
    return [line for line in search_text(message.type, message.content or {}).split("\n") if line]


def _obj(content: Any, key: str) -> dict[str, Any]:
    value = content.get(key) if isinstance(content, dict) else None
    return value if isinstance(value, dict) else {}


def _map_url(content: Any) -> str | None:
    """A map link for a location: built from its two numbers only, nothing else of the message's."""
    location = _obj(content, "location")
    lat, lon = location.get("latitude"), location.get("longitude")
    if (
        not isinstance(lat, int | float)
        or not isinstance(lon, int | float)
        or isinstance(lat, bool)
        or isinstance(lon, bool)
    ):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
