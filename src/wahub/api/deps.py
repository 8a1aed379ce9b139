"""Dependencies of the API routes, as ``Annotated`` aliases."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api.context import AppContext
from wahub.api.schemas import ENTITY_ID, ENTITY_TYPE
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


# Declares the API key in the OpenAPI document (Swagger UI's "Authorize"); ``_bearer`` reads the header itself.
_API_KEY = HTTPBearer(auto_error=False, scheme_name="apiKey", description="an API key: `wahub apikey create`")
DeclaredKey = Annotated[HTTPAuthorizationCredentials | None, Depends(_API_KEY)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise errors.Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return key.strip()


async def require_api_key(request: Request, ctx: Ctx, _declared: DeclaredKey = None) -> int:
    """The id of the API key in ``Authorization: Bearer <key>``; 401 without a valid one, 429 for an address
    shut out after too many wrong keys."""
    _not_shut_out(request, ctx)
    return await _authenticated(request, ctx)


async def _authenticated(request: Request, ctx: AppContext) -> int:
    key = _bearer(request)
    async with ctx.readers() as session, session.begin():
        row = await apikeys.authenticate(session, key)
    if row is None:
        ctx.failed_keys.failed(_address(request))
        raise errors.Unauthorized("the API key is not valid or was revoked")
    _within_rate(ctx, row.key_hash)
    ctx.intake.seen_live(row.key_hash)
    return row.id


def _address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _not_shut_out(request: Request, ctx: AppContext) -> None:
    if (wait := ctx.failed_keys.retry_after(_address(request))) > 0:
        raise errors.TooManyRequests(
            f"too many wrong API keys from this address; retry in {math.ceil(wait)} s", retry_after=wait
        )


def _within_rate(ctx: AppContext, key_hash: str) -> None:
    ctx.key_usage.seen(key_hash)
    if (wait := ctx.limiter.wait(key_hash)) > 0:
        raise errors.TooManyRequests(
            f"this API key is over its rate limit ({ctx.limiter.rate} requests per second); retry in {wait:.2f} s",
            retry_after=wait,
        )


ApiKeyId = Annotated[int, Depends(require_api_key)]


async def require_sending_key(request: Request, ctx: Ctx, _declared: DeclaredKey = None) -> str:
    """The hash of the API key of a send: a key this process saw live passes here without a query, and the
    send's own transaction checks it again (``api/intake.py``), so a revoked key is refused all the same; any
    other key is checked now (401 before the body is looked at)."""
    _not_shut_out(request, ctx)
    key_hash = apikeys.hash_key(_bearer(request))
    if ctx.intake.known_live(key_hash):
        _within_rate(ctx, key_hash)
    else:
        await _authenticated(request, ctx)
    return key_hash


SendingKey = Annotated[str, Depends(require_sending_key)]


EntityType = Annotated[
    str | None, Query(pattern=ENTITY_TYPE, description="only those linked to this entity (with entity_id)")
]
EntityId = Annotated[str | None, Query(pattern=ENTITY_ID, description="the entity's id (with entity_type)")]
RequiredEntityType = Annotated[str, Query(pattern=ENTITY_TYPE, description="the entity's type")]
RequiredEntityId = Annotated[str, Query(pattern=ENTITY_ID, description="the entity's id")]


def entity_filter(entity_type: str | None, entity_id: str | None) -> tuple[str, str] | None:
    """The entity a list is filtered by: both parameters, or neither."""
    if entity_type is None and entity_id is None:
        return None
    if entity_type is None or entity_id is None:
        missing = "entity_type" if entity_type is None else "entity_id"
        raise errors.InvalidInput(f"{missing}: give entity_type and entity_id together", field=missing)
    return (entity_type, entity_id)
