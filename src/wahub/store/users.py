"""Users (``admin``, ``agent``) and their browser sessions' refresh tokens.

Passwords are Argon2id hashes (argon2-cffi's defaults); a login for an unknown email verifies a dummy hash, so
its answer takes as long as a wrong password's. Refresh tokens are 256-bit random, so their SHA-256 is stored
(as API keys'). Each use rotates a token to a new one of the same family; a rotated token used again means a
copy was stolen, so the whole family is revoked and the caller logs it.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store.models import RefreshToken, User, utcnow

REFRESH_LIFETIME = timedelta(days=30)
MIN_PASSWORD = 10


class UserRole(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # Argon2id


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or len(email) > 320 or any(c.isspace() for c in email):
        raise errors.InvalidInput("email: not an email address", field="email")
    return email


def new_password() -> str:
    """A one-time password to hand over (about 96 bits)."""
    return secrets.token_urlsafe(12)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise errors.InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
    return _hasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def add(session: AsyncSession, email: str, name: str, role: str, password: str) -> User:
    email = normalize_email(email)
    if role not in set(UserRole):
        raise errors.InvalidInput(f"role: one of {', '.join(UserRole)}", field="role")
    name = name.strip() or email.partition("@")[0]
    if len(name) > 100:
        raise errors.InvalidInput("name: at most 100 characters", field="name")
    if await find(session, email) is not None:
        raise errors.Conflict(f"a user with email {email} exists")
    user = User(email=email, name=name, role=role, password_hash=hash_password(password))
    session.add(user)
    await session.flush()
    return user


async def find(session: AsyncSession, email: str) -> User | None:
    stmt = sa.select(User).where(User.email == email.strip().lower())
    return (await session.scalars(stmt)).first()


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(sa.select(User).order_by(User.id))).all())


async def _named(session: AsyncSession, email: str) -> User:
    user = await find(session, email)
    if user is None:
        raise errors.NotFound(f"no user with email {email.strip().lower()}")
    return user


async def disable(session: AsyncSession, email: str) -> User:
    """Disable a user: no login from now on, and every session of theirs is revoked."""
    user = await _named(session, email)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    await _revoke_all(session, user.id)
    return user


async def reset_password(session: AsyncSession, email: str, password: str) -> User:
    """Set a new password and revoke every session of the user."""
    user = await _named(session, email)
    user.password_hash = hash_password(password)
    await _revoke_all(session, user.id)
    return user


async def password_matches(user: User | None, password: str) -> bool:
    """Whether ``user`` is enabled and ``password`` is theirs. Verified in a thread (Argon2 takes tens of ms of
    CPU), and against a dummy hash when there is no such user, so the answer takes as long either way."""
    if user is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        return False
    matches = await asyncio.to_thread(_verify, user.password_hash, password)
    return matches and user.disabled_at is None


async def record_login(session: AsyncSession, user_id: int) -> str:
    """Note the login and start a session: returns its first refresh token."""
    await session.execute(sa.update(User).where(User.id == user_id).values(last_login_at=utcnow()))
    return await issue_refresh(session, user_id)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_refresh(session: AsyncSession, user_id: int, family_id: str | None = None) -> str:
    """A new refresh token for ``user_id``, in ``family_id`` (a new family: a new login)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id or secrets.token_hex(16),
            token_hash=_hash_token(token),
            created_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True, slots=True)
class Rotated:
    """What a refresh token turned into: the user and a new token, or ``reused`` (its family was revoked)."""

    user: User | None
    token: str | None
    reused: bool = False
    family_id: str | None = None


async def rotate(session: AsyncSession, token: str, now: datetime | None = None) -> Rotated:
    """Trade a live refresh token for a new one of its family. A token rotated before revokes its family."""
    now = now or utcnow()
    stmt = sa.select(RefreshToken).where(RefreshToken.token_hash == _hash_token(token)).with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return Rotated(None, None)
    if row.rotated_at is not None:
        await revoke_family(session, row.family_id)
        return Rotated(None, None, reused=True, family_id=row.family_id)
    user = await session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return Rotated(None, None)
    # Only the first of two racing rotations wins: the other finds the row rotated (reuse).
    won = await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    if not getattr(won, "rowcount", 0):
        await revoke_family(session, row.family_id)
        return Rotated(None, None, reused=True, family_id=row.family_id)
    return Rotated(user, await issue_refresh(session, user.id, row.family_id), family_id=row.family_id)


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    stmt = (
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.execute(stmt)


async def revoke_token_family(session: AsyncSession, token: str) -> None:
    """Log out: revoke the family of this refresh token (whatever its state)."""
    stmt = sa.select(RefreshToken.family_id).where(RefreshToken.token_hash == _hash_token(token))
    family_id = (await session.scalars(stmt)).first()
    if family_id is not None:
        await revoke_family(session, family_id)


async def _revoke_all(session: AsyncSession, user_id: int) -> None:
    stmt = (
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.execute(stmt)
