"""What bubbles show from other rows than their messages, read in one go for a page of them: each media file's
row (and its signed link), each quoted message (only from the same conversation: a reply never shows what
another conversation holds), and each sent template's text (from the account's templates).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import messages, templates
from wahub.store.models import Account, Contact, Media, Message
from wahub.web import contents, template_forms, views


async def extras(session: AsyncSession, found: Sequence[Message], sign: contents.Signer) -> dict[int, views.Extras]:
    """Each message's extras, by message id (messages with none are left out)."""
    files = await _media(session, found)
    quoted = await _quotes(session, found)
    texts = await _templates(session, found)
    made: dict[int, views.Extras] = {}
    for m in found:
        view = contents.media(m, files.get(m.media_id or 0), sign)
        quote, template = quoted.get(m.id), texts.get(m.id)
        if view is not None or quote is not None or template is not None:
            made[m.id] = views.Extras(media=view, quote=quote, template=template)
    return made


async def _media(session: AsyncSession, found: Sequence[Message]) -> dict[int, Media]:
    ids = {m.media_id for m in found if m.media_id is not None and m.type in contents.MEDIA_TYPES}
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(sa.select(Media).where(Media.id.in_(ids)))}


async def _quotes(session: AsyncSession, found: Sequence[Message]) -> dict[int, contents.Quote]:
    replies = [m for m in found if m.reply_to_wamid]
    if not replies:
        return {}
    originals = await messages.by_wamids(session, {(m.account_id, m.reply_to_wamid or "") for m in replies})
    contact_ids = {o.contact_id for o in originals.values() if o.direction == "inbound"}
    people = (
        {c.id: c for c in await session.scalars(sa.select(Contact).where(Contact.id.in_(contact_ids)))}
        if contact_ids
        else {}
    )
    quoted: dict[int, contents.Quote] = {}
    for m in replies:
        original = originals.get((m.account_id, m.reply_to_wamid or ""))
        if original is None or original.conversation_id != m.conversation_id:
            quoted[m.id] = contents.quote(None, "", "")
            continue
        contact = people.get(original.contact_id)
        who = "You" if original.direction == "outbound" else views.contact_name(contact) if contact else "Contact"
        quoted[m.id] = contents.quote(original, who, views.preview(original))
    return quoted


async def _templates(session: AsyncSession, found: Sequence[Message]) -> dict[int, template_forms.Filled]:
    sent = [m for m in found if m.type == "template" and isinstance(m.content, dict)]
    if not sent:
        return {}
    account_ids = {m.account_id for m in sent}
    wabas = dict(
        (await session.execute(sa.select(Account.id, Account.waba_id).where(Account.id.in_(account_ids))))
        .tuples()
        .all()
    )
    keys: dict[int, tuple[str, str, str]] = {}
    for m in sent:
        obj = m.content.get("template")
        waba_id = wabas.get(m.account_id)
        language = obj.get("language") if isinstance(obj, dict) else None
        code = language.get("code") if isinstance(language, dict) else None
        if waba_id and isinstance(obj, dict) and isinstance(obj.get("name"), str) and isinstance(code, str):
            keys[m.id] = (waba_id, obj["name"], code)
    rows = await templates.find_many(session, set(keys.values()))
    texts: dict[int, template_forms.Filled] = {}
    for m in sent:
        text = template_forms.filled(rows.get(keys[m.id]), m.content.get("template")) if m.id in keys else None
        if text is not None:
            texts[m.id] = text
    return texts
