"""What the composer offers beyond free text, read through the store with ``api/visibility`` applied: the
templates a conversation's account may send (its WhatsApp Business Account's approved ones), and the file
types and sizes WhatsApp takes (``domain.MEDIA_TYPES``, handed to the page so it checks a file before
uploading it, by the same table the upload route checks it with).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.api import visibility
from wahub.api.deps import Principal
from wahub.storage import uploads
from wahub.store import conversations, templates
from wahub.store.models import Account
from wahub.web import template_forms


@dataclass(frozen=True, slots=True)
class Picker:
    conversation_id: int
    choices: list[template_forms.Choice]
    without_text: int  # approved templates wahub has no text of (not offered)


async def template_picker(session: AsyncSession, principal: Principal, conversation_id: int) -> Picker:
    """The approved templates of the conversation's account (``NotFound`` as for the conversation)."""
    await visibility.check_conversation(session, principal, conversation_id)
    conversation = await conversations.get(session, conversation_id)
    account = await session.get(Account, conversation.account_id)
    rows = await templates.approved(session, account.waba_id) if account is not None and account.waba_id else []
    made = [template_forms.choice(row) for row in rows]
    choices = [c for c in made if c is not None]
    return Picker(conversation_id, choices, len(made) - len(choices))


def media_limits() -> dict[str, object]:
    """For the page's script: each MIME type WhatsApp takes, the message type it is sent as and its largest
    size in bytes; and the types file name extensions stand for (a browser gives an unknown file no type)."""
    types = {mime: {"as": uploads.kind_of(mime), "max": limit} for mime, (_kinds, limit) in domain.MEDIA_TYPES.items()}
    return {"types": types, "extensions": dict(domain.MEDIA_EXTENSIONS)}


def media_accept() -> str:
    """The file picker's ``accept``: WhatsApp's MIME types and their file name extensions."""
    return ",".join([*sorted(domain.MEDIA_TYPES), *sorted(domain.MEDIA_EXTENSIONS)])
