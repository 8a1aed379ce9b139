"""Dependencies of the inbox's routes, as ``Annotated`` aliases (``auth.Viewer`` is the signed-in user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from wahub.store.models import utcnow
from wahub.web import views
from wahub.web.auth import TZ_COOKIE
from wahub.web.templating import Pages


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def get_clock(request: Request) -> views.Clock:
    """Now, in the time zone the browser said it is in (UTC until it said)."""
    return views.Clock(views.zone_named(request.cookies.get(TZ_COOKIE)), utcnow())


Templates = Annotated[Pages, Depends(get_pages)]
LocalClock = Annotated[views.Clock, Depends(get_clock)]
