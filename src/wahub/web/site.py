"""Mounting the inbox on the HTTP app: its routes, its static files, the login redirect.

``serves_page(path)`` names the inbox's pages, so that ``api/headers.py`` gives them the inbox's
Content-Security-Policy (and ``no-store``); a new page adds its prefix here.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from wahub.web import auth
from wahub.web.routes import admin, compose, inbox, login
from wahub.web.templating import STATIC, Pages

PAGES = frozenset({"/", "/login", "/logout", "/list", "/admin"})
PAGE_PREFIXES = ("/c/", "/e/", "/list/", "/admin/")


def serves_page(path: str) -> bool:
    """Whether ``path`` is one of the inbox's pages or partials."""
    return path in PAGES or path.startswith(PAGE_PREFIXES)


def mount(app: FastAPI) -> Pages:
    """Add the inbox to ``app``: ``/``, ``/login``, ``/c/{id}``…, and ``/static/<digest>/…``."""
    pages = Pages()
    app.state.pages = pages
    app.add_exception_handler(auth.LoginNeeded, auth.login_needed)
    app.add_exception_handler(auth.NotAllowed, _refused)
    app.add_exception_handler(auth.FormExpired, _refused)
    app.include_router(login.router)
    app.include_router(inbox.router)
    app.include_router(compose.router)
    app.include_router(admin.router)
    app.router.routes.append(Mount(pages.static_prefix, StaticFiles(directory=STATIC), name="static"))
    return pages


_REFUSALS = {
    auth.NotAllowed: "This page is for admins.",
    auth.FormExpired: "The form had expired, or came from another page. Go back, reload the page and try again.",
}


async def _refused(request: Request, exc: Exception) -> Response:
    """403 for an admin page opened by an agent, or a form posted without the browser's CSRF token."""
    pages: Pages = request.app.state.pages
    return pages.render("admin/refused.html", status=403, title="Not allowed", reason=_REFUSALS[type(exc)])
