"""Dependencies of the API routes, as ``Annotated`` aliases."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api import sessions
from wahub.api.context import AppContext
from wahub.api.schemas import ENTITY_ID, ENTITY_TYPE
from wahub.store import apikeys, users
from wahub.store.apikeys import Scope
from wahub.store.users import UserRole


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


async def reader(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    """A read-only session for GETs (on SQLite it takes no write lock)."""
    async with ctx.readers() as session, session.begin():
        yield session


ReadSession = Annotated[AsyncSession, Depends(reader)]


# Declared in the OpenAPI document (Swagger UI's "Authorize"); ``principal`` reads the header and cookie itself.
_API_KEY = HTTPBearer(auto_error=False, scheme_name="apiKey", description="an API key: `wahub apikey create`")
_SESSION = APIKeyCookie(
    name=sessions.ACCESS_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="a user's session, set by `POST /api/v1/auth/login`; state-changing requests also need the "
    f"`{sessions.CSRF_HEADER}` header with the value of the `{sessions.CSRF_COOKIE}` cookie",
)
DeclaredKey = Annotated[HTTPAuthorizationCredentials | None, Depends(_API_KEY)]
DeclaredSession = Annotated[str | None, Depends(_SESSION)]


USER_SCOPES = {
    UserRole.ADMIN.value: frozenset(Scope),
    UserRole.AGENT.value: frozenset({Scope.READ, Scope.SEND}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: an API key (``kind="key"``) or a signed-in user (``kind="user"``)."""

    kind: Literal["key", "user"]
    id: int
    role: str  # a user's role; "key" for an API key
    scopes: frozenset[str]
    key_hash: str | None = None  # an API key's hash (``apikeys.hash_key``)

    @property
    def sees_every_conversation(self) -> bool:
        """Keys and admins see every conversation; an agent, those assigned to them or to nobody."""
        return self.kind == "key" or self.role == UserRole.ADMIN


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise errors.Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return key.strip()


async def _principal(request: Request, ctx: AppContext, *, sending: bool) -> Principal:
    if "authorization" in request.headers or sessions.ACCESS_COOKIE not in request.cookies:
        _not_shut_out(request, ctx)
        key_hash = apikeys.hash_key(_bearer(request))
        known = ctx.known_keys.get(key_hash)
        # A send by a key this process saw live passes without a query: the send's own transaction checks it again
        # (``api/intake.py``), so a revoked key is refused all the same.
        if sending and known is not None and ctx.intake.known_live(key_hash):
            ctx.key_usage.seen(key_hash)
            _within_rate(ctx, key_hash, "API key")
            return Principal("key", known[0], "key", known[1], key_hash)
        return await _authenticated(request, ctx)
    return await user_session(request, ctx)


async def _authenticated(request: Request, ctx: AppContext) -> Principal:
    key = _bearer(request)
    async with ctx.readers() as session, session.begin():
        row = await apikeys.authenticate(session, key)
    if row is None:
        ctx.failed_keys.failed(_address(request))
        raise errors.Unauthorized("the API key is not valid or was revoked")
    ctx.key_usage.seen(row.key_hash)
    _within_rate(ctx, row.key_hash, "API key")
    ctx.intake.seen_live(row.key_hash)
    scopes = apikeys.scopes_of(row)
    ctx.known_keys[row.key_hash] = (row.id, scopes)
    return Principal("key", row.id, "key", scopes, row.key_hash)


async def user_session(request: Request, ctx: AppContext, form_token: str | None = None) -> Principal:
    """The signed-in user of the request's session cookies (the API's and the inbox's pages' one check): 401 when
    the access token is missing, expired or the user disabled, 403 without the CSRF token on a state-changing
    request (in its header, or ``form_token``: a page's form field), 429 over the user's rate."""
    claims = ctx.tokens.check(request.cookies.get(sessions.ACCESS_COOKIE, ""))
    if claims is None:
        raise errors.Unauthorized("the session has expired: refresh it (POST /api/v1/auth/refresh) or log in again")
    if request.method not in sessions.SAFE_METHODS and not sessions.csrf_ok(
        request.cookies.get(sessions.CSRF_COOKIE), request.headers.get(sessions.CSRF_HEADER) or form_token
    ):
        raise errors.Forbidden(f"send the {sessions.CSRF_COOKIE} cookie's value in the {sessions.CSRF_HEADER} header")
    async with ctx.readers() as session, session.begin():
        user = await users.get(session, claims.user_id)
    if user is None or user.disabled_at is not None:
        raise errors.Unauthorized("this user is disabled")
    _within_rate(ctx, f"user:{user.id}", "user")
    return Principal("user", user.id, user.role, USER_SCOPES.get(user.role, frozenset()))


def _address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _not_shut_out(request: Request, ctx: AppContext) -> None:
    if (wait := ctx.failed_keys.retry_after(_address(request))) > 0:
        raise errors.TooManyRequests(
            f"too many wrong API keys from this address; retry in {math.ceil(wait)} s", retry_after=wait
        )


def _within_rate(ctx: AppContext, bucket: str, who: str) -> None:
    if (wait := ctx.limiter.wait(bucket)) > 0:
        raise errors.TooManyRequests(
            f"this {who} is over its rate limit ({ctx.limiter.rate} requests per second); retry in {wait:.2f} s",
            retry_after=wait,
        )


@cache
def requires(scope: Scope | str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's principal (an API key or a user session), which must hold ``scope``: 401
    without one, 403 without the scope (or without the CSRF token of a session), 429 over its rate."""
    scope = Scope(scope)

    async def principal(
        request: Request, ctx: Ctx, _key: DeclaredKey = None, _session: DeclaredSession = None
    ) -> Principal:
        found = await _principal(request, ctx, sending=scope is Scope.SEND)
        if scope not in found.scopes:
            raise errors.Forbidden(f"this needs the '{scope}' permission")
        return found

    return principal


Reader = Annotated[Principal, Depends(requires(Scope.READ))]
Sender = Annotated[Principal, Depends(requires(Scope.SEND))]
Admin = Annotated[Principal, Depends(requires(Scope.ADMIN))]


async def _overseer(principal: Reader) -> Principal:
    if not principal.sees_every_conversation:
        raise errors.Forbidden("this spans every conversation: it is for admins and API keys with 'read'")
    return principal


# What spans every conversation (account events, statistics): a key with ``read`` or an admin; an agent gets 403.
Overseer = Annotated[Principal, Depends(_overseer)]


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
