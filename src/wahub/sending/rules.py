"""What each provider can send, checked when a message is queued (``service.prepare``), so that a message its
account's provider cannot take gets a 422 naming the field, instead of a ``failed`` message later.

The API's body is Meta's send body for every provider (``api/schemas/send.py`` checks Meta's limits); a Twilio
account takes part of it: https://www.twilio.com/docs/whatsapp/api (text, media by URL with a caption on images
and videos, locations, templates as Content SIDs; no groups, no reply context, no interactive bodies outside
Content templates).
"""

from __future__ import annotations

from typing import Any

from wahub import errors
from wahub.domain import MessageType
from wahub.sending.request import SendRequest

TWILIO_TYPES = frozenset(
    {
        MessageType.TEXT,
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.DOCUMENT,
        MessageType.STICKER,
        MessageType.LOCATION,
        MessageType.TEMPLATE,
    }
)
# What Meta's Groups API sends to a group: text, media and templates (of text and media).
GROUP_TYPES = frozenset(
    {
        MessageType.TEXT,
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.DOCUMENT,
        MessageType.TEMPLATE,
    }
)
_MEDIA = frozenset({MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT, MessageType.STICKER})


def check(provider: str, request: SendRequest) -> None:
    """Raise ``InvalidInput`` naming the field when ``provider`` cannot send ``request``."""
    content: dict[str, Any] = request.content if isinstance(request.content, dict) else {}
    if provider == "twilio":
        _twilio(request, content)
        return
    if request.type is MessageType.TEMPLATE and content.get("content_sid") is not None:
        raise _refused("template.content_sid", "a Content SID is Twilio's: a Meta account sends templates by name")
    if request.group:
        _meta_group(request, content)


def _meta_group(request: SendRequest, content: dict[str, Any]) -> None:
    """Meta's Groups API sends text, media and templates of text and media only: no interactive messages, and
    no template whose send fills a button (a button in a group would answer for everyone)."""
    if request.type not in GROUP_TYPES:
        allowed = ", ".join(sorted(t.value for t in GROUP_TYPES))
        raise _refused("type", f"a group message can be one of {allowed} (Meta's Groups API), not {request.type.value}")
    if request.type is MessageType.TEMPLATE:
        for component in content.get("components") or []:
            if isinstance(component, dict) and str(component.get("type", "")).lower() == "button":
                raise _refused(
                    "template.components",
                    "a template sent to a group has text and media only: Meta's Groups API takes no buttons",
                )


def _twilio(request: SendRequest, content: dict[str, Any]) -> None:
    kind = request.type
    if request.group:
        raise _refused("recipient_type", "Twilio does not send to WhatsApp groups")
    if kind not in TWILIO_TYPES:
        raise _refused(
            "type",
            f"Twilio cannot send {kind.value} messages; send buttons and lists as a Content template "
            "(template.content_sid)",
        )
    if request.reply_to is not None:
        raise _refused("context", "Twilio cannot send a message as a reply to another")
    if request.callback_data is not None:
        raise _refused("biz_opaque_callback_data", "Meta's callback data has no Twilio counterpart")
    if kind in _MEDIA and content.get("id") is not None:
        raise _refused(f"{kind.value}.id", "Twilio takes media by URL: give 'link' or 'wahub_media_id'")
    if kind is MessageType.DOCUMENT:
        for name in ("filename", "caption"):
            if content.get(name) is not None:
                raise _refused(
                    f"document.{name}",
                    "Twilio takes no filename or caption for a document: it sends the file alone",
                )
    if kind is MessageType.TEMPLATE and content.get("content_sid") is None:
        raise _refused(
            "template.content_sid",
            "a Twilio account sends templates as Content SIDs (HX…) with content_variables, not by name",
        )


def _refused(field: str, reason: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"{field}: {reason}", field=field)
