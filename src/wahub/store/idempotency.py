"""``Idempotency-Key`` on sends: the same key with the same body returns the first result, never a second send;
the same key with another body is a conflict. Keys belong to the API key that used them, and are recorded in
the transaction that queues the message, so a key exists exactly when its message does."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store.models import IdempotencyKey

KEY_MAX = 255


def request_hash(body: Any) -> str:
    """A digest of a request body that ignores key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replayed(session: AsyncSession, api_key_id: int, key: str, digest: str) -> int | None:
    """The message queued under ``key`` before, or None if the key is new. Raises ``Conflict`` when the key
    was used with another body."""
    stmt = sa.select(IdempotencyKey).where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
    found = (await session.scalars(stmt)).first()
    if found is None:
        return None
    if found.request_hash != digest:
        raise errors.IdempotencyConflict("this Idempotency-Key was already used with a different request body", key=key)
    return found.message_id


def remember(session: AsyncSession, api_key_id: int, key: str, digest: str, message_id: int) -> None:
    session.add(IdempotencyKey(api_key_id=api_key_id, key=key, request_hash=digest, message_id=message_id))
