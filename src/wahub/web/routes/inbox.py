"""The inbox's pages: the shell (``/``: the conversation list and an empty pane), a conversation (``/c/{id}``,
the deep link an ERP page may open), and the partials htmx and the live script swap in.

A full page answers a browser's navigation; an htmx request (``HX-Request``) gets the part it asked for. What
a principal may not see is "not found", as in the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from wahub import errors
from wahub.api.deps import Principal, ReadSession
from wahub.store import paging, users
from wahub.web import auth, reading, views
from wahub.web.auth import Viewer
from wahub.web.deps import LocalClock, MediaLinks, Templates

router = APIRouter(include_in_schema=False)

STREAM_HEADER = "X-Wahub-Stream-After"
FilterParam = Annotated[str | None, Query(alias="filter", max_length=20)]


def _id(value: str) -> int:
    """A conversation's or message's id from a path: anything else names nothing (404)."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value[:11]) <= paging.ID_MAX:
        raise errors.NotFound("nothing has this id")
    return int(value)


def _pane(
    stream_after: int,
    header: views.Header | None = None,
    chunk: reading.Chunk | None = None,
    *,
    missing: bool = False,
) -> dict[str, object]:
    """What ``partials/pane.html`` shows: a conversation, "not found", or nothing open."""
    return {"stream_after": stream_after, "header": header, "chunk": chunk, "missing": missing}


async def _shell(
    request: Request,
    session: ReadSession,
    principal: Principal,
    pages: Templates,
    clock: views.Clock,
    which: reading.Filter,
    pane: dict[str, object] | None,
    status: int = 200,
) -> Response:
    user = await users.get(session, principal.id)
    listing = await reading.rows(session, principal, which, clock)
    return pages.render(
        "inbox.html",
        status=status,
        user=user,
        csrf=auth.csrf_token(request) or "",
        filter=which,
        filters=reading.FILTER_LABELS,
        listing=listing,
        pane=pane,
    )


@router.get("/")
async def inbox(
    request: Request,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    which: FilterParam = None,
) -> Response:
    """The inbox: the conversation list, and a pane waiting for one to be opened."""
    position = await reading.stream_position(session)  # before the data (``reading.stream_position``)
    return await _shell(request, session, principal, pages, clock, reading.Filter.named(which), _pane(position))


@router.get("/c/{conversation_id}")
async def conversation(
    conversation_id: str,
    request: Request,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
    which: FilterParam = None,
) -> Response:
    """A conversation: its newest messages, older ones loaded as the thread is scrolled up."""
    position = await reading.stream_position(session)
    try:
        cid = _id(conversation_id)
        header = await reading.header(session, principal, cid, clock)
        pane, status = _pane(position, header, await reading.chunk(session, principal, cid, clock, sign)), 200
    except errors.NotFound:
        pane, status = _pane(position, missing=True), 404
    if auth.is_htmx(request):
        return pages.render("partials/pane.html", status=status, pane=pane)
    return await _shell(request, session, principal, pages, clock, reading.Filter.named(which), pane, status)


@router.get("/c/{conversation_id}/messages")
async def older_messages(
    conversation_id: str,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
    before: Annotated[int, Query(ge=1, le=paging.ID_MAX)],
) -> Response:
    """The page of messages before message ``before`` (scrolling up)."""
    try:
        chunk = await reading.chunk(session, principal, _id(conversation_id), clock, sign, before)
    except errors.NotFound:
        return Response(status_code=404)
    return pages.render("partials/chunk.html", chunk=chunk)


@router.get("/c/{conversation_id}/messages/{message_id}")
async def one_message(
    conversation_id: str,
    message_id: str,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
) -> Response:
    """One message as a bubble (the live script adds or replaces it); empty when it shows on another."""
    try:
        found = await reading.bubble(session, principal, _id(conversation_id), _id(message_id), clock, sign)
    except errors.NotFound:
        return Response(status_code=404)
    if found is None:
        return Response(status_code=204)
    return pages.render("partials/bubble.html", bubble=found, separated=True)


@router.get("/c/{conversation_id}/header")
async def conversation_header(
    conversation_id: str, session: ReadSession, principal: Viewer, pages: Templates, clock: LocalClock
) -> Response:
    """The open conversation's header (the live script renews it on ``conversation.updated``)."""
    try:
        found = await reading.header(session, principal, _id(conversation_id), clock)
    except errors.NotFound:
        return Response(status_code=404)
    return pages.render("partials/header.html", header=found)


@router.get("/list")
async def conversation_list(
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    which: FilterParam = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The list's rows: the first page (a resync) or the page after ``cursor`` ("more")."""
    position = await reading.stream_position(session)
    try:
        listing = await reading.rows(session, principal, reading.Filter.named(which), clock, cursor)
    except errors.InvalidInput:
        return Response(status_code=404)
    # The stream position read before the rows: a resync resumes the stream after it (``static/js/live.js``).
    headers = {STREAM_HEADER: str(position)}
    return pages.render("partials/rows.html", headers=headers, listing=listing, filter=reading.Filter.named(which))


@router.get("/list/{conversation_id}")
async def list_row(
    conversation_id: str,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    which: FilterParam = None,
) -> Response:
    """One conversation's row in this list, or nothing (204) when it is not in it (any more)."""
    try:
        found = await reading.row(session, principal, reading.Filter.named(which), _id(conversation_id), clock)
    except errors.NotFound:
        found = None
    if found is None:
        return Response(status_code=204)
    return pages.render("partials/row.html", row=found, filter=reading.Filter.named(which), active=False)
