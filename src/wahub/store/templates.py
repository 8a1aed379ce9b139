"""Message templates: the ones Meta approved for a WhatsApp Business Account, as Meta describes them.

Rows are kept current by template webhooks (``account_events.py``) and written whole from Meta's template
objects (``GET /{waba_id}/message_templates``: name, language, status, category, components) by ``upsert_many``,
which the sandbox uses for fakegraph's templates. ``components`` keeps Meta's list as given (``HEADER``,
``BODY``, ``FOOTER``, ``BUTTONS``); what reads them must take any shape (a webhook may have written another).
https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import upsert
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


async def locked(session: AsyncSession, waba_id: str, name: str, language: str) -> Template:
    """The template row of this name and language, made if missing, locked until the transaction ends. The API's
    new template, a sync and the processor's template webhooks may write one row at once on PostgreSQL: a second
    insert waits for the first to commit and does nothing, and each change is made to what the last committed."""
    keys = {"waba_id": waba_id, "name": name, "language": language}
    where = (Template.waba_id == waba_id, Template.name == name, Template.language == language)
    row, _ = await upsert.locked_row(session, Template, keys, *where)
    return row


async def upsert_many(session: AsyncSession, waba_id: str, items: Iterable[Mapping[str, Any]]) -> int:
    """Write Meta's template objects for ``waba_id`` (one row per name and language, replaced whole); objects
    without a name or language are skipped. Returns how many were written."""
    written = 0
    keyed = [(_text(item.get("name"), 512), _text(item.get("language"), 16), item) for item in items]
    for name, language, item in sorted(keyed, key=lambda k: (k[0] or "", k[1] or "")):  # rows locked in one order
        if not name or not language:
            continue
        row = await locked(session, waba_id, name, language)
        components = item.get("components")
        row.provider_template_id = _text(item.get("id"), 64)
        row.status = _text(item.get("status"), 32)
        row.category = _text(item.get("category"), 32)
        row.reason = _text(item.get("rejected_reason"), 10_000)
        row.components = list(components) if isinstance(components, list) else None
        quality = item.get("quality_score")
        if isinstance(quality, dict) and quality.get("score") is not None:
            row.quality = _text(quality.get("score"), 32)
        row.updated_at = utcnow()
        written += 1
    return written


async def replace_all(session: AsyncSession, waba_id: str, items: Sequence[Mapping[str, Any]]) -> int:
    """Make ``waba_id``'s templates exactly Meta's full list ``items``: each written whole, and the ones Meta
    no longer has (deleted in Business Manager) forgotten. Returns how many were written."""
    written = await upsert_many(session, waba_id, items)
    keep = {(str(i.get("name")), str(i.get("language"))) for i in items}
    stmt = sa.select(Template).where(Template.waba_id == waba_id)
    for row in (await session.scalars(stmt)).all():
        if (row.name, row.language) not in keep:
            await session.delete(row)
    return written


def listing(
    waba_ids: list[str],
    *,
    name: str | None = None,
    status: str | None = None,
    language: str | None = None,
    category: str | None = None,
) -> sa.Select[tuple[Template]]:
    """The statement listing these WABAs' templates, filtered (``name``: a part of it, any case)."""
    stmt = sa.select(Template).where(Template.waba_id.in_(waba_ids))
    if name:
        stmt = stmt.where(sa.func.lower(Template.name).contains(name.lower(), autoescape=True))
    if status:
        stmt = stmt.where(Template.status == status.upper())
    if language:
        stmt = stmt.where(Template.language == language)
    if category:
        stmt = stmt.where(Template.category == category.upper())
    return stmt


async def named(session: AsyncSession, waba_id: str, name: str) -> list[Template]:
    """The templates called ``name`` (one per language)."""
    stmt = sa.select(Template).where(Template.waba_id == waba_id, Template.name == name).order_by(Template.language)
    return list((await session.scalars(stmt)).all())


async def find(session: AsyncSession, waba_id: str, name: str, language: str) -> Template | None:
    stmt = sa.select(Template).where(Template.waba_id == waba_id, Template.name == name, Template.language == language)
    return (await session.scalars(stmt)).first()


async def forget(session: AsyncSession, rows: Iterable[Template]) -> None:
    """Forget these templates (Meta deleted them)."""
    for row in rows:
        await session.delete(row)


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:limit] or None
