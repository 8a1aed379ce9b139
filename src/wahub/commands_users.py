"""The work of ``wahub user`` (``cli/user.py``): users who log in to the inbox, in the database of the settings."""

from __future__ import annotations

from wahub import commands, config
from wahub.store import users
from wahub.store.models import User


async def add(settings: config.Settings, email: str, name: str, role: str, password: str | None) -> tuple[User, str]:
    """Add a user with ``password``, or a one-time password made here; returns the user and the password."""
    password = password or users.new_password()
    async with commands.opened(settings) as store, store.transaction() as session:
        user = await users.add(session, email, name, role, password)
    return user, password


async def list_all(settings: config.Settings) -> list[User]:
    async with commands.opened(settings) as store, store.transaction() as session:
        return await users.list_users(session)


async def disable(settings: config.Settings, email: str) -> User:
    async with commands.opened(settings) as store, store.transaction() as session:
        return await users.disable(session, email)


async def reset_password(settings: config.Settings, email: str, password: str | None) -> tuple[User, str]:
    """Set ``password`` (or a one-time one made here) and end the user's sessions."""
    password = password or users.new_password()
    async with commands.opened(settings) as store, store.transaction() as session:
        user = await users.reset_password(session, email, password)
    return user, password
