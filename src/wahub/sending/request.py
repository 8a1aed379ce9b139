"""What a client asks to send, as a domain value: built by ``POST /api/v1/messages`` and by ``wahub send``
(both through the API's schema, ``api/schemas/send.py``, which checks the body against Meta's limits) and queued
by ``sending/service.py``. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wahub.domain import MessageType


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message to send. ``content`` is the type's object exactly as the client wrote it (nothing added, so the
    JSON Meta receives is the JSON the client sent); ``to`` is E.164 digits or a wa_id, or a group's id when
    ``group``."""

    to: str
    type: MessageType
    content: Any  # an object; for ``contacts``, a list of them
    group: bool = False
    sender: str | None = None  # the phone_number_id to send from; None: the default account
    reply_to: str | None = None  # the wamid answered (Meta's ``context.message_id``)
    callback_data: str | None = None  # Meta's ``biz_opaque_callback_data``, given back in the message's statuses
    entities: tuple[tuple[str, str], ...] = ()  # (entity_type, entity_id) of other systems to link it to
    send_at: datetime | None = None  # held in the outbox until then (aware); None or past: now

    @property
    def free_form(self) -> bool:
        """True for a person's non-template messages: these need the customer-service window to be open. A group
        has no such window in Meta's Groups API."""
        return self.type is not MessageType.TEMPLATE and not self.group

    @property
    def uploaded_file(self) -> int | None:
        """The id of the file uploaded to wahub that it sends (``wahub_media_id``), if it sends one."""
        value = self.content.get("wahub_media_id") if isinstance(self.content, dict) else None
        return value if isinstance(value, int) else None
