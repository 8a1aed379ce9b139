"""Meta webhook payloads -> domain values, checked field by field.

Every named payload of tests/data is parsed and compared with a table of what it must become:
- meta-webhooks/*.json: pywa's corpus of real payloads (every message type, statuses, echoes, account events);
- meta-openapi-webhooks.json: the webhook examples of Meta's own OpenAPI description;
- meta-docs-webhooks.json: coexistence history and group payloads written from Meta's reference pages.
A payload added to tests/data without a row in the tables fails ``test_every_payload_has_a_row_in_the_tables``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import payload_sources
from wahub.domain import (
    ContactRef,
    Direction,
    InboundMessage,
    MediaRef,
    MessageStatus,
    MessageType,
    ParsedWebhook,
    ProviderErrorInfo,
    StatusUpdate,
)
from wahub.webhook import meta

SOURCES = payload_sources()
ALL_PAYLOADS = sorted((source, name) for source, payloads in SOURCES.items() for name in payloads)


def payload(source: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(SOURCES[source][name])


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def parse(source: str, name: str) -> ParsedWebhook:
    return meta.parse(encode(SOURCES[source][name]))


def dig(value: Any, path: str) -> Any:
    """``dig(content, "contacts.0.name.formatted_name")``."""
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


# --- messages -------------------------------------------------------------------------------------------------

PYWA_USER = {
    "phone_number_id": "1122334455667",
    "wa_id": "972987654321",
    "user_id": "US.13491208655302741918",
    "name": "Test Name",
}
SHEENA = {"phone_number_id": "106540352242922", "wa_id": "16505551234", "user_id": None, "name": "Sheena Nelson"}
HISTORY_USER = {"phone_number_id": "106540352242922", "wa_id": "16505551234", "user_id": None, "name": None}


def message_facts(message: InboundMessage) -> dict[str, Any]:
    return {
        "type": message.type,
        "id": message.provider_id,
        "timestamp": int(message.timestamp.timestamp()),
        "direction": message.direction,
        "phone_number_id": message.phone_number_id,
        "wa_id": message.contact.wa_id,
        "user_id": message.contact.user_id,
        "name": message.contact.name,
        "reply_to": message.reply_to,
        "target": message.target,
        "media": message.media,
        "new_wa_id": message.new_wa_id,
        "group_id": message.group_id,
    }


def expect(
    who: dict[str, Any],
    type_: MessageType,
    id_: str,
    timestamp: int,
    content: dict[str, Any] | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """Every fact of a message: those not given are None (no target, no media...) and direction is INBOUND."""
    expected = {"type": type_, "id": id_, "timestamp": timestamp, "direction": Direction.INBOUND, **who}
    expected |= {key: None for key in ("reply_to", "target", "media", "new_wa_id", "group_id")} | facts
    return {"facts": expected, "content": content or {}}


WAMID_SHEENA = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
GROUP_ID = "Y2FwaV9ncm91cDoxODA1NTU1MDE3MjoxMjAzNjMyMjI3NzE5NjMwNjcZD"

MESSAGES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("message", "text"): [expect(PYWA_USER, MessageType.TEXT, "wamid.xyzxyz", 1697043223, {"text.body": "Body Text"})],
    ("message", "image"): [
        expect(
            PYWA_USER,
            MessageType.IMAGE,
            "wamid.xyzxyz",
            1697043379,
            media=MediaRef("65463453", mime_type="image/jpeg", sha256="4654+8g="),
        )
    ],
    ("message", "media_with_url"): [
        expect(
            PYWA_USER,
            MessageType.IMAGE,
            "wamid.xyzxyz",
            1697043379,
            media=MediaRef(
                "65463453",
                mime_type="image/jpeg",
                sha256="4654+8g=",
                url="https://lookaside.fbsbx.com/whatsapp_business/attachments/"
                "?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw",
            ),
        )
    ],
    ("message", "video"): [
        expect(
            PYWA_USER,
            MessageType.VIDEO,
            "wamid.xyzxyz",
            1697044362,
            {"context.forwarded": True},
            media=MediaRef(
                "765756756",
                mime_type="video/mp4",
                sha256="Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=",
                caption="caption",
            ),
        )
    ],
    ("message", "document"): [
        expect(
            PYWA_USER,
            MessageType.DOCUMENT,
            "wamid.xyzxyz",
            1697043666,
            media=MediaRef(
                "1234567890987654321",
                mime_type="application/pdf",
                sha256="grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY=",
                filename="filename.pdf",
                caption="caption",
            ),
        )
    ],
    ("message", "audio"): [
        expect(
            PYWA_USER,
            MessageType.AUDIO,
            "wamid.xyzxyz",
            1697043509,
            {"audio.voice": False},
            media=MediaRef(
                "1234567890987654321",
                mime_type="audio/ogg; codecs=opus",
                sha256="E3dxS/PdYZE7ppA3pQ4mpCFaXBJ8pX4SRN/dsfvds/iPGA=",
            ),
        )
    ],
    ("message", "voice"): [
        expect(
            PYWA_USER,
            MessageType.AUDIO,
            "wamid.xyzxyz",
            1697043473,
            {"audio.voice": True},
            media=MediaRef(
                "1234567890987654321",
                mime_type="audio/ogg; codecs=opus",
                sha256="m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
            ),
        )
    ],
    ("message", "static_sticker"): [
        expect(
            PYWA_USER,
            MessageType.STICKER,
            "wamid.xyzxyz",
            1697043760,
            {"sticker.animated": False},
            media=MediaRef(
                "1234567890987654321", mime_type="image/webp", sha256="OmT4nhjUhCMIPNmj7eeOZeCYjTXkLxoOv85OMCFwSuc="
            ),
        )
    ],
    ("message", "animated_sticker"): [
        expect(
            PYWA_USER,
            MessageType.STICKER,
            "wamid.xyzxyz",
            1697043785,
            {"sticker.animated": True},
            media=MediaRef(
                "1234567890987654321", mime_type="image/webp", sha256="HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw="
            ),
        )
    ],
    ("message", "reaction"): [
        expect(
            PYWA_USER,
            MessageType.REACTION,
            "wamid.xyzxyz",
            1697044456,
            {"reaction.emoji": "😮"},
            target="wamid.yzxyzx=",
        )
    ],
    ("message", "unreaction_empty"): [
        expect(
            PYWA_USER, MessageType.REACTION, "wamid.xyzxyz", 1697044456, {"reaction.emoji": ""}, target="wamid.yzxyzx="
        )
    ],
    ("message", "unreaction_no_emoji"): [
        expect(
            PYWA_USER,
            MessageType.REACTION,
            "wamid.xyzxyz",
            1697044456,
            {"reaction": {"message_id": "wamid.yzxyzx="}},
            target="wamid.yzxyzx=",
        )
    ],
    ("message", "current_location"): [
        expect(
            PYWA_USER,
            MessageType.LOCATION,
            "wamid.xyzxyz",
            1697044557,
            {"location": {"latitude": 12.25089, "longitude": 43.90539}, "context.forwarded": True},
        )
    ],
    ("message", "chosen_location"): [
        expect(PYWA_USER, MessageType.LOCATION, "wamid.xyzxyz", 1697044557, {"location.name": "Facebook HQ"})
    ],
    ("message", "contacts"): [
        expect(
            PYWA_USER,
            MessageType.CONTACTS,
            "wamid.xyzxyz",
            1697044621,
            {"contacts.0.name.formatted_name": "Chandler Bing", "contacts.2.phones.0.type": "WORK"},
        )
    ],
    ("message", "order"): [
        expect(
            PYWA_USER,
            MessageType.ORDER,
            "wamid.xyzxyz",
            1697044668,
            {"order.catalog_id": "354160437058781", "order.product_items.0.product_retailer_id": "HAMBURGER"},
        )
    ],
    ("message", "unsupported"): [
        expect(PYWA_USER, MessageType.UNSUPPORTED, "wamid.xyzxyz", 1697044706, {"errors.0.code": 131051})
    ],
    ("message", "unsupported_with_type"): [
        expect(
            PYWA_USER,
            MessageType.UNSUPPORTED,
            "wamid.xyzxyz",
            1697044706,
            {"unsupported.type": "pool", "errors.0.error_data.details": "Message type is currently not supported."},
        )
    ],
    ("message", "reply"): [
        expect(
            PYWA_USER,
            MessageType.TEXT,
            "wamid.xyzxyz",
            1697044746,
            {"text.body": "replied text"},
            reply_to="wamid.xyzxyz==",
        )
    ],
    ("message", "forwarded"): [
        expect(PYWA_USER, MessageType.TEXT, "wamid.xyzxyz", 1697044815, {"context": {"forwarded": True}})
    ],
    ("message", "forwarded_many_times"): [
        expect(PYWA_USER, MessageType.TEXT, "wamid.xyzxyz", 1697044968, {"context": {"frequently_forwarded": True}})
    ],
    ("message", "interactive_message_with_err"): [
        expect(PYWA_USER, MessageType.INTERACTIVE, "wamid.wegrchytvwcggt=", 1700505494, reply_to="wamid.gvwegfretge==")
    ],
    ("message", "referral"): [
        expect(
            PYWA_USER,
            MessageType.TEXT,
            "wamid.ID",
            1697045000,
            {"text.body": "BODY", "referral.ctwa_clid": "CTWA_CLID", "referral.source_type": "ad or post"},
        )
    ],
    ("call_permission_update", "accept"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.x",
            1752582182,
            {"interactive.call_permission_reply.response": "accept"},
            reply_to="wamid.y==",
        )
    ],
    ("call_permission_update", "reject"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.x",
            1752582182,
            {"interactive.call_permission_reply.response": "reject"},
            reply_to="wamid.y==",
        )
    ],
    ("callback_button", "button"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.xyzxyz",
            1698266730,
            {"interactive.type": "button_reply", "interactive.button_reply.id": "callback_data"},
            reply_to="wamid.xyzxyz",
        )
    ],
    ("callback_button", "quick_reply"): [
        expect(
            PYWA_USER,
            MessageType.BUTTON,
            "wamid.xsidjw",
            1698269027,
            {"button": {"payload": "callback_data", "text": "title"}},
            reply_to="wamid.xyzxyz==",
        )
    ],
    ("callback_button", "quick_reply_without_context"): [
        expect(PYWA_USER, MessageType.BUTTON, "wamid.xsidjx", 1698269027, {"button.payload": "callback_data"})
    ],
    ("callback_selection", "callback"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.zyzxyz",
            1698266905,
            {"interactive.list_reply": {"id": "callback_data", "title": "title"}},
            reply_to="wamid.xyzxyz",
        )
    ],
    ("callback_selection", "description"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.zyzxyz",
            1698266905,
            {"interactive.list_reply.description": "description"},
            reply_to="wamid.xyzxyz",
        )
    ],
    ("deleted_message", "revoke"): [
        expect(
            {
                "phone_number_id": "<BUSINESS_PHONE_NUMBER_ID>",
                "wa_id": "<WHATSAPP_USER_PHONE_NUMBER>",
                "user_id": None,
                "name": None,
            },
            MessageType.REVOKE,
            "<WHATSAPP_MESSAGE_ID>",
            1697043223,
            target="<ORIGINAL_WHATSAPP_MESSAGE_ID>",
        )
    ],
    ("edited_message", "image"): [
        expect(
            {"phone_number_id": "106540352242922", "wa_id": "16505551234", "user_id": None, "name": None},
            MessageType.EDIT,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            1749854575,
            {"edit.message.type": "image", "edit.message.image.caption": "Updated image caption"},
            target="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
            media=MediaRef(
                "1234567890",
                mime_type="image/jpeg",
                sha256="a1b2c3d4e5f6...",
                caption="Updated image caption",
                url="https://media.example.com/updated-image.jpg",
            ),
        )
    ],
    ("flow_completion", "completion"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.wegrchytvwcggt==",
            1702502473,
            {"interactive.type": "nfm_reply", "interactive.nfm_reply.name": "flow"},
            reply_to="wamid.gvwegfretge==",
        )
    ],
    ("flow_completion", "without_flow_token"): [
        expect(
            PYWA_USER,
            MessageType.INTERACTIVE,
            "wamid.wegrchytvwcggt==",
            1702502473,
            {"interactive.nfm_reply.body": "Sent"},
            reply_to="wamid.gvwegfretge==",
        )
    ],
    ("outgoing_message", "text"): [
        expect(
            {
                "phone_number_id": "1122334455667",
                "wa_id": "<WHATSAPP_USER_PHONE_NUMBER>",
                "user_id": "<BSUID>",
                "name": None,
            },
            MessageType.TEXT,
            "<WHATSAPP_MESSAGE_ID>",
            1697043223,
            {"text": {"body": "Test message"}},
            direction=Direction.OUTBOUND,
        )
    ],
    # This sample has "from" and "to" the wrong way round ("to" is the business's own number): still the user's.
    ("outgoing_message", "delete"): [
        expect(
            PYWA_USER,
            MessageType.REVOKE,
            "wamid.yyyyyy",
            1697044968,
            direction=Direction.OUTBOUND,
            target="wamid.zzzzzz",
        )
    ],
    ("outgoing_message", "edit"): [
        expect(
            PYWA_USER,
            MessageType.EDIT,
            "wamid.yyyyyy",
            1697044968,
            {"edit.message.text.body": "Text was edited"},
            direction=Direction.OUTBOUND,
            target="wamid.zzzzzz",
        )
    ],
    ("system", "phone_number_change"): [
        expect(
            {"phone_number_id": "1122334455667", "wa_id": "972987654321", "user_id": None, "name": None},
            MessageType.SYSTEM,
            "wamid.xyzxyz==",
            1753851315,
            {"system.type": "user_changed_number"},
            new_wa_id="972912345678",
        )
    ],
    ("system", "identity_change"): [
        expect(
            {"phone_number_id": "1122334455667", "wa_id": "972987654321", "user_id": None, "name": "User A"},
            MessageType.SYSTEM,
            "wamid.xyzxyz",
            1697044706,
            {"system.type": "customer_identity_changed", "identity.hash": "xyzxyz"},
        )
    ],
    ("openapi", "Text Message"): [
        expect(SHEENA, MessageType.TEXT, WAMID_SHEENA, 1749416383, {"text.body": "Does it come in another color?"})
    ],
    ("openapi", "Text Message with Context (Product Inquiry)"): [
        expect(
            SHEENA,
            MessageType.TEXT,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
            1750016800,
            {"context.referred_product.product_retailer_id": "di9ozbzfi4"},
            reply_to="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
        )
    ],
    ("openapi", "Text Message from Click to WhatsApp Ad"): [
        expect(
            SHEENA,
            MessageType.TEXT,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
            1750275992,
            {
                "referral.source_id": "120226305854810726",
                "referral.welcome_message.text": "Hi there! Let us know how we can help!",
            },
        )
    ],
    ("openapi", "Reaction Message"): [
        expect(
            SHEENA,
            MessageType.REACTION,
            WAMID_SHEENA,
            1749419544,
            {"reaction.emoji": "👍"},
            target="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
        )
    ],
    ("openapi", "Image Message"): [
        expect(
            SHEENA,
            MessageType.IMAGE,
            WAMID_SHEENA,
            1744344496,
            media=MediaRef(
                "1003383421387256",
                mime_type="image/jpeg",
                sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                caption="Taj Mahal",
            ),
        )
    ],
    ("openapi", "Location Message"): [
        expect(
            SHEENA,
            MessageType.LOCATION,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=",
            1744344496,
            {"location.name": "Philz Coffee", "location.latitude": 37.44221496582},
        )
    ],
    ("openapi", "Contact Sharing Message"): [
        expect(
            SHEENA,
            MessageType.CONTACTS,
            WAMID_SHEENA,
            1744344496,
            {"contacts.0.phones.0.wa_id": "19835552319", "contacts.0.org.company": "Google"},
        )
    ],
    ("openapi", "Unsupported Message"): [
        expect(
            SHEENA,
            MessageType.UNSUPPORTED,
            "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
            1750090702,
            {"errors.0.code": 131051},
        )
    ],
    ("openapi", "Button Message"): [
        expect(
            SHEENA,
            MessageType.BUTTON,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
            1750091045,
            {"button.payload": "Unsubscribe"},
            reply_to="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
        )
    ],
    ("openapi", "Interactive List Reply Message"): [
        expect(
            SHEENA,
            MessageType.INTERACTIVE,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA=",
            1749854575,
            {"interactive.list_reply.id": "priority_express"},
            reply_to="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA",
        )
    ],
    ("openapi", "Interactive Button Reply Message"): [
        expect(
            SHEENA,
            MessageType.INTERACTIVE,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
            1750025136,
            {"interactive.button_reply.id": "cancel-button"},
            reply_to="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
        )
    ],
    ("openapi", "Order Message"): [
        expect(
            SHEENA,
            MessageType.ORDER,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=",
            1750096325,
            {"order.product_items.1.product_retailer_id": "nqryix03ez"},
        )
    ],
    ("openapi", "System Message"): [
        expect(
            {"phone_number_id": "106540352242922", "wa_id": "16505551234", "user_id": None, "name": None},
            MessageType.SYSTEM,
            "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==",
            1750269342,
            new_wa_id="12195555358",
        )
    ],
    ("docs", "group_text_message"): [
        expect(
            SHEENA,
            MessageType.TEXT,
            "wamid.GROUP_IN_1",
            1750269342,
            {"text.body": "Is the order ready?"},
            group_id=GROUP_ID,
        )
    ],
    ("docs", "history_chunk"): [
        expect(HISTORY_USER, MessageType.TEXT, "wamid.HISTORY_IN_1", 1739230955, {"history_context.status": "READ"}),
        expect(
            HISTORY_USER,
            MessageType.TEXT,
            "wamid.HISTORY_OUT_1",
            1739231000,
            {"text.body": "Yes, from 10 to 4."},
            direction=Direction.OUTBOUND,
        ),
        expect(
            HISTORY_USER,
            MessageType.UNKNOWN,
            "wamid.HISTORY_IN_2",
            1739231100,
            {"original_type": "media_placeholder"},
        ),
        expect(
            {**HISTORY_USER, "wa_id": "16505559999"},
            MessageType.TEXT,
            "wamid.HISTORY_IN_3",
            1739232000,
            {"text.body": "Thanks!"},
        ),
    ],
    ("docs", "history_media_chunk"): [
        expect(
            HISTORY_USER,
            MessageType.IMAGE,
            "wamid.HISTORY_IN_2",
            1739231100,
            media=MediaRef(
                "1003383421387256", mime_type="image/jpeg", sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="
            ),
        )
    ],
}


@pytest.mark.parametrize(("source", "name"), sorted(MESSAGES))
def test_message_payload_becomes_the_expected_messages(source: str, name: str) -> None:
    parsed = parse(source, name)
    expected = MESSAGES[source, name]
    assert [message_facts(m) for m in parsed.messages] == [e["facts"] for e in expected]
    for message, wanted in zip(parsed.messages, expected, strict=True):
        for path, value in wanted["content"].items():
            assert dig(message.content, path) == value, path


# --- statuses -------------------------------------------------------------------------------------------------

PYWA_RECIPIENT = ContactRef("972987654321", "US.13491208655302741918", "Test Name")
SERVICE = {"billable": True, "pricing_model": "CBP", "category": "service"}


def status_facts(update: StatusUpdate) -> dict[str, Any]:
    return {
        "id": update.provider_id,
        "status": update.status,
        "timestamp": int(update.timestamp.timestamp()),
        "phone_number_id": update.phone_number_id,
        "recipient": update.recipient,
        "recipient_type": update.recipient_type,
        "participant": update.participant,
        "errors": update.errors,
        "pricing": update.pricing,
        "conversation_id": (update.conversation or {}).get("id"),
    }


def status(status_: MessageStatus, timestamp: int, **facts: Any) -> dict[str, Any]:
    expected = {
        "id": "wamid.xyzxyz",
        "status": status_,
        "timestamp": timestamp,
        "phone_number_id": "1122334455667",
        "recipient": PYWA_RECIPIENT,
        "recipient_type": "individual",
        "participant": None,
        "errors": (),
        "pricing": SERVICE,
        "conversation_id": "7270432eae37498234f4444b35ffc5",
    }
    return expected | facts


STATUSES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("message_status", "sent"): [status(MessageStatus.SENT, 1698266945)],
    ("message_status", "delivered"): [status(MessageStatus.DELIVERED, 1698266945)],
    ("message_status", "read"): [status(MessageStatus.READ, 1689380458)],
    ("message_status", "played"): [status(MessageStatus.PLAYED, 1689380458)],
    ("message_status", "with_tracker"): [status(MessageStatus.SENT, 1698266945)],
    ("message_status", "failed"): [
        status(
            MessageStatus.FAILED,
            1689380458,
            pricing=None,
            conversation_id=None,
            errors=(
                ProviderErrorInfo(
                    130472,
                    "User's number is part of an experiment",
                    "Failed to send message because this user's phone number is part of an experiment",
                ),
            ),
        )
    ],
    ("message_status", "group"): [
        status(
            MessageStatus.READ,
            1698266945,
            id="<WHATSAPP_MESSAGE_ID>",
            phone_number_id="<BUSINESS_PHONE_NUMBER_ID>",
            recipient=ContactRef("fowefinoewcnw"),
            recipient_type="group",
            # Named from the change's contacts through the business-scoped user id.
            participant=ContactRef("<GROUP_PARTICIPANT_USER_PHONE_NUMBER>", "US.123456", "<USER_DISPLAY_NAME>"),
            pricing=None,
            conversation_id=None,
        )
    ],
}


@pytest.mark.parametrize(("source", "name"), sorted(STATUSES))
def test_status_payload_becomes_the_expected_statuses(source: str, name: str) -> None:
    assert [status_facts(s) for s in parse(source, name).statuses] == STATUSES[source, name]


# --- account events -------------------------------------------------------------------------------------------

ACCOUNT_UPDATES = {
    "account_deleted": ("102290129340398", 1743451903, "ACCOUNT_DELETED"),
    "account_restriction": ("102290129340398", 1641330498, "ACCOUNT_RESTRICTION"),
    "account_violation": ("102290129340398", 1743451903, "ACCOUNT_VIOLATION"),
    "ad_account_linked": ("2949482758682047", 1744823932, "AD_ACCOUNT_LINKED"),
    "authentication_international_eligibility": ("102290129340398", 1743451903, "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE"),
    "account_disabled": ("102290129340398", 1743451903, "DISABLED_UPDATE"),
    "mm_api_for_wa_terms_of_service": ("2949482758682047", 1744823932, "MM_LITE_TERMS_SIGNED"),
    "partner_added": ("2949482758682047", 1744823932, "PARTNER_ADDED"),
    "partner_app_installed": ("2949482758682047", 1745337174, "PARTNER_APP_INSTALLED"),
    "partner_app_uninstalled": ("2949482758682047", 1748477359, "PARTNER_APP_UNINSTALLED"),
    "partner_led_business_verification_status": (
        "102290129340398",
        1743138982,
        "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
    ),
    "partner_removed": ("2949482758682047", 1748477359, "PARTNER_REMOVED"),
    "partner_removed_wa_app_disconnection": ("2949482758682047", 1748477359, "PARTNER_REMOVED"),
    "primary_business_location_set": ("102290129340398", 1743138982, "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE"),
    "pricing_tiering_update": ("102290129340398", 1743451903, "VOLUME_BASED_PRICING_TIER_UPDATE"),
    "account_offboarded": ("102290129340398", 1743451903, "ACCOUNT_OFFBOARDED"),
    "account_reconnected": ("102290129340398", 1743451903, "ACCOUNT_RECONNECTED"),
}


def event(
    field: str, waba_id: str, timestamp: int | None, phone_number_id: str | None = None, **raw: Any
) -> dict[str, Any]:
    """An account event's facts; ``raw`` maps dotted paths (``__`` for ``.``) into the kept value."""
    facts = {"field": field, "waba_id": waba_id, "phone_number_id": phone_number_id, "timestamp": timestamp}
    return {"facts": facts, "raw": {path.replace("__", "."): value for path, value in raw.items()}}


