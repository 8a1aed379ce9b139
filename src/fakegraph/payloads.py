"""Webhook bodies in Meta's shape: the `whatsapp_business_account` envelope, statuses, inbound messages.

Reference: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples
and the real examples in shared/conformance/meta-webhooks (message.json, message_status.json).
"""

from __future__ import annotations

import json
from typing import Any

from fakegraph import errors, ids
from fakegraph.config import SimulatedContact
from fakegraph.state import FakeState, SentMessage


def encode(payload: dict[str, Any]) -> bytes:
    """Serialize like Meta does: compact, non-ASCII as \\uXXXX and `/` as `\\/`.

    The escapes are deliberate: a receiver that re-serializes the JSON before checking the signature
    computes a different HMAC, exactly as it would against Meta.
    """
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def envelope(state: FakeState, value: dict[str, Any]) -> dict[str, Any]:
    """Wrap one `value` in the `object` / `entry` / `changes` envelope of the `messages` field."""
    config = state.config
    full_value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": config.display_phone_number, "phone_number_id": config.phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": config.waba_id, "changes": [{"value": full_value, "field": "messages"}]}],
    }


def contact_entry(contact: SimulatedContact) -> dict[str, Any]:
    """A `contacts[]` element: profile name, wa_id and, when known, the business-scoped user id."""
    entry: dict[str, Any] = {"profile": {"name": contact.name}, "wa_id": contact.wa_id}
    if contact.user_id:
        entry["user_id"] = contact.user_id
    return entry


def status_value(
    state: FakeState,
    message: SentMessage,
    status: str,
    timestamp: int,
    error_code: int | None = None,
) -> dict[str, Any]:
    """The `value` of a status webhook for `message` (sent, delivered, read or failed)."""
    item: dict[str, Any] = {
        "id": message.wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": message.wa_id,
    }
    contact = state.contact(message.wa_id)
    group = state.groups.get(message.to) if message.recipient_type == "group" else None
    if group is not None and status in ("delivered", "read") and group.participants:
        # A group that fakegraph created: each participant's phone reports its own delivery and read.
        items = []
        for wa_id in group.participants:
            each = {**item, "recipient_type": "group", "recipient_participant_id": wa_id}
            member = state.contact(wa_id)
            if member is not None and member.user_id:
                each["recipient_participant_user_id"] = member.user_id
            items.append({**each, **_billing(state, message, status)})
        return {"statuses": items}
    if message.recipient_type == "group":
        item["recipient_type"] = "group"
        if group is None and status == "read" and state.config.contacts:
            # A group id fakegraph never created (older sandboxes send to made-up ids): one member reads it.
            member = state.config.contacts[0]
            item["recipient_participant_id"] = member.wa_id
            if member.user_id:
                item["recipient_participant_user_id"] = member.user_id
    elif contact is not None and contact.user_id:
        item["recipient_user_id"] = contact.user_id
    callback_data = message.payload.get("biz_opaque_callback_data")
    if isinstance(callback_data, str):
        item["biz_opaque_callback_data"] = callback_data
    if status == "failed":
        item["errors"] = [errors.status_error(error_code or 131000)]
    else:
        item.update(_billing(state, message, status))
    value: dict[str, Any] = {"statuses": [item]}
    if contact is not None and message.recipient_type == "individual":
        value = {"contacts": [contact_entry(contact)], **value}
    return value


def _billing(state: FakeState, message: SentMessage, status: str) -> dict[str, Any]:
    """`conversation` and `pricing` as Meta adds them to sent/delivered/read statuses.

    Per-message pricing (PMP, July 2025): service replies inside the window are free.
    """
    conv_id, expires, _ = state.conversation(message.wa_id, message.category)
    conversation: dict[str, Any] = {"id": conv_id, "origin": {"type": message.category}}
    if status == "sent":
        conversation["expiration_timestamp"] = str(expires)
    billable = message.category != "service"
    pricing = {
        "billable": billable,
        "pricing_model": "PMP",
        "category": message.category,
        "type": "regular" if billable else "free_customer_service",
    }
    return {"conversation": conversation, "pricing": pricing}


def inbound_value(contact: SimulatedContact, message: dict[str, Any]) -> dict[str, Any]:
    """The `value` of an inbound message webhook: the sender's contact and one message object."""
    return {"contacts": [contact_entry(contact)], "messages": [message]}


def message_object(
    wa_id: str,
    wamid: str,
    kind: str,
    content: dict[str, Any] | None,
    *,
    context: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One inbound `messages[]` element: from, id, timestamp, type, the type's object, optional context."""
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(ids.unix_now()), "type": kind}
    if context is not None:
        message["context"] = context
    if content is not None:
        message[kind] = content
    return message
