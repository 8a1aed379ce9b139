"""Meta Cloud API webhook payloads -> domain values.

Strict about trust (the signature is checked before this runs), tolerant about shape: every entry, change,
message, status, echo and preference of a batched payload is read; an unknown message type becomes
``MessageType.UNKNOWN`` with its raw JSON; a contact may come with a business-scoped ``user_id`` and no
``wa_id``; a field wahub does not read is kept whole as an ``AccountEvent``. Only a payload whose outer shape
is wrong raises, and only ``MalformedPayload``.

Fields read here (the rest become account events):
- ``messages``: user messages, statuses of our messages, value-level errors.
  https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
- ``smb_message_echoes``: messages the business sent from the WhatsApp Business app (coexistence).
  https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes/
- ``history``: past chats shared at coexistence onboarding, in chunks of threads of messages.
  https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
- ``user_preferences``: marketing-message stop/resume.
- ``group_lifecycle_update``, ``group_participants_update``, ``group_settings_update``, ``group_status_update``:
  the Groups API's webhooks, kept as account events and read into ``GroupEvent``s.
Message objects themselves are read by ``meta_messages``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wahub import domain
from wahub.domain import ContactRef, Direction, MessageStatus
from wahub.webhook import meta_messages
from wahub.webhook.meta_messages import as_dict, dicts, ident, text, timestamp

_OBJECT = "whatsapp_business_account"
_DIGITS = frozenset("0123456789")
# Error codes beyond a signed 64-bit integer are not Meta's; keep them out of integer columns.
_MAX_CODE = 2**63 - 1
# A group is also the contact "group:<id>", whose user_id holds 128 characters (Meta's ids have about 56).
_GROUP_ID_MAX = 128 - len("group:")


class MalformedPayload(ValueError):
    """The webhook body is not a Meta webhook payload."""


@dataclass(slots=True)
class _Change:
    """What one change's items share: the business number it is about, its contacts, its fallback time.
    (Built for every event the processor reads: not frozen, as a frozen dataclass's ``__init__`` costs more.)"""

    field: str
    waba_id: str
    phone_number_id: str
    business_number: str | None
    contacts: tuple[ContactRef, ...]
    entry_time: datetime | None
    # When the change is read, for items without a time of their own (taken once, at the first such item).
    received: datetime | None = None

    def contact(self, wa_id: str | None, user_id: str | None) -> ContactRef:
        """The user with these ids, named from the change's ``contacts`` when one of them matches."""
        for known in self.contacts:
            if (wa_id and known.wa_id == wa_id) or (user_id and known.user_id == user_id):
                return ContactRef(wa_id=wa_id or known.wa_id, user_id=user_id or known.user_id, name=known.name)
        return ContactRef(wa_id=wa_id, user_id=user_id)

    def time(self, value: Any) -> datetime:
        found = timestamp(value) or self.entry_time
        if found is None:
            if self.received is None:
                self.received = datetime.now(tz=UTC)
            found = self.received
        return found

    def is_business(self, number: str | None) -> bool:
        return _same_number(number, self.business_number)


def parse(body: bytes) -> domain.ParsedWebhook:
    """Parse a raw webhook body. Raises MalformedPayload (and nothing else) when its outer shape is not Meta's."""
    try:
        payload = meta_messages.read_json(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedPayload("not JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise MalformedPayload("expected an object with an 'entry' list")
    if payload.get("object") != _OBJECT:
        raise MalformedPayload(f"'object' is not {_OBJECT!r}")
    result = domain.ParsedWebhook()
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            raise MalformedPayload("an entry is not an object")
        for change in meta_messages.as_list(entry.get("changes")):
            if not isinstance(change, dict):
                raise MalformedPayload("a change is not an object")
            _read_change(entry, change, result)
    return result


def _read_change(entry: dict[str, Any], change: dict[str, Any], result: domain.ParsedWebhook) -> None:
    field = text(change.get("field")) or ""
    value = change.get("value")
    waba_id = ident(entry.get("id")) or ""
    entry_time = timestamp(entry.get("time"))
    reader = _READERS.get(field)
    if reader is _read_groups and not ident(as_dict(as_dict(value).get("metadata")).get("phone_number_id")):
        reader = None  # a group webhook naming no number is still kept, whole, as an account event
    if reader is None:
        result.account_events.append(_account_event(field, waba_id, value, entry_time))
        return
    metadata = as_dict(as_dict(value).get("metadata"))
    phone_number_id = ident(metadata.get("phone_number_id"))
    if not isinstance(value, dict) or phone_number_id is None:
        raise MalformedPayload(f"a {field} change has no metadata.phone_number_id")
    context = _Change(
        field=field,
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        business_number=ident(metadata.get("display_phone_number")),
        contacts=tuple([_contact(raw) for raw in dicts(value.get("contacts"))]),
        entry_time=entry_time,
    )
    reader(context, value, result)


def _read_messages(change: _Change, value: dict[str, Any], result: domain.ParsedWebhook) -> None:
    for message in dicts(value.get("messages")):
        sender_wa_id, sender_user_id = ident(message.get("from")), ident(message.get("from_user_id"))
        if not sender_wa_id and not sender_user_id:
            raise MalformedPayload("a message names no sender")
        contact = change.contact(sender_wa_id, sender_user_id)
        result.messages.append(_message(change, message, contact, Direction.INBOUND))
    for status in dicts(value.get("statuses")):
        result.statuses.append(_status(change, status))
    # Meta could not deliver part of the content; kept even beside messages so the failure stays visible.
    _record_errors(change, value.get("errors"), value, result)


def _read_echoes(change: _Change, value: dict[str, Any], result: domain.ParsedWebhook) -> None:
    for echo in dicts(value.get("message_echoes")):
        recipient_wa_id, recipient_user_id = ident(echo.get("to")), ident(echo.get("to_user_id"))
        sender = ident(echo.get("from"))
        if change.is_business(recipient_wa_id) and sender and not change.is_business(sender):
            # Addressing written the wrong way round (seen in sample payloads): the user is the other side.
            recipient_wa_id = sender
        if not recipient_wa_id and not recipient_user_id:
            raise MalformedPayload("a message echo names no recipient")
        contact = change.contact(recipient_wa_id, recipient_user_id)
        result.messages.append(_message(change, echo, contact, Direction.OUTBOUND))


def _read_history(change: _Change, value: dict[str, Any], result: domain.ParsedWebhook) -> None:
    """Each chunk: an account event for its progress (``metadata.phase/chunk_order/progress``, without the
    threads), a ChangeError if the business declined to share (``errors``), and the messages of its threads, one
    thread per user. Group chats are not part of history."""
    for chunk in dicts(value.get("history")):
        progress = {key: item for key, item in chunk.items() if key != "threads"}
        result.account_events.append(
            domain.AccountEvent(
                field="history",
                waba_id=change.waba_id,
                raw=progress,
                phone_number_id=change.phone_number_id,
                timestamp=change.entry_time,
            )
        )
        _record_errors(change, chunk.get("errors"), progress, result)
        for thread in dicts(chunk.get("threads")):
            user = ident(thread.get("id"))
            for message in dicts(thread.get("messages")):
                result.messages.append(_history_message(change, user, message))
    _record_errors(change, value.get("errors"), value, result)


def _history_message(change: _Change, user: str | None, message: dict[str, Any]) -> domain.InboundMessage:
    sender, recipient = ident(message.get("from")), ident(message.get("to"))
    # ``from`` is the business for what it sent; ``to`` comes only on those messages.
    sent_by_business = change.is_business(sender) or (recipient is not None and not _same_number(sender, user))
    if sent_by_business:
        wa_id, user_id = recipient or user, ident(message.get("to_user_id"))
    else:
        wa_id, user_id = sender or user, ident(message.get("from_user_id"))
    if not wa_id and not user_id:
        raise MalformedPayload("a history message names no user")
    direction = Direction.OUTBOUND if sent_by_business else Direction.INBOUND
    return dataclasses.replace(_message(change, message, change.contact(wa_id, user_id), direction), history=True)


def _message(
    change: _Change, message: dict[str, Any], contact: ContactRef, direction: Direction
) -> domain.InboundMessage:
    provider_id = ident(message.get("id"))
    if provider_id is None:
        raise MalformedPayload("a message has no id")
    return meta_messages.build(
        message,
        phone_number_id=change.phone_number_id,
        provider_id=provider_id,
        contact=contact,
        timestamp=change.time(message.get("timestamp")),
        direction=direction,
    )


def _status(change: _Change, status: dict[str, Any]) -> domain.StatusUpdate:
    provider_id = ident(status.get("id"))
    if provider_id is None:
        raise MalformedPayload("a status has no id")
    recipient_type = text(status.get("recipient_type")) or "individual"
    recipient_id = ident(status.get("recipient_id"))
    group_id = ident(status.get("group_id"))
    participant: ContactRef | None = None
    if recipient_type == "group" or group_id:
        # Groups: ``recipient_id`` is the group and ``recipient_participant_*`` the member; Meta's OpenAPI spec
        # also names a ``group_id``, in which case ``recipient_id`` is read as the member.
        recipient_type = "group"
        recipient = ContactRef(wa_id=group_id or recipient_id)
        member_wa_id = ident(status.get("recipient_participant_id"))
        if member_wa_id is None and group_id and recipient_id != group_id:
            member_wa_id = recipient_id
        member_user_id = ident(status.get("recipient_participant_user_id"))
        if member_wa_id or member_user_id:
            participant = change.contact(member_wa_id, member_user_id)
    else:
        recipient = change.contact(recipient_id, ident(status.get("recipient_user_id")))
    pricing, conversation = status.get("pricing"), status.get("conversation")
    return domain.StatusUpdate(
        phone_number_id=change.phone_number_id,
        provider_id=provider_id,
        status=_STATUSES.get(text(status.get("status")) or "unknown") or MessageStatus.UNKNOWN,
        timestamp=change.time(status.get("timestamp")),
        recipient=recipient,
        raw=status,
        errors=_errors(status.get("errors")),
        pricing=pricing if isinstance(pricing, dict) else None,
        conversation=conversation if isinstance(conversation, dict) else None,
        recipient_type=recipient_type,
        participant=participant,
        reference=text(status.get("biz_opaque_callback_data")),
    )


def _read_preferences(change: _Change, value: dict[str, Any], result: domain.ParsedWebhook) -> None:
    for preference in dicts(value.get("user_preferences")):
        wa_id, user_id = ident(preference.get("wa_id")), ident(preference.get("user_id"))
        if not wa_id and not user_id:
            raise MalformedPayload("a user preference names no user")
        result.preferences.append(
            domain.UserPreference(
                phone_number_id=change.phone_number_id,
                contact=change.contact(wa_id, user_id),
                category=text(preference.get("category")) or "",
                value=text(preference.get("value")) or "",
                detail=text(preference.get("detail")),
                timestamp=change.time(preference.get("timestamp")),
                raw=preference,
            )
        )


def _read_groups(change: _Change, value: dict[str, Any], result: domain.ParsedWebhook) -> None:
    """A group webhook: an account event with the whole value (as every account-level change is kept), and a
    ``GroupEvent`` per item of its ``groups`` array.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/webhooks/"""
    result.account_events.append(
        domain.AccountEvent(
            field=change.field,
            waba_id=change.waba_id,
            raw=value,
            phone_number_id=change.phone_number_id,
            timestamp=change.entry_time,
        )
    )
    for item in dicts(value.get("groups")):
        subject, description = item.get("subject"), item.get("description")
        # A settings update says each change as {"text", "update_successful"}: only a successful one counts.
        for key, name in (("group_subject", "subject"), ("group_description", "description")):
            setting = as_dict(item.get(key))
            if setting and setting.get("update_successful") is not False:
                if name == "subject":
                    subject = setting.get("text")
                else:
                    description = setting.get("text")
        requester = None
        if ident(item.get("wa_id")) or ident(item.get("user_id")):
            requester = change.contact(ident(item.get("wa_id")), ident(item.get("user_id")))
        result.groups.append(
            domain.GroupEvent(
                field=change.field,
                kind=text(item.get("type")) or "",
                phone_number_id=change.phone_number_id,
                group_id=_bounded(ident(item.get("group_id")), _GROUP_ID_MAX),
                timestamp=change.time(item.get("timestamp")),
                raw=item,
                request_id=_bounded(ident(item.get("request_id")), 128),
                subject=text(subject),
                description=text(description),
                join_approval_mode=_bounded(text(item.get("join_approval_mode")), 32),
                invite_link=_bounded(text(item.get("invite_link")), 512),
                added=_members(change, item.get("added_participants")),
                removed=_members(change, item.get("removed_participants")),
                join_request_id=ident(item.get("join_request_id")),
                requester=requester,
                errors=_errors(item.get("errors")),
            )
        )


def _bounded(value: str | None, limit: int) -> str | None:
    """An id or link longer than any Meta sends is not one (it is kept in ``raw`` only)."""
    return value if value is not None and len(value) <= limit else None


def _members(change: _Change, value: Any) -> tuple[ContactRef, ...]:
    found = []
    for raw in dicts(value):
        wa_id, user_id = ident(raw.get("wa_id")), ident(raw.get("user_id"))
        if wa_id or user_id:
            found.append(change.contact(wa_id, user_id))
    return tuple(found)


def _account_event(field: str, waba_id: str, value: Any, entry_time: datetime | None) -> domain.AccountEvent:
    raw = value if isinstance(value, dict) else {"value": value}
    return domain.AccountEvent(
        field=field,
        waba_id=waba_id,
        raw=raw,
        phone_number_id=ident(as_dict(raw.get("metadata")).get("phone_number_id")),
        timestamp=entry_time or timestamp(raw.get("timestamp")),
    )


def _record_errors(change: _Change, errors: Any, raw: dict[str, Any], result: domain.ParsedWebhook) -> None:
    """A ChangeError for an ``errors`` array that names at least one error."""
    read = _errors(errors)
    if read:
        result.errors.append(domain.ChangeError(phone_number_id=change.phone_number_id, errors=read, raw=raw))


def _errors(value: Any) -> tuple[domain.ProviderErrorInfo, ...]:
    if not value:  # nearly always: no errors
        return ()
    return tuple(
        domain.ProviderErrorInfo(
            code=_code(error.get("code")),
            title=text(error.get("title")) or text(error.get("message")),
            details=text(as_dict(error.get("error_data")).get("details")),
        )
        for error in dicts(value)
    )


def _code(value: Any) -> int | None:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -_MAX_CODE <= value <= _MAX_CODE:
        return value
    return None


def _contact(raw: dict[str, Any]) -> ContactRef:
    return ContactRef(
        wa_id=ident(raw.get("wa_id")),
        user_id=ident(raw.get("user_id")),
        name=text(as_dict(raw.get("profile")).get("name")),
    )


def _same_number(a: str | None, b: str | None) -> bool:
    """Phone numbers compared by their digits (``+1 555…`` and ``1555…`` are one number)."""
    if not a or not b:
        return False
    digits_a = "".join(ch for ch in a if ch in _DIGITS)
    return bool(digits_a) and digits_a == "".join(ch for ch in b if ch in _DIGITS)


_STATUSES: dict[Any, MessageStatus] = {status.value: status for status in MessageStatus}
_READERS = {
    "messages": _read_messages,
    "smb_message_echoes": _read_echoes,
    "history": _read_history,
    "user_preferences": _read_preferences,
    "group_lifecycle_update": _read_groups,
    "group_participants_update": _read_groups,
    "group_settings_update": _read_groups,
    "group_status_update": _read_groups,
}
