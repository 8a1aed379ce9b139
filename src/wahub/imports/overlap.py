"""Where a chat export overlaps what wahub holds already: its entries matched to the conversation's messages
that came live (webhooks, echoes, messages sent through wahub) or from coexistence history.

Such a message has Meta's wamid and a time in seconds; the export's copy has neither, only the phone's local
minute and the text as the phone wrote it. So an entry is the stored message of the same direction, the same
minute (in UTC: the export's zone applied, the stored time truncated), and the same content: the text compared
without invisible marks and with whitespace as one space (``domain.comparable``); for media the same kind
and, when both have one, the same SHA-256, else the same caption. Equal messages of one minute pair up one to
one in order: two "ok" in the export and one stored, the first is matched and the second added.

A matched entry is not stored (the import reports it as matched); it gets no ``import_key`` row, so importing
the export again matches it again. Only messages not imported are matched: imported ones are the
``import_key``'s business.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.domain import comparable
from wahub.imports.chat_export import Kind
from wahub.store import messages
from wahub.store.models import Media, Message

MINUTE = timedelta(minutes=1)
PAGE = 1000  # stored messages read per query
MEDIA = ("image", "video", "audio", "document", "sticker")


@dataclass(frozen=True, slots=True)
class Wanted:
    """One entry as it is compared: ``kind`` is ``text`` or a media kind; ``file`` the attachment to hash."""

    direction: str
    minute: datetime  # UTC
    kind: str
    text: str  # comparable
    file: str | None = None


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    text: str  # comparable: the body, or the caption
    sha256: str | None


@dataclass(slots=True)
class Matcher:
    """Stored messages of one conversation paired with entries so far. Kept across chunks: a chunk may begin in
    the minute the one before ended in, and a stored message pairs with one entry only."""

    conversation_id: int
    used: dict[int, datetime] = field(default_factory=dict)  # stored id -> its minute

    async def read(
        self, session: AsyncSession, wanted: Sequence[Wanted | None]
    ) -> dict[tuple[str, datetime, str], list[_Stored]]:
        """The conversation's messages not imported, within the minutes ``wanted`` spans, by (direction, minute,
        kind) in time order: a page of ``PAGE`` per query, keyed on (time, id), so one query for most chunks."""
        minutes = [w.minute for w in wanted if w is not None]
        found: dict[tuple[str, datetime, str], list[_Stored]] = defaultdict(list)
        if not minutes:
            return found
        first, end = min(minutes), max(minutes) + MINUTE
        self.used = {i: m for i, m in self.used.items() if m >= first}
        when = messages.happened_at()
        stmt = (
            sa.select(Message.id, Message.direction, Message.type, Message.content, when, Media.sha256)
            .outerjoin(Media, Media.id == Message.media_id)
            .where(
                Message.conversation_id == self.conversation_id,
                Message.imported.is_(False),
                Message.type.in_(("text", *MEDIA)),
                when >= first,
                when < end,
            )
            .order_by(when, Message.id)
            .limit(PAGE)
        )
        after: tuple[datetime, int] | None = None
        while True:
            if after is None:
                page = stmt
            else:  # the column's type binds the time (UTC), which a tuple of values would not
                at, last = after
                page = stmt.where(sa.or_(when > at, sa.and_(when == at, Message.id > last)))
            rows = (await session.execute(page)).all()
            for mid, direction, kind, content, at, sha in rows:
                if mid not in self.used:
                    minute = at.replace(second=0, microsecond=0)
                    found[(direction, minute, kind)].append(_Stored(mid, _text(kind, content), sha))
            if len(rows) < PAGE:
                return found
            after = (rows[-1][4], rows[-1][0])

    async def match(
        self,
        wanted: Sequence[Wanted | None],
        stored: dict[tuple[str, datetime, str], list[_Stored]],
        sha256_of: Callable[[str], Awaitable[str | None]],
    ) -> list[bool]:
        """Which of ``wanted`` (in order) are stored already; ``sha256_of(file)`` hashes an attachment of the
        export (None: not in it), asked only when a stored message of its kind and minute has a hash."""
        out = []
        for w in wanted:
            hit = None
            if w is not None:
                for s in stored.get((w.direction, w.minute, w.kind), []):
                    if s.id not in self.used and await _same(w, s, sha256_of):
                        hit = s
                        break
            if hit is not None and w is not None:
                self.used[hit.id] = w.minute
            out.append(hit is not None)
        return out


def wanted(
    kind: Kind, text: str, media_kind: str | None, file: str | None, direction: str, at: datetime
) -> Wanted | None:
    """An entry as compared (``at`` in UTC), or None for one no live message can be: system lines, deleted
    messages and media left out of the export."""
    if kind is not Kind.MESSAGE:
        return None
    minute = at.replace(second=0, microsecond=0)
    return Wanted(direction, minute, media_kind or "text", comparable(text), file)


async def _same(w: Wanted, s: _Stored, sha256_of: Callable[[str], Awaitable[str | None]]) -> bool:
    if w.kind != "text" and s.sha256 is not None and w.file is not None:
        mine = await sha256_of(w.file)
        if mine is not None:
            return mine == s.sha256
    return w.text == s.text


def _text(kind: str, content: dict[str, Any] | None) -> str:
    body = (content or {}).get(kind)
    if not isinstance(body, dict):
        return ""
    value = body.get("body" if kind == "text" else "caption")
    return comparable(value) if isinstance(value, str) else ""