ACCOUNT_EVENTS: dict[tuple[str, str], list[dict[str, Any]]] = {
    **{
        ("account_update", name): [event("account_update", waba_id, time, event=kind)]
        for name, (waba_id, time, kind) in ACCOUNT_UPDATES.items()
    },
    ("call_connect", "business_initiated"): [
        event("calls", "837432645395", None, "743897493242", calls__0__direction="BUSINESS_INITIATED")
    ],
    ("call_connect", "user_initiated"): [
        event("calls", "100293269804676", None, "743897493242", calls__0__session__sdp_type="offer")
    ],
    ("call_status", "call_status"): [event("calls", "487439753", None, "5483758353", statuses__0__status="RINGING")],
    ("call_terminate", "call_terminate"): [
        event("calls", "47389759353", None, "37489742", calls__0__duration=120, errors__0__code=12455)
    ],
    ("template_category_update", "marketing"): [
        event("template_category_update", "57438975935", 1750344882, new_category="MARKETING")
    ],
    # The sample carries a stray top-level "all" payload beside "entry": only "entry" is Meta's.
    ("template_components_update", "element"): [
        event(
            "message_template_components_update",
            "57438975935",
            1751483772,
            message_template_element="Hi {{1}}! Welcome to our service.",
        )
    ],
    ("template_quality_update", "yellow"): [
        event("message_template_quality_update", "102290129340398", 1674864290, new_quality_score="YELLOW")
    ],
    ("template_status_update", "approved"): [
        event("message_template_status_update", "102290129340398", 1751247548, event="APPROVED")
    ],
    ("template_status_update", "rejected"): [
        event(
            "message_template_status_update", "102290129340398", 1751247548, event="REJECTED", reason="INVALID_FORMAT"
        )
    ],
    ("openapi", "Group Create Message"): [
        event("group_lifecycle_update", "102290129340398", None, "106540352242922", groups__0__type="group_create")
    ],
    ("openapi", "Group Settings Update"): [
        event(
            "group_settings_update",
            "102290129340398",
            None,
            "106540352242922",
            groups__0__profile_picture__mime_type="image/jpeg",
        )
    ],
    ("openapi", "Group Remove Participants"): [
        event(
            "group_participants_update",
            "102290129340398",
            None,
            "106540352242922",
            groups__0__removed_participants__1__wa_id=16505551235,
        )
    ],
    ("docs", "history_chunk"): [
        event(
            "history",
            "102290129340398",
            None,
            "106540352242922",
            metadata={"phase": 0, "chunk_order": 1, "progress": 55},
        )
    ],
    ("docs", "history_media_chunk"): [
        event("history", "102290129340398", None, "106540352242922", metadata__progress=60)
    ],
    ("docs", "history_declined"): [
        event("history", "102290129340398", None, "106540352242922", errors__0__code=2593109)
    ],
}


