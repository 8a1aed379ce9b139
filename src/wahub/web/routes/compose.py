"""Parts of the composer the page asks for when they are needed: the template picker of a conversation (its
account's approved templates, each with a field per variable and a preview). Sending goes through the API
(``POST /api/v1/messages``), as every send from the page does."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from wahub import errors
from wahub.api.deps import ReadSession
from wahub.web import composing
from wahub.web.auth import Viewer
from wahub.web.deps import Templates
from wahub.web.routes.inbox import _id

router = APIRouter(include_in_schema=False)


@router.get("/c/{conversation_id}/templates")
async def template_picker(conversation_id: str, session: ReadSession, principal: Viewer, pages: Templates) -> Response:
    """The templates this conversation's account may send, as the picker's form."""
    try:
        picker = await composing.template_picker(session, principal, _id(conversation_id))
    except errors.NotFound:
        return Response(status_code=404)
    return pages.render("partials/templates.html", picker=picker)
