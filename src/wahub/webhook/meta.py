"""Meta Cloud API webhook payloads -> domain values.

Strict about trust (the signature is checked before this runs), tolerant about shape: every entry, change,
message and status of a batched payload is read; an unknown message type becomes ``MessageType.UNKNOWN`` with
its raw JSON; a contact may come with a business-scoped ``user_id`` and no ``wa_id``.
Payload reference: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from wahub import domain
from wahub.domain import ContactRef, MessageStatus, MessageType

# Keys of a message object that describe the message rather than its typed content.
_ENVELOPE_KEYS = frozenset({"from", "from_user_id", "id", "timestamp", "type"})


class MalformedPayload(ValueError):
    """The webhook body is not a Meta webhook payload."""


def parse(body: bytes) -> domain.ParsedWebhook:
    """Parse a raw webhook body. Raises MalformedPayload when it is not JSON of Meta's outer shape."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise MalformedPayload("expected an object with an 'entry' list")
    result = domain.ParsedWebhook()
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            raise MalformedPayload("an entry is not an object")
        for change in _list(entry.get("changes")):
            _parse_change(change, result)
    return result


def _parse_change(change: Any, result: domain.ParsedWebhook) -> None:
    if not isinstance(change, dict):
        raise MalformedPayload("a change is not an object")
    field = str(change.get("field", ""))
    value = change.get("value")
    if not isinstance(value, dict):
        raise MalformedPayload(f"change {field!r} has no value object")
    if field != "messages":
        result.others.append(domain.OtherEvent(field=field, raw=change))
        return
    phone_number_id = str(_dict(value.get("metadata")).get("phone_number_id", ""))
    if not phone_number_id:
        raise MalformedPayload("a messages change has no metadata.phone_number_id")
    contacts = [_contact(c) for c in _list(value.get("contacts")) if isinstance(c, dict)]
    for message in _list(value.get("messages")):
        if isinstance(message, dict):
            result.messages.append(_message(phone_number_id, message, contacts))
    for status in _list(value.get("statuses")):
        if isinstance(status, dict):
            result.statuses.append(_status(phone_number_id, status))
    if "errors" in value and not value.get("messages") and not value.get("statuses"):
        result.others.append(domain.OtherEvent(field="errors", raw=change))


def _message(phone_number_id: str, message: dict[str, Any], contacts: list[ContactRef]) -> domain.InboundMessage:
    provider_id = message.get("id")
    if not isinstance(provider_id, str) or not provider_id:
        raise MalformedPayload("a message has no id")
    sender = _sender(message, contacts)
    type_name = str(message.get("type", "unknown"))
    msg_type = MessageType(type_name)
    content = {k: v for k, v in message.items() if k not in _ENVELOPE_KEYS}
    if msg_type is MessageType.UNKNOWN:
        content["original_type"] = type_name
    context = _dict(message.get("context"))
    reply_to = context.get("id") if isinstance(context.get("id"), str) else None
    return domain.InboundMessage(
        phone_number_id=phone_number_id,
        provider_id=provider_id,
        contact=sender,
        type=msg_type,
        timestamp=_timestamp(message.get("timestamp")),
        content=content,
        raw=message,
        reply_to=reply_to,
    )


def _sender(message: dict[str, Any], contacts: list[ContactRef]) -> ContactRef:
    wa_id = _str(message.get("from"))
    user_id = _str(message.get("from_user_id"))
    for contact in contacts:
        if (wa_id and contact.wa_id == wa_id) or (user_id and contact.user_id == user_id):
            return ContactRef(wa_id=wa_id or contact.wa_id, user_id=user_id or contact.user_id, name=contact.name)
    if len(contacts) == 1 and not wa_id and not user_id:
        return contacts[0]
    if not wa_id and not user_id:
        raise MalformedPayload("a message names no sender")
    return ContactRef(wa_id=wa_id, user_id=user_id)


def _status(phone_number_id: str, status: dict[str, Any]) -> domain.StatusUpdate:
    provider_id = status.get("id")
    if not isinstance(provider_id, str) or not provider_id:
        raise MalformedPayload("a status has no id")
    errors = tuple(
        domain.ProviderErrorInfo(
            code=e.get("code") if isinstance(e.get("code"), int) else None,
            title=_str(e.get("title")) or _str(e.get("message")),
            details=_str(_dict(e.get("error_data")).get("details")),
        )
        for e in _list(status.get("errors"))
        if isinstance(e, dict)
    )
    return domain.StatusUpdate(
        phone_number_id=phone_number_id,
        provider_id=provider_id,
        status=MessageStatus(str(status.get("status", "unknown"))),
        timestamp=_timestamp(status.get("timestamp")),
        recipient=ContactRef(wa_id=_str(status.get("recipient_id")), user_id=_str(status.get("recipient_user_id"))),
        raw=status,
        errors=errors,
    )


def _contact(raw: dict[str, Any]) -> ContactRef:
    return ContactRef(
        wa_id=_str(raw.get("wa_id")),
        user_id=_str(raw.get("user_id")),
        name=_str(_dict(raw.get("profile")).get("name")),
    )


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(tz=UTC)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