@pytest.mark.parametrize(("source", "name"), sorted(ACCOUNT_EVENTS))
def test_account_payload_becomes_the_expected_account_events(source: str, name: str) -> None:
    events = parse(source, name).account_events
    expected = ACCOUNT_EVENTS[source, name]
    assert len(events) == len(expected)
    for got, wanted in zip(events, expected, strict=True):
        timestamp = int(got.timestamp.timestamp()) if got.timestamp else None
        facts = {"field": got.field, "waba_id": got.waba_id, "phone_number_id": got.phone_number_id}
        assert facts | {"timestamp": timestamp} == wanted["facts"]
        for path, value in wanted["raw"].items():
            assert dig(got.raw, path) == value, path


def test_account_event_keeps_the_change_value_whole() -> None:
    body = payload("account_update", "account_restriction")
    (got,) = meta.parse(encode(body)).account_events
    assert got.raw == body["entry"][0]["changes"][0]["value"]


def test_history_event_keeps_the_chunk_progress_but_not_its_threads() -> None:
    (got,) = parse("docs", "history_chunk").account_events
    assert got.raw == {"metadata": {"phase": 0, "chunk_order": 1, "progress": 55}}


# --- preferences and change errors ----------------------------------------------------------------------------

PREFERENCES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("user_marketing_preferences", "resume"): [
        {
            "phone_number_id": "106540352242922",
            # The preference's wa_id is not among the change's contacts: no name is borrowed.
            "contact": ContactRef("16505551234"),
            "category": "marketing_messages",
            "value": "resume",
            "detail": "User requested to resume marketing messages",
            "timestamp": 1731705721,
        }
    ],
    ("docs", "user_preferences_resume"): [
        {
            "phone_number_id": "106540352242922",
            "contact": ContactRef("16505551234"),
            "category": "marketing_messages",
            "value": "resume",
            "detail": "User requested to resume marketing messages",
            "timestamp": 1731705721,
        }
    ],
    ("docs", "user_preferences_stop"): [
        {
            "phone_number_id": "106540352242922",
            "contact": ContactRef("16505551234", name="Sheena Nelson"),
            "category": "marketing_messages",
            "value": "stop",
            "detail": "User requested to stop marketing messages",
            "timestamp": 1739321024,
        }
    ],
    ("user_marketing_preferences", "signup"): [
        {
            "phone_number_id": "106540352242922",
            "contact": ContactRef("16505551234"),
            "category": "marketing_messages",
            "value": "signup",
            "detail": "User signed up via signup link",
            "timestamp": 1731705721,
        }
    ],
}


