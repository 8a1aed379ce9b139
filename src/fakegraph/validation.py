"""Checks on `POST /{phone_number_id}/messages` bodies, answering like Meta (code 100 + details).

Limits come from https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
Only what Meta refuses synchronously is checked here; delivery problems (131026, 131047...) arrive later
as `failed` status webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakegraph import errors

MESSAGE_TYPES = (
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
)
MEDIA_TYPES = ("audio", "document", "image", "sticker", "video")
INTERACTIVE_TYPES = (
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "catalog_message",
    "location_request_message",
    "address_message",
    "call_permission_request",
    "voice_call",
)
TEXT_BODY_MAX = 4096
CAPTION_MAX = 1024


@dataclass(frozen=True, slots=True)
class SendRequest:
    """The parts of a valid send body fakegraph acts on."""

    to: str
    wa_id: str
    recipient_type: str
    type: str


def check_send(body: dict[str, Any], media_exists: Callable[[str], bool]) -> SendRequest:
    """Validate a message send body, raising `errors.GraphError` the way Meta answers."""
    _check_product(body)
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type not in ("individual", "group"):
        raise errors.invalid_parameter(
            f'Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got "{recipient_type}".'
        )
    to = body.get("to")
    if to is None or to == "":
        raise errors.missing_parameter("to")
    if not isinstance(to, str | int):
        raise errors.invalid_parameter("Param to must be a string")
    to = str(to)
    wa_id = to if recipient_type == "group" or to.startswith("US.") else "".join(c for c in to if c.isdigit())
    if recipient_type == "individual" and not to.startswith("US.") and not 5 <= len(wa_id) <= 15:
        raise errors.invalid_parameter(f'Param to is not a valid phone number: "{to}"')
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        allowed = ", ".join(t.upper() for t in MESSAGE_TYPES)
        raise errors.invalid_parameter(f'Param type must be one of {{{allowed}}} - got "{kind}".')
    obj = body.get(kind)
    if obj is None:
        raise errors.missing_parameter(kind)
    if kind == "contacts":
        _check_contacts(obj)
    elif not isinstance(obj, dict):
        raise errors.invalid_parameter(f"Param {kind} must be a JSON object.")
    elif kind == "text":
        _check_text(obj)
    elif kind in MEDIA_TYPES:
        _check_media(kind, obj, media_exists)
    elif kind == "location":
        _check_location(obj)
    elif kind == "reaction":
        _check_reaction(obj)
    elif kind == "interactive":
        _check_interactive(obj)
    elif kind == "template":
        _check_template(obj)
    context = body.get("context")
    if context is not None and (not isinstance(context, dict) or not context.get("message_id")):
        raise errors.missing_parameter("context['message_id']")
    return SendRequest(to=to, wa_id=wa_id, recipient_type=recipient_type, type=kind)


def check_read_receipt(body: dict[str, Any]) -> str:
    """Validate a mark-as-read body (optionally with a typing indicator); return the message id."""
    _check_product(body)
    if body.get("status") != "read":
        raise errors.invalid_parameter(f'Param status must be one of {{READ}} - got "{body.get("status")}".')
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise errors.missing_parameter("message_id")
    typing = body.get("typing_indicator")
    if typing is not None and (not isinstance(typing, dict) or typing.get("type") != "text"):
        raise errors.invalid_parameter("Param typing_indicator['type'] must be one of {TEXT}")
    return message_id


def _check_product(body: dict[str, Any]) -> None:
    product = body.get("messaging_product")
    if product is None:
        raise errors.missing_parameter("messaging_product")
    if product != "whatsapp":
        raise errors.invalid_parameter(f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')


def _text(obj: dict[str, Any], key: str, where: str, limit: int, *, required: bool) -> None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise errors.missing_parameter(f"{where}['{key}']")
        return
    if not isinstance(value, str):
        raise errors.invalid_parameter(f"Param {where}['{key}'] must be a string.")
    if len(value) > limit:
        raise errors.invalid_parameter(f"Param {where}['{key}'] must be at most {limit} characters long.")


def _check_text(obj: dict[str, Any]) -> None:
    _text(obj, "body", "text", TEXT_BODY_MAX, required=True)
    if "preview_url" in obj and not isinstance(obj["preview_url"], bool):
        raise errors.invalid_parameter("Param text['preview_url'] must be a boolean.")


def _check_media(kind: str, obj: dict[str, Any], media_exists: Callable[[str], bool]) -> None:
    media_id, link = obj.get("id"), obj.get("link")
    if (media_id is None) == (link is None):
        raise errors.invalid_parameter(f"Param {kind} must contain exactly one of {kind}['id'] or {kind}['link'].")
    if media_id is not None and not media_exists(str(media_id)):
        raise errors.invalid_parameter(
            f"Param {kind}['id'] is not a valid whatsapp business account media attachment ID"
        )
    if link is not None and not (isinstance(link, str) and link.startswith(("http://", "https://"))):
        raise errors.invalid_parameter(f"Param {kind}['link'] is not a valid URI.")
    if "caption" in obj:
        if kind in ("audio", "sticker"):
            raise errors.invalid_parameter(f"Param {kind}['caption'] is not allowed for {kind} messages.")
        _text(obj, "caption", kind, CAPTION_MAX, required=False)
    if "filename" in obj and kind != "document":
        raise errors.invalid_parameter(f"Param {kind}['filename'] is only allowed for document messages.")


def _check_location(obj: dict[str, Any]) -> None:
    for key, bound in (("latitude", 90.0), ("longitude", 180.0)):
        value = obj.get(key)
        if value is None:
            raise errors.missing_parameter(f"location['{key}']")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise errors.invalid_parameter(f"Param location['{key}'] must be a number.") from None
        if not -bound <= number <= bound:
            raise errors.invalid_parameter(f"Param location['{key}'] must be between -{bound:g} and {bound:g}.")


def _check_reaction(obj: dict[str, Any]) -> None:
    if not obj.get("message_id"):
        raise errors.missing_parameter("reaction['message_id']")
    if "emoji" not in obj:
        raise errors.missing_parameter("reaction['emoji']")


def _check_contacts(obj: object) -> None:
    if not isinstance(obj, list) or not obj:
        raise errors.invalid_parameter("Param contacts must be a non-empty array.")
    for index, contact in enumerate(obj):
        name = contact.get("name") if isinstance(contact, dict) else None
        if not isinstance(name, dict) or not name.get("formatted_name"):
            raise errors.missing_parameter(f"contacts[{index}]['name']['formatted_name']")


def _check_interactive(obj: dict[str, Any]) -> None:
    kind = obj.get("type")
    if kind not in INTERACTIVE_TYPES:
        allowed = ", ".join(t.upper() for t in INTERACTIVE_TYPES)
        raise errors.invalid_parameter(f"Param interactive['type'] must be one of {{{allowed}}} - got \"{kind}\".")
    action = obj.get("action")
    if not isinstance(action, dict):
        raise errors.missing_parameter("interactive['action']")
    if kind not in ("product", "product_list"):
        body = obj.get("body")
        if not isinstance(body, dict):
            raise errors.missing_parameter("interactive['body']")
        _text(body, "text", "interactive['body']", 1024, required=True)
    footer = obj.get("footer")
    if isinstance(footer, dict):
        _text(footer, "text", "interactive['footer']", 60, required=True)
    if kind == "button":
        _check_buttons(action)
    elif kind == "list":
        _check_list(action)
    elif kind == "cta_url":
        params = action.get("parameters")
        if not isinstance(params, dict):
            raise errors.missing_parameter("interactive['action']['parameters']")
        _text(params, "display_text", "interactive['action']['parameters']", 20, required=True)
        _text(params, "url", "interactive['action']['parameters']", 2000, required=True)


def _check_buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise errors.invalid_parameter("Param interactive['action']['buttons'] must have between 1 and 3 items.")
    seen: set[str] = set()
    for index, button in enumerate(buttons):
        reply = button.get("reply") if isinstance(button, dict) else None
        where = f"interactive['action']['buttons'][{index}]['reply']"
        if not isinstance(reply, dict):
            raise errors.missing_parameter(where)
        _text(reply, "id", where, 256, required=True)
        _text(reply, "title", where, 20, required=True)
        if reply["title"] in seen:
            raise errors.invalid_parameter("Button titles must be unique.")
        seen.add(reply["title"])


def _check_list(action: dict[str, Any]) -> None:
    _text(action, "button", "interactive['action']", 20, required=True)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise errors.invalid_parameter("Param interactive['action']['sections'] must have between 1 and 10 items.")
    total = 0
    for s_index, section in enumerate(sections):
        rows = section.get("rows") if isinstance(section, dict) else None
        if not isinstance(rows, list) or not rows:
            raise errors.missing_parameter(f"interactive['action']['sections'][{s_index}]['rows']")
        for r_index, row in enumerate(rows):
            where = f"interactive['action']['sections'][{s_index}]['rows'][{r_index}]"
            if not isinstance(row, dict):
                raise errors.invalid_parameter(f"Param {where} must be a JSON object.")
            _text(row, "id", where, 200, required=True)
            _text(row, "title", where, 24, required=True)
            _text(row, "description", where, 72, required=False)
        total += len(rows)
    if total > 10:
        raise errors.invalid_parameter("The total number of rows across all sections must be at most 10.")


def _check_template(obj: dict[str, Any]) -> None:
    if not obj.get("name"):
        raise errors.missing_parameter("template['name']")
    language = obj.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise errors.missing_parameter("template['language']['code']")
