"""Media: one row per provider media id and account, created when a message names it (state ``pending``);
the media worker downloads it into storage."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.store import upsert
from wahub.store.keys import pairs_in as keys_in
from wahub.store.models import Media, utcnow

PENDING = "pending"


async def register_many(
    session: AsyncSession, refs: Sequence[tuple[int, domain.MediaRef]]
) -> dict[tuple[int, str], int]:
    """Media rows for (account_id, ref) pairs, created once; returns their ids by (account_id, media id)."""
    if not refs:
        return {}
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "provider_media_id": ref.media_id,
            "mime_type": ref.mime_type,
            "sha256": ref.sha256,
            "filename": (ref.filename or "")[:512] or None,
            "size": None,
            "state": PENDING,
            "storage_key": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
        }
        for account_id, ref in {(a, r.media_id): (a, r) for a, r in refs}.values()
    ]
    await upsert.insert_ignore_many(session, Media.__table__, rows)  # type: ignore[arg-type]
    keys = {(a, r.media_id) for a, r in refs}
    stmt = sa.select(Media.id, Media.account_id, Media.provider_media_id).where(
        keys_in(Media.account_id, Media.provider_media_id, keys)
    )
    return {(row.account_id, row.provider_media_id): row.id for row in await session.execute(stmt)}