@pytest.mark.parametrize(("source", "name"), sorted(PREFERENCES))
def test_preference_payload_becomes_the_expected_preferences(source: str, name: str) -> None:
    got = [
        {
            "phone_number_id": p.phone_number_id,
            "contact": p.contact,
            "category": p.category,
            "value": p.value,
            "detail": p.detail,
            "timestamp": int(p.timestamp.timestamp()),
        }
        for p in parse(source, name).preferences
    ]
    assert got == PREFERENCES[source, name]


CHANGE_ERRORS: dict[tuple[str, str], list[tuple[str | None, tuple[ProviderErrorInfo, ...]]]] = {
    # Meta sent the message and, beside it, could not deliver part of the payload.
    ("message", "interactive_message_with_err"): [
        ("1122334455667", (ProviderErrorInfo(131000, "Something went wrong", "Unsupported webhook payload"),))
    ],
    ("docs", "history_declined"): [
        (
            "106540352242922",
            (
                ProviderErrorInfo(
                    2593109, "History sharing declined", "The business declined to share its chat history."
                ),
            ),
        )
    ],
}


@pytest.mark.parametrize(("source", "name"), sorted(CHANGE_ERRORS))
def test_value_level_errors_become_change_errors(source: str, name: str) -> None:
    got = [(e.phone_number_id, e.errors) for e in parse(source, name).errors]
    assert got == CHANGE_ERRORS[source, name]


