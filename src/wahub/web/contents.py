"""What a bubble shows besides its text: a media file (through a signed link), shared contact cards, and the
message it quotes. Pure, like ``views.py``: ``reading.py`` reads the rows (the media row, the quoted message)
and signs the links; every string from WhatsApp stays a plain string for the templates to escape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wahub.store.models import Media, Message

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
Signer = Callable[[Media], str]  # a stored file's short-lived signed link (``api/routes/media.signed_path``)
_DIGITS = re.compile(r"\D+")


@dataclass(frozen=True, slots=True)
class MediaView:
    """A message's file: ``state`` stored (``url`` plays or downloads it), pending (being fetched from
    WhatsApp), failed (``error`` says why) or missing (wahub has no record of it)."""

    kind: str  # image, video, audio, voice, document, sticker
    media_id: int | None
    state: str
    url: str | None
    filename: str | None
    size: str | None  # "1.2 MB"
    mime: str | None
    error: str | None

    @property
    def extension(self) -> str:
        """What a document's icon says: its name's extension (``PDF``), or ``FILE``."""
        name = self.filename or ""
        ext = name.rsplit(".", 1)[-1] if "." in name else ""
        return ext.upper() if 1 <= len(ext) <= 4 and ext.isalnum() else "FILE"


@dataclass(frozen=True, slots=True)
class Phone:
    number: str
    label: str | None
    tel: str | None  # a tel: link made of the number's digits only


@dataclass(frozen=True, slots=True)
class Card:
    """A shared contact: its name, company, numbers and e-mail addresses."""

    name: str
    org: str | None
    phones: list[Phone] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a reply answers: ``id`` when it is a message of this conversation (the page scrolls to it),
    else None and ``text`` says it is not here."""

    id: int | None
    who: str
    text: str


def media(message: Message, item: Media | None, sign: Signer) -> MediaView | None:
    """The file a media message carries, with a signed link once wahub has it."""
    if message.type not in MEDIA_TYPES:
        return None
    obj = _obj(message.content, message.type)
    kind = "voice" if message.type == "audio" and obj.get("voice") else message.type
    given = obj.get("filename") if isinstance(obj.get("filename"), str) else None
    if item is None:
        mime = obj.get("mime_type") if isinstance(obj.get("mime_type"), str) else None
        why = "sent by link or by Meta's media id: wahub keeps no copy" if message.direction == "outbound" else None
        return MediaView(kind, None, "missing", None, given, None, mime, why or "wahub has no copy of this file")
    state = item.state if item.state in ("stored", "failed") else "pending"
    return MediaView(
        kind=kind,
        media_id=item.id,
        state=state,
        url=sign(item) if state == "stored" and item.storage_key else None,
        filename=given or item.filename,
        size=size_label(item.size),
        mime=item.mime_type,
        error=item.error if state == "failed" else None,
    )


def caption(message: Message) -> list[str]:
    """A media message's caption, as its lines (a document's filename shows on its chip instead)."""
    text = _obj(message.content, message.type).get("caption")
    return [text] if isinstance(text, str) and text.strip() else []


def size_label(size: int | None) -> str | None:
    if size is None:
        return None
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def cards(message: Message) -> list[Card]:
    """The contact cards a ``contacts`` message shares (Meta's shape: name, org, phones, emails)."""
    if message.type != "contacts" or not isinstance(message.content, dict):
        return []
    found = message.content.get("contacts")
    return [_card(c) for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _card(card: dict[str, Any]) -> Card:
    name = _obj(card, "name")
    formatted = _str(name.get("formatted_name")) or " ".join(
        p for p in (_str(name.get("first_name")), _str(name.get("last_name"))) if p
    )
    org = _obj(card, "org")
    company = " · ".join(p for p in (_str(org.get("company")), _str(org.get("title"))) if p)
    phones = []
    for phone in _dicts(card.get("phones")):
        number = _str(phone.get("phone")) or _str(phone.get("wa_id"))
        if number:
            phones.append(Phone(number, _str(phone.get("type")) or None, _tel(_str(phone.get("wa_id")) or number)))
    emails = [e for e in (_str(email.get("email")) for email in _dicts(card.get("emails"))) if e]
    return Card(formatted or "Unnamed contact", company or None, phones, emails)


def _tel(number: str) -> str | None:
    digits = _DIGITS.sub("", number)
    return f"tel:+{digits}" if 5 <= len(digits) <= 15 else None


def quote(original: Message | None, who: str, text: str) -> Quote:
    """The quoted message of a reply; ``original`` None when it is not a message of this conversation."""
    if original is None:
        return Quote(None, "", "The original message is not in wahub")
    return Quote(original.id, who, text or "Message")


def _obj(content: Any, key: str) -> dict[str, Any]:
    value = content.get(key) if isinstance(content, dict) else None
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
