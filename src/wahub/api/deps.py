"""Dependencies of the API routes, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api.context import AppContext
from wahub.store import apikeys


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


async def reader(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    """A read-only session for GETs (on SQLite it takes no write lock)."""
    async with ctx.readers() as session, session.begin():
        yield session


ReadSession = Annotated[AsyncSession, Depends(reader)]


async def require_api_key(request: Request, ctx: Ctx) -> int:
    """The id of the API key in ``Authorization: Bearer <key>``; 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise errors.Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    async with ctx.readers() as session, session.begin():
        row = await apikeys.authenticate(session, key.strip())
    if row is None:
        raise errors.Unauthorized("the API key is not valid or was revoked")
    return row.id


ApiKeyId = Annotated[int, Depends(require_api_key)]
