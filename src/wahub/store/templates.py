"""Message templates: the ones Meta approved for a WhatsApp Business Account, as Meta describes them.

Rows are kept current by template webhooks (``account_events.py``) and written whole from Meta's template
objects (``GET /{waba_id}/message_templates``: name, language, status, category, components) by ``upsert_many``,
which the sandbox uses for fakegraph's templates. ``components`` keeps Meta's list as given (``HEADER``,
``BODY``, ``FOOTER``, ``BUTTONS``); what reads them must take any shape (a webhook may have written another).
https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store.models import Template, utcnow

APPROVED = "APPROVED"


async def approved(session: AsyncSession, waba_id: str) -> list[Template]:
    """The account's approved templates, by name and language."""
    stmt = (
        sa.select(Template)
        .where(Template.waba_id == waba_id, Template.status == APPROVED)
        .order_by(Template.name, Template.language)
    )
    return list((await session.scalars(stmt)).all())


async def find_many(session: AsyncSession, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], Template]:
    """The templates these (waba_id, name, language) triples name, whatever their status."""
    if not keys:
        return {}
    found: dict[tuple[str, str, str], Template] = {}
    for waba_id in {k[0] for k in keys}:
        names = {k[1] for k in keys if k[0] == waba_id}
        stmt = sa.select(Template).where(Template.waba_id == waba_id, Template.name.in_(names))
        for row in await session.scalars(stmt):
            if (waba_id, row.name, row.language) in keys:
                found[(waba_id, row.name, row.language)] = row
    return found


async def upsert_many(session: AsyncSession, waba_id: str, items: Iterable[Mapping[str, Any]]) -> int:
    """Write Meta's template objects for ``waba_id`` (one row per name and language, replaced whole); objects
    without a name or language are skipped. Returns how many were written."""
    written = 0
    for item in items:
        name, language = _text(item.get("name"), 512), _text(item.get("language"), 16)
        if not name or not language:
            continue
        stmt = sa.select(Template).where(
            Template.waba_id == waba_id, Template.name == name, Template.language == language
        )
        row = (await session.scalars(stmt)).first()
        if row is None:
            row = Template(waba_id=waba_id, name=name, language=language)
            session.add(row)
        components = item.get("components")
        row.provider_template_id = _text(item.get("id"), 64)
        row.status = _text(item.get("status"), 32)
        row.category = _text(item.get("category"), 32)
        row.reason = _text(item.get("rejected_reason"), 10_000)
        row.components = list(components) if isinstance(components, list) else None
        row.updated_at = utcnow()
        written += 1
    return written


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:limit] or None
