"""One Meta message object -> ``domain.InboundMessage``: its type, content, reply context, target, media.

``meta.py`` walks the payload and checks the envelope (id, sender, recipient); this module reads what the
message itself says, the same way for ``messages``, ``smb_message_echoes`` and ``history``. It also holds the
small tolerant readers both modules use (a value of the wrong JSON type reads as missing), and the reader of a
webhook body's JSON (``read_json``).
Message types: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components#messages-object
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from wahub import domain
from wahub.domain import ContactRef, Direction, MediaRef, MessageType

# Keys that address a message rather than say something: they become the InboundMessage's own fields, and
# ``content`` keeps the rest in Meta's shape (``text.body``, ``image.caption``, ``context``, ``referral``...).
ENVELOPE_KEYS = frozenset(
    {"from", "from_user_id", "id", "timestamp", "type", "to", "to_user_id", "to_parent_user_id", "group_id"}
)

_MEDIA_TYPES = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT, MessageType.STICKER}
)

# Where a message names the message it acts on: (object key, id key).
_TARGETS = {
    MessageType.REACTION: ("reaction", "message_id"),
    MessageType.EDIT: ("edit", "original_message_id"),
    MessageType.REVOKE: ("revoke", "original_message_id"),
}

# System messages that announce a new number; older API versions spelled the type and key differently.
_NUMBER_CHANGES = frozenset({"user_changed_number", "customer_changed_number"})

# Timestamps outside what a datetime holds are garbage, not an error.
_MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z

# A body goes to the stdlib's parser, not orjson's, when orjson might read it differently: a run of this many
# digits where a number may start (at the start, or after one of ``_BEFORE_NUMBER``) may be an integer beyond 64
# bits, which orjson reads as a float; a body with more brackets than this may nest deeper than the stdlib reads
# (it raises RecursionError), and orjson reads 1,024 levels. Digits inside a string follow a quote, a letter or a
# dot (Meta's ids, "US.1349120865530274191"), so neither test fires for Meta's payloads; one that fires for
# nothing (a long number in a text, brackets in a caption) costs only time.
_WIDE_DIGITS = b"0" * 19
_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_BEFORE_NUMBER = frozenset(b":[, \t\r\n-")
_MAX_BRACKETS = 512


def read_json(body: bytes) -> Any:
    """``json.loads(body)``: the same value, or the same error, through orjson where that gives it (a status
    webhook in half the time, the guard included: docs/decisions.md). What orjson refuses and the stdlib takes
    (a lone surrogate, such as ``"\\ud800"`` in a user's text; a byte-order mark; NaN; 1e400) is read by the
    stdlib."""
    if body.count(b"[") + body.count(b"{") <= _MAX_BRACKETS and not _maybe_wide(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


def _maybe_wide(body: bytes) -> bool:
    """Whether ``body`` holds a run of ``_WIDE_DIGITS`` where a number may start."""
    digits = body.translate(_AS_ZEROS)
    at = digits.find(_WIDE_DIGITS)
    while at != -1:
        if at == 0 or digits[at - 1] in _BEFORE_NUMBER:
            return True
        at = digits.find(_WIDE_DIGITS, at + len(_WIDE_DIGITS))
    return False


def build(
    message: dict[str, Any],
    *,
    phone_number_id: str,
    provider_id: str,
    contact: ContactRef,
    timestamp: datetime,
    direction: Direction,
) -> domain.InboundMessage:
    """The domain message for ``message``, whose envelope the caller has already checked and resolved."""
    type_name = text(message.get("type")) or MessageType.UNKNOWN.value
    message_type = MessageType(type_name)
    content = {key: value for key, value in message.items() if key not in ENVELOPE_KEYS}
    if message_type is MessageType.UNKNOWN:
        content["original_type"] = type_name
    return domain.InboundMessage(
        phone_number_id=phone_number_id,
        provider_id=provider_id,
        contact=contact,
        type=message_type,
        timestamp=timestamp,
        content=content,
        raw=message,
        reply_to=ident(as_dict(message.get("context")).get("id")),
        direction=direction,
        target=_target(message_type, message),
        media=_media(message_type, message),
        new_wa_id=_new_wa_id(message_type, message),
        group_id=ident(message.get("group_id")),
    )


def _target(message_type: MessageType, message: dict[str, Any]) -> str | None:
    where = _TARGETS.get(message_type)
    if where is None:
        return None
    key, id_key = where
    return ident(as_dict(message.get(key)).get(id_key))


def _media(message_type: MessageType, message: dict[str, Any]) -> MediaRef | None:
    if message_type is MessageType.EDIT:
        # An edit carries the whole new message; a re-captioned image brings its media object again.
        message = as_dict(as_dict(message.get("edit")).get("message"))
        message_type = MessageType(text(message.get("type")) or MessageType.UNKNOWN.value)
    if message_type not in _MEDIA_TYPES:
        return None
    media = as_dict(message.get(message_type.value))
    media_id = ident(media.get("id"))
    if media_id is None:
        # History sync sends media messages without an asset id first; the id comes in a later webhook.
        return None
    return MediaRef(
        media_id=media_id,
        mime_type=text(media.get("mime_type")),
        sha256=text(media.get("sha256")),
        filename=text(media.get("filename")),
        caption=text(media.get("caption")),
        url=text(media.get("url")),
    )


def _new_wa_id(message_type: MessageType, message: dict[str, Any]) -> str | None:
    if message_type is not MessageType.SYSTEM:
        return None
    system = as_dict(message.get("system"))
    if text(system.get("type")) not in _NUMBER_CHANGES:
        return None
    return ident(system.get("wa_id")) or ident(system.get("new_wa_id"))


# Tolerant readers: Meta's shape is trusted only after checking it.


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array; anything else in it (or a non-array) is skipped."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def ident(value: Any) -> str | None:
    """An id Meta sends as a string; an integer (unquoted in some of Meta's own examples) is read as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def timestamp(value: Any) -> datetime | None:
    """A Unix timestamp sent as a string or a number; None when it is not one a datetime can hold."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not value.isascii() or not value.strip().isdigit():
            return None
        value = int(value) if len(value) <= 20 else None
    if isinstance(value, float):
        value = int(value) if value == value and abs(value) <= _MAX_TIMESTAMP else None
    if not isinstance(value, int) or not 0 <= value <= _MAX_TIMESTAMP:
        return None
    return datetime.fromtimestamp(value, tz=UTC)
