"""Users (``admin``, ``agent``); their browser sessions' refresh tokens are ``store/refresh_tokens.py``'s.

Passwords are Argon2id hashes (argon2-cffi's defaults); a login for an unknown email verifies a dummy hash, so
its answer takes as long as a wrong password's.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import db, refresh_tokens
from wahub.store.models import User, utcnow

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
    taken = errors.Conflict(f"a user with email {email} exists")
    if await find(session, email) is not None:
        raise taken
    user = User(email=email, name=name, role=role, password_hash=hash_password(password))
    session.add(user)
    await db.flush_unique(session, taken)  # a form sent twice at once: both looks found none
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
    await refresh_tokens.revoke_all(session, user.id)
    return user


async def enable(session: AsyncSession, email: str) -> User:
    """Let a disabled user log in again (their old sessions stay revoked)."""
    user = await _named(session, email)
    user.disabled_at = None
    return user


async def reset_password(session: AsyncSession, email: str, password: str) -> User:
    """Set a new password and revoke every session of the user."""
    user = await _named(session, email)
    user.password_hash = hash_password(password)
    await refresh_tokens.revoke_all(session, user.id)
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
    return await refresh_tokens.issue(session, user_id)
