"""Twilio's WhatsApp webhooks (form-encoded bodies) -> domain values, the sibling of ``meta.py``.

Strict about trust (the signature is checked before this runs), tolerant about shape: a form names one message
or one status; every field is kept in ``raw``, whatever wahub reads of it; an unknown ``MessageType`` becomes
``MessageType.UNKNOWN`` and an unknown ``MessageStatus`` ``MessageStatus.UNKNOWN``. The content is written in
Meta's shape (``text.body``, ``image.caption``, ``location.latitude``...), the one shape the store and the API
show for every provider. Only a form without what names a message (MessageSid, From, To) raises, and only
``MalformedPayload``.

Inbound: https://www.twilio.com/docs/messaging/guides/webhook-request and the WhatsApp parameters (WaId,
ProfileName, MessageType, Latitude/Longitude/Address/Label, ButtonText/ButtonPayload, OriginalRepliedMessageSid)
at https://www.twilio.com/docs/whatsapp/api#incoming-message-webhook-parameters
Statuses: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (MessageStatus, ErrorCode)
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from wahub import domain, twilio_codes
from wahub.domain import ContactRef, MediaRef, MessageStatus, MessageType
from wahub.webhook import signature
from wahub.webhook.sources import Source

_MEDIA_TYPES = {"image", "video", "audio", "document", "sticker"}
_STATUSES = {
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.ACCEPTED,
    "queued": MessageStatus.ACCEPTED,
    "sending": MessageStatus.ACCEPTED,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}
_MAX_CODE = 2**63 - 1
_PREFIX = "whatsapp:"


class MalformedPayload(ValueError):
    """The webhook body is not a Twilio form that names a message."""


def parse(body: bytes, kind: str, received: datetime) -> domain.ParsedWebhook:
    """Parse a raw webhook body posted to the ``kind`` route; ``received`` is when it arrived (Twilio's forms
    carry no time). Raises MalformedPayload (and nothing else) when it does not name a message."""
    try:
        fields = signature.form_fields(body)
    except ValueError as exc:
        raise MalformedPayload("not a form-encoded body") from exc
    raw = _raw(fields)
    values = {name: value for name, value in fields}  # the last of a repeated name, as Twilio sends none
    if kind == Source.TWILIO_STATUS:
        return domain.ParsedWebhook(statuses=[_status(values, raw, received)])
    if kind == Source.TWILIO:
        return domain.ParsedWebhook(messages=[_message(values, raw, received)])
    raise MalformedPayload(f"not a Twilio webhook: {kind!r}")


def _message(values: dict[str, str], raw: dict[str, Any], received: datetime) -> domain.InboundMessage:
    sid = values.get("MessageSid") or values.get("SmsMessageSid")
    sender, to = values.get("From", ""), values.get("To", "")
    if not sid or not to:
        raise MalformedPayload("an inbound message names no MessageSid or To")
    wa_id = values.get("WaId") or _digits(sender)
    if not wa_id:
        raise MalformedPayload("an inbound message names no sender (WaId or From)")
    message_type, content, media = _content(sid, values)
    return domain.InboundMessage(
        phone_number_id=to,
        provider_id=sid,
        contact=ContactRef(wa_id=wa_id, name=values.get("ProfileName") or None),
        type=message_type,
        timestamp=received,
        content=content,
        raw=raw,
        reply_to=values.get("OriginalRepliedMessageSid") or None,
        media=media,
    )


def _content(sid: str, values: dict[str, str]) -> tuple[MessageType, dict[str, Any], MediaRef | None]:
    """The message's type and content in Meta's shape, and the medium it carries."""
    declared = values.get("MessageType", "").lower()
    body = values.get("Body", "")
    if _count(values.get("NumMedia")) > 0 and values.get("MediaUrl0"):
        mime = values.get("MediaContentType0") or None
        kind = declared if declared in _MEDIA_TYPES else _media_kind(mime)
        media_sid = values["MediaUrl0"].rstrip("/").rsplit("/", 1)[-1]
        ref = MediaRef(media_id=f"{sid}/{media_sid}", mime_type=mime, url=values["MediaUrl0"])
        obj: dict[str, Any] = {"id": ref.media_id, "mime_type": mime}
        if body and kind in ("image", "video", "document"):
            obj["caption"] = body
            ref = MediaRef(media_id=ref.media_id, mime_type=mime, caption=body, url=ref.url)
        return MessageType(kind), {kind: obj}, ref
    if "Latitude" in values and "Longitude" in values:
        where: dict[str, Any] = {"latitude": _number(values["Latitude"]), "longitude": _number(values["Longitude"])}
        where |= {key: values[name] for key, name in (("name", "Label"), ("address", "Address")) if values.get(name)}
        return MessageType.LOCATION, {"location": where}, None
    if declared == "button" or "ButtonPayload" in values:
        button = {"text": values.get("ButtonText", body), "payload": values.get("ButtonPayload", "")}
        return MessageType.BUTTON, {"button": button}, None
    if "ListId" in values:
        reply = {"id": values["ListId"], "title": values.get("ListTitle", body)}
        return MessageType.INTERACTIVE, {"interactive": {"type": "list_reply", "list_reply": reply}}, None
    if declared in ("", "text") and body:
        return MessageType.TEXT, {"text": {"body": body}}, None
    return MessageType.UNKNOWN, {"original_type": declared or "unknown", "body": body}, None


def _status(values: dict[str, str], raw: dict[str, Any], received: datetime) -> domain.StatusUpdate:
    sid = values.get("MessageSid") or values.get("SmsSid")
    sender = values.get("From", "")
    if not sid or not sender:
        raise MalformedPayload("a status names no MessageSid or From")
    name = (values.get("MessageStatus") or values.get("SmsStatus") or "").lower()
    code = _code(values.get("ErrorCode"))
    failures: tuple[domain.ProviderErrorInfo, ...] = ()
    if code is not None:
        message = values.get("ErrorMessage") or None
        title = twilio_codes.reason(code, message)
        failures = (domain.ProviderErrorInfo(code=code, title=title, details=message or f"Twilio error {code}"),)
    return domain.StatusUpdate(
        phone_number_id=sender,
        provider_id=sid,
        status=_STATUSES.get(name, MessageStatus.UNKNOWN),
        timestamp=received,
        recipient=ContactRef(wa_id=_digits(values.get("To", "")) or None),
        raw=raw,
        errors=failures,
    )


def _raw(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """Every field, as JSON: a value, or a list of the values of a repeated name."""
    out: dict[str, Any] = {}
    for name, value in fields:
        if name in out:
            previous = out[name]
            out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out


def _media_kind(mime: str | None) -> str:
    major = (mime or "").split("/")[0]
    if mime == "image/webp":
        return "sticker"
    return major if major in ("image", "video", "audio") else "document"


def _digits(address: str) -> str:
    """``whatsapp:+14155550101`` -> ``14155550101``."""
    number = address.removeprefix(_PREFIX).removeprefix("+")
    return number if number.isascii() and number.isdigit() else ""


def _count(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 4 else 0


def _code(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= _MAX_CODE:
        return int(value)
    return None


def _number(value: str) -> float | str:
    """A coordinate as a number; kept as the text it was when it is none (or not finite: JSON has no NaN)."""
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value
