"""Who looks at an inbox page, and the checks of its forms.

A page is seen through the API's own session check (``api/deps.user_session``: the access-token cookie, the
user still enabled, the per-user rate limit; for a request that changes something, the CSRF token). Without a
valid session a page answers a redirect to ``/login?next=…`` and an htmx request 401: the page's script then
renews the session through the refresh cookie (``POST /api/v1/auth/refresh``; that cookie is sent to
``/api/v1/auth`` only, so a page cannot renew it itself) and tries again, or goes to the login page, which
renews it too when it can (``static/js/login.js``).

Forms carry the double-submitted CSRF token of the API (the ``wahub_csrf`` cookie's value, as the
``csrf_token`` field or the ``X-CSRF-Token`` header htmx requests add); the login form's token comes from the
cookie the login page sets before anyone is signed in.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.responses import RedirectResponse, Response

from wahub import errors
from wahub.api import sessions
from wahub.api.deps import Ctx, Principal, user_session
from wahub.store.users import UserRole

TZ_COOKIE = "wahub_tz"  # the browser's time zone (IANA name), set by the pages' script


class LoginNeeded(Exception):
    """The request has no valid session: a page goes to the login page, an htmx request gets 401."""


class NotAllowed(Exception):
    """A page for admins, opened by someone else (403)."""


class FormExpired(Exception):
    """A form posted without the browser's CSRF token (403): from another site, or an old page."""


async def viewer(request: Request, ctx: Ctx) -> Principal:
    """The signed-in user looking at a page (``LoginNeeded`` without a valid session)."""
    return await _signed_in(request, ctx)


async def _signed_in(request: Request, ctx: Ctx, form_token: str | None = None) -> Principal:
    """``viewer``, for a posted form too: ``form_token`` is the CSRF token it carries."""
    if sessions.ACCESS_COOKIE not in request.cookies:
        raise LoginNeeded
    try:
        return await user_session(request, ctx, form_token)
    except errors.Unauthorized as exc:
        raise LoginNeeded from exc


async def admin(request: Request, ctx: Ctx) -> Principal:
    """The signed-in admin looking at an admin page (``NotAllowed`` for an agent); a form posted to one must carry
    the CSRF token (``FormExpired``), checked before anything of the form is read."""
    if sessions.ACCESS_COOKIE not in request.cookies:
        raise LoginNeeded
    submitted = None
    if request.method not in sessions.SAFE_METHODS:
        submitted = str((await request.form()).get("csrf_token") or "") or None
        if not csrf_ok(request, submitted):
            raise FormExpired
    principal = await _signed_in(request, ctx, submitted)
    if principal.kind != "user" or principal.role != UserRole.ADMIN:
        raise NotAllowed
    return principal


Viewer = Annotated[Principal, Depends(viewer)]
AdminViewer = Annotated[Principal, Depends(admin)]


def is_htmx(request: Request) -> bool:
    """An htmx request for a part of a page (a history restore wants the whole page)."""
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


async def login_needed(request: Request, _exc: Exception) -> Response:
    if is_htmx(request) or request.method != "GET":
        return Response("log in again", status_code=401, media_type="text/plain")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(local_path(target), safe='')}", status_code=303)


def local_path(value: str | None) -> str:
    """``value`` when it is a path of this site (``/c/12?filter=mine``), else ``/``: a ``next`` that sends
    nobody to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value) or len(value) > 500:
        return "/"
    return value


def csrf_token(request: Request) -> str | None:
    """The CSRF token of the browser (its ``wahub_csrf`` cookie), for the forms of a page."""
    return request.cookies.get(sessions.CSRF_COOKIE)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """Whether a form's (or an htmx request's header) token is the browser's cookie: a page of another site can
    post a form here, but cannot read or set that cookie."""
    return sessions.csrf_ok(csrf_token(request), submitted or request.headers.get(sessions.CSRF_HEADER))


def form_token(request: Request) -> str:
    """The CSRF token a form of this page carries: the browser's, or a new one (``keep_token`` sets it)."""
    return csrf_token(request) or secrets.token_urlsafe(32)


def keep_token(request: Request, response: Response, token: str) -> None:
    """Set the CSRF cookie to ``token`` on ``response`` unless the browser has it (before a session: the
    login form's)."""
    if csrf_token(request) == token:
        return
    response.set_cookie(
        sessions.CSRF_COOKIE,
        token,
        max_age=sessions.REFRESH_SECONDS,
        path="/",
        secure=request.url.scheme == "https",
        httponly=False,
        samesite="strict",
    )
