"""``/api/v1/auth`` and ``/api/v1/me``: users' browser sessions (``api/sessions.py`` has the cookies and tokens).

A login answers the same for an unknown email as for a wrong password, in the same time (``users.password_matches``).
Failed logins count per client address and per email in ``FailedKeys`` (as wrong API keys do): after a few,
further attempts are refused with 429 and ``Retry-After`` for a delay that doubles.
"""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request, Response

from wahub import errors
from wahub.api import schemas, sessions
from wahub.api.context import AppContext
from wahub.api.deps import Ctx, Reader
from wahub.store import db, refresh_tokens, users

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["auth"])

_WRONG = "the email or password is wrong"
_NO_SESSION = "no session to refresh: log in (POST /api/v1/auth/login)"
_SESSION_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "the refresh token is missing, expired, revoked or was used before: log in again"},
    403: {"description": "the X-CSRF-Token header does not match the wahub_csrf cookie"},
}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _check_csrf(request: Request) -> None:
    if not sessions.csrf_ok(request.cookies.get(sessions.CSRF_COOKIE), request.headers.get(sessions.CSRF_HEADER)):
        raise errors.Forbidden(f"send the {sessions.CSRF_COOKIE} cookie's value in the {sessions.CSRF_HEADER} header")


@router.post(
    "/auth/login",
    response_model=schemas.SessionOut,
    responses={
        401: {"description": _WRONG},
        429: {"description": "too many failed logins for this email or from this address: retry after Retry-After"},
    },
)
async def login(body: schemas.LoginIn, request: Request, response: Response, ctx: Ctx) -> schemas.SessionOut:
    """Log in with an email and password: sets the session's cookies (an HttpOnly access token for 15 minutes, an
    HttpOnly refresh token for 30 days, and the ``wahub_csrf`` cookie)."""
    user, refresh = await authenticate(ctx, body.email, body.password, _address(request))
    return begin(request, response, ctx, user, refresh)


async def authenticate(ctx: AppContext, email: str, password: str, address: str | None) -> tuple[schemas.UserOut, str]:
    """The user of ``email`` and ``password``, logged in: their refresh token is recorded and returned. The one
    login of the API and of the inbox's form (``web/``). ``errors.TooManyRequests`` after too many failures for
    this email or from ``address``; ``errors.Unauthorized`` for a wrong email or password (the same answer)."""
    email_key = f"email:{email.strip().lower()}"
    wait = max(ctx.failed_logins.retry_after(address), ctx.failed_logins.retry_after(email_key))
    if wait > 0:
        raise errors.TooManyRequests(f"too many failed logins; retry in {math.ceil(wait)} s", retry_after=wait)
    async with ctx.readers() as session, session.begin():
        try:
            user = await users.find(session, users.normalize_email(email))
        except errors.InvalidInput:
            user = None
    if not await users.password_matches(user, password) or user is None:
        ctx.failed_logins.failed(address)
        ctx.failed_logins.failed(email_key)
        raise errors.Unauthorized(_WRONG)
    async with db.transaction(ctx.sessions) as session:
        refresh = await users.record_login(session, user.id)
        user = await users.get(session, user.id)
        assert user is not None
        out = schemas.UserOut.model_validate(user)
    log.info("user %s logged in", user.id)
    return out, refresh


def begin(
    request: Request, response: Response, ctx: AppContext, user: schemas.UserOut, refresh: str
) -> schemas.SessionOut:
    """Set the session's cookies for ``user`` on ``response`` (an access token, ``refresh``, a CSRF token)."""
    access = ctx.tokens.issue(user.id, user.role)
    csrf = sessions.set_cookies(response, access, refresh, secure=_secure(request))
    return schemas.SessionOut(user=user, csrf_token=csrf, expires_in=ctx.tokens.lifetime)


@router.post("/auth/refresh", response_model=schemas.SessionOut, responses=_SESSION_ERRORS)
async def refresh(request: Request, response: Response, ctx: Ctx) -> schemas.SessionOut:
    """Renew the session: the refresh token is exchanged for a new one and a new access token. Each works once:
    used again within 30 seconds (two tabs refreshing at once) it renews the session too; later, it ends the
    whole session, since someone holds a copy."""
    token = request.cookies.get(sessions.REFRESH_COOKIE)
    if not token:
        raise errors.Unauthorized(_NO_SESSION)
    _check_csrf(request)
    async with db.transaction(ctx.sessions) as session:
        rotated = await refresh_tokens.rotate(session, token, ctx.clock())
        out = schemas.UserOut.model_validate(rotated.user) if rotated.user is not None else None
    if rotated.reused:
        # A security event: never the token itself, only which session it ended.
        log.warning(
            "security: a refresh token was used after it had been rotated; session family %s revoked (from %s)",
            rotated.family_id,
            _address(request),
        )
    elif rotated.grace:
        log.info("a refresh token was used again within the grace window; session family %s goes on", rotated.family_id)
    if out is None or rotated.token is None:
        sessions.clear_cookies(response, secure=_secure(request))
        raise errors.Unauthorized("the session has ended: log in again")
    return begin(request, response, ctx, out, rotated.token)


@router.post("/auth/logout", status_code=204, response_class=Response, responses=_SESSION_ERRORS)
async def logout(request: Request, ctx: Ctx) -> Response:
    """End the session: its refresh tokens are revoked and its cookies cleared."""
    response = Response(status_code=204)
    token = request.cookies.get(sessions.REFRESH_COOKIE)
    if token:
        _check_csrf(request)
        async with db.transaction(ctx.sessions) as session:
            await refresh_tokens.end_family(session, token)
    sessions.clear_cookies(response, secure=_secure(request))
    return response


@router.get("/me", response_model=schemas.MeOut)
async def me(principal: Reader, ctx: Ctx) -> schemas.MeOut:
    """Who these credentials are, and what they may do."""
    user = None
    if principal.kind == "user":
        async with ctx.readers() as session, session.begin():
            row = await users.get(session, principal.id)
            user = schemas.UserOut.model_validate(row) if row is not None else None
    return schemas.MeOut(
        kind=principal.kind, id=principal.id, role=principal.role, scopes=sorted(principal.scopes), user=user
    )
