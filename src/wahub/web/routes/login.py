"""``/login`` and ``/logout``: the inbox's sign-in form, through the API's own login (``api/routes/auth.py``:
the same password check, slow-down after failures, cookies and CSRF token as ``POST /api/v1/auth/login``)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from wahub import errors
from wahub.api import sessions
from wahub.api.deps import Ctx
from wahub.api.routes import auth as api_auth
from wahub.web import auth
from wahub.web.deps import Templates

router = APIRouter(include_in_schema=False)

_WRONG = "The email or password is wrong."
_EXPIRED = "The form had expired. Please try again."
_MISSING = "Enter your email address and password."


@router.get("/login")
async def login_form(request: Request, pages: Templates, ctx: Ctx, next: str | None = None) -> Response:
    """The sign-in form; someone signed in already goes on to ``next``."""
    target = auth.local_path(next)
    try:
        await auth.viewer(request, ctx)
    except auth.LoginNeeded:
        pass
    else:
        return RedirectResponse(target, status_code=303)
    # A session may be renewed when the browser holds its CSRF cookie, or sent no cookie at all (a link from
    # another site: SameSite=Strict cookies stay home), so the page's script tries (``static/js/login.js``).
    resume = bool(auth.csrf_token(request)) or "cookie" not in request.headers
    return _form(request, pages, target, resume=resume)


@router.post("/login")
async def login(request: Request, pages: Templates, ctx: Ctx) -> Response:
    form = await request.form()
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = auth.local_path(str(form.get("next") or "/"))
    if not auth.csrf_ok(request, str(form.get("csrf_token") or "")):
        return _form(request, pages, target, email=email, error=_EXPIRED, status=403)
    if not 3 <= len(email) <= 320 or not 1 <= len(password) <= 1024:
        return _form(request, pages, target, email=email, error=_MISSING, status=422)
    address = request.client.host if request.client is not None else None
    try:
        user, refresh = await api_auth.authenticate(ctx, email, password, address)
    except errors.TooManyRequests as exc:
        wait = max(1, math.ceil(exc.retry_after))
        error = f"Too many failed attempts. Please wait {wait} second{'s' if wait != 1 else ''} and try again."
        return _form(request, pages, target, email=email, error=error, status=429, retry_after=wait)
    except errors.Unauthorized:
        return _form(request, pages, target, email=email, error=_WRONG, status=401)
    response = RedirectResponse(target, status_code=303)
    api_auth.begin(request, response, ctx, user, refresh)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session in this browser (its cookies). The page's script logs out through
    ``POST /api/v1/auth/logout`` first, which also revokes the refresh token: that cookie goes to the API only."""
    form = await request.form()
    if not auth.csrf_ok(request, str(form.get("csrf_token") or "")):
        return Response("the form had expired: reload the page", status_code=403, media_type="text/plain")
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_cookies(response, secure=request.url.scheme == "https")
    return response


def _form(
    request: Request,
    pages: Templates,
    target: str,
    *,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
    resume: bool = False,
) -> Response:
    token = auth.form_token(request)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    response = pages.render(
        "login.html",
        status=status,
        headers=headers,
        csrf=token,
        next=target,
        email=email,
        error=error,
        resume=resume,
    )
    auth.keep_token(request, response, token)
    return response
