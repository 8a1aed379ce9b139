"""Dependencies of the inbox's routes, as ``Annotated`` aliases (``auth.Viewer`` is the signed-in user)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from wahub.api.deps import Ctx
from wahub.api.routes import media
from wahub.store.models import utcnow
from wahub.web import contents, views
from wahub.web.auth import TZ_COOKIE
from wahub.web.templating import Pages


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def get_clock(request: Request) -> views.Clock:
    """Now, in the time zone the browser said it is in (UTC until it said)."""
    return views.Clock(views.zone_named(request.cookies.get(TZ_COOKIE)), utcnow())


def get_signer(ctx: Ctx) -> contents.Signer:
    """Signs a stored file's link as ``GET /api/v1/media/{id}`` does (valid ``media.LINK_TTL`` seconds; the
    page's script asks that route for a new one when an old one has expired)."""
    return partial(media.signed_path, ctx)


Templates = Annotated[Pages, Depends(get_pages)]
LocalClock = Annotated[views.Clock, Depends(get_clock)]
MediaLinks = Annotated[contents.Signer, Depends(get_signer)]
