"""Mounting the inbox on the HTTP app: its routes, its static files, the login redirect.

``serves_page(path)`` names the inbox's pages, so that ``api/headers.py`` gives them the inbox's
Content-Security-Policy (and ``no-store``); a new page (a later ``/e/…`` or ``/admin/…``) adds its prefix here.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from wahub.web import auth
from wahub.web.routes import compose, inbox, login
from wahub.web.templating import STATIC, Pages

PAGES = frozenset({"/", "/login", "/logout", "/list"})
PAGE_PREFIXES = ("/c/", "/list/")


def serves_page(path: str) -> bool:
    """Whether ``path`` is one of the inbox's pages or partials."""
    return path in PAGES or path.startswith(PAGE_PREFIXES)


def mount(app: FastAPI) -> Pages:
    """Add the inbox to ``app``: ``/``, ``/login``, ``/c/{id}``…, and ``/static/<digest>/…``."""
    pages = Pages()
    app.state.pages = pages
    app.add_exception_handler(auth.LoginNeeded, auth.login_needed)
    app.include_router(login.router)
    app.include_router(inbox.router)
    app.include_router(compose.router)
    app.router.routes.append(Mount(pages.static_prefix, StaticFiles(directory=STATIC), name="static"))
    return pages