TABLES: dict[str, dict[tuple[str, str], list[Any]]] = {
    "messages": MESSAGES,
    "statuses": STATUSES,
    "account_events": ACCOUNT_EVENTS,
    "preferences": PREFERENCES,
    "errors": CHANGE_ERRORS,
}


def test_every_payload_has_a_row_in_the_tables() -> None:
    covered = {key for table in TABLES.values() for key in table}
    assert sorted(covered) == ALL_PAYLOADS
    assert len(ALL_PAYLOADS) == 74 + 16 + 6


@pytest.mark.parametrize(("source", "name"), ALL_PAYLOADS)
def test_payload_yields_nothing_beyond_its_table_rows(source: str, name: str) -> None:
    parsed = parse(source, name)
    for kind, table in TABLES.items():
        assert len(getattr(parsed, kind)) == len(table.get((source, name), [])), kind


def raw_messages_and_statuses(body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The message objects of a payload in the order Meta sent them, wherever each field keeps them."""
    messages: list[Any] = []
    statuses: list[Any] = []
    for change in (c for e in body["entry"] for c in e["changes"]):
        value = change["value"]
        if change["field"] == "messages":
            messages += value.get("messages", [])
            statuses += value.get("statuses", [])
        elif change["field"] == "smb_message_echoes":
            messages += value["message_echoes"]
        elif change["field"] == "history":
            messages += [m for chunk in value["history"] for t in chunk.get("threads", []) for m in t["messages"]]
    return messages, statuses


@pytest.mark.parametrize(("source", "name"), ALL_PAYLOADS)
def test_raw_json_of_every_message_and_status_is_kept(source: str, name: str) -> None:
    parsed = parse(source, name)
    messages, statuses = raw_messages_and_statuses(SOURCES[source][name])
    assert [m.raw for m in parsed.messages] == messages
    assert [s.raw for s in parsed.statuses] == statuses


# --- behaviours the corpus does not show on its own -----------------------------------------------------------


def test_a_batch_is_read_whole_not_only_its_first_item() -> None:
    body = payload("message", "text")
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"].append({**value["messages"][0], "id": "wamid.second"})
    value["statuses"] = [{"id": "wamid.s", "status": "delivered", "timestamp": "1", "recipient_id": "1"}]
    echoes = payload("outgoing_message", "text")["entry"][0]["changes"][0]
    preferences = payload("user_marketing_preferences", "resume")["entry"][0]["changes"][0]
    body["entry"][0]["changes"] += [
        echoes,
        preferences,
        payload("template_quality_update", "yellow")["entry"][0]["changes"][0],
    ]
    body["entry"].append(copy.deepcopy(body["entry"][0]))
    parsed = meta.parse(encode(body))
    assert [m.provider_id for m in parsed.messages] == ["wamid.xyzxyz", "wamid.second", "<WHATSAPP_MESSAGE_ID>"] * 2
    assert [s.provider_id for s in parsed.statuses] == ["wamid.s", "wamid.s"]
    assert [p.value for p in parsed.preferences] == ["resume", "resume"]
    assert [e.field for e in parsed.account_events] == ["message_template_quality_update"] * 2


def test_unknown_future_type_is_kept_as_unknown_with_its_type_name() -> None:
    body = payload("message", "text")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "hologram"
    message["hologram"] = {"depth": 3}
    del message["text"]
    (parsed,) = meta.parse(encode(body)).messages
    assert parsed.type is MessageType.UNKNOWN
    assert parsed.content == {"hologram": {"depth": 3}, "original_type": "hologram"}
    assert parsed.raw == message


def test_message_without_type_is_unknown() -> None:
    body = payload("message", "text")
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["type"]
    (parsed,) = meta.parse(encode(body)).messages
    assert parsed.type is MessageType.UNKNOWN
    assert parsed.content["original_type"] == "unknown"


def test_sender_with_only_a_business_scoped_user_id_is_named_from_contacts() -> None:
    body = payload("message", "text")
    value = body["entry"][0]["changes"][0]["value"]
    del value["contacts"][0]["wa_id"]
    message = value["messages"][0]
    del message["from"]
    message["from_user_id"] = "US.13491208655302741918"
    (parsed,) = meta.parse(encode(body)).messages
    assert parsed.contact == ContactRef(None, "US.13491208655302741918", "Test Name")


def test_sender_phone_number_gains_the_user_id_of_its_contact() -> None:
    (parsed,) = parse("message", "text").messages
    assert parsed.contact == ContactRef("972987654321", "US.13491208655302741918", "Test Name")


def test_sender_matched_only_by_user_id_keeps_its_own_phone_number() -> None:
    body = payload("callback_button", "quick_reply_without_context")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "10000000000"
    (parsed,) = meta.parse(encode(body)).messages
    assert parsed.contact == ContactRef("972987654321", "US.13491208655302741918", "Test Name")


def test_individual_status_takes_the_recipient_user_id() -> None:
    body = payload("message_status", "sent")
    value = body["entry"][0]["changes"][0]["value"]
    del value["contacts"]
    del value["statuses"][0]["recipient_id"]
    value["statuses"][0]["recipient_user_id"] = "US.777"
    (update,) = meta.parse(encode(body)).statuses
    assert update.recipient == ContactRef(None, "US.777")
    assert update.participant is None


def test_unknown_status_string_is_unknown_and_kept_raw() -> None:
    body = payload("message_status", "sent")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "teleported"
    (update,) = meta.parse(encode(body)).statuses
    assert update.status is MessageStatus.UNKNOWN
    assert update.raw["status"] == "teleported"


def test_status_with_a_group_id_names_the_group_and_the_member() -> None:
    # Meta's OpenAPI description gives statuses a "group_id" beside "recipient_id".
    body = payload("message_status", "delivered")
    value = body["entry"][0]["changes"][0]["value"]
    value["statuses"][0]["group_id"] = GROUP_ID
    (update,) = meta.parse(encode(body)).statuses
    assert update.recipient_type == "group"
    assert update.recipient == ContactRef(GROUP_ID)
    assert update.participant == PYWA_RECIPIENT


def test_echo_recipient_is_named_from_contacts_by_user_id() -> None:
    body = payload("outgoing_message", "text")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "<BSUID>"
    (echo,) = meta.parse(encode(body)).messages
    assert echo.direction is Direction.OUTBOUND
    assert echo.contact == ContactRef("<WHATSAPP_USER_PHONE_NUMBER>", "<BSUID>", "Test Name")
    assert echo.content == {"text": {"body": "Test message"}}


def test_echo_sent_to_a_business_scoped_user_id_only() -> None:
    body = payload("outgoing_message", "text")
    del body["entry"][0]["changes"][0]["value"]["message_echoes"][0]["to"]
    (echo,) = meta.parse(encode(body)).messages
    assert echo.contact == ContactRef(None, "<BSUID>")


def test_message_echoes_are_only_read_from_the_echoes_field() -> None:
    body = payload("outgoing_message", "text")
    body["entry"][0]["changes"][0]["field"] = "messages"
    assert meta.parse(encode(body)).messages == []


def test_garbage_message_timestamp_falls_back_to_the_entry_time() -> None:
    body = payload("message", "text")
    body["entry"][0]["time"] = 1700000000
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "yesterday"
    (message,) = meta.parse(encode(body)).messages
    assert message.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize("garbage", ["", "yesterday", "-5", "1e9", "9" * 30, 10**30, -1, 1e308, True, None, [], {}])
def test_garbage_timestamp_without_entry_time_falls_back_to_now(garbage: object) -> None:
    body = payload("message_status", "read")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = garbage
    before = datetime.now(tz=UTC)
    (update,) = meta.parse(encode(body)).statuses
    assert before <= update.timestamp <= datetime.now(tz=UTC)


@pytest.mark.parametrize(
    ("sent", "read"), [(1697043223, 1697043223), (1697043223.7, 1697043223), (" 1697043223", 1697043223)]
)
def test_numeric_timestamps_are_read(sent: object, read: int) -> None:
    body = payload("message", "text")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = sent
    (message,) = meta.parse(encode(body)).messages
    assert message.timestamp.timestamp() == read


def test_value_level_errors_without_messages_become_a_change_error() -> None:
    body = payload("message", "interactive_message_with_err")
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"], value["contacts"]
    parsed = meta.parse(encode(body))
    assert parsed.messages == []
    (error,) = parsed.errors
    assert error.errors[0].code == 131000
    assert error.raw == value


@pytest.mark.parametrize(
    ("code", "read"), [("131000", 131000), (10**30, None), (True, None), ("abc", None), (None, None), (1.5, None)]
)
def test_error_codes_are_read_tolerantly(code: object, read: int | None) -> None:
    body = payload("message_status", "failed")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]["code"] = code
    (update,) = meta.parse(encode(body)).statuses
    assert update.errors[0].code == read
    assert update.errors[0].title == "User's number is part of an experiment"


def test_change_with_unknown_field_and_non_object_value_is_kept_as_account_event() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "future", "value": [1, 2]}]}],
    }
    (got,) = meta.parse(encode(body)).account_events
    assert (got.field, got.waba_id, got.raw, got.phone_number_id, got.timestamp) == (
        "future",
        "1",
        {"value": [1, 2]},
        None,
        None,
    )


def test_change_without_field_is_kept_as_account_event() -> None:
    body = payload("template_quality_update", "yellow")
    del body["entry"][0]["changes"][0]["field"]
    (got,) = meta.parse(encode(body)).account_events
    assert got.field == ""
    assert got.raw["new_quality_score"] == "YELLOW"


def test_account_event_takes_the_value_timestamp_when_the_entry_has_no_time() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [{"field": "security", "value": {"timestamp": "1700000000", "event": "PIN_CHANGED"}}],
            }
        ],
    }
    (got,) = meta.parse(encode(body)).account_events
    assert got.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def tolerated(mutate: Any) -> bytes:
    body = payload("message", "reply")
    mutate(body["entry"][0]["changes"][0]["value"])
    return encode(body)


def set_in(path: str, new: object) -> Any:
    def mutate(value: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = value
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = new

    return mutate


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (set_in("contacts", "nobody"), lambda p: p.messages[0].contact == ContactRef("972987654321")),
        (set_in("contacts", [5, None, "x"]), lambda p: p.messages[0].contact == ContactRef("972987654321")),
        (set_in("contacts.0.profile", "Test Name"), lambda p: p.messages[0].contact.name is None),
        (set_in("messages.0.context", "wamid.x"), lambda p: p.messages[0].reply_to is None),
        (set_in("messages.0.context.id", {"id": 1}), lambda p: p.messages[0].reply_to is None),
        (set_in("messages.0.type", 7), lambda p: p.messages[0].type is MessageType.UNKNOWN),
        (set_in("messages.0.text", None), lambda p: p.messages[0].content["text"] is None),
        (set_in("messages.0.id", 123), lambda p: p.messages[0].provider_id == "123"),
        (set_in("messages", [1, "two", None]), lambda p: p.messages == []),
        (set_in("messages", {"id": "x"}), lambda p: p.messages == []),
        (set_in("statuses", "none"), lambda p: p.statuses == []),
        (set_in("errors", "not a list"), lambda p: p.errors == []),
        (set_in("errors", [1, "x"]), lambda p: p.errors == []),
        (set_in("metadata.phone_number_id", 1122334455667), lambda p: p.messages[0].phone_number_id == "1122334455667"),
        (set_in("metadata.display_phone_number", ["x"]), lambda p: len(p.messages) == 1),
    ],
)
def test_wrong_inner_types_are_read_as_missing(mutate: Any, check: Any) -> None:
    assert check(meta.parse(tolerated(mutate)))


def test_entry_without_changes_or_id_is_read_as_empty() -> None:
    body = {"object": "whatsapp_business_account", "entry": [{}, {"id": 5, "changes": "x"}]}
    assert meta.parse(encode(body)) == ParsedWebhook()


def test_reaction_and_media_objects_of_the_wrong_type_give_no_target_or_media() -> None:
    body = payload("message", "reaction")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"] = "😮"
    image = payload("message", "image")
    image["entry"][0]["changes"][0]["value"]["messages"][0]["image"] = {"mime_type": "image/jpeg"}
    assert meta.parse(encode(body)).messages[0].target is None
    assert meta.parse(encode(image)).messages[0].media is None


# --- malformed payloads ---------------------------------------------------------------------------------------


def change_body(field: str, value: object) -> bytes:
    return encode(
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}]}
    )


METADATA = {"phone_number_id": "1", "display_phone_number": "15550000000"}

MALFORMED = {
    "empty": b"",
    "not json": b"not json",
    "not utf-8": b"\xff\xfe\xfa",
    "json array": b"[]",
    "json null": b"null",
    "json number": b"5",
    "json string": b'"whatsapp_business_account"',
    "nan": b"NaN",
    "empty object": b"{}",
    "no entry": b'{"object": "whatsapp_business_account"}',
    "entry not a list": b'{"object": "whatsapp_business_account", "entry": {}}',
    "entry a number": b'{"object": "whatsapp_business_account", "entry": 5}',
    "entry item a number": b'{"object": "whatsapp_business_account", "entry": [5]}',
    "entry item null": b'{"object": "whatsapp_business_account", "entry": [null]}',
    "change a string": b'{"object": "whatsapp_business_account", "entry": [{"changes": ["messages"]}]}',
    "no object": b'{"entry": []}',
    "other object": b'{"object": "page", "entry": []}',
    "object not a string": b'{"object": ["whatsapp_business_account"], "entry": []}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested value": b'{"object": "whatsapp_business_account", "entry": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
    "huge number": b'{"object": "whatsapp_business_account", "entry": [' + b"9" * 10_000 + b"]}",
    "messages without value": change_body("messages", None),
    "messages value a list": change_body("messages", [{"metadata": METADATA}]),
    "messages without metadata": change_body("messages", {"messages": [{"id": "x", "from": "1"}]}),
    "messages metadata a string": change_body("messages", {"metadata": "1"}),
    "phone number id an object": change_body("messages", {"metadata": {"phone_number_id": {"id": "1"}}}),
    "phone number id a bool": change_body("messages", {"metadata": {"phone_number_id": True}}),
    "message without id": change_body("messages", {"metadata": METADATA, "messages": [{"from": "1", "type": "text"}]}),
    "message id an object": change_body("messages", {"metadata": METADATA, "messages": [{"id": {}, "from": "1"}]}),
    "message without sender": change_body("messages", {"metadata": METADATA, "messages": [{"id": "wamid.1"}]}),
    "message sender a list": change_body("messages", {"metadata": METADATA, "messages": [{"id": "w", "from": ["1"]}]}),
    "status without id": change_body("messages", {"metadata": METADATA, "statuses": [{"status": "read"}]}),
    "echoes without metadata": change_body("smb_message_echoes", {"message_echoes": []}),
    "echo without id": change_body("smb_message_echoes", {"metadata": METADATA, "message_echoes": [{"to": "1"}]}),
    "echo without recipient": change_body(
        "smb_message_echoes", {"metadata": METADATA, "message_echoes": [{"id": "w", "from": "15550000000"}]}
    ),
    "history without metadata": change_body("history", {"history": []}),
    "history message without user": change_body(
        "history", {"metadata": METADATA, "history": [{"threads": [{"messages": [{"id": "w"}]}]}]}
    ),
    "preferences without metadata": change_body("user_preferences", {"user_preferences": []}),
    "preference without user": change_body(
        "user_preferences", {"metadata": METADATA, "user_preferences": [{"value": "stop"}]}
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_body_raises_malformed_payload(name: str) -> None:
    with pytest.raises(meta.MalformedPayload):
        meta.parse(MALFORMED[name])


def test_malformed_payload_is_a_value_error() -> None:
    assert issubclass(meta.MalformedPayload, ValueError)


NASTY_VALUES: list[object] = [
    None, True, False, 0, -1, 10**30, -(10**30), 1.5, 1e308, "", "x", "\x00", "9" * 50, "-5",
    [], {}, [None], [1, "a"], {"id": None}, {"": ""}, [[[]]],
]  # fmt: skip


def containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict key or list index inside ``value``."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append((*path, key))
        found.extend(containers(child, (*path, key)))
    return found


@pytest.mark.parametrize(("source", "name"), ALL_PAYLOADS)
def test_mutated_payloads_raise_nothing_but_malformed_payload(source: str, name: str) -> None:
    """Each real payload with one value swapped for garbage or removed, 40 times: parsed, or MalformedPayload."""
    rng = random.Random(f"{source}/{name}")
    original = SOURCES[source][name]
    paths = containers(original)
    for _ in range(40):
        body = copy.deepcopy(original)
        *parents, last = rng.choice(paths)
        parent: Any = body
        for key in parents:
            parent = parent[key]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = copy.deepcopy(rng.choice(NASTY_VALUES))
        with contextlib.suppress(meta.MalformedPayload):
            meta.parse(encode(body))
