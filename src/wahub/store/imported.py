"""Imported messages (read from a chat export, ``imports/chat_importer.py``) that a history or echo message
arriving later turns out to be: the same conversation, direction, minute (UTC) and content (text compared by
``domain.comparable``; media by kind and caption, since a history medium is not fetched yet). The imported row
takes the message's wamid, instead of a second row for it. ``imports/overlap.py`` is the other way round."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.domain import comparable
from wahub.store.models import Message

MINUTE = timedelta(minutes=1)
MEDIA = ("image", "video", "audio", "document", "sticker")


@dataclass(frozen=True, slots=True)
class Arriving:
    """A message about to be stored, as compared with imported ones."""

    conversation_id: int
    direction: str
    at: datetime
    type: str
    content: dict[str, Any]


def can_be_imported(type_: str) -> bool:
    return type_ == "text" or type_ in MEDIA


async def matching(session: AsyncSession, arriving: Sequence[Arriving]) -> list[Message | None]:
    """For each of ``arriving`` (in order), the imported message without a wamid that it is, or None; each
    imported message pairs once. One query: the conversations' imported rows within the minutes spanned."""
    if not arriving:
        return []
    minutes = [a.at.replace(second=0, microsecond=0) for a in arriving]
    stmt = (
        sa.select(Message)
        .where(
            Message.conversation_id.in_({a.conversation_id for a in arriving}),
            Message.imported.is_(True),
            Message.wamid.is_(None),
            Message.provider_timestamp >= min(minutes),
            Message.provider_timestamp < max(minutes) + MINUTE,
        )
        .order_by(Message.provider_timestamp, Message.id)
        # Another processor taking one of these over now holds it: skipped, not overwritten after it commits
        # (that would lose its message); ours is then stored as a row of its own.
        .with_for_update(skip_locked=True)
    )
    pool: dict[tuple[Any, ...], list[Message]] = defaultdict(list)
    for row in await session.scalars(stmt):
        if row.provider_timestamp is not None:
            pool[_key(row.conversation_id, row.direction, row.provider_timestamp, row.type, row.content)].append(row)
    found: list[Message | None] = []
    for a, minute in zip(arriving, minutes, strict=True):
        rows = pool.get(_key(a.conversation_id, a.direction, minute, a.type, a.content))
        found.append(rows.pop(0) if rows else None)
    return found


def _key(
    conversation_id: int, direction: str, at: datetime, type_: str, content: dict[str, Any] | None
) -> tuple[Any, ...]:
    body = (content or {}).get(type_)
    value = body.get("body" if type_ == "text" else "caption") if isinstance(body, dict) else None
    text = comparable(value) if isinstance(value, str) else ""
    return (conversation_id, direction, at.replace(second=0, microsecond=0), type_, text)
