"""Browser sessions' refresh tokens, in families: a login starts a family, and each use of its live token
rotates it, in the family, to a new one. Tokens are 256-bit random, so only their SHA-256 is stored (as API
keys').

A rotated token presented again means a copy exists: after ``REFRESH_GRACE`` the whole family is revoked (the
caller logs it). Within the grace window it is two requests of one browser that raced (two tabs refreshing at
once send the same cookie): the late one gets a new token of the family too, since the token the first one got
cannot be handed back (only its hash is kept). The family then has two live tokens, but only until one of
them is used: a rotation retires every live token of its family, so whichever copy is used after that, past the
grace window, revokes the family, as if the family had never branched.

Rotations of one user's sessions take turns on the user's row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serializes writers anyway), so two requests presenting one token at once are the rotation and the grace
refresh, never two rotations each retiring the other's token. Logging out takes the same turn.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store.models import RefreshToken, User, utcnow

REFRESH_LIFETIME = timedelta(days=30)
# How long a rotated token still renews its session: long enough for the requests a browser sent at once.
REFRESH_GRACE = timedelta(seconds=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(session: AsyncSession, user_id: int, family_id: str | None = None, now: datetime | None = None) -> str:
    """A new refresh token for ``user_id``, in ``family_id`` (a new family: a new login)."""
    token = secrets.token_urlsafe(32)
    now = now or utcnow()
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id or secrets.token_hex(16),
            token_hash=_hash(token),
            created_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True, slots=True)
class Rotated:
    """What a refresh token turned into: the user and a new token (``grace``: the token was rotated a moment
    ago, by a request that raced this one), or no session (``reused``: its family was revoked)."""

    user: User | None
    token: str | None
    reused: bool = False
    grace: bool = False
    family_id: str | None = None


async def _take_turn(session: AsyncSession, token: str) -> RefreshToken | None:
    """The token's row as it stands once this transaction holds its user's row, so that what another rotation
    committed meanwhile is seen (a fresh statement: READ COMMITTED on PostgreSQL)."""
    stmt = sa.select(RefreshToken.user_id).where(RefreshToken.token_hash == _hash(token))
    user_id = (await session.scalars(stmt)).first()
    if user_id is None:
        return None
    await session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())
    fresh = sa.select(RefreshToken).where(RefreshToken.token_hash == _hash(token))
    return (await session.scalars(fresh.execution_options(populate_existing=True))).first()


async def rotate(session: AsyncSession, token: str, now: datetime | None = None) -> Rotated:
    """Trade a refresh token for a new one of its family: a live one (which retires every live token of the
    family), or one rotated at most ``REFRESH_GRACE`` ago. One rotated before that revokes its family."""
    now = now or utcnow()
    row = await _take_turn(session, token)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return Rotated(None, None)
    if row.rotated_at is not None and now - row.rotated_at > REFRESH_GRACE:
        await _revoke_family(session, row.family_id, now)
        return Rotated(None, None, reused=True, family_id=row.family_id)
    user = await session.get(User, row.user_id, populate_existing=True)
    if user is None or user.disabled_at is not None:
        return Rotated(None, None)
    grace = row.rotated_at is not None
    if not grace:
        retire = sa.update(RefreshToken).where(
            RefreshToken.family_id == row.family_id,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        await session.execute(retire.values(rotated_at=now))
    new = await issue(session, user.id, row.family_id, now)
    return Rotated(user, new, grace=grace, family_id=row.family_id)


async def _revoke_family(session: AsyncSession, family_id: str, now: datetime | None = None) -> None:
    stmt = (
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    await session.execute(stmt)


async def end_family(session: AsyncSession, token: str) -> None:
    """Log out: revoke the family of this refresh token (whatever its state), after any rotation of it under
    way, so that none issues a token the revocation misses."""
    row = await _take_turn(session, token)
    if row is not None:
        await _revoke_family(session, row.family_id)


async def revoke_all(session: AsyncSession, user_id: int) -> None:
    """End every session of the user (disabled, or a new password)."""
    stmt = (
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.execute(stmt)
