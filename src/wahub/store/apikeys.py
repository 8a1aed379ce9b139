"""API keys: shown once at creation, stored as SHA-256 (keys are 256-bit random, so a fast hash is enough)."""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store.models import ApiKey, utcnow

KEY_PREFIX = "wahub_"


class Scope(enum.StrEnum):
    """What a key (or a user's role, ``api/deps.py``) allows."""

    READ = "read"  # read messages, conversations, contacts, media, events, stats; link entities; mark read
    SEND = "send"  # send messages and upload media
    ADMIN = "admin"  # users, API keys, accounts, webhook subscriptions


ALL_SCOPES = frozenset(Scope)


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """The scopes named (all of them when none is)."""
    try:
        found = frozenset(Scope(name.strip().lower()) for name in names)
    except ValueError:
        raise errors.InvalidInput(f"scope: one of {', '.join(Scope)}", field="scope") from None
    return found or ALL_SCOPES


def scopes_of(row: ApiKey) -> frozenset[str]:
    return frozenset(row.scopes.split()) & ALL_SCOPES


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(session: AsyncSession, name: str, scopes: Iterable[Scope] = ALL_SCOPES) -> tuple[ApiKey, str]:
    """A new key allowing ``scopes``; returns the row and the plaintext key, which is never stored."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scopes=" ".join(sorted(set(scopes))))
    session.add(row)
    await session.flush()
    return row, key


async def authenticate(session: AsyncSession, key: str) -> ApiKey | None:
    """The live key matching ``key``, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    stmt = sa.select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    return (await session.scalars(stmt)).first()


async def live_ids(session: AsyncSession, key_hashes: set[str]) -> dict[str, int]:
    """The ids of the live keys among these hashes (``hash_key``), by hash."""
    if not key_hashes:
        return {}
    stmt = sa.select(ApiKey.key_hash, ApiKey.id).where(ApiKey.key_hash.in_(key_hashes), ApiKey.revoked_at.is_(None))
    return {row.key_hash: row.id for row in await session.execute(stmt)}


async def mark_used(session: AsyncSession, used: dict[str, datetime]) -> int:
    """Record when keys (by hash) were last used; an earlier time never replaces a later one."""
    count = 0
    for key_hash, at in used.items():
        stmt = (
            sa.update(ApiKey)
            .where(ApiKey.key_hash == key_hash, sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < at))
            .values(last_used_at=at)
        )
        count += int(getattr(await session.execute(stmt), "rowcount", 0) or 0)
    return count


async def revoke(session: AsyncSession, prefix: str) -> ApiKey:
    stmt = sa.select(ApiKey).where(ApiKey.prefix == prefix)
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise errors.NotFound(f"no API key with prefix {prefix}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(sa.select(ApiKey).order_by(ApiKey.id))).all())
